//! A synchronous rtnetlink client for short-lived plugins.
//!
//! One [`Socket`] talks to one network namespace for its whole life: the one
//! it was opened in. Open the container's socket with [`Socket::new_in`] (a
//! brief switch into the namespace) and keep working from the host namespace.
//!
//! Compared with netavark's socket, which this follows: replies of any size
//! (the receive buffer grows), dumps retried when the kernel marks them
//! interrupted (`NLM_F_DUMP_INTR`, as the reference's `netlinksafe` does),
//! stale replies skipped by sequence number, and the kernel's extended-ack
//! message (`Error: ...`) kept in the error.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod addr;
mod error;
mod link;
mod neigh;
mod route;
mod socket;

pub use addr::Address;
pub use error::Error;
pub use link::{BridgePort, Link, NewLink, PortVlan, format_mac, parse_mac};
pub use neigh::Neighbour;
pub use route::Route;
pub use socket::{Socket, ext_ack_message, open_raw};

pub use netlink_packet_route as packet;

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use nix::sched::{CloneFlags, unshare};
    use packet::AddressFamily;

    use super::*;

    /// Each test runs on its own thread: unsharing it gives the test a private
    /// network namespace and leaves the host alone.
    fn private_netns() {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET) needs root");
    }

    #[test]
    fn loopback_round_trip() {
        private_netns();
        let mut s = Socket::new().unwrap();
        let lo = s.link_by_name("lo").unwrap().unwrap();
        assert_eq!(lo.index, 1);
        assert!(!lo.is_up());
        assert_eq!(lo.mac_string(), "00:00:00:00:00:00");
        assert!(s.addresses(Some(lo.index), None).unwrap().is_empty());
        s.set_link_up(&lo, true).unwrap();
        let lo = s.link_by_index(1).unwrap().unwrap();
        assert!(lo.is_up());
        let v4 = s.addresses(Some(1), Some(AddressFamily::Inet)).unwrap();
        assert_eq!(
            v4.iter().map(|a| a.address.to_string()).collect::<Vec<_>>(),
            ["127.0.0.1/8"]
        );
        assert_eq!(v4[0].scope, 254);
        let all = s.addresses(None, None).unwrap();
        assert!(
            all.iter().any(|a| a.address.to_string() == "::1/128"),
            "{all:?}"
        );
        s.set_link_up(&lo, false).unwrap();
        assert!(!s.link_by_name("lo").unwrap().unwrap().is_up());
    }

    #[test]
    fn missing_objects() {
        private_netns();
        let mut s = Socket::new().unwrap();
        assert!(s.link_by_name("nope0").unwrap().is_none());
        assert!(s.link_by_index(4242).unwrap().is_none());
        let mut ghost = s.link_by_name("lo").unwrap().unwrap();
        ghost.index = 4242;
        ghost.name = "ghost".into();
        let e = s.set_link_up(&ghost, true).unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert!(e.to_string().starts_with("set link \"ghost\" up: "), "{e}");
        assert_eq!(cni::CniError::from(e).code, cni::Code::INTERNAL);
    }

    /// Run a command in this thread's namespace; its stdout.
    fn sh(cmd: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every operation the plugins use, against the kernel, read back with
    /// `ip` and `bridge`.
    #[test]
    fn links_addresses_routes_vlans_neighbours() {
        use std::os::fd::AsRawFd;

        use packet::link::{IpVlanFlags, MacVlanMode};

        private_netns();
        // A second namespace, for the far end of a veth.
        let mut holder = std::process::Command::new("unshare")
            .args(["--net", "sleep", "60"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let other = netns::NetNs::open(format!("/proc/{}/ns/net", holder.id())).unwrap();
        let here = netns::NetNs::current().unwrap();
        let mut s = Socket::new().unwrap();
        let mut o = Socket::new_in(&other).unwrap();

        // A bridge, and a veth whose far end is in `other`.
        s.create_link(&NewLink::bridge("br0", false).mtu(1400))
            .unwrap();
        let br = s.require_link("br0").unwrap();
        assert_eq!(
            (br.kind.as_deref(), br.mtu, br.bridge_vlan_filtering()),
            (Some("bridge"), 1400, Some(false))
        );
        o.create_link(
            &NewLink::veth("eth0", "vethhost", Some(here.as_raw_fd()), 1400, None).mtu(1400),
        )
        .unwrap();
        let host = s.require_link("vethhost").unwrap();
        let cont = o.require_link("eth0").unwrap();
        assert_eq!(
            host.parent,
            Some(cont.index),
            "a veth's IFLA_LINK is its peer"
        );
        assert!(
            s.link_by_name("eth0").unwrap().is_none(),
            "the container end is not here"
        );
        assert!(matches!(s.create_link(&NewLink::bridge("br0", false)), Err(e) if e.is_exists()));

        s.set_controller(&host, Some(&br)).unwrap();
        s.set_bridge_port(
            &host,
            BridgePort {
                hairpin: true,
                isolated: true,
            },
        )
        .unwrap();
        s.set_link_up(&host, true).unwrap();
        let host = s.require_link("vethhost").unwrap();
        assert_eq!(host.controller, Some(br.index));
        assert_eq!(
            host.bridge_port(),
            Some(BridgePort {
                hairpin: true,
                isolated: true
            })
        );
        let detail = sh("bridge -d link show dev vethhost");
        assert!(
            detail.contains("hairpin on") && detail.contains("isolated on"),
            "{detail}"
        );

        // Promiscuous mode, MAC, MTU, rename, txqueuelen.
        s.set_promisc(&br, true).unwrap();
        s.set_mac(&br, &[0x0a, 0x58, 0, 0, 0, 1]).unwrap();
        let br = s.require_link("br0").unwrap();
        assert!(br.is_promisc());
        assert_eq!(br.mac_string(), "0a:58:00:00:00:01");
        o.set_tx_queue_len(&cont, 500).unwrap();
        o.rename_link(&cont, "net1").unwrap();
        let cont = o.require_link("net1").unwrap();
        assert_eq!(cont.tx_queue_len, Some(500));

        // Addresses and routes in the other namespace.
        o.set_link_up(&cont, true).unwrap();
        o.add_address(&cont, "10.7.0.5/24".parse().unwrap())
            .unwrap();
        assert!(
            o.add_address(&cont, "10.7.0.5/24".parse().unwrap())
                .unwrap_err()
                .is_exists()
        );
        o.add_address_nodad(&cont, "fd07::5/64".parse().unwrap())
            .unwrap();
        let addrs = o.addresses(Some(cont.index), None).unwrap();
        assert!(addrs.iter().any(|a| a.address.to_string() == "10.7.0.5/24"));
        assert!(
            addrs
                .iter()
                .any(|a| a.address.to_string() == "fd07::5/64" && !a.tentative)
        );
        let default = Route::new("0.0.0.0/0".parse().unwrap())
            .via("10.7.0.1".parse().ok())
            .dev(cont.index);
        o.add_route(&default).unwrap();
        o.append_route(&Route {
            priority: 5,
            ..Route::new("192.168.9.0/24".parse().unwrap())
                .via("10.7.0.1".parse().ok())
                .dev(cont.index)
        })
        .unwrap();
        let routes = o.routes(packet::AddressFamily::Inet).unwrap();
        assert!(routes.iter().any(|r| r.is_default()
            && r.gateway == "10.7.0.1".parse().ok()
            && r.oif == Some(cont.index)));
        assert!(
            routes
                .iter()
                .any(|r| r.dst.to_string() == "192.168.9.0/24" && r.priority == 5)
        );
        o.delete_route(&default).unwrap();
        assert!(
            !o.routes(packet::AddressFamily::Inet)
                .unwrap()
                .iter()
                .any(Route::is_default)
        );
        o.delete_address(&cont, "10.7.0.5/24".parse().unwrap())
            .unwrap();

        // Neighbours.
        o.set_neighbour(&cont, "10.7.0.9".parse().unwrap(), &[2, 0, 0, 0, 0, 9])
            .unwrap();
        let n = o.neighbours(packet::AddressFamily::Inet).unwrap();
        assert!(
            n.iter().any(|n| n.ip.to_string() == "10.7.0.9"
                && n.mac == [2, 0, 0, 0, 0, 9]
                && n.permanent)
        );
        o.delete_neighbour(&cont, "10.7.0.9".parse().unwrap())
            .unwrap();

        // macvlan / ipvlan creation on a veth parent (ipvlan needs the module;
        // this kernel may lack it, which is what the VM tests are for).
        s.create_link(&NewLink::veth("up0", "up1", None, 0, None))
            .unwrap();
        let up = s.require_link("up0").unwrap();
        s.create_link(
            &NewLink::macvlan("mv0", up.index, MacVlanMode::Private, None).netns(other.as_raw_fd()),
        )
        .unwrap();
        assert_eq!(
            o.require_link("mv0").unwrap().macvlan_mode(),
            Some(MacVlanMode::Private)
        );
        let _ = IpVlanFlags::empty();

        // Deleting one end of a veth deletes both.
        let net1 = o.require_link("net1").unwrap();
        o.delete_link(&net1).unwrap();
        assert!(s.link_by_name("vethhost").unwrap().is_none());
        let _ = holder.kill();
        let _ = holder.wait();
    }

    /// Bridge VLANs need CONFIG_BRIDGE_VLAN_FILTERING, which the development
    /// host's kernel lacks; scripts/test.sh runs this in the VM.
    #[test]
    #[ignore = "needs bridge vlan filtering: runs in the VM (scripts/test.sh)"]
    fn vm_bridge_vlans() {
        private_netns();
        let mut s = Socket::new().unwrap();
        s.create_link(&NewLink::bridge("br0", true)).unwrap();
        let br = s.require_link("br0").unwrap();
        assert_eq!(br.bridge_vlan_filtering(), Some(true));
        s.create_link(&NewLink::veth("vethhost", "peer", None, 0, None))
            .unwrap();
        let host = s.require_link("vethhost").unwrap();
        s.set_controller(&host, Some(&br)).unwrap();
        // VLANs on the port.
        s.bridge_vlan_del(&host, 1).unwrap();
        s.bridge_vlan_add(
            &host,
            PortVlan {
                vid: 100,
                pvid: true,
                untagged: true,
            },
        )
        .unwrap();
        s.bridge_vlan_add(
            &host,
            PortVlan {
                vid: 200,
                pvid: false,
                untagged: false,
            },
        )
        .unwrap();
        let vlans = s.bridge_vlans(&host).unwrap();
        assert_eq!(
            vlans,
            [
                PortVlan {
                    vid: 100,
                    pvid: true,
                    untagged: true
                },
                PortVlan {
                    vid: 200,
                    pvid: false,
                    untagged: false
                }
            ]
        );
        let shown = sh("bridge vlan show dev vethhost");
        assert!(
            shown.contains("100 PVID Egress Untagged") && shown.contains("200"),
            "{shown}"
        );

        // Turning filtering on for a bridge made without it.
        s.create_link(&NewLink::bridge("br1", false)).unwrap();
        let br1 = s.require_link("br1").unwrap();
        s.set_vlan_filtering(&br1, true).unwrap();
        assert_eq!(
            s.require_link("br1").unwrap().bridge_vlan_filtering(),
            Some(true)
        );
    }
}
