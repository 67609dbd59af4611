//! Connection tracking entries (ctnetlink), for removing the stale UDP
//! flows a new or removed port mapping would otherwise leave in place (a
//! UDP "connection" keeps its old NAT decision for as long as packets flow).

use std::net::IpAddr;

use nix::errno::Errno;

use crate::attr::{self, Attrs};
use crate::{Error, Family, Socket};

type Result<T> = std::result::Result<T, Error>;

const SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_DST: u16 = 4;
const NLA_F_NESTED: u16 = 0x8000;

/// One tracked connection's original direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    pub proto: u8,
    pub dst: Option<IpAddr>,
    pub dst_port: Option<u16>,
    /// The raw `CTA_TUPLE_ORIG` payload, to name the entry when deleting.
    tuple: Vec<u8>,
}

fn parse_flow(body: &[u8]) -> Option<Flow> {
    let attrs = body.get(4..)?;
    let tuple = attr::get(attrs, CTA_TUPLE_ORIG)?;
    let proto = attr::get(tuple, CTA_TUPLE_PROTO)?;
    let ip = attr::get(tuple, CTA_TUPLE_IP);
    let dst = ip.and_then(|ip| {
        attr::get(ip, CTA_IP_V4_DST)
            .and_then(|v| <[u8; 4]>::try_from(v).ok().map(IpAddr::from))
            .or_else(|| {
                attr::get(ip, CTA_IP_V6_DST)
                    .and_then(|v| <[u8; 16]>::try_from(v).ok().map(IpAddr::from))
            })
    });
    Some(Flow {
        proto: *attr::get(proto, CTA_PROTO_NUM)?.first()?,
        dst,
        dst_port: attr::get(proto, CTA_PROTO_DST_PORT)
            .and_then(|v| <[u8; 2]>::try_from(v).ok())
            .map(u16::from_be_bytes),
        tuple: tuple.to_vec(),
    })
}

impl Socket {
    /// The tracked connections of a family (`Ip` or `Ip6`).
    pub fn conntrack(&mut self, family: Family) -> Result<Vec<Flow>> {
        let answers = self.request(
            "list conntrack entries",
            (SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET,
            true,
            &Attrs::new(family.code(), 0),
        )?;
        Ok(answers.iter().filter_map(|b| parse_flow(b)).collect())
    }

    /// Delete the entries of `proto` whose original destination port is
    /// `port`; entries that vanish meanwhile are not an error. Returns how
    /// many were deleted.
    pub fn delete_conntrack_dport(
        &mut self,
        family: Family,
        proto: u8,
        port: u16,
    ) -> Result<usize> {
        let mut deleted = 0;
        for flow in self.conntrack(family)? {
            if flow.proto != proto || flow.dst_port != Some(port) {
                continue;
            }
            let mut a = Attrs::new(family.code(), 0);
            a.bytes(CTA_TUPLE_ORIG | NLA_F_NESTED, &flow.tuple);
            match self.request(
                "delete conntrack entry",
                (SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE,
                false,
                &a,
            ) {
                Ok(_) => deleted += 1,
                Err(e) if e.errno() == Some(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }
}
