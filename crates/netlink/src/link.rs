use std::os::fd::RawFd;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    AfSpecBridge, BridgeFlag, BridgeVlanInfo, BridgeVlanInfoFlags, InfoBridge, InfoBridgePort,
    InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoPortData, InfoPortKind, InfoVeth, InfoVlan,
    IpVlanFlags, IpVlanMode, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage,
    MacVlanMode, State,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

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
    /// `IFLA_LINK`: the parent (macvlan, ipvlan, vlan) or the peer's index (veth).
    pub parent: Option<u32>,
    /// The link kind (`bridge`, `veth`, `macvlan`, ...); `None` for physical
    /// devices and loopback.
    pub kind: Option<String>,
    /// The operational state is UP.
    pub oper_up: bool,
    pub oper_state: Option<State>,
    pub tx_queue_len: Option<u32>,
    /// The full message, for anything not summarised above.
    pub message: LinkMessage,
}

/// A bridge port's flags, as set with `bridge link` / `ip link ... type bridge_slave`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgePort {
    pub hairpin: bool,
    pub isolated: bool,
}

impl Link {
    pub fn is_up(&self) -> bool {
        self.flags.contains(LinkFlags::Up)
    }

    pub fn is_promisc(&self) -> bool {
        self.flags.contains(LinkFlags::Promisc)
    }

    /// The MAC as `aa:bb:cc:dd:ee:ff` (the form CNI results use).
    pub fn mac_string(&self) -> String {
        format_mac(&self.mac)
    }

    fn infos(&self) -> impl Iterator<Item = &LinkInfo> {
        self.message.attributes.iter().flat_map(|a| match a {
            LinkAttribute::LinkInfo(i) => i.as_slice(),
            _ => &[],
        })
    }

    /// The kind-specific data (`InfoData::MacVlan`, `::IpVlan`, `::Vlan`, ...).
    pub fn info_data(&self) -> Option<&InfoData> {
        self.infos().find_map(|i| match i {
            LinkInfo::Data(d) => Some(d),
            _ => None,
        })
    }

    /// The macvlan mode, for macvlan links.
    pub fn macvlan_mode(&self) -> Option<MacVlanMode> {
        match self.info_data()? {
            InfoData::MacVlan(v) => v.iter().find_map(|i| match i {
                InfoMacVlan::Mode(m) => Some(*m),
                _ => None,
            }),
            _ => None,
        }
    }

    /// The ipvlan mode and flags, for ipvlan links.
    pub fn ipvlan_mode(&self) -> Option<(IpVlanMode, IpVlanFlags)> {
        match self.info_data()? {
            InfoData::IpVlan(v) => {
                let mode = v.iter().find_map(|i| match i {
                    InfoIpVlan::Mode(m) => Some(*m),
                    _ => None,
                })?;
                let flags = v
                    .iter()
                    .find_map(|i| match i {
                        InfoIpVlan::Flags(f) => Some(*f),
                        _ => None,
                    })
                    .unwrap_or(IpVlanFlags::empty());
                Some((mode, flags))
            }
            _ => None,
        }
    }

    /// The VLAN ID, for vlan links.
    pub fn vlan_id(&self) -> Option<u16> {
        match self.info_data()? {
            InfoData::Vlan(v) => v.iter().find_map(|i| match i {
                InfoVlan::Id(id) => Some(*id),
                _ => None,
            }),
            _ => None,
        }
    }

    /// Whether vlan filtering is on, for bridges.
    pub fn bridge_vlan_filtering(&self) -> Option<bool> {
        match self.info_data()? {
            InfoData::Bridge(v) => v.iter().find_map(|i| match i {
                InfoBridge::VlanFiltering(f) => Some(*f),
                _ => None,
            }),
            _ => None,
        }
    }

    /// The bridge port flags, for links enslaved to a bridge.
    pub fn bridge_port(&self) -> Option<BridgePort> {
        self.infos().find_map(|i| match i {
            LinkInfo::PortData(InfoPortData::BridgePort(v)) => {
                let mut p = BridgePort::default();
                for a in v {
                    match a {
                        InfoBridgePort::HairpinMode(h) => p.hairpin = *h,
                        InfoBridgePort::Isolated(i) => p.isolated = *i,
                        _ => {}
                    }
                }
                Some(p)
            }
            _ => None,
        })
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
            oper_up: false,
            oper_state: None,
            tx_queue_len: None,
            message: LinkMessage::default(),
        };
        for attr in &message.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Mtu(m) => link.mtu = *m,
                LinkAttribute::Address(a) => link.mac = a.clone(),
                LinkAttribute::Controller(c) => link.controller = Some(*c),
                LinkAttribute::Link(p) => link.parent = Some(*p),
                LinkAttribute::TxQueueLen(q) => link.tx_queue_len = Some(*q),
                LinkAttribute::OperState(s) => {
                    link.oper_up = *s == State::Up;
                    link.oper_state = Some(*s);
                }
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

pub fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parse `aa:bb:cc:dd:ee:ff` (any case).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// A link to create, built up in the style of rtnetlink's builders.
#[derive(Clone, Debug)]
pub struct NewLink {
    msg: LinkMessage,
    info: Vec<LinkInfo>,
    what: String,
}

impl NewLink {
    fn new(name: &str, kind: InfoKind) -> NewLink {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        let what = format!("create {kind} {name:?}");
        NewLink {
            msg,
            info: vec![LinkInfo::Kind(kind)],
            what,
        }
    }

    pub fn bridge(name: &str, vlan_filtering: bool) -> NewLink {
        let mut l = NewLink::new(name, InfoKind::Bridge);
        if vlan_filtering {
            l.info.push(LinkInfo::Data(InfoData::Bridge(vec![
                InfoBridge::VlanFiltering(true),
            ])));
        }
        l
    }

    /// A veth pair: this end `name`, the other `peer`, created in the
    /// namespace `peer_netns` (or beside this end when `None`).
    pub fn veth(
        name: &str,
        peer: &str,
        peer_netns: Option<RawFd>,
        mtu: u32,
        peer_mac: Option<[u8; 6]>,
    ) -> NewLink {
        let mut l = NewLink::new(name, InfoKind::Veth);
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.to_string()));
        if mtu > 0 {
            p.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = peer_mac {
            p.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        if let Some(fd) = peer_netns {
            p.attributes.push(LinkAttribute::NetNsFd(fd));
        }
        l.info
            .push(LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))));
        l
    }

    pub fn macvlan(name: &str, parent: u32, mode: MacVlanMode, bcqueuelen: Option<u32>) -> NewLink {
        let mut l = NewLink::new(name, InfoKind::MacVlan);
        l.msg.attributes.push(LinkAttribute::Link(parent));
        let mut data = vec![InfoMacVlan::Mode(mode)];
        if let Some(q) = bcqueuelen {
            data.push(InfoMacVlan::BcQueueLen(q));
        }
        l.info.push(LinkInfo::Data(InfoData::MacVlan(data)));
        l
    }

    pub fn ipvlan(name: &str, parent: u32, mode: IpVlanMode, flags: IpVlanFlags) -> NewLink {
        let mut l = NewLink::new(name, InfoKind::IpVlan);
        l.msg.attributes.push(LinkAttribute::Link(parent));
        l.info.push(LinkInfo::Data(InfoData::IpVlan(vec![
            InfoIpVlan::Mode(mode),
            InfoIpVlan::Flags(flags),
        ])));
        l
    }

    pub fn vlan(name: &str, parent: u32, id: u16) -> NewLink {
        let mut l = NewLink::new(name, InfoKind::Vlan);
        l.msg.attributes.push(LinkAttribute::Link(parent));
        l.info
            .push(LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(id)])));
        l
    }

    pub fn dummy(name: &str) -> NewLink {
        NewLink::new(name, InfoKind::Dummy)
    }

    pub fn mtu(mut self, mtu: u32) -> NewLink {
        if mtu > 0 {
            self.msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        self
    }

    pub fn mac(mut self, mac: Option<[u8; 6]>) -> NewLink {
        if let Some(m) = mac {
            self.msg.attributes.push(LinkAttribute::Address(m.to_vec()));
        }
        self
    }

    /// Create the link in another namespace.
    pub fn netns(mut self, fd: RawFd) -> NewLink {
        self.msg.attributes.push(LinkAttribute::NetNsFd(fd));
        self
    }

    pub fn up(mut self) -> NewLink {
        self.msg.header.flags |= LinkFlags::Up;
        self.msg.header.change_mask |= LinkFlags::Up;
        self
    }

    pub fn message(&self) -> RouteNetlinkMessage {
        let mut m = self.msg.clone();
        m.attributes
            .push(LinkAttribute::LinkInfo(self.info.clone()));
        RouteNetlinkMessage::NewLink(m)
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

    pub fn dump_links() -> RouteNetlinkMessage {
        let mut m = LinkMessage::default();
        m.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        RouteNetlinkMessage::GetLink(m)
    }

    /// A change to an existing link (RTM_NEWLINK without CREATE).
    pub fn change(index: u32, attrs: Vec<LinkAttribute>) -> RouteNetlinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes = attrs;
        RouteNetlinkMessage::NewLink(m)
    }

    pub fn set_flag(index: u32, flag: LinkFlags, on: bool) -> RouteNetlinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = if on { flag } else { LinkFlags::empty() };
        m.header.change_mask = flag;
        RouteNetlinkMessage::NewLink(m)
    }

    pub fn set_link_state(index: u32, up: bool) -> RouteNetlinkMessage {
        set_flag(index, LinkFlags::Up, up)
    }

    pub fn delete(index: u32) -> RouteNetlinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        RouteNetlinkMessage::DelLink(m)
    }

    pub fn bridge_port(index: u32, attrs: Vec<InfoBridgePort>) -> RouteNetlinkMessage {
        change(
            index,
            vec![LinkAttribute::LinkInfo(vec![
                LinkInfo::PortKind(InfoPortKind::Bridge),
                LinkInfo::PortData(InfoPortData::BridgePort(attrs)),
            ])],
        )
    }

    /// `bridge vlan add|del vid <vid> dev <port> [pvid] [untagged] master`
    pub fn bridge_vlan(
        index: u32,
        vid: u16,
        pvid: bool,
        untagged: bool,
        add: bool,
    ) -> RouteNetlinkMessage {
        let mut m = LinkMessage::default();
        m.header.interface_family = AddressFamily::Bridge;
        m.header.index = index;
        let mut flags = BridgeVlanInfoFlags::empty();
        if pvid {
            flags |= BridgeVlanInfoFlags::Pvid;
        }
        if untagged {
            flags |= BridgeVlanInfoFlags::Untagged;
        }
        m.attributes.push(LinkAttribute::AfSpecBridge(vec![
            AfSpecBridge::Flags(BridgeFlag::Controller),
            AfSpecBridge::VlanInfo(BridgeVlanInfo { flags, vid }),
        ]));
        if add {
            RouteNetlinkMessage::SetLink(m)
        } else {
            RouteNetlinkMessage::DelLink(m)
        }
    }

    pub fn dump_bridge_vlans() -> RouteNetlinkMessage {
        let mut m = LinkMessage::default();
        m.header.interface_family = AddressFamily::Bridge;
        m.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::Brvlan]));
        RouteNetlinkMessage::GetLink(m)
    }
}

/// A VLAN on a bridge port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortVlan {
    pub vid: u16,
    pub pvid: bool,
    pub untagged: bool,
}

impl Socket {
    /// The link called `name`, or `None` if there is none.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>> {
        self.link(&format!("get link {name:?}"), msg::get_link_by_name(name))
    }

    pub fn link_by_index(&mut self, index: u32) -> Result<Option<Link>> {
        self.link(&format!("get link #{index}"), msg::get_link_by_index(index))
    }

    /// The link called `name`; an error naming it if there is none.
    pub fn require_link(&mut self, name: &str) -> Result<Link> {
        self.link_by_name(name)?.ok_or_else(|| Error::Kernel {
            what: format!("find link {name:?}"),
            errno: nix::errno::Errno::ENODEV,
            message: None,
        })
    }

    fn link(&mut self, what: &str, req: RouteNetlinkMessage) -> Result<Option<Link>> {
        match self.get(what, req) {
            Ok(RouteNetlinkMessage::NewLink(m)) => Ok(Some(Link::from_message(m))),
            Ok(_) => Err(Error::protocol(what, "not a link message")),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn links(&mut self) -> Result<Vec<Link>> {
        let mut out = Vec::new();
        for m in self.dump("list links", msg::dump_links())? {
            if let RouteNetlinkMessage::NewLink(m) = m {
                out.push(Link::from_message(m));
            }
        }
        Ok(out)
    }

    /// Create a link; EEXIST if the name is taken.
    pub fn create_link(&mut self, link: &NewLink) -> Result<()> {
        self.change(&link.what, link.message(), NLM_F_CREATE | NLM_F_EXCL)
    }

    pub fn delete_link(&mut self, link: &Link) -> Result<()> {
        self.change(
            &format!("delete link {:?}", link.name),
            msg::delete(link.index),
            0,
        )
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

    pub fn set_promisc(&mut self, link: &Link, on: bool) -> Result<()> {
        let what = format!(
            "set promiscuous mode {} on {:?}",
            if on { "on" } else { "off" },
            link.name
        );
        self.change(&what, msg::set_flag(link.index, LinkFlags::Promisc, on), 0)
    }

    pub fn set_allmulti(&mut self, link: &Link, on: bool) -> Result<()> {
        let what = format!(
            "set allmulticast {} on {:?}",
            if on { "on" } else { "off" },
            link.name
        );
        self.change(&what, msg::set_flag(link.index, LinkFlags::Allmulti, on), 0)
    }

    pub fn set_mtu(&mut self, link: &Link, mtu: u32) -> Result<()> {
        self.change(
            &format!("set MTU {mtu} on {:?}", link.name),
            msg::change(link.index, vec![LinkAttribute::Mtu(mtu)]),
            0,
        )
    }

    pub fn set_mac(&mut self, link: &Link, mac: &[u8]) -> Result<()> {
        let what = format!("set MAC {} on {:?}", format_mac(mac), link.name);
        self.change(
            &what,
            msg::change(link.index, vec![LinkAttribute::Address(mac.to_vec())]),
            0,
        )
    }

    pub fn set_tx_queue_len(&mut self, link: &Link, len: u32) -> Result<()> {
        let what = format!("set txqueuelen {len} on {:?}", link.name);
        self.change(
            &what,
            msg::change(link.index, vec![LinkAttribute::TxQueueLen(len)]),
            0,
        )
    }

    /// Rename a (down) link.
    pub fn rename_link(&mut self, link: &Link, name: &str) -> Result<()> {
        let what = format!("rename {:?} to {name:?}", link.name);
        self.change(
            &what,
            msg::change(link.index, vec![LinkAttribute::IfName(name.to_string())]),
            0,
        )
    }

    /// Move a link to the namespace `fd`.
    pub fn move_link(&mut self, link: &Link, fd: RawFd) -> Result<()> {
        let what = format!("move {:?} to another namespace", link.name);
        self.change(
            &what,
            msg::change(link.index, vec![LinkAttribute::NetNsFd(fd)]),
            0,
        )
    }

    /// Enslave to `controller` (a bridge), or release with `None`.
    pub fn set_controller(&mut self, link: &Link, controller: Option<&Link>) -> Result<()> {
        let what = match controller {
            Some(c) => format!("attach {:?} to {:?}", link.name, c.name),
            None => format!("detach {:?}", link.name),
        };
        let index = controller.map_or(0, |c| c.index);
        self.change(
            &what,
            msg::change(link.index, vec![LinkAttribute::Controller(index)]),
            0,
        )
    }

    /// Turn vlan filtering on for an existing bridge.
    pub fn set_vlan_filtering(&mut self, bridge: &Link, on: bool) -> Result<()> {
        let what = format!("set vlan_filtering {} on {:?}", u8::from(on), bridge.name);
        let m = msg::change(
            bridge.index,
            vec![LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Bridge),
                LinkInfo::Data(InfoData::Bridge(vec![InfoBridge::VlanFiltering(on)])),
            ])],
        );
        self.change(&what, m, 0)
    }

    /// Set a bridge port's hairpin and isolated flags.
    pub fn set_bridge_port(&mut self, port: &Link, flags: BridgePort) -> Result<()> {
        let what = format!(
            "set hairpin {} isolated {} on {:?}",
            u8::from(flags.hairpin),
            u8::from(flags.isolated),
            port.name
        );
        let m = msg::bridge_port(
            port.index,
            vec![
                InfoBridgePort::HairpinMode(flags.hairpin),
                InfoBridgePort::Isolated(flags.isolated),
            ],
        );
        self.change(&what, m, 0)
    }

    pub fn bridge_vlan_add(&mut self, port: &Link, vlan: PortVlan) -> Result<()> {
        let what = format!("add vlan {} to {:?}", vlan.vid, port.name);
        self.change(
            &what,
            msg::bridge_vlan(port.index, vlan.vid, vlan.pvid, vlan.untagged, true),
            0,
        )
    }

    pub fn bridge_vlan_del(&mut self, port: &Link, vid: u16) -> Result<()> {
        let what = format!("delete vlan {vid} from {:?}", port.name);
        self.change(
            &what,
            msg::bridge_vlan(port.index, vid, false, false, false),
            0,
        )
    }

    /// The VLANs of a bridge port.
    pub fn bridge_vlans(&mut self, port: &Link) -> Result<Vec<PortVlan>> {
        let mut out = Vec::new();
        let mut m = msg::dump_bridge_vlans();
        if let RouteNetlinkMessage::GetLink(l) = &mut m {
            l.header.index = 0;
        }
        for reply in self.dump("list bridge vlans", m)? {
            let RouteNetlinkMessage::NewLink(l) = reply else {
                continue;
            };
            if l.header.index != port.index {
                continue;
            }
            for a in &l.attributes {
                if let LinkAttribute::AfSpecBridge(spec) = a {
                    for s in spec {
                        if let AfSpecBridge::VlanInfo(v) = s {
                            out.push(PortVlan {
                                vid: v.vid,
                                pvid: v.flags.contains(BridgeVlanInfoFlags::Pvid),
                                untagged: v.flags.contains(BridgeVlanInfoFlags::Untagged),
                            });
                        }
                    }
                }
            }
        }
        Ok(out)
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

    /// `ip link add eth0 type veth peer name veth0 netns <fd>` with MTU 1400.
    #[test]
    fn veth_bytes() {
        let l = NewLink::veth("eth0", "veth0", Some(5), 1400, None).mtu(1400);
        let got = Socket::encode(
            l.message(),
            netlink_packet_core::NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            2,
        );
        #[rustfmt::skip]
        let want: &[u8] = &[
            120, 0, 0, 0,   16, 0,    5, 6,    2, 0, 0, 0,    0, 0, 0, 0,  // RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE
            0, 0, 0, 0,     0, 0, 0, 0,     0, 0, 0, 0,    0, 0, 0, 0,     // ifinfomsg
            9, 0, 3, 0,     b'e', b't', b'h', b'0', 0, 0, 0, 0,             // IFLA_IFNAME "eth0"
            8, 0, 4, 0,     0x78, 0x05, 0, 0,                               // IFLA_MTU 1400
            68, 0, 18, 0,                                                   // IFLA_LINKINFO (lengths include padding)
            9, 0, 1, 0,     b'v', b'e', b't', b'h', 0, 0, 0, 0,             //   IFLA_INFO_KIND "veth"
            52, 0, 2, 0,                                                    //   IFLA_INFO_DATA
            48, 0, 1, 0,                                                    //     VETH_INFO_PEER
            0, 0, 0, 0,     0, 0, 0, 0,     0, 0, 0, 0,    0, 0, 0, 0,     //       ifinfomsg
            10, 0, 3, 0,    b'v', b'e', b't', b'h', b'0', 0, 0, 0,          //       IFLA_IFNAME "veth0" + pad
            8, 0, 4, 0,     0x78, 0x05, 0, 0,                               //       IFLA_MTU 1400
            8, 0, 28, 0,    5, 0, 0, 0,                                     //       IFLA_NET_NS_FD 5
        ];
        assert_eq!(got, want);
    }

    /// `bridge vlan add vid 100 dev <#9> pvid untagged master`
    #[test]
    fn bridge_vlan_bytes() {
        let got = Socket::encode(
            msg::bridge_vlan(9, 100, true, true, true),
            netlink_packet_core::NLM_F_ACK,
            3,
        );
        #[rustfmt::skip]
        let want: &[u8] = &[
            52, 0, 0, 0,    19, 0,    5, 0,    3, 0, 0, 0,    0, 0, 0, 0,  // RTM_SETLINK, REQUEST|ACK
            7, 0, 0, 0,     9, 0, 0, 0,     0, 0, 0, 0,    0, 0, 0, 0,     // ifinfomsg: AF_BRIDGE, index 9
            20, 0, 26, 0,                                                   // IFLA_AF_SPEC
            6, 0, 0, 0,     1, 0, 0, 0,                                     //   IFLA_BRIDGE_FLAGS BRIDGE_FLAGS_MASTER (u16 + pad)
            8, 0, 2, 0,     6, 0, 100, 0,                                   //   IFLA_BRIDGE_VLAN_INFO pvid|untagged, vid 100
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("0A:58:0a:01:02:03"),
            Some([0x0a, 0x58, 0x0a, 1, 2, 3])
        );
        assert_eq!(parse_mac("0a:58:0a:01:02"), None);
        assert_eq!(parse_mac("0a:58:0a:01:02:03:04"), None);
        assert_eq!(parse_mac("0a:58:0a:01:02:0g"), None);
        assert_eq!(format_mac(&[0x0a, 0x58, 0, 1, 2, 3]), "0a:58:00:01:02:03");
    }
}
