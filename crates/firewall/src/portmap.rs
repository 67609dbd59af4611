//! Port mappings (the `portmap` plugin): DNAT from host ports to a
//! container, with masquerading for hairpin and localhost traffic, in the
//! reference's two layouts.
//!
//! * nftables: tables `ip cni_hostport` and `ip6 cni_hostport`; chains
//!   `hostports` and `hostip_hostports` hold one `dnat` rule per mapping,
//!   commented with the container ID; `hostports_all` jumps to both;
//!   `prerouting` and `output` jump to it for local destinations;
//!   `masquerading` holds the hairpin and localhost rules. Written over
//!   netlink in one transaction (`nft` runs only to add user conditions,
//!   which are nft syntax).
//! * iptables (nat table): `CNI-HOSTPORT-DNAT` (from PREROUTING and OUTPUT
//!   for local destinations) jumps to a chain per container,
//!   `CNI-DN-<hash>`, holding the DNAT rules and marking what needs
//!   masquerading (`CNI-HOSTPORT-SETMARK`, masqueraded by
//!   `CNI-HOSTPORT-MASQ`). One `iptables-save` and one `iptables-restore`
//!   per family.
//!
//! Teardown removes both layouts' rules for the container, without needing
//! the mappings or addresses; it starts no process unless iptables rules
//! of the container exist.

use std::net::IpAddr;

use cni::CniError;
use ipnetwork::IpNetwork;
use nft::expr::{
    self, Addr, CmpOp, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, dnat_to, fib_daddr_local, ip,
    l4_dport,
};
use nft::{BaseChain, Batch, ChainType, Expr, Family, Hook, Socket, Verdict};

use crate::iptables::{self, Saved};
use crate::{hash_hex, nft_error};

pub const TABLE: &str = "cni_hostport";
const HOSTPORTS: &str = "hostports";
const HOSTIP_HOSTPORTS: &str = "hostip_hostports";
const HOSTPORTS_ALL: &str = "hostports_all";
const PREROUTING: &str = "prerouting";
const OUTPUT: &str = "output";
const MASQUERADING: &str = "masquerading";
const MAPPING_CHAINS: [&str; 3] = [HOSTPORTS, HOSTIP_HOSTPORTS, MASQUERADING];

pub const DNAT_CHAIN: &str = "CNI-HOSTPORT-DNAT";
pub const SETMARK_CHAIN: &str = "CNI-HOSTPORT-SETMARK";
pub const MASQ_CHAIN: &str = "CNI-HOSTPORT-MASQ";

/// A transport protocol a port can be mapped for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    Sctp,
    Tcp,
    Udp,
}

impl Proto {
    pub fn parse(s: &str) -> Option<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "sctp" => Some(Proto::Sctp),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => IPPROTO_TCP,
            Proto::Udp => IPPROTO_UDP,
            Proto::Sctp => IPPROTO_SCTP,
        }
    }
}

/// One `portMappings` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Proto,
    /// None, or the unspecified address: every local address.
    pub host_ip: Option<IpAddr>,
}

impl Mapping {
    /// Whether the mapping applies to a container address of this family
    /// (a host IP of the other family does not).
    fn applies_to(&self, container: IpAddr) -> bool {
        self.host_ip
            .is_none_or(|h| h.is_ipv4() == container.is_ipv4())
    }

    /// The host address to match, if any.
    fn dest(&self) -> Option<IpAddr> {
        self.host_ip.filter(|h| !h.is_unspecified())
    }
}

/// What one attachment maps, for one container address.
pub struct Setup<'a> {
    pub network: &'a str,
    pub container_id: &'a str,
    /// The container's address, with its prefix.
    pub container: IpNetwork,
    pub mappings: &'a [Mapping],
    pub snat: bool,
    pub masq_all: bool,
    /// iptables only.
    pub mark_bit: u32,
    /// iptables only: a chain of the user's that sets the masquerade mark.
    pub external_set_mark_chain: Option<&'a str>,
    /// Extra match conditions for the entry rules, in the backend's syntax.
    pub conditions: &'a [String],
}

fn family(v4: bool) -> Family {
    if v4 { Family::Ip } else { Family::Ip6 }
}

fn base(hook: Hook, priority: i32) -> Option<BaseChain> {
    Some(BaseChain {
        kind: ChainType::Nat,
        hook,
        priority,
    })
}

// ---------------------------------------------------------------------------
// nftables.

/// Install the mappings of one container address.
pub fn setup_nft(s: &Setup) -> Result<(), CniError> {
    let v4 = s.container.is_ipv4();
    let fam = family(v4);
    let mut sock = Socket::new().map_err(nft_error)?;
    let cid = s.container_id;
    let mut b = Batch::new();
    // The shared structure, rewritten only when not in place (rewriting a
    // base chain costs the kernel an RCU grace period).
    let prerouting = sock.rules(fam, TABLE, PREROUTING).map_err(nft_error)?;
    let all = sock.rules(fam, TABLE, HOSTPORTS_ALL).map_err(nft_error)?;
    let masq_ok = !s.snat
        || sock
            .chain_exists(fam, TABLE, MASQUERADING)
            .map_err(nft_error)?;
    let in_place = s.conditions.is_empty()
        && prerouting.len() == 1
        && prerouting[0].targets(HOSTPORTS_ALL)
        && prerouting[0].exprs.len() == 3
        && all.len() == 2
        && masq_ok;
    if !in_place {
        b.add_table(fam, TABLE, Some("CNI portmap plugin"))
            .add_chain(fam, TABLE, HOSTPORTS, None, None)
            .add_chain(fam, TABLE, HOSTIP_HOSTPORTS, None, None)
            .add_chain(fam, TABLE, HOSTPORTS_ALL, None, None)
            .add_chain(fam, TABLE, PREROUTING, base(Hook::Prerouting, -100), None)
            .add_chain(fam, TABLE, OUTPUT, base(Hook::Output, -100), None)
            .flush_chain(fam, TABLE, HOSTPORTS_ALL)
            .flush_chain(fam, TABLE, PREROUTING)
            .flush_chain(fam, TABLE, OUTPUT);
        for chain in [HOSTIP_HOSTPORTS, HOSTPORTS] {
            b.add_rule(
                fam,
                TABLE,
                HOSTPORTS_ALL,
                &[Expr::Verdict(Verdict::Jump(chain.into()))],
                None,
            );
        }
        if s.conditions.is_empty() {
            for chain in [PREROUTING, OUTPUT] {
                let mut r = fib_daddr_local();
                r.push(Expr::Verdict(Verdict::Jump(HOSTPORTS_ALL.into())));
                b.add_rule(fam, TABLE, chain, &r, None);
            }
        }
        if s.snat {
            b.add_chain(fam, TABLE, MASQUERADING, base(Hook::Postrouting, 100), None);
        }
    }
    // This container's rules replace any it had.
    for chain in MAPPING_CHAINS {
        for r in sock.rules(fam, TABLE, chain).map_err(nft_error)? {
            if r.comment.as_deref() == Some(cid) {
                b.delete_rule(fam, TABLE, chain, r.handle);
            }
        }
    }
    let cip = s.container.ip();
    for m in s.mappings.iter().filter(|m| m.applies_to(cip)) {
        let mut r = Vec::new();
        if let Some(h) = m.dest() {
            r.extend(ip(Addr::Destination, IpNetwork::from(h), CmpOp::Eq));
        }
        r.extend(l4_dport(m.protocol.number(), m.host_port));
        r.extend(dnat_to(cip, m.container_port));
        let chain = if m.dest().is_some() {
            HOSTIP_HOSTPORTS
        } else {
            HOSTPORTS
        };
        b.add_rule(fam, TABLE, chain, &r, Some(cid));
    }
    if s.snat {
        let me = IpNetwork::from(cip);
        let mut sources = vec![if s.masq_all { None } else { Some(me) }];
        if v4 && !s.masq_all {
            sources.push(Some(IpNetwork::from(IpAddr::from([127, 0, 0, 1]))));
        }
        for src in sources {
            let mut r = Vec::new();
            match src {
                Some(src) => r.extend(ip(Addr::Source, src, CmpOp::Eq)),
                // masqAll: whatever was port-mapped to the container.
                None => r.extend(expr::ct_status_dnat()),
            }
            r.extend(ip(Addr::Destination, me, CmpOp::Eq));
            r.push(Expr::Masquerade);
            b.add_rule(fam, TABLE, MASQUERADING, &r, Some(cid));
        }
    }
    sock.apply(&b).map_err(nft_error)?;
    if !s.conditions.is_empty() {
        jump_rules_with_conditions(v4, s.conditions)?;
    }
    Ok(())
}

/// The prerouting and output jumps with the user's conditions (nft syntax,
/// so `nft` itself reads them): one `nft -f -` run.
fn jump_rules_with_conditions(v4: bool, conditions: &[String]) -> Result<(), CniError> {
    let fam = if v4 { "ip" } else { "ip6" };
    let conds = conditions.join(" ");
    let mut script = String::new();
    for chain in [PREROUTING, OUTPUT] {
        script.push_str(&format!("flush chain {fam} {TABLE} {chain}\n"));
        script.push_str(&format!(
            "add rule {fam} {TABLE} {chain} {conds} fib daddr type local jump {HOSTPORTS_ALL}\n"
        ));
    }
    iptables::run_stdin("nft", &["-f", "-"], &script)
}

/// Remove every nftables rule of the container, in both families.
pub fn teardown_nft(container_id: &str) -> Result<(), CniError> {
    let mut sock = match Socket::new() {
        Ok(s) => s,
        // No nf_tables here: nothing of ours can exist.
        Err(e) if e.errno().is_some_and(|n| matches!(n as i32, 93 | 95 | 97)) => return Ok(()),
        Err(e) => return Err(nft_error(e)),
    };
    let mut b = Batch::new();
    for fam in [Family::Ip, Family::Ip6] {
        for chain in MAPPING_CHAINS {
            for r in sock.rules(fam, TABLE, chain).map_err(nft_error)? {
                if r.comment.as_deref() == Some(container_id) {
                    b.delete_rule(fam, TABLE, chain, r.handle);
                }
            }
        }
    }
    sock.apply(&b).map_err(nft_error)
}

/// CHECK: the container has as many rules as its mappings need.
pub fn check_nft(s: &Setup) -> Result<(), CniError> {
    let v4 = s.container.is_ipv4();
    let fam = family(v4);
    let mut sock = Socket::new().map_err(nft_error)?;
    let cip = s.container.ip();
    let mine: Vec<&Mapping> = s.mappings.iter().filter(|m| m.applies_to(cip)).collect();
    let host_ip = mine.iter().filter(|m| m.dest().is_some()).count();
    let masq = if !s.snat {
        0
    } else if v4 && !s.masq_all {
        2
    } else {
        1
    };
    for (chain, want) in [
        (HOSTPORTS, mine.len() - host_ip),
        (HOSTIP_HOSTPORTS, host_ip),
        (MASQUERADING, if mine.is_empty() { 0 } else { masq }),
    ] {
        let have = sock
            .rules(fam, TABLE, chain)
            .map_err(nft_error)?
            .iter()
            .filter(|r| r.comment.as_deref() == Some(s.container_id))
            .count();
        if have < want {
            return Err(CniError::internal(format!(
                "missing hostport rules in {chain:?} chain"
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// iptables.

/// The reference's per-container chain: `CNI-DN-` + 21 hex of
/// SHA-512(network + containerID).
pub fn dnat_chain(network: &str, container_id: &str) -> String {
    format!(
        "CNI-DN-{}",
        hash_hex(&format!("{network}{container_id}"), 21)
    )
}

/// The old (pre-0.7) SNAT chain name, removed if found.
fn old_snat_chain(network: &str, container_id: &str) -> String {
    format!(
        "CNI-SN-{}",
        hash_hex(&format!("{network}{container_id}"), 21)
    )
}

fn trim_comment(c: String) -> String {
    if c.len() <= 255 {
        return c;
    }
    let mut end = 252;
    while !c.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &c[..end])
}

fn mark(bit: u32) -> String {
    let v = 1u32 << bit;
    format!("{v:#x}/{v:#x}")
}

fn fmt_ip_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// The container chain's rules and its entry rules, as the reference makes
/// them (iptables arguments, quoted for iptables-restore).
fn dnat_rules(s: &Setup) -> (Vec<String>, Vec<String>) {
    let cip = s.container.ip();
    let v6 = cip.is_ipv6();
    let comment = iptables::quote(&trim_comment(format!(
        "dnat name: \"{}\" id: \"{}\"",
        s.network, s.container_id
    )));
    let mine: Vec<&Mapping> = s.mappings.iter().filter(|m| m.applies_to(cip)).collect();
    let mut entries = Vec::new();
    for proto in [Proto::Sctp, Proto::Tcp, Proto::Udp] {
        let ports: Vec<String> = mine
            .iter()
            .filter(|m| m.protocol == proto)
            .map(|m| m.host_port.to_string())
            .collect();
        for chunk in ports.chunks(15) {
            let mut r = format!(
                "-m comment --comment {comment} -m multiport -p {} --destination-ports {}",
                proto.name(),
                chunk.join(",")
            );
            for c in s.conditions {
                r.push(' ');
                r.push_str(c);
            }
            entries.push(r);
        }
    }
    let set_mark = s.external_set_mark_chain.unwrap_or(SETMARK_CHAIN);
    let mut rules = Vec::new();
    for m in mine {
        let mut base = format!("-p {} --dport {}", m.protocol.name(), m.host_port);
        if let Some(h) = m.dest() {
            base.push_str(&format!(" -d {h}"));
        }
        if s.snat {
            let src = if s.masq_all {
                if v6 {
                    "::/0".to_string()
                } else {
                    "0.0.0.0/0".to_string()
                }
            } else {
                s.container.to_string()
            };
            rules.push(format!("{base} -s {src} -j {set_mark}"));
            if !v6 && !s.masq_all {
                rules.push(format!("{base} -s 127.0.0.1 -j {set_mark}"));
            }
        }
        rules.push(format!(
            "{base} -j DNAT --to-destination {}",
            fmt_ip_port(cip, m.container_port)
        ));
    }
    (rules, entries)
}

/// Install the mappings of one container address in the iptables layout.
pub fn setup_iptables(s: &Setup) -> Result<(), CniError> {
    let v6 = s.container.is_ipv6();
    let saved = Saved::load(v6, "nat")?;
    let chain = dnat_chain(s.network, s.container_id);
    let mut script = String::from("*nat\n");
    if s.snat && s.external_set_mark_chain.is_none() {
        let m = mark(s.mark_bit);
        if !saved.has_chain(SETMARK_CHAIN) {
            script.push_str(&format!(":{SETMARK_CHAIN} - [0:0]\n"));
        }
        if saved.lines(SETMARK_CHAIN).next().is_none() {
            script.push_str(&format!(
                "-A {SETMARK_CHAIN} -m comment --comment \"CNI portfwd masquerade mark\" -j MARK --set-xmark {m}\n"
            ));
        }
        if !saved.has_chain(MASQ_CHAIN) {
            script.push_str(&format!(":{MASQ_CHAIN} - [0:0]\n"));
        }
        if saved.lines(MASQ_CHAIN).next().is_none() {
            script.push_str(&format!(
                "-A {MASQ_CHAIN} -m mark --mark {m} -j MASQUERADE\n"
            ));
        }
        if saved.jumps("POSTROUTING", MASQ_CHAIN).next().is_none() {
            script.push_str(&format!(
                "-I POSTROUTING 1 -m comment --comment \"CNI portfwd requiring masquerade\" -j {MASQ_CHAIN}\n"
            ));
        }
    }
    if !saved.has_chain(DNAT_CHAIN) {
        script.push_str(&format!(":{DNAT_CHAIN} - [0:0]\n"));
    }
    for entry in ["PREROUTING", "OUTPUT"] {
        if saved.jumps(entry, DNAT_CHAIN).next().is_none() {
            script.push_str(&format!(
                "-A {entry} -m addrtype --dst-type LOCAL -j {DNAT_CHAIN}\n"
            ));
        }
    }
    // The container's chain: declared (so created, or emptied), refilled,
    // its old entry rules replaced.
    for line in saved.jumps(DNAT_CHAIN, &chain) {
        script.push_str(&format!("-D{}\n", &line[2..]));
    }
    script.push_str(&format!(":{chain} - [0:0]\n"));
    let (rules, entries) = dnat_rules(s);
    for r in rules {
        script.push_str(&format!("-A {chain} {r}\n"));
    }
    for e in entries.iter().rev() {
        script.push_str(&format!("-I {DNAT_CHAIN} 1 {e} -j {chain}\n"));
    }
    script.push_str("COMMIT\n");
    iptables::restore(v6, &script)
}

/// Whether the container may have iptables-layout rules in a family: its
/// chain exists in nf_tables (iptables-nft), or the legacy nat table is in
/// use. Answers without starting a process on iptables-nft hosts.
fn maybe_iptables(v6: bool, chains: &[String]) -> bool {
    if iptables::legacy_nat_loaded(v6) {
        return true;
    }
    let Ok(mut sock) = Socket::new() else {
        return false;
    };
    let fam = family(!v6);
    chains
        .iter()
        .any(|c| sock.chain_exists(fam, "nat", c).unwrap_or(true))
}

/// Remove the container's iptables-layout chains and their entry rules.
pub fn teardown_iptables(network: &str, container_id: &str) -> Result<(), CniError> {
    let chains = [
        dnat_chain(network, container_id),
        old_snat_chain(network, container_id),
    ];
    for v6 in [false, true] {
        if !maybe_iptables(v6, &chains) {
            continue;
        }
        let Ok(saved) = Saved::load(v6, "nat") else {
            continue;
        };
        let mut script = String::from("*nat\n");
        let mut any = false;
        for (chain, entry) in [(&chains[0], DNAT_CHAIN), (&chains[1], "CNI-HOSTPORT-SNAT")] {
            for line in saved.jumps(entry, chain) {
                script.push_str(&format!("-D{}\n", &line[2..]));
                any = true;
            }
            if saved.has_chain(chain) {
                script.push_str(&format!("-F {chain}\n-X {chain}\n"));
                any = true;
            }
        }
        if any {
            script.push_str("COMMIT\n");
            iptables::restore(v6, &script)?;
        }
    }
    Ok(())
}

/// CHECK in the iptables layout: the container's chain holds its rules and
/// the entry rules exist.
pub fn check_iptables(s: &Setup) -> Result<(), CniError> {
    let v6 = s.container.is_ipv6();
    let saved = Saved::load(v6, "nat")?;
    let chain = dnat_chain(s.network, s.container_id);
    if !saved.has_chain(&chain) {
        return Err(CniError::internal(format!("chain {chain} does not exist")));
    }
    let (rules, entries) = dnat_rules(s);
    if saved.lines(&chain).count() < rules.len() {
        return Err(CniError::internal(format!("chain {chain} misses rules")));
    }
    if saved.jumps(DNAT_CHAIN, &chain).count() < entries.len() {
        return Err(CniError::internal(format!(
            "{DNAT_CHAIN} misses the entry rules of {chain}"
        )));
    }
    Ok(())
}

/// Delete the conntrack entries of the UDP host ports, so that flows
/// already tracked take the new path (or stop using the old one).
pub fn flush_udp_conntrack(v4: bool, mappings: &[Mapping]) -> Result<(), CniError> {
    let udp: Vec<u16> = mappings
        .iter()
        .filter(|m| m.protocol == Proto::Udp)
        .map(|m| m.host_port)
        .collect();
    if udp.is_empty() {
        return Ok(());
    }
    let mut sock = Socket::new().map_err(nft_error)?;
    for port in udp {
        sock.delete_conntrack_dport(family(v4), IPPROTO_UDP, port)
            .map_err(nft_error)?;
    }
    Ok(())
}
