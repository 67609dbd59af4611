//! The `portmap` plugin (chained): forwards host ports to the container
//! (`runtimeConfig.portMappings`, the `portMappings` capability), with
//! masquerading for hairpin and localhost connections (`snat`). Rules are
//! nftables by default, or the reference's iptables chains with
//! `"backend": "iptables"`; DEL removes the container's rules of both
//! layouts, also the reference plugin's, without needing a prevResult.
//! The prevResult passes through unchanged.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use cni::{Attachment, CniError, Plugin, Request, Success};
use firewall::portmap::{self, Mapping, Proto, Setup};
use ipnetwork::IpNetwork;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Config {
    snat: Option<bool>,
    masq_all: bool,
    mark_masq_bit: Option<i64>,
    external_set_mark_chain: Option<String>,
    #[serde(rename = "conditionsV4")]
    conditions_v4: Option<Vec<String>>,
    #[serde(rename = "conditionsV6")]
    conditions_v6: Option<Vec<String>>,
    backend: Option<String>,
    runtime_config: RuntimeConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RuntimeConfig {
    port_mappings: Vec<Entry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Entry {
    host_port: i64,
    container_port: i64,
    protocol: String,
    #[serde(rename = "hostIP")]
    host_ip: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Nftables,
    Iptables,
}

struct Settings {
    backend: Backend,
    mappings: Vec<Mapping>,
    snat: bool,
    masq_all: bool,
    mark_bit: u32,
    external_set_mark_chain: Option<String>,
    conditions_v4: Vec<String>,
    conditions_v6: Vec<String>,
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::invalid_config(msg)
}

/// iptables conditions start with an option (`-m ...`, `! -s ...`).
fn iptables_style(conds: &[String]) -> bool {
    conds
        .first()
        .is_some_and(|c| c.starts_with('-') || c.starts_with('!'))
}

fn nftables_usable() -> bool {
    nft::Socket::new().is_ok_and(|mut s| s.table_exists(nft::Family::Ip, "cni_probe").is_ok())
}

fn load(req: &Request<Config>) -> Result<Settings, CniError> {
    let c = &req.config;
    let mut mappings = Vec::new();
    for e in &c.runtime_config.port_mappings {
        if !(1..=65535).contains(&e.host_port) {
            return Err(invalid(format!(
                "Invalid host port number: {}",
                e.host_port
            )));
        }
        if !(1..=65535).contains(&e.container_port) {
            return Err(invalid(format!(
                "Invalid container port number: {}",
                e.container_port
            )));
        }
        let protocol = Proto::parse(&e.protocol).ok_or_else(|| {
            invalid(format!(
                "Invalid protocol {:?}: tcp, udp or sctp",
                e.protocol
            ))
        })?;
        let host_ip = if e.host_ip.is_empty() {
            None
        } else {
            Some(
                e.host_ip
                    .parse::<IpAddr>()
                    .map_err(|_| invalid(format!("Invalid hostIP {:?}", e.host_ip)))?,
            )
        };
        mappings.push(Mapping {
            host_port: e.host_port as u16,
            container_port: e.container_port as u16,
            protocol,
            host_ip,
        });
    }
    if c.mark_masq_bit.is_some() && c.external_set_mark_chain.is_some() {
        return Err(invalid(
            "Cannot specify externalSetMarkChain and markMasqBit",
        ));
    }
    let mark_bit = c.mark_masq_bit.unwrap_or(13);
    if !(0..=31).contains(&mark_bit) {
        return Err(invalid(format!(
            "MasqMarkBit must be between 0 and 31, got {mark_bit}"
        )));
    }
    let v4 = c.conditions_v4.clone().unwrap_or_default();
    let v6 = c.conditions_v6.clone().unwrap_or_default();
    let mut ipt_only = Vec::new();
    if c.mark_masq_bit.is_some() {
        ipt_only.push("markMasqBit");
    }
    if c.external_set_mark_chain.is_some() {
        ipt_only.push("externalSetMarkChain");
    }
    if iptables_style(&v4) {
        ipt_only.push("conditionsV4");
    }
    if iptables_style(&v6) {
        ipt_only.push("conditionsV6");
    }
    let mut nft_only = Vec::new();
    if !v4.is_empty() && !iptables_style(&v4) {
        nft_only.push("conditionsV4");
    }
    if !v6.is_empty() && !iptables_style(&v6) {
        nft_only.push("conditionsV6");
    }
    let conflict = |b: &str, other: &str, opts: &[&str]| {
        invalid(format!(
            "{b} backend was requested but configuration contains {other}-specific options [{}]",
            opts.join(" ")
        ))
    };
    let backend = match c.backend.as_deref() {
        Some("nftables") if !ipt_only.is_empty() => {
            return Err(conflict("nftables", "iptables", &ipt_only));
        }
        Some("iptables") if !nft_only.is_empty() => {
            return Err(conflict("iptables", "nftables", &nft_only));
        }
        Some("nftables") => Backend::Nftables,
        Some("iptables") => Backend::Iptables,
        None | Some("") => {
            if !ipt_only.is_empty() && !nft_only.is_empty() {
                return Err(invalid(format!(
                    "configuration mixes iptables-specific options [{}] and nftables-specific options [{}]",
                    ipt_only.join(" "),
                    nft_only.join(" ")
                )));
            }
            if !ipt_only.is_empty() || !nftables_usable() {
                Backend::Iptables
            } else {
                Backend::Nftables
            }
        }
        Some(other) => {
            return Err(invalid(format!(
                "unknown portmap backend {other:?}: nftables or iptables"
            )));
        }
    };
    Ok(Settings {
        backend,
        mappings,
        snat: c.snat.unwrap_or(true),
        masq_all: c.masq_all,
        mark_bit: mark_bit as u32,
        external_set_mark_chain: c.external_set_mark_chain.clone(),
        conditions_v4: v4,
        conditions_v6: v6,
    })
}

/// The container's first IPv4 and first IPv6 address: those on no
/// particular interface, or on the interface `ifname` in a sandbox.
fn container_ips(prev: &Success, ifname: &str) -> Vec<IpNetwork> {
    let mut out: Vec<IpNetwork> = Vec::new();
    for ip in &prev.ips {
        let ours = match ip.interface {
            None => true,
            Some(i) => prev
                .interfaces
                .get(i)
                .is_some_and(|intf| intf.name == ifname && !intf.sandbox.is_empty()),
        };
        if ours && !out.iter().any(|o| o.is_ipv4() == ip.address.is_ipv4()) {
            out.push(ip.address);
        }
    }
    out
}

fn setup_for<'a>(
    req: &'a Request<Config>,
    at_cid: &'a str,
    s: &'a Settings,
    container: IpNetwork,
) -> Setup<'a> {
    Setup {
        network: &req.conf.name,
        container_id: at_cid,
        container,
        mappings: &s.mappings,
        snat: s.snat,
        masq_all: s.masq_all,
        mark_bit: s.mark_bit,
        external_set_mark_chain: s.external_set_mark_chain.as_deref(),
        conditions: if container.is_ipv4() {
            &s.conditions_v4
        } else {
            &s.conditions_v6
        },
    }
}

/// Let the host route DNATed localhost traffic (127.0.0.1:hostPort) out to
/// the container: `route_localnet` on the interface towards it.
fn allow_localnet(container: IpAddr) -> Result<(), CniError> {
    let mut sock = netlink::Socket::new()?;
    let Some(oif) = sock.route_oif(container)? else {
        return Ok(());
    };
    let Some(link) = sock.link_by_index(oif)? else {
        return Ok(());
    };
    netns::sysctl::ensure(&format!("net/ipv4/conf/{}/route_localnet", link.name), "1")
}

/// Remove every rule of the container (both layouts, both families).
fn teardown(req: &Request<Config>, cid: &str) -> Result<(), CniError> {
    let a = portmap::teardown_nft(cid);
    let b = portmap::teardown_iptables(&req.conf.name, cid);
    a.and(b)
}

struct Portmap;

impl Plugin for Portmap {
    type Config = Config;

    fn name(&self) -> &str {
        "portmap"
    }

    fn add(&self, req: &Request<Config>, at: &Attachment) -> Result<Success, CniError> {
        let s = load(req)?;
        let prev = req
            .prev_result
            .as_ref()
            .ok_or_else(|| CniError::internal("must be called as chained plugin"))?;
        if s.mappings.is_empty() {
            return Ok(prev.clone());
        }
        let ips = container_ips(prev, &at.ifname);
        let outcome = (|| -> Result<(), CniError> {
            for &ip in &ips {
                let setup = setup_for(req, &at.container_id, &s, ip);
                match s.backend {
                    Backend::Nftables => portmap::setup_nft(&setup)?,
                    Backend::Iptables => portmap::setup_iptables(&setup)?,
                }
                if let Err(e) = portmap::flush_udp_conntrack(ip.is_ipv4(), &s.mappings) {
                    eprintln!("portmap: could not delete stale UDP conntrack entries: {e}");
                }
                if ip.is_ipv4() && s.snat {
                    allow_localnet(ip.ip())?;
                }
            }
            Ok(())
        })();
        if let Err(e) = outcome {
            if let Err(u) = teardown(req, &at.container_id) {
                eprintln!("portmap: undo: {u}");
            }
            return Err(e);
        }
        Ok(prev.clone())
    }

    fn del(&self, req: &Request<Config>, at: &Attachment<Option<PathBuf>>) -> Result<(), CniError> {
        // The rules are found by container ID (and network): no prevResult,
        // mappings or addresses needed. Config errors do not block DEL.
        teardown(req, &at.container_id)?;
        if let Ok(s) = load(req) {
            for v4 in [true, false] {
                if let Err(e) = portmap::flush_udp_conntrack(v4, &s.mappings) {
                    eprintln!("portmap: could not delete stale UDP conntrack entries: {e}");
                }
            }
        }
        Ok(())
    }

    fn check(&self, req: &Request<Config>, at: &Attachment) -> Result<(), CniError> {
        let s = load(req)?;
        let prev = req
            .prev_result
            .as_ref()
            .ok_or_else(|| CniError::internal("must be called as chained plugin"))?;
        if s.mappings.is_empty() {
            return Ok(());
        }
        for ip in container_ips(prev, &at.ifname) {
            let setup = setup_for(req, &at.container_id, &s, ip);
            match s.backend {
                Backend::Nftables => portmap::check_nft(&setup)?,
                Backend::Iptables => portmap::check_iptables(&setup)?,
            }
        }
        Ok(())
    }
}

/// The plugin's entry point (its binary's `main`, and the multi-call binary's).
pub fn main() -> ExitCode {
    cni::run(Portmap)
}
