//! IP masquerading for a container's addresses (`ipMasq`).
//!
//! nftables (the default): table `inet cni_plugins_masquerade`, base chain
//! `postrouting` (nat, srcnat) that returns for multicast and goes to
//! `masq_checks`, where each attachment has one rule per address:
//! `ip saddr <ip> ip daddr != <subnet> masquerade`, commented
//! `<hash(net)>-<hash(ifname:id)>, net: .., if: .., id: ..`. This is the
//! reference's layout (v1.6+), down to the comment, so either
//! implementation finds and removes the other's rules.
//!
//! iptables: the reference's chain `CNI-<hash>` in the nat table with an
//! ACCEPT for the subnet and a MASQUERADE for non-multicast, jumped to from
//! POSTROUTING for each address.
//!
//! Teardown needs no addresses: everything is found from the network name,
//! interface name and container ID, in both layouts.

use cni::{CniError, GcAttachment};
use ipnetwork::IpNetwork;
use nft::expr::{Addr, CmpOp, ip, nfproto};
use nft::{BaseChain, Batch, ChainType, Expr, Family, Hook, Socket, Verdict};

use crate::{chain_name, hash_hex, iptables, iptables_comment, nft_error};

pub const TABLE: &str = "cni_plugins_masquerade";
pub const CHAIN: &str = "masq_checks";
const POSTROUTING: &str = "postrouting";
const TABLE_COMMENT: &str = "Masquerading for plugins from github.com/containernetworking/plugins";
const CHAIN_COMMENT: &str =
    "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet";
/// knftables' comment limit.
const COMMENT_MAX: usize = 128;

/// Which rules `ipMasqBackend` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Nftables,
    Iptables,
}

impl Backend {
    /// `ipMasqBackend`: absent means nftables.
    pub fn from_config(value: Option<&str>) -> Result<Backend, CniError> {
        match value {
            None | Some("") | Some("nftables") => Ok(Backend::Nftables),
            Some("iptables") => Ok(Backend::Iptables),
            Some(other) => Err(CniError::new(
                cni::Code::INVALID_CONFIG,
                format!("unknown ipmasq backend {other:?}"),
            )
            .with_details("ipMasqBackend must be \"nftables\" or \"iptables\"")),
        }
    }
}

/// Whose rules these are.
#[derive(Clone, Copy, Debug)]
pub struct Owner<'a> {
    pub network: &'a str,
    pub ifname: &'a str,
    pub container_id: &'a str,
}

fn hash_for_network(network: &str) -> String {
    hash_hex(network, 16)
}

fn hash_for_instance(o: &Owner) -> String {
    format!(
        "{}-{}",
        hash_for_network(o.network),
        hash_hex(&format!("{}:{}", o.ifname, o.container_id), 16)
    )
}

/// The reference's nftables rule comment for an attachment.
pub fn nft_comment(o: &Owner) -> String {
    let strip = |s: &str| s.replace('"', "");
    let mut c = format!(
        "{}, net: {}, if: {}, id: {}",
        hash_for_instance(o),
        strip(o.network),
        strip(o.ifname),
        strip(o.container_id)
    );
    if c.len() > COMMENT_MAX {
        let mut end = COMMENT_MAX;
        while !c.is_char_boundary(end) {
            end -= 1;
        }
        c.truncate(end);
    }
    c
}

/// Masquerade traffic from `ips` to anything outside their subnets.
pub fn setup(backend: Backend, owner: &Owner, ips: &[IpNetwork]) -> Result<(), CniError> {
    match backend {
        Backend::Nftables => match setup_nft(owner, ips) {
            // A kernel without nf_tables: the iptables layout still works
            // on legacy iptables.
            Err(e) if e.errno().is_some_and(|n| matches!(n as i32, 93 | 95 | 97)) => {
                setup_iptables(owner, ips)
            }
            other => other.map_err(nft_error),
        },
        Backend::Iptables => setup_iptables(owner, ips),
    }
}

fn setup_nft(owner: &Owner, ips: &[IpNetwork]) -> Result<(), nft::Error> {
    let mut sock = Socket::new()?;
    let prefix = hash_for_instance(owner);
    let stale: Vec<u64> = sock
        .rules(Family::Inet, TABLE, CHAIN)?
        .into_iter()
        .filter(|r| r.comment.as_deref().is_some_and(|c| c.starts_with(&prefix)))
        .map(|r| r.handle)
        .collect();
    let mut b = Batch::new();
    // The shared part (table, chains, the postrouting rules) is rewritten
    // only when it is not in place already: updating a base chain or
    // deleting rules costs the kernel an RCU grace period per commit
    // (about 14 ms here), adding rules does not.
    let postrouting = sock.rules(Family::Inet, TABLE, POSTROUTING)?;
    let in_place = postrouting.len() == 3
        && postrouting[..2]
            .iter()
            .all(|r| r.verdicts == [Verdict::Return])
        && postrouting[2].verdicts == [Verdict::Goto(CHAIN.into())];
    if !in_place {
        b.add_table(Family::Inet, TABLE, Some(TABLE_COMMENT))
            .add_chain(Family::Inet, TABLE, CHAIN, None, Some(CHAIN_COMMENT))
            .add_chain(
                Family::Inet,
                TABLE,
                POSTROUTING,
                Some(BaseChain {
                    kind: ChainType::Nat,
                    hook: Hook::Postrouting,
                    priority: 100,
                }),
                None,
            )
            .flush_chain(Family::Inet, TABLE, POSTROUTING);
        for (v4, multicast) in [(true, "224.0.0.0/4"), (false, "ff00::/8")] {
            let mut r = nfproto(v4);
            r.extend(ip(
                Addr::Destination,
                multicast
                    .parse()
                    .map_err(|_| nft::Error::protocol("masq", "bad constant"))?,
                CmpOp::Eq,
            ));
            r.push(Expr::Verdict(Verdict::Return));
            b.add_rule(Family::Inet, TABLE, POSTROUTING, &r, None);
        }
        b.add_rule(
            Family::Inet,
            TABLE,
            POSTROUTING,
            &[Expr::Verdict(Verdict::Goto(CHAIN.into()))],
            None,
        );
    }
    for h in stale {
        b.delete_rule(Family::Inet, TABLE, CHAIN, h);
    }
    let comment = nft_comment(owner);
    for addr in ips {
        let mut r = nfproto(addr.is_ipv4());
        r.extend(ip(Addr::Source, IpNetwork::from(addr.ip()), CmpOp::Eq));
        r.extend(ip(Addr::Destination, *addr, CmpOp::Neq));
        r.push(Expr::Masquerade);
        b.add_rule(Family::Inet, TABLE, CHAIN, &r, Some(&comment));
    }
    sock.apply(&b)
}

fn setup_iptables(owner: &Owner, ips: &[IpNetwork]) -> Result<(), CniError> {
    // Start from nothing, so that a repeated ADD does not duplicate rules.
    teardown_iptables(owner)?;
    let chain = chain_name(owner.network, owner.container_id);
    let comment = iptables::quote(&iptables_comment(owner.network, owner.container_id));
    for v6 in [false, true] {
        let mine: Vec<&IpNetwork> = ips.iter().filter(|a| a.is_ipv6() == v6).collect();
        if mine.is_empty() {
            continue;
        }
        let multicast = if v6 { "ff00::/8" } else { "224.0.0.0/4" };
        let mut s = format!("*nat\n:{chain} - [0:0]\n");
        let mut subnets: Vec<IpNetwork> = Vec::new();
        for a in &mine {
            let subnet = IpNetwork::new(a.network(), a.prefix())
                .map_err(|e| CniError::internal(e.to_string()))?;
            if !subnets.contains(&subnet) {
                subnets.push(subnet);
                s.push_str(&format!(
                    "-A {chain} -d {subnet} -m comment --comment {comment} -j ACCEPT\n"
                ));
            }
        }
        s.push_str(&format!(
            "-A {chain} ! -d {multicast} -m comment --comment {comment} -j MASQUERADE\n"
        ));
        for a in &mine {
            s.push_str(&format!(
                "-A POSTROUTING -s {} -m comment --comment {comment} -j {chain}\n",
                a.ip()
            ));
        }
        s.push_str("COMMIT\n");
        iptables::restore(v6, &s)?;
    }
    Ok(())
}

/// Remove an attachment's masquerading in both layouts: nftables rules by
/// comment, the iptables chain and the POSTROUTING jumps to it. Missing
/// rules are not an error.
pub fn teardown(owner: &Owner) -> Result<(), CniError> {
    let mut errors = Vec::new();
    if let Err(e) = teardown_nft(owner) {
        errors.push(nft_error(e).msg);
    }
    if let Err(e) = teardown_iptables(owner) {
        errors.push(e.msg);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CniError::internal(errors.join("; ")))
    }
}

fn nft_unavailable(e: &nft::Error) -> bool {
    e.errno().is_some_and(|n| matches!(n as i32, 93 | 95 | 97))
}

fn teardown_nft(owner: &Owner) -> Result<(), nft::Error> {
    let mut sock = match Socket::new() {
        Err(e) if nft_unavailable(&e) => return Ok(()),
        other => other?,
    };
    let prefix = hash_for_instance(owner);
    let rules = match sock.rules(Family::Inet, TABLE, CHAIN) {
        Err(e) if nft_unavailable(&e) => return Ok(()),
        other => other?,
    };
    let mut b = Batch::new();
    for r in rules
        .iter()
        .filter(|r| r.comment.as_deref().is_some_and(|c| c.starts_with(&prefix)))
    {
        b.delete_rule(Family::Inet, TABLE, CHAIN, r.handle);
    }
    sock.apply(&b)
}

/// The iptables layout, wherever it lives: in nf_tables (iptables-nft,
/// removed over netlink) and in the legacy tables (removed with iptables).
fn teardown_iptables(owner: &Owner) -> Result<(), CniError> {
    let chain = chain_name(owner.network, owner.container_id);
    match Socket::new() {
        Ok(mut sock) => {
            for family in [Family::Ip, Family::Ip6] {
                remove_nat_chain(&mut sock, family, &chain).map_err(nft_error)?;
            }
        }
        Err(e) if nft_unavailable(&e) => {}
        Err(e) => return Err(nft_error(e)),
    }
    for v6 in [false, true] {
        if iptables::legacy_nat_loaded(v6) {
            iptables::legacy_remove_chain(v6, &chain)?;
        }
    }
    Ok(())
}

/// Delete `chain` from the `nat` table of `family` with every POSTROUTING
/// rule that jumps to it.
fn remove_nat_chain(sock: &mut Socket, family: Family, chain: &str) -> Result<(), nft::Error> {
    if !sock.chain_exists(family, "nat", chain)? {
        return Ok(());
    }
    let mut b = Batch::new();
    for r in sock.rules(family, "nat", "POSTROUTING")? {
        if r.targets(chain) {
            b.delete_rule(family, "nat", "POSTROUTING", r.handle);
        }
    }
    b.flush_chain(family, "nat", chain)
        .delete_chain(family, "nat", chain);
    sock.apply(&b)
}

/// GC: remove the nftables rules of `network` whose attachment is not in
/// `valid`. (The iptables layout cannot be attributed to a network, as
/// with the reference.)
pub fn gc(network: &str, valid: &[GcAttachment]) -> Result<(), CniError> {
    let run = || -> Result<(), nft::Error> {
        let mut sock = Socket::new()?;
        let keep: Vec<String> = valid
            .iter()
            .map(|a| {
                nft_comment(&Owner {
                    network,
                    ifname: &a.ifname,
                    container_id: &a.container_id,
                })
            })
            .collect();
        let net = hash_for_network(network);
        let mut b = Batch::new();
        for r in sock.rules(Family::Inet, TABLE, CHAIN)? {
            let Some(c) = &r.comment else { continue };
            if c.starts_with(&net) && !keep.contains(c) {
                b.delete_rule(Family::Inet, TABLE, CHAIN, r.handle);
            }
        }
        sock.apply(&b)
    };
    match run() {
        Err(e) if nft_unavailable(&e) => Ok(()),
        other => other.map_err(nft_error),
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn sh(cmd: &str) -> String {
        let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    const A: Owner = Owner {
        network: "net1",
        ifname: "eth0",
        container_id: "ctr-a",
    };
    const B: Owner = Owner {
        network: "net1",
        ifname: "eth0",
        container_id: "ctr-b",
    };

    #[test]
    fn comment_format() {
        let c = nft_comment(&A);
        assert!(c.ends_with(", net: net1, if: eth0, id: ctr-a"), "{c}");
        assert_eq!(c.split(',').next().unwrap().len(), 33);
        let long = "x".repeat(200);
        assert_eq!(
            nft_comment(&Owner {
                container_id: &long,
                ..A
            })
            .len(),
            128
        );
    }

    #[test]
    fn backends() {
        assert_eq!(Backend::from_config(None).unwrap(), Backend::Nftables);
        assert_eq!(
            Backend::from_config(Some("iptables")).unwrap(),
            Backend::Iptables
        );
        assert_eq!(
            Backend::from_config(Some("ebtables")).unwrap_err().code,
            cni::Code::INVALID_CONFIG
        );
    }

    #[test]
    fn nftables_setup_teardown_gc() {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let a_ips = [
            "10.50.0.5/16".parse().unwrap(),
            "fd50::5/64".parse().unwrap(),
        ];
        setup(Backend::Nftables, &A, &a_ips).unwrap();
        setup(Backend::Nftables, &A, &a_ips).unwrap(); // a repeated ADD replaces, not duplicates
        setup(Backend::Nftables, &B, &["10.50.0.6/16".parse().unwrap()]).unwrap();
        let text = sh("nft list table inet cni_plugins_masquerade");
        assert_eq!(
            text.matches("ip saddr 10.50.0.5 ip daddr != 10.50.0.0/16 masquerade")
                .count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("ip6 saddr fd50::5 ip6 daddr != fd50::/64 masquerade"),
            "{text}"
        );
        assert!(
            text.contains(&format!("comment \"{}\"", nft_comment(&A))),
            "{text}"
        );
        assert_eq!(text.matches("goto masq_checks").count(), 1);
        teardown(&A).unwrap();
        teardown(&A).unwrap();
        let text = sh("nft list table inet cni_plugins_masquerade");
        assert!(
            !text.contains("10.50.0.5") && text.contains("10.50.0.6"),
            "{text}"
        );
        gc("net1", &[]).unwrap();
        assert!(!sh("nft list table inet cni_plugins_masquerade").contains("10.50.0.6"));
    }

    #[test]
    fn iptables_setup_teardown() {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let ips = [
            "10.51.0.5/24".parse().unwrap(),
            "fd51::5/64".parse().unwrap(),
        ];
        setup(Backend::Iptables, &A, &ips).unwrap();
        setup(Backend::Iptables, &A, &ips).unwrap();
        let chain = chain_name("net1", "ctr-a");
        let v4 = sh("iptables -w -t nat -S");
        assert_eq!(v4.matches(&format!("-A POSTROUTING -s 10.51.0.5/32 -m comment --comment \"name: \\\"net1\\\" id: \\\"ctr-a\\\"\" -j {chain}")).count(), 1, "{v4}");
        assert!(
            v4.contains(&format!("-A {chain} -d 10.51.0.0/24 -m comment")),
            "{v4}"
        );
        assert!(
            v4.contains(&format!("-A {chain} ! -d 224.0.0.0/4 -m comment"))
                && v4.contains("-j MASQUERADE"),
            "{v4}"
        );
        assert!(sh("ip6tables -w -t nat -S").contains(&format!("-A {chain} ! -d ff00::/8")));
        teardown(&A).unwrap();
        assert!(!sh("iptables -w -t nat -S").contains("CNI-"));
        assert!(!sh("ip6tables -w -t nat -S").contains("CNI-"));
        teardown(&A).unwrap();
    }
}
