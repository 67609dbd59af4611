//! Forwarding rules for containers (the `firewall` plugin): accept what a
//! container sends and the replies to what it started, ahead of a host's
//! restrictive FORWARD policy, with an admin chain consulted first; and
//! `ingressPolicy` isolation between bridges.
//!
//! * iptables (filter table, the reference's layout): `FORWARD` jumps first
//!   to `CNI-FORWARD`, whose first rule jumps to the admin chain
//!   (`CNI-ADMIN`, never touched otherwise), then per address `-d <ip>
//!   -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT` and `-s <ip> -j
//!   ACCEPT`. Isolation: `CNI-ISOLATION-STAGE-1/2`. One `iptables-save` and
//!   one `iptables-restore` per family.
//! * nftables (ours; the reference has none): table `inet
//!   cni_plugins_firewall`, base chain `forward` jumping to `isolation` and
//!   `admin`, then the per-address rules commented with the attachment, so
//!   DEL needs no prevResult. An accept in one nf_tables table does not
//!   override a drop in another (iptables' FORWARD policy): on hosts whose
//!   iptables drops forwarded traffic, use the iptables backend.

use std::net::IpAddr;

use cni::CniError;
use ipnetwork::IpNetwork;
use nft::expr::{
    Addr, CmpOp, META_IIFNAME, META_OIFNAME, ct_related_established, ifname, ip, nfproto,
};
use nft::{BaseChain, Batch, ChainType, Expr, Family, Hook, Socket, Verdict};

use crate::iptables::{self, Saved};
use crate::nft_error;

pub const FORWARD_CHAIN: &str = "CNI-FORWARD";
pub const DEFAULT_ADMIN_CHAIN: &str = "CNI-ADMIN";
const STAGE1: &str = "CNI-ISOLATION-STAGE-1";
const STAGE2: &str = "CNI-ISOLATION-STAGE-2";
const RULES_COMMENT: &str = "CNI firewall plugin rules";
const ADMIN_COMMENT: &str = "CNI firewall plugin admin overrides";
const ISOLATION_COMMENT: &str = "CNI firewall plugin rules (ingressPolicy: same-bridge)";

pub const TABLE: &str = "cni_plugins_firewall";

/// `ingressPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingress {
    Open,
    /// Containers on other isolated bridges cannot reach this bridge.
    SameBridge,
    /// Also containers on the same bridge cannot reach each other.
    Isolated,
}

/// Who the rules are for.
pub struct Attachment<'a> {
    pub network: &'a str,
    pub container_id: &'a str,
    pub ifname: &'a str,
}

fn comment(a: &Attachment) -> String {
    format!(
        "net: {}, if: {}, id: {}",
        a.network.replace('"', ""),
        a.ifname.replace('"', ""),
        a.container_id.replace('"', "")
    )
}

fn host(ip: IpAddr) -> String {
    let len = if ip.is_ipv4() { 32 } else { 128 };
    format!("{ip}/{len}")
}

/// The two per-address rules, as iptables-save prints them.
fn address_rules(ip: IpAddr) -> [String; 2] {
    let h = host(ip);
    [
        format!("-d {h} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        format!("-s {h} -j ACCEPT"),
    ]
}

fn quote(s: &str) -> String {
    iptables::quote(s)
}

/// iptables: accept forwarding for `ips` (one family), with the isolation
/// rules for `bridge` if asked.
pub fn setup_iptables(
    v6: bool,
    ips: &[IpAddr],
    admin_chain: &str,
    ingress: Ingress,
    bridge: Option<&str>,
) -> Result<(), CniError> {
    let saved = Saved::load(v6, "filter")?;
    let mut s = String::from("*filter\n");
    for chain in [FORWARD_CHAIN, admin_chain] {
        if !saved.has_chain(chain) {
            s.push_str(&format!(":{chain} - [0:0]\n"));
        }
    }
    if !saved.jumps_to("FORWARD", FORWARD_CHAIN) {
        s.push_str(&format!(
            "-I FORWARD 1 -m comment --comment {} -j {FORWARD_CHAIN}\n",
            quote(RULES_COMMENT)
        ));
    }
    if !saved.jumps_to(FORWARD_CHAIN, admin_chain) {
        s.push_str(&format!(
            "-I {FORWARD_CHAIN} 1 -m comment --comment {} -j {admin_chain}\n",
            quote(ADMIN_COMMENT)
        ));
    }
    for &ip in ips {
        for r in address_rules(ip) {
            if !saved.has_rule(FORWARD_CHAIN, &r) {
                s.push_str(&format!("-A {FORWARD_CHAIN} {r}\n"));
            }
        }
    }
    if let (Some(br), Ingress::SameBridge | Ingress::Isolated) = (bridge, ingress) {
        let c = quote(ISOLATION_COMMENT);
        for chain in [STAGE1, STAGE2] {
            if !saved.has_chain(chain) {
                s.push_str(&format!(":{chain} - [0:0]\n"));
            }
        }
        if !saved.jumps_to("FORWARD", STAGE1) {
            s.push_str(&format!(
                "-I FORWARD 1 -m comment --comment {c} -j {STAGE1}\n"
            ));
        }
        let has = |chain: &str, spec: &str, target: &str| {
            saved
                .rules(chain)
                .any(|r| r.starts_with(spec) && r.ends_with(&format!("-j {target}")))
        };
        if !has(STAGE1, &format!("-i {br} ! -o {br} "), STAGE2) {
            s.push_str(&format!(
                "-I {STAGE1} 1 -i {br} ! -o {br} -m comment --comment {c} -j {STAGE2}\n"
            ));
        }
        if ingress == Ingress::Isolated && !has(STAGE1, &format!("-i {br} -o {br} "), "DROP") {
            s.push_str(&format!(
                "-I {STAGE1} 1 -i {br} -o {br} -m comment --comment {c} -j DROP\n"
            ));
        }
        if !has(STAGE2, &format!("-o {br} "), "DROP") {
            s.push_str(&format!(
                "-I {STAGE2} 1 -o {br} -m comment --comment {c} -j DROP\n"
            ));
        }
        for chain in [STAGE1, STAGE2] {
            if !saved.jumps_to(chain, "RETURN") {
                s.push_str(&format!("-A {chain} -m comment --comment {c} -j RETURN\n"));
            }
        }
    }
    s.push_str("COMMIT\n");
    iptables::restore(v6, &s)
}

/// Whether iptables' filter table may hold our rules in a family, asked
/// without starting a process where iptables is iptables-nft.
fn maybe_iptables(v6: bool) -> bool {
    let f = if v6 {
        "/proc/net/ip6_tables_names"
    } else {
        "/proc/net/ip_tables_names"
    };
    if std::fs::read_to_string(f).is_ok_and(|s| s.lines().any(|l| l.trim() == "filter")) {
        return true;
    }
    let fam = if v6 { Family::Ip6 } else { Family::Ip };
    Socket::new().is_ok_and(|mut s| s.chain_exists(fam, "filter", FORWARD_CHAIN).unwrap_or(true))
}

/// iptables: remove the per-address rules of `ips` (the chains and the
/// isolation rules stay: other containers use them).
pub fn teardown_iptables(v6: bool, ips: &[IpAddr]) -> Result<(), CniError> {
    if ips.is_empty() || !maybe_iptables(v6) {
        return Ok(());
    }
    let saved = Saved::load(v6, "filter")?;
    let mut s = String::from("*filter\n");
    let mut any = false;
    for &ip in ips {
        for r in address_rules(ip) {
            if saved.has_rule(FORWARD_CHAIN, &r) {
                s.push_str(&format!("-D {FORWARD_CHAIN} {r}\n"));
                any = true;
            }
        }
    }
    if !any {
        return Ok(());
    }
    s.push_str("COMMIT\n");
    iptables::restore(v6, &s)
}

/// iptables CHECK: the jumps and the per-address rules are there.
pub fn check_iptables(v6: bool, ips: &[IpAddr], admin_chain: &str) -> Result<(), CniError> {
    if ips.is_empty() {
        return Ok(());
    }
    let saved = Saved::load(v6, "filter")?;
    if !saved.jumps_to("FORWARD", FORWARD_CHAIN) {
        return Err(CniError::internal(format!(
            "expected FORWARD rule jumping to {FORWARD_CHAIN} not found"
        )));
    }
    if !saved.jumps_to(FORWARD_CHAIN, admin_chain) {
        return Err(CniError::internal(format!(
            "expected {FORWARD_CHAIN} rule jumping to {admin_chain} not found"
        )));
    }
    for &ip in ips {
        for r in address_rules(ip) {
            if !saved.has_rule(FORWARD_CHAIN, &r) {
                return Err(CniError::internal(format!("expected rule {r:?} not found")));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// nftables.

const NFT_FORWARD: &str = "forward";
const NFT_ADMIN: &str = "admin";
const NFT_ISOLATION: &str = "isolation";
const NFT_STAGE2: &str = "isolation_stage_2";

/// nftables: accept forwarding for `ips`, rules commented with the
/// attachment; isolation for `bridge` if asked.
pub fn setup_nft(
    a: &Attachment,
    ips: &[IpAddr],
    ingress: Ingress,
    bridge: Option<&str>,
) -> Result<(), CniError> {
    let mut sock = Socket::new().map_err(nft_error)?;
    let fam = Family::Inet;
    let mut b = Batch::new();
    let forward = sock.rules(fam, TABLE, NFT_FORWARD).map_err(nft_error)?;
    if !forward.iter().any(|r| r.targets(NFT_ADMIN)) {
        // New table (or one that lost its structure): build it.
        b.add_table(fam, TABLE, Some("CNI firewall plugin"))
            .add_chain(fam, TABLE, NFT_ADMIN, None, None)
            .add_chain(fam, TABLE, NFT_ISOLATION, None, None)
            .add_chain(fam, TABLE, NFT_STAGE2, None, None)
            .add_chain(
                fam,
                TABLE,
                NFT_FORWARD,
                Some(BaseChain {
                    kind: ChainType::Filter,
                    hook: Hook::Forward,
                    priority: 0,
                }),
                None,
            )
            .flush_chain(fam, TABLE, NFT_FORWARD);
        for chain in [NFT_ISOLATION, NFT_ADMIN] {
            b.add_rule(
                fam,
                TABLE,
                NFT_FORWARD,
                &[Expr::Verdict(Verdict::Jump(chain.into()))],
                None,
            );
        }
    }
    let c = comment(a);
    // This attachment's rules replace any it had.
    for r in &forward {
        if r.comment.as_deref() == Some(c.as_str()) {
            b.delete_rule(fam, TABLE, NFT_FORWARD, r.handle);
        }
    }
    for &addr in ips {
        let net = IpNetwork::from(addr);
        let mut r = nfproto(addr.is_ipv4());
        r.extend(ip(Addr::Destination, net, CmpOp::Eq));
        r.extend(ct_related_established());
        r.push(Expr::Verdict(Verdict::Accept));
        b.add_rule(fam, TABLE, NFT_FORWARD, &r, Some(&c));
        let mut r = nfproto(addr.is_ipv4());
        r.extend(ip(Addr::Source, net, CmpOp::Eq));
        r.push(Expr::Verdict(Verdict::Accept));
        b.add_rule(fam, TABLE, NFT_FORWARD, &r, Some(&c));
    }
    if let (Some(br), Ingress::SameBridge | Ingress::Isolated) = (bridge, ingress) {
        let tag = format!("bridge: {br}");
        let isolation = sock.rules(fam, TABLE, NFT_ISOLATION).map_err(nft_error)?;
        let have = |want: usize| {
            isolation
                .iter()
                .filter(|r| r.comment.as_deref() == Some(tag.as_str()))
                .count()
                >= want
        };
        if !have(if ingress == Ingress::Isolated { 2 } else { 1 }) {
            for r in isolation
                .iter()
                .filter(|r| r.comment.as_deref() == Some(tag.as_str()))
            {
                b.delete_rule(fam, TABLE, NFT_ISOLATION, r.handle);
            }
            if ingress == Ingress::Isolated {
                let mut r = ifname(META_IIFNAME, br, CmpOp::Eq);
                r.extend(ifname(META_OIFNAME, br, CmpOp::Eq));
                r.push(Expr::Verdict(Verdict::Drop));
                b.add_rule(fam, TABLE, NFT_ISOLATION, &r, Some(&tag));
            }
            let mut r = ifname(META_IIFNAME, br, CmpOp::Eq);
            r.extend(ifname(META_OIFNAME, br, CmpOp::Neq));
            r.push(Expr::Verdict(Verdict::Jump(NFT_STAGE2.into())));
            b.add_rule(fam, TABLE, NFT_ISOLATION, &r, Some(&tag));
        }
        let stage2 = sock.rules(fam, TABLE, NFT_STAGE2).map_err(nft_error)?;
        if !stage2
            .iter()
            .any(|r| r.comment.as_deref() == Some(tag.as_str()))
        {
            let mut r = ifname(META_OIFNAME, br, CmpOp::Eq);
            r.push(Expr::Verdict(Verdict::Drop));
            b.add_rule(fam, TABLE, NFT_STAGE2, &r, Some(&tag));
        }
    }
    sock.apply(&b).map_err(nft_error)
}

/// nftables: remove the attachment's rules (found by their comment).
pub fn teardown_nft(a: &Attachment) -> Result<(), CniError> {
    let mut sock = match Socket::new() {
        Ok(s) => s,
        Err(e) if e.errno().is_some_and(|n| matches!(n as i32, 93 | 95 | 97)) => return Ok(()),
        Err(e) => return Err(nft_error(e)),
    };
    let c = comment(a);
    let mut b = Batch::new();
    for r in sock
        .rules(Family::Inet, TABLE, NFT_FORWARD)
        .map_err(nft_error)?
    {
        if r.comment.as_deref() == Some(c.as_str()) {
            b.delete_rule(Family::Inet, TABLE, NFT_FORWARD, r.handle);
        }
    }
    sock.apply(&b).map_err(nft_error)
}

/// nftables CHECK: two rules per address.
pub fn check_nft(a: &Attachment, ips: &[IpAddr]) -> Result<(), CniError> {
    let mut sock = Socket::new().map_err(nft_error)?;
    let c = comment(a);
    let have = sock
        .rules(Family::Inet, TABLE, NFT_FORWARD)
        .map_err(nft_error)?
        .iter()
        .filter(|r| r.comment.as_deref() == Some(c.as_str()))
        .count();
    if have < 2 * ips.len() {
        return Err(CniError::internal(format!(
            "expected {} forwarding rules for the container in table inet {TABLE}, found {have}",
            2 * ips.len()
        )));
    }
    Ok(())
}
