use std::net::IpAddr;

use ipnetwork::IpNetwork;
use netlink_packet_core::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use nix::errno::Errno;

use crate::{Error, Result, Socket};

/// A route, for adding, deleting and listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: IpNetwork,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    /// The metric (`RTA_PRIORITY`); 0 = unset.
    pub priority: u32,
    /// The table; `None` = main.
    pub table: Option<u32>,
    /// `RT_SCOPE_*`; `None` = universe with a gateway, link without.
    pub scope: Option<u8>,
    pub source: Option<IpAddr>,
    /// `RTN_*` type (1 unicast).
    pub kind: u8,
    /// `RTPROT_*` of a listed route (2 kernel, 3 boot, 4 static).
    pub protocol: u8,
}

impl Route {
    pub fn new(dst: IpNetwork) -> Route {
        Route {
            dst,
            gateway: None,
            oif: None,
            priority: 0,
            table: None,
            scope: None,
            source: None,
            kind: 1,
            protocol: 3,
        }
    }

    pub fn via(mut self, gw: Option<IpAddr>) -> Route {
        self.gateway = gw;
        self
    }

    pub fn dev(mut self, index: u32) -> Route {
        self.oif = Some(index);
        self
    }

    pub fn is_default(&self) -> bool {
        self.dst.prefix() == 0
    }

    fn describe(&self) -> String {
        let mut s = self.dst.to_string();
        if let Some(g) = self.gateway {
            s.push_str(&format!(" via {g}"));
        }
        if let Some(o) = self.oif {
            s.push_str(&format!(" dev #{o}"));
        }
        if self.priority != 0 {
            s.push_str(&format!(" metric {}", self.priority));
        }
        if let Some(t) = self.table {
            s.push_str(&format!(" table {t}"));
        }
        if let Some(sc) = self.scope {
            s.push_str(&format!(" scope {sc}"));
        }
        s
    }
}

pub(crate) mod msg {
    use super::*;

    pub fn family(ip: IpAddr) -> AddressFamily {
        if ip.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        }
    }

    pub fn route(r: &Route, add: bool) -> RouteNetlinkMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = family(r.dst.ip());
        m.header.destination_prefix_length = r.dst.prefix();
        // A delete matches any protocol, type and scope unless told
        // otherwise, as `ip route del` does.
        m.header.protocol = if add {
            RouteProtocol::Boot
        } else {
            RouteProtocol::Unspec
        };
        m.header.kind = if add {
            RouteType::from(r.kind)
        } else {
            RouteType::Unspec
        };
        m.header.scope = match r.scope {
            Some(s) => RouteScope::from(s),
            None if !add => RouteScope::NoWhere,
            None if r.gateway.is_none() => RouteScope::Link,
            None => RouteScope::Universe,
        };
        let table = r.table.unwrap_or(u32::from(RouteHeader::RT_TABLE_MAIN));
        m.header.table = if table < 256 { table as u8 } else { 252 }; // RT_TABLE_COMPAT
        if r.dst.prefix() > 0 {
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(
                    r.dst.network(),
                )));
        }
        if let Some(g) = r.gateway {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(g)));
        }
        if let Some(s) = r.source {
            m.attributes
                .push(RouteAttribute::PrefSource(RouteAddress::from(s)));
        }
        if let Some(o) = r.oif {
            m.attributes.push(RouteAttribute::Oif(o));
        }
        if r.priority > 0 {
            m.attributes.push(RouteAttribute::Priority(r.priority));
        }
        if table >= 256 {
            m.attributes.push(RouteAttribute::Table(table));
        }
        if add {
            RouteNetlinkMessage::NewRoute(m)
        } else {
            RouteNetlinkMessage::DelRoute(m)
        }
    }

    pub fn dump(family: AddressFamily) -> RouteNetlinkMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = family;
        RouteNetlinkMessage::GetRoute(m)
    }

    /// `ip route get <dst>`.
    pub fn get(dst: IpAddr) -> RouteNetlinkMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = family(dst);
        m.header.destination_prefix_length = if dst.is_ipv4() { 32 } else { 128 };
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(dst)));
        RouteNetlinkMessage::GetRoute(m)
    }
}

fn addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

impl Socket {
    /// Add a route; EEXIST if an identical one is there.
    pub fn add_route(&mut self, r: &Route) -> Result<()> {
        self.change(
            &format!("add route {}", r.describe()),
            msg::route(r, true),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Add a route, or one more next hop to an existing route (the
    /// reference's `RouteAddEcmp`).
    pub fn append_route(&mut self, r: &Route) -> Result<()> {
        self.change(
            &format!("add route {}", r.describe()),
            msg::route(r, true),
            NLM_F_CREATE | NLM_F_APPEND,
        )
    }

    pub fn delete_route(&mut self, r: &Route) -> Result<()> {
        self.change(
            &format!("delete route {}", r.describe()),
            msg::route(r, false),
            0,
        )
    }

    /// The interface the kernel would send a packet for `dst` out of
    /// (`ip route get`); None when there is no route.
    pub fn route_oif(&mut self, dst: IpAddr) -> Result<Option<u32>> {
        match self.get(&format!("get route to {dst}"), msg::get(dst)) {
            Ok(RouteNetlinkMessage::NewRoute(m)) => Ok(m.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(o) => Some(*o),
                _ => None,
            })),
            Ok(_) => Ok(None),
            Err(e) if matches!(e.errno(), Some(Errno::ENETUNREACH | Errno::EHOSTUNREACH)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The routes of one family in every table (multipath routes are
    /// listed once per next hop).
    pub fn routes(&mut self, family: AddressFamily) -> Result<Vec<Route>> {
        let mut out = Vec::new();
        for reply in self.dump("list routes", msg::dump(family))? {
            let RouteNetlinkMessage::NewRoute(m) = reply else {
                continue;
            };
            let h = &m.header;
            if h.address_family != family {
                continue;
            }
            let mut dst = None;
            let mut base = Route::new(
                IpNetwork::new(
                    if family == AddressFamily::Inet {
                        IpAddr::from([0u8; 4])
                    } else {
                        IpAddr::from([0u8; 16])
                    },
                    0,
                )
                .map_err(|e| Error::protocol("list routes", e.to_string()))?,
            );
            base.table = Some(u32::from(h.table));
            base.scope = Some(u8::from(h.scope));
            base.kind = u8::from(h.kind);
            base.protocol = u8::from(h.protocol);
            let mut hops = Vec::new();
            for a in &m.attributes {
                match a {
                    RouteAttribute::Destination(d) => dst = addr(d),
                    RouteAttribute::Gateway(g) => base.gateway = addr(g),
                    RouteAttribute::Oif(o) => base.oif = Some(*o),
                    RouteAttribute::Priority(p) => base.priority = *p,
                    RouteAttribute::Table(t) => base.table = Some(*t),
                    RouteAttribute::PrefSource(s) => base.source = addr(s),
                    RouteAttribute::MultiPath(nh) => {
                        for n in nh {
                            let gw = n.attributes.iter().find_map(|a| match a {
                                RouteAttribute::Gateway(g) => addr(g),
                                _ => None,
                            });
                            hops.push((n.interface_index, gw));
                        }
                    }
                    _ => {}
                }
            }
            if let Some(d) = dst {
                base.dst = IpNetwork::new(d, h.destination_prefix_length)
                    .map_err(|e| Error::protocol("list routes", e.to_string()))?;
            }
            if hops.is_empty() {
                out.push(base);
            } else {
                for (oif, gw) in hops {
                    let mut r = base.clone();
                    r.oif = Some(oif);
                    r.gateway = gw;
                    out.push(r);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ip route add 0.0.0.0/0 via 10.1.2.1 dev <#4> metric 10`
    #[test]
    fn default_route_bytes() {
        let r = Route {
            priority: 10,
            ..Route::new("0.0.0.0/0".parse().unwrap())
                .via("10.1.2.1".parse().ok())
                .dev(4)
        };
        let got = Socket::encode(msg::route(&r, true), 0x605, 1);
        #[rustfmt::skip]
        let want: &[u8] = &[
            52, 0, 0, 0,    24, 0,    5, 6,    1, 0, 0, 0,    0, 0, 0, 0,  // RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE
            2, 0, 0, 0,     254, 3, 0, 1,   0, 0, 0, 0,                     // rtmsg: AF_INET, dst /0, main, boot, universe, unicast
            8, 0, 5, 0,     10, 1, 2, 1,                                    // RTA_GATEWAY
            8, 0, 4, 0,     4, 0, 0, 0,                                     // RTA_OIF
            8, 0, 6, 0,     10, 0, 0, 0,                                    // RTA_PRIORITY
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn link_scope_without_gateway_and_big_tables() {
        let r = Route {
            table: Some(1000),
            ..Route::new("10.9.0.0/16".parse().unwrap()).dev(2)
        };
        let RouteNetlinkMessage::NewRoute(m) = msg::route(&r, true) else {
            unreachable!()
        };
        assert_eq!(m.header.scope, RouteScope::Link);
        assert_eq!(m.header.table, 252);
        assert!(m.attributes.contains(&RouteAttribute::Table(1000)));
        assert!(
            m.attributes
                .contains(&RouteAttribute::Destination(RouteAddress::Inet(
                    "10.9.0.0".parse().unwrap()
                )))
        );
    }
}
