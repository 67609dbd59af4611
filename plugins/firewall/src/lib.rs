//! The `firewall` plugin (chained, spec 0.4.0 and later): lets the
//! container's addresses through the host's FORWARD filtering (the
//! reference's iptables chains by default, or nftables), keeps an admin
//! chain ahead of them for the operator, and with `ingressPolicy`
//! isolates bridges from each other. The prevResult passes through.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use cni::{Attachment, CniError, Plugin, Request, Success, Version};
use firewall::forward::{self, Ingress};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Config {
    backend: String,
    iptables_admin_chain_name: String,
    firewalld_zone: String,
    ingress_policy: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Iptables,
    Nftables,
}

struct Settings {
    backend: Backend,
    admin_chain: String,
    ingress: Ingress,
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::invalid_config(msg)
}

fn load(req: &Request<Config>) -> Result<Settings, CniError> {
    let c = &req.config;
    let backend = match c.backend.as_str() {
        "iptables" => Backend::Iptables,
        "nftables" => Backend::Nftables,
        // The reference's default is firewalld when it runs, else iptables.
        // Without firewalld support, iptables where its tools exist.
        "" => {
            if firewall_tools_present() {
                Backend::Iptables
            } else {
                Backend::Nftables
            }
        }
        "firewalld" => {
            return Err(invalid(
                "backend \"firewalld\" is not supported: use \"iptables\" or \"nftables\"",
            ));
        }
        other => return Err(invalid(format!("unknown firewall backend {other:?}"))),
    };
    let ingress = match c.ingress_policy.as_str() {
        "" | "open" => Ingress::Open,
        "same-bridge" => Ingress::SameBridge,
        "isolated" => Ingress::Isolated,
        other => return Err(invalid(format!("unknown ingress policy: {other:?}"))),
    };
    let admin_chain = if c.iptables_admin_chain_name.is_empty() {
        forward::DEFAULT_ADMIN_CHAIN.to_string()
    } else {
        c.iptables_admin_chain_name.clone()
    };
    if admin_chain.len() > 28 || admin_chain.contains(|ch: char| ch.is_whitespace() || ch == '"') {
        return Err(invalid(format!(
            "iptablesAdminChainName {admin_chain:?} is not a valid iptables chain name"
        )));
    }
    let _ = &c.firewalld_zone;
    Ok(Settings {
        backend,
        admin_chain,
        ingress,
    })
}

fn firewall_tools_present() -> bool {
    ["iptables-save", "iptables-restore"]
        .iter()
        .all(|t| which(t).is_some())
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .filter(|d| !d.is_empty())
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| PathBuf::from(d).join(tool))
        .find(|p| p.is_file())
}

fn addresses(prev: &Success, v6: bool) -> Vec<IpAddr> {
    prev.ips
        .iter()
        .map(|i| i.address.ip())
        .filter(|a| a.is_ipv6() == v6)
        .collect()
}

/// The bridge, for ingressPolicy: the first interface of the prevResult.
fn bridge(prev: &Success, s: &Settings) -> Result<Option<String>, CniError> {
    if s.ingress == Ingress::Open {
        return Ok(None);
    }
    match prev.interfaces.first() {
        Some(i) if !i.name.is_empty() => Ok(Some(i.name.clone())),
        _ => Err(CniError::internal(
            "interface needs to be set for ingress policy, make sure to chain \"firewall\" plugin with \"bridge\"",
        )),
    }
}

struct Firewall;

impl Plugin for Firewall {
    type Config = Config;

    fn name(&self) -> &str {
        "firewall"
    }

    fn supported_versions(&self) -> &[Version] {
        &Version::ALL[4..]
    }

    fn add(&self, req: &Request<Config>, at: &Attachment) -> Result<Success, CniError> {
        let s = load(req)?;
        let prev = req
            .prev_result
            .as_ref()
            .ok_or_else(|| CniError::internal("missing prevResult from earlier plugin"))?;
        let br = bridge(prev, &s)?;
        let who = forward::Attachment {
            network: &req.conf.name,
            container_id: &at.container_id,
            ifname: &at.ifname,
        };
        let outcome = match s.backend {
            Backend::Iptables => [false, true].iter().try_for_each(|&v6| {
                let ips = addresses(prev, v6);
                if ips.is_empty() {
                    return Ok(());
                }
                forward::setup_iptables(v6, &ips, &s.admin_chain, s.ingress, br.as_deref())
            }),
            Backend::Nftables => {
                let ips: Vec<IpAddr> = prev.ips.iter().map(|i| i.address.ip()).collect();
                forward::setup_nft(&who, &ips, s.ingress, br.as_deref())
            }
        };
        if let Err(e) = outcome {
            let _ = undo(&s, &who, prev);
            return Err(e);
        }
        Ok(prev.clone())
    }

    fn del(&self, req: &Request<Config>, at: &Attachment<Option<PathBuf>>) -> Result<(), CniError> {
        let who = forward::Attachment {
            network: &req.conf.name,
            container_id: &at.container_id,
            ifname: &at.ifname,
        };
        // nftables rules are found by their comment, with or without a
        // prevResult; iptables rules by the prevResult's addresses.
        forward::teardown_nft(&who)?;
        if let Some(prev) = &req.prev_result {
            for v6 in [false, true] {
                forward::teardown_iptables(v6, &addresses(prev, v6))?;
            }
        }
        Ok(())
    }

    fn check(&self, req: &Request<Config>, at: &Attachment) -> Result<(), CniError> {
        let s = load(req)?;
        let prev = req
            .prev_result
            .as_ref()
            .ok_or_else(|| CniError::internal("missing prevResult from earlier plugin"))?;
        match s.backend {
            Backend::Iptables => {
                for v6 in [false, true] {
                    forward::check_iptables(v6, &addresses(prev, v6), &s.admin_chain)?;
                }
                Ok(())
            }
            Backend::Nftables => {
                let who = forward::Attachment {
                    network: &req.conf.name,
                    container_id: &at.container_id,
                    ifname: &at.ifname,
                };
                let ips: Vec<IpAddr> = prev.ips.iter().map(|i| i.address.ip()).collect();
                forward::check_nft(&who, &ips)
            }
        }
    }
}

fn undo(s: &Settings, who: &forward::Attachment, prev: &Success) -> Result<(), CniError> {
    match s.backend {
        Backend::Nftables => forward::teardown_nft(who),
        Backend::Iptables => {
            for v6 in [false, true] {
                forward::teardown_iptables(v6, &addresses(prev, v6))?;
            }
            Ok(())
        }
    }
}

/// The plugin's entry point (its binary's `main`, and the multi-call binary's).
pub fn main() -> ExitCode {
    cni::run(Firewall)
}
