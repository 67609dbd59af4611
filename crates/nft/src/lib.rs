//! nf_tables over netlink, without spawning `nft` or `iptables`.
//!
//! * [`Batch`]: tables, chains and rules to add or delete, applied by the
//!   kernel atomically (all or nothing) in one `sendmsg`.
//! * [`Socket::rules`]: the rules of a chain, with their handles, comments
//!   and verdicts, to find what to delete.
//! * [`expr`]: expression builders that encode matches exactly as nft(8)
//!   1.0 does, so `nft list ruleset` shows the rules as if nft had added
//!   them, and rules made by the reference plugins (through nft, knftables
//!   or iptables-nft) are recognised.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod attr;
mod batch;
mod conntrack;
pub mod expr;
mod socket;

pub use batch::{BaseChain, Batch, ChainType, Hook};
pub use conntrack::Flow;
pub use expr::{Expr, Verdict};
pub use socket::{Error, Rule, Socket};

/// An nf_tables address family (`NFPROTO_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Inet,
    Ip,
    Ip6,
    Bridge,
}

impl Family {
    pub fn code(self) -> u8 {
        match self {
            Family::Inet => 1,
            Family::Ip => 2,
            Family::Bridge => 7,
            Family::Ip6 => 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use nix::sched::{CloneFlags, unshare};

    use super::expr::*;
    use super::*;

    fn private_netns() {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET) needs root");
    }

    /// Run a command in this thread's namespace (children inherit it).
    fn run(cmd: &str, args: &[&str]) -> String {
        let out = Command::new(cmd).args(args).output().expect("run");
        assert!(
            out.status.success(),
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn net(s: &str) -> ipnetwork::IpNetwork {
        s.parse().unwrap()
    }

    const T: &str = "cni_plugins_masquerade";

    fn masq_layout(b: &mut Batch) {
        b.add_table(
            Family::Inet,
            T,
            Some("Masquerading for plugins from github.com/containernetworking/plugins"),
        )
        .add_chain(Family::Inet, T, "masq_checks", None, None)
        .add_chain(
            Family::Inet,
            T,
            "postrouting",
            Some(BaseChain {
                kind: ChainType::Nat,
                hook: Hook::Postrouting,
                priority: 100,
            }),
            None,
        )
        .flush_chain(Family::Inet, T, "postrouting");
        let mut r = nfproto(true);
        r.extend(ip(Addr::Destination, net("224.0.0.0/4"), CmpOp::Eq));
        r.push(Expr::Verdict(Verdict::Return));
        b.add_rule(Family::Inet, T, "postrouting", &r, None);
        let mut r = nfproto(false);
        r.extend(ip(Addr::Destination, net("ff00::/8"), CmpOp::Eq));
        r.push(Expr::Verdict(Verdict::Return));
        b.add_rule(Family::Inet, T, "postrouting", &r, None);
        b.add_rule(
            Family::Inet,
            T,
            "postrouting",
            &[Expr::Verdict(Verdict::Goto("masq_checks".into()))],
            None,
        );
    }

    fn masq_rule(b: &mut Batch, addr: &str, comment: &str) {
        let a = net(addr);
        let mut r = nfproto(a.is_ipv4());
        r.extend(ip(
            Addr::Source,
            ipnetwork::IpNetwork::from(a.ip()),
            CmpOp::Eq,
        ));
        r.extend(ip(Addr::Destination, a, CmpOp::Neq));
        r.push(Expr::Masquerade);
        b.add_rule(Family::Inet, T, "masq_checks", &r, Some(comment));
    }

    #[test]
    fn rules_read_back_as_nft_would_write_them() {
        private_netns();
        let mut s = Socket::new().unwrap();
        let mut b = Batch::new();
        masq_layout(&mut b);
        masq_rule(&mut b, "10.1.2.3/20", "a1, net: n, if: eth0, id: c1");
        masq_rule(&mut b, "2001:db8::5/64", "a1, net: n, if: eth0, id: c1");
        s.apply(&b).unwrap();
        // Applying the same layout again is harmless (postrouting is rebuilt).
        let mut again = Batch::new();
        masq_layout(&mut again);
        s.apply(&again).unwrap();
        let text = run("nft", &["list", "table", "inet", T]);
        let want = "table inet cni_plugins_masquerade {\n\
            \tcomment \"Masquerading for plugins from github.com/containernetworking/plugins\"\n\
            \tchain masq_checks {\n\
            \t\tip saddr 10.1.2.3 ip daddr != 10.1.0.0/20 masquerade comment \"a1, net: n, if: eth0, id: c1\"\n\
            \t\tip6 saddr 2001:db8::5 ip6 daddr != 2001:db8::/64 masquerade comment \"a1, net: n, if: eth0, id: c1\"\n\
            \t}\n\n\
            \tchain postrouting {\n\
            \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
            \t\tip daddr 224.0.0.0/4 return\n\
            \t\tip6 daddr ff00::/8 return\n\
            \t\tgoto masq_checks\n\
            \t}\n\
            }\n";
        assert_eq!(text, want);

        let rules = s.rules(Family::Inet, T, "masq_checks").unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(
            rules[0].comment.as_deref(),
            Some("a1, net: n, if: eth0, id: c1")
        );
        assert_eq!(
            rules[0].exprs,
            [
                "meta", "cmp", "payload", "cmp", "payload", "bitwise", "cmp", "masq"
            ]
        );
        let post = s.rules(Family::Inet, T, "postrouting").unwrap();
        assert!(post[2].targets("masq_checks"));
        // Delete by handle.
        let mut del = Batch::new();
        del.delete_rule(Family::Inet, T, "masq_checks", rules[0].handle);
        s.apply(&del).unwrap();
        assert_eq!(s.rules(Family::Inet, T, "masq_checks").unwrap().len(), 1);
        assert!(s.chain_exists(Family::Inet, T, "masq_checks").unwrap());
        assert!(!s.chain_exists(Family::Inet, T, "nope").unwrap());
        assert!(s.rules(Family::Inet, "no_table", "c").unwrap().is_empty());
    }

    /// The portmap and firewall expressions list exactly as nft writes them.
    #[test]
    fn dnat_fib_ct_and_ifname_rules_read_back_as_nft_would_write_them() {
        private_netns();
        let mut s = Socket::new().unwrap();
        let mut b = Batch::new();
        let nat = |hook| {
            Some(BaseChain {
                kind: ChainType::Nat,
                hook,
                priority: -100,
            })
        };
        b.add_table(Family::Ip, "t", None)
            .add_chain(Family::Ip, "t", "pre", nat(Hook::Prerouting), None)
            .add_chain(Family::Ip, "t", "hostports", None, None)
            .add_table(Family::Ip6, "t", None)
            .add_chain(Family::Ip6, "t", "hostports", None, None);
        let mut r = fib_daddr_local();
        r.push(Expr::Verdict(Verdict::Jump("hostports".into())));
        b.add_rule(Family::Ip, "t", "pre", &r, None);
        let mut r = ip(Addr::Destination, net("192.0.2.1/32"), CmpOp::Eq);
        r.extend(l4_dport(IPPROTO_UDP, 53));
        r.extend(dnat_to("10.1.2.3".parse().unwrap(), 5353));
        b.add_rule(Family::Ip, "t", "hostports", &r, Some("ctr"));
        let mut r = l4_dport(IPPROTO_SCTP, 99);
        r.extend(dnat_to("fd00::2".parse().unwrap(), 9));
        b.add_rule(Family::Ip6, "t", "hostports", &r, Some("ctr"));
        let mut r = ifname(META_OIFNAME, "br0", CmpOp::Neq);
        r.extend(iifname("br0"));
        r.push(Expr::Verdict(Verdict::Drop));
        b.add_rule(Family::Ip, "t", "hostports", &r, None);
        let mut r = ct_related_established();
        r.push(Expr::Verdict(Verdict::Accept));
        b.add_rule(Family::Ip, "t", "hostports", &r, None);
        s.apply(&b).unwrap();
        let text = run("nft", &["list", "ruleset"]);
        let want = "table ip t {\n\
            \tchain pre {\n\
            \t\ttype nat hook prerouting priority dstnat; policy accept;\n\
            \t\tfib daddr type local jump hostports\n\
            \t}\n\n\
            \tchain hostports {\n\
            \t\tip daddr 192.0.2.1 udp dport 53 dnat to 10.1.2.3:5353 comment \"ctr\"\n\
            \t\toifname != \"br0\" iifname \"br0\" drop\n\
            \t\tct state established,related accept\n\
            \t}\n\
            }\n\
            table ip6 t {\n\
            \tchain hostports {\n\
            \t\tsctp dport 99 dnat to [fd00::2]:9 comment \"ctr\"\n\
            \t}\n\
            }\n";
        assert_eq!(text, want);
    }

    /// UDP flows by destination port: listed, deleted, gone.
    #[test]
    fn conntrack_udp_entries_by_destination_port() {
        private_netns();
        run("ip", &["link", "set", "lo", "up"]);
        let mut s = Socket::new().unwrap();
        // A rule that needs connection tracking makes the kernel track.
        let mut b = Batch::new();
        b.add_table(Family::Ip, "t", None).add_chain(
            Family::Ip,
            "t",
            "out",
            Some(BaseChain {
                kind: ChainType::Filter,
                hook: Hook::Output,
                priority: 0,
            }),
            None,
        );
        let mut r = ct_related_established();
        r.push(Expr::Verdict(Verdict::Accept));
        b.add_rule(Family::Ip, "t", "out", &r, None);
        s.apply(&b).unwrap();
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for port in [5353u16, 5354] {
            sock.send_to(b"x", ("127.0.0.1", port)).unwrap();
        }
        let flows = s.conntrack(Family::Ip).unwrap();
        let has = |flows: &[Flow], port| {
            flows
                .iter()
                .any(|f| f.proto == IPPROTO_UDP && f.dst_port == Some(port))
        };
        assert!(has(&flows, 5353) && has(&flows, 5354), "{flows:?}");
        assert_eq!(
            s.delete_conntrack_dport(Family::Ip, IPPROTO_UDP, 5353)
                .unwrap(),
            1
        );
        let flows = s.conntrack(Family::Ip).unwrap();
        assert!(!has(&flows, 5353) && has(&flows, 5354), "{flows:?}");
        assert_eq!(
            s.delete_conntrack_dport(Family::Ip, IPPROTO_UDP, 5353)
                .unwrap(),
            0
        );
    }

    #[test]
    fn a_failing_batch_changes_nothing() {
        private_netns();
        let mut s = Socket::new().unwrap();
        let mut b = Batch::new();
        b.add_table(Family::Ip, "t", None)
            .add_chain(Family::Ip, "t", "c", None, None)
            .delete_rule(Family::Ip, "t", "c", 4242);
        let e = s.apply(&b).unwrap_err();
        assert_eq!(e.errno(), Some(nix::errno::Errno::ENOENT), "{e}");
        assert!(e.to_string().contains("delete rule 4242 from t c"), "{e}");
        assert!(!s.table_exists(Family::Ip, "t").unwrap());
    }

    /// Rules the reference made through iptables-nft are nf_tables objects:
    /// found by their jump target and removed without iptables.
    #[test]
    fn iptables_nft_rules_are_found_and_removed() {
        private_netns();
        let chain = "CNI-0123456789abcdef01234567";
        run("iptables", &["-w", "-t", "nat", "-N", chain]);
        run(
            "iptables",
            &[
                "-w",
                "-t",
                "nat",
                "-A",
                chain,
                "-d",
                "10.9.0.0/16",
                "-j",
                "ACCEPT",
                "-m",
                "comment",
                "--comment",
                "name: \"n\" id: \"c\"",
            ],
        );
        run(
            "iptables",
            &[
                "-w",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-s",
                "10.9.0.5",
                "-j",
                chain,
                "-m",
                "comment",
                "--comment",
                "name: \"n\" id: \"c\"",
            ],
        );
        run(
            "iptables",
            &[
                "-w",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-s",
                "10.9.0.6",
                "-j",
                "MASQUERADE",
            ],
        );
        let mut s = Socket::new().unwrap();
        assert!(s.chain_exists(Family::Ip, "nat", chain).unwrap());
        let post = s.rules(Family::Ip, "nat", "POSTROUTING").unwrap();
        let jumps: Vec<u64> = post
            .iter()
            .filter(|r| r.targets(chain))
            .map(|r| r.handle)
            .collect();
        assert_eq!(jumps.len(), 1);
        let mut b = Batch::new();
        for h in jumps {
            b.delete_rule(Family::Ip, "nat", "POSTROUTING", h);
        }
        b.flush_chain(Family::Ip, "nat", chain)
            .delete_chain(Family::Ip, "nat", chain);
        s.apply(&b).unwrap();
        let left = run("iptables", &["-w", "-t", "nat", "-S"]);
        assert!(!left.contains("CNI-"), "{left}");
        assert!(
            left.contains("-A POSTROUTING -s 10.9.0.6/32 -j MASQUERADE"),
            "{left}"
        );
    }

    #[test]
    fn bridge_family_spoof_check_layout() {
        private_netns();
        let mut s = Socket::new().unwrap();
        let mut b = Batch::new();
        let (t, iface, mac) = ("nat", "cni-br-iface-c-eth0", "cni-br-iface-c-eth0-mac");
        b.add_table(Family::Bridge, t, None)
            .add_chain(
                Family::Bridge,
                t,
                "PREROUTING",
                Some(BaseChain {
                    kind: ChainType::Filter,
                    hook: Hook::Prerouting,
                    priority: -300,
                }),
                None,
            )
            .add_chain(Family::Bridge, t, iface, None, None)
            .add_chain(Family::Bridge, t, mac, None, None);
        let mut r = expr::iifname("veth1234");
        r.push(Expr::Verdict(Verdict::Jump(iface.into())));
        b.add_rule(
            Family::Bridge,
            t,
            "PREROUTING",
            &r,
            Some("macspoofchk-c-eth0"),
        );
        b.add_rule(
            Family::Bridge,
            t,
            iface,
            &[Expr::Verdict(Verdict::Jump(mac.into()))],
            Some("macspoofchk-c-eth0"),
        );
        let mut r = expr::ether_saddr([0x0a, 0x58, 0x0a, 1, 2, 3]);
        r.push(Expr::Verdict(Verdict::Return));
        b.add_rule(Family::Bridge, t, mac, &r, Some("macspoofchk-c-eth0"));
        b.add_rule(
            Family::Bridge,
            t,
            mac,
            &[Expr::Verdict(Verdict::Drop)],
            Some("macspoofchk-c-eth0"),
        );
        s.apply(&b).unwrap();
        let text = run("nft", &["list", "table", "bridge", "nat"]);
        assert!(
            text.contains(
                "iifname \"veth1234\" jump cni-br-iface-c-eth0 comment \"macspoofchk-c-eth0\""
            ),
            "{text}"
        );
        assert!(
            text.contains("ether saddr 0a:58:0a:01:02:03 return comment \"macspoofchk-c-eth0\""),
            "{text}"
        );
        assert!(
            text.contains("drop comment \"macspoofchk-c-eth0\""),
            "{text}"
        );
    }
}
