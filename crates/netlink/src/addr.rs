use std::net::IpAddr;

use ipnetwork::IpNetwork;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::{Error, Result, Socket};

/// An address on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub index: u32,
    /// The local address with its prefix length.
    pub address: IpNetwork,
    /// `RT_SCOPE_*`: 0 universe, 253 link, 254 host.
    pub scope: u8,
}

pub(crate) mod msg {
    use super::*;

    pub fn dump_addresses(
        index: Option<u32>,
        family: Option<AddressFamily>,
    ) -> RouteNetlinkMessage {
        let mut m = AddressMessage::default();
        if let Some(f) = family {
            m.header.family = f;
        }
        m.header.index = index.unwrap_or(0);
        RouteNetlinkMessage::GetAddress(m)
    }
}

impl Socket {
    /// The addresses of one interface (or of all), of one family (or both).
    pub fn addresses(
        &mut self,
        index: Option<u32>,
        family: Option<AddressFamily>,
    ) -> Result<Vec<Address>> {
        let what = match index {
            Some(i) => format!("list addresses of link #{i}"),
            None => "list addresses".to_string(),
        };
        let mut out = Vec::new();
        for reply in self.dump(&what, msg::dump_addresses(index, family))? {
            let RouteNetlinkMessage::NewAddress(m) = reply else {
                return Err(Error::protocol(&what, "not an address message"));
            };
            if index.is_some_and(|i| i != m.header.index)
                || family.is_some_and(|f| f != m.header.family)
            {
                continue;
            }
            let (mut local, mut peer) = (None, None);
            for attr in &m.attributes {
                match attr {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => peer = Some(*ip),
                    _ => {}
                }
            }
            let Some(ip): Option<IpAddr> = local.or(peer) else {
                continue;
            };
            let address = IpNetwork::new(ip, m.header.prefix_len)
                .map_err(|e| Error::protocol(&what, format!("bad prefix length: {e}")))?;
            out.push(Address {
                index: m.header.index,
                address,
                scope: u8::from(m.header.scope),
            });
        }
        Ok(out)
    }
}
