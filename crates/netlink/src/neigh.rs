use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::{Link, Result, Socket};

/// A neighbour (ARP/NDP) entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    pub index: u32,
    pub ip: IpAddr,
    pub mac: Vec<u8>,
    pub permanent: bool,
}

fn message(index: u32, ip: IpAddr, mac: Option<&[u8]>) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.ifindex = index;
    m.header.state = NeighbourState::Permanent;
    m.attributes.push(NeighbourAttribute::Destination(match ip {
        IpAddr::V4(a) => NeighbourAddress::Inet(a),
        IpAddr::V6(a) => NeighbourAddress::Inet6(a),
    }));
    if let Some(mac) = mac {
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    }
    m
}

impl Socket {
    /// `ip neigh replace <ip> lladdr <mac> dev <link> nud permanent`
    pub fn set_neighbour(&mut self, link: &Link, ip: IpAddr, mac: &[u8]) -> Result<()> {
        let what = format!("add neighbour {ip} on {:?}", link.name);
        self.change(
            &what,
            RouteNetlinkMessage::NewNeighbour(message(link.index, ip, Some(mac))),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    pub fn delete_neighbour(&mut self, link: &Link, ip: IpAddr) -> Result<()> {
        let what = format!("delete neighbour {ip} on {:?}", link.name);
        self.change(
            &what,
            RouteNetlinkMessage::DelNeighbour(message(link.index, ip, None)),
            0,
        )
    }

    pub fn neighbours(&mut self, family: AddressFamily) -> Result<Vec<Neighbour>> {
        let mut req = NeighbourMessage::default();
        req.header.family = family;
        let mut out = Vec::new();
        for reply in self.dump("list neighbours", RouteNetlinkMessage::GetNeighbour(req))? {
            let RouteNetlinkMessage::NewNeighbour(m) = reply else {
                continue;
            };
            let mut ip = None;
            let mut mac = Vec::new();
            for a in &m.attributes {
                match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => {
                        ip = Some(IpAddr::V4(*v))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(v)) => {
                        ip = Some(IpAddr::V6(*v))
                    }
                    NeighbourAttribute::LinkLayerAddress(l) => mac = l.clone(),
                    _ => {}
                }
            }
            if let Some(ip) = ip {
                out.push(Neighbour {
                    index: m.header.ifindex,
                    ip,
                    mac,
                    permanent: m.header.state == NeighbourState::Permanent,
                });
            }
        }
        Ok(out)
    }
}
