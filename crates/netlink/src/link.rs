use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage};

use crate::{Error, Result, Socket};

/// A network interface, as the kernel reports it.
#[derive(Clone, Debug)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub flags: LinkFlags,
    pub mtu: u32,
    /// The hardware address (empty for devices without one).
    pub mac: Vec<u8>,
    /// The device this one is enslaved to (a bridge, a bond, a VRF).
    pub controller: Option<u32>,
    /// `IFLA_LINK`: the parent (macvlan, vlan) or the peer's index (veth).
    pub parent: Option<u32>,
    /// The link kind (`bridge`, `veth`, `macvlan`, ...); `None` for physical
    /// devices and loopback.
    pub kind: Option<String>,
    /// The full message, for anything not summarised above.
    pub message: LinkMessage,
}

impl Link {
    pub fn is_up(&self) -> bool {
        self.flags.contains(LinkFlags::Up)
    }

    /// The MAC as `aa:bb:cc:dd:ee:ff` (the form CNI results use).
    pub fn mac_string(&self) -> String {
        self.mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    fn from_message(message: LinkMessage) -> Link {
        let mut link = Link {
            index: message.header.index,
            name: String::new(),
            flags: message.header.flags,
            mtu: 0,
            mac: Vec::new(),
            controller: None,
            parent: None,
            kind: None,
            message: LinkMessage::default(),
        };
        for attr in &message.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Mtu(m) => link.mtu = *m,
                LinkAttribute::Address(a) => link.mac = a.clone(),
                LinkAttribute::Controller(c) => link.controller = Some(*c),
                LinkAttribute::Link(p) => link.parent = Some(*p),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(k) = info {
                            link.kind = Some(k.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        link.message = message;
        link
    }
}

/// Messages this crate sends, built in one place so they can be checked
/// byte for byte.
pub(crate) mod msg {
    use super::*;

    pub fn get_link_by_name(name: &str) -> RouteNetlinkMessage {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        RouteNetlinkMessage::GetLink(m)
    }

    pub fn get_link_by_index(index: u32) -> RouteNetlinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        RouteNetlinkMessage::GetLink(m)
    }

    pub fn set_link_state(index: u32, up: bool) -> RouteNetlinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = if up {
            LinkFlags::Up
        } else {
            LinkFlags::empty()
        };
        m.header.change_mask = LinkFlags::Up;
        RouteNetlinkMessage::NewLink(m)
    }
}

impl Socket {
    /// The link called `name`, or `None` if there is none.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>> {
        self.link(&format!("get link {name:?}"), msg::get_link_by_name(name))
    }

    pub fn link_by_index(&mut self, index: u32) -> Result<Option<Link>> {
        self.link(&format!("get link #{index}"), msg::get_link_by_index(index))
    }

    fn link(&mut self, what: &str, req: RouteNetlinkMessage) -> Result<Option<Link>> {
        match self.get(what, req) {
            Ok(RouteNetlinkMessage::NewLink(m)) => Ok(Some(Link::from_message(m))),
            Ok(_) => Err(Error::protocol(what, "not a link message")),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Set a link administratively up or down.
    pub fn set_link_up(&mut self, link: &Link, up: bool) -> Result<()> {
        let what = format!(
            "set link {:?} {}",
            link.name,
            if up { "up" } else { "down" }
        );
        self.change(&what, msg::set_link_state(link.index, up), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden bytes: what `ip link set dev <#1> up` puts on the wire.
    #[test]
    fn set_up_bytes() {
        let got = Socket::encode(
            msg::set_link_state(1, true),
            netlink_packet_core::NLM_F_ACK,
            7,
        );
        #[rustfmt::skip]
        let want: [u8; 32] = [
            32, 0, 0, 0,    16, 0,    5, 0,    7, 0, 0, 0,    0, 0, 0, 0,  // nlmsghdr: len, RTM_NEWLINK, REQUEST|ACK, seq 7, pid 0
            0, 0, 0, 0,     1, 0, 0, 0,     1, 0, 0, 0,    1, 0, 0, 0,     // ifinfomsg: AF_UNSPEC, index 1, flags IFF_UP, change IFF_UP
        ];
        assert_eq!(got, want);
        let down = Socket::encode(
            msg::set_link_state(3, false),
            netlink_packet_core::NLM_F_ACK,
            1,
        );
        assert_eq!(&down[20..32], &[3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn get_by_name_bytes() {
        let got = Socket::encode(msg::get_link_by_name("lo"), 0, 1);
        #[rustfmt::skip]
        let want: [u8; 48] = [
            48, 0, 0, 0,    18, 0,    1, 0,    1, 0, 0, 0,    0, 0, 0, 0,  // RTM_GETLINK, REQUEST
            0, 0, 0, 0,     0, 0, 0, 0,     0, 0, 0, 0,    0, 0, 0, 0,     // ifinfomsg: no index
            7, 0, 3, 0,     b'l', b'o', 0, 0,                               // IFLA_IFNAME "lo\0" + pad
            8, 0, 29, 0,    8, 0, 0, 0,                                     // IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS
        ];
        assert_eq!(got, want);
    }
}
