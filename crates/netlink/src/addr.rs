use std::net::IpAddr;

use ipnetwork::IpNetwork;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::{Error, Link, Result, Socket};

/// An address on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub index: u32,
    /// The local address with its prefix length.
    pub address: IpNetwork,
    /// `RT_SCOPE_*`: 0 universe, 253 link, 254 host.
    pub scope: u8,
    /// IPv6 duplicate address detection is still running.
    pub tentative: bool,
    /// IPv6 duplicate address detection failed.
    pub dad_failed: bool,
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

    /// `ip addr add|del <addr> dev <index>` (IPv4 gets a broadcast address, as `ip` gives it).
    pub fn address(index: u32, addr: IpNetwork, add: bool) -> RouteNetlinkMessage {
        let mut m = AddressMessage::default();
        m.header.family = family(addr.ip());
        m.header.prefix_len = addr.prefix();
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(addr.ip()));
        m.attributes.push(AddressAttribute::Address(addr.ip()));
        if let IpNetwork::V4(v4) = addr
            && add
            && v4.prefix() < 31
        {
            m.attributes
                .push(AddressAttribute::Broadcast(v4.broadcast()));
        }
        if add {
            RouteNetlinkMessage::NewAddress(m)
        } else {
            RouteNetlinkMessage::DelAddress(m)
        }
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
            let mut flags = AddressFlags::from_bits_truncate(u32::from(m.header.flags.bits()));
            for attr in &m.attributes {
                match attr {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => peer = Some(*ip),
                    AddressAttribute::Flags(f) => flags = *f,
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
                tentative: flags.contains(AddressFlags::Tentative),
                dad_failed: flags.contains(AddressFlags::Dadfailed),
            });
        }
        Ok(out)
    }

    /// Add an address; EEXIST if it is already there.
    pub fn add_address(&mut self, link: &Link, addr: IpNetwork) -> Result<()> {
        let what = format!("add address {addr} to {:?}", link.name);
        self.change(
            &what,
            msg::address(link.index, addr, true),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Add an address without duplicate address detection.
    pub fn add_address_nodad(&mut self, link: &Link, addr: IpNetwork) -> Result<()> {
        let what = format!("add address {addr} to {:?}", link.name);
        let mut m = msg::address(link.index, addr, true);
        if let RouteNetlinkMessage::NewAddress(a) = &mut m {
            a.header.flags |= AddressHeaderFlags::Nodad;
            a.header.scope = AddressScope::Universe;
        }
        self.change(&what, m, NLM_F_CREATE | NLM_F_REPLACE)
    }

    pub fn delete_address(&mut self, link: &Link, addr: IpNetwork) -> Result<()> {
        let what = format!("delete address {addr} from {:?}", link.name);
        self.change(&what, msg::address(link.index, addr, false), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ip addr add 10.1.2.3/24 dev <#4>`
    #[test]
    fn add_v4_bytes() {
        let got = Socket::encode(
            msg::address(4, "10.1.2.3/24".parse().unwrap(), true),
            0x605,
            1,
        );
        #[rustfmt::skip]
        let want: &[u8] = &[
            48, 0, 0, 0,    20, 0,    5, 6,    1, 0, 0, 0,    0, 0, 0, 0,  // RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE
            2, 24, 0, 0,    4, 0, 0, 0,                                     // ifaddrmsg: AF_INET, /24, flags 0, scope 0, index 4
            8, 0, 2, 0,     10, 1, 2, 3,                                    // IFA_LOCAL
            8, 0, 1, 0,     10, 1, 2, 3,                                    // IFA_ADDRESS
            8, 0, 4, 0,     10, 1, 2, 255,                                  // IFA_BROADCAST
        ];
        assert_eq!(got, want);
    }
}
