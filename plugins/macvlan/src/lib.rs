//! The `macvlan` plugin: a macvlan link on a master interface (the host's,
//! or with `linkInContainer` one in the container), created straight into
//! the container namespace and renamed there, with the delegated IPAM
//! plugin's addresses, or layer 2 only without IPAM.
//!
//! A failed ADD removes the link and releases the addresses. DEL releases
//! the addresses and removes the link, whatever is already gone: the
//! namespace, the link, the master.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::path::PathBuf;
use std::process::ExitCode;

use cni::{Attachment, CniError, Command, Plugin, Request, Success};
use iface::{Container, Master, Undo};
use netlink::packet::link::MacVlanMode;
use netlink::{NewLink, Socket};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Config {
    master: String,
    mode: String,
    mtu: i64,
    mac: String,
    link_in_container: bool,
    bcqueuelen: u32,
    runtime_config: RuntimeConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RuntimeConfig {
    mac: String,
}

/// What ADD and CHECK work from, checked before anything is touched.
struct Settings {
    mode: MacVlanMode,
    mtu: u32,
    mac: Option<[u8; 6]>,
    ipam: Option<String>,
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::invalid_config(msg)
}

fn mode_from_str(s: &str) -> Result<MacVlanMode, CniError> {
    Ok(match s {
        "" | "bridge" => MacVlanMode::Bridge,
        "private" => MacVlanMode::Private,
        "vepa" => MacVlanMode::Vepa,
        "passthru" => MacVlanMode::Passthrough,
        "source" => MacVlanMode::Source,
        other => return Err(invalid(format!("unknown macvlan mode: {other:?}"))),
    })
}

fn mode_name(m: MacVlanMode) -> String {
    match m {
        MacVlanMode::Bridge => "bridge".into(),
        MacVlanMode::Private => "private".into(),
        MacVlanMode::Vepa => "vepa".into(),
        MacVlanMode::Passthrough => "passthru".into(),
        MacVlanMode::Source => "source".into(),
        other => format!("{other:?}"),
    }
}

fn load(req: &Request<Config>) -> Result<Settings, CniError> {
    let c = &req.config;
    let mode = mode_from_str(&c.mode)?;
    if c.mtu < 0 || c.mtu > i64::from(u32::MAX) {
        return Err(invalid(format!("invalid MTU {}", c.mtu)));
    }
    // MAC: config, then CNI_ARGS, then runtimeConfig (the reference's order).
    let parse = |field: &str, s: &str| {
        netlink::parse_mac(s).ok_or_else(|| invalid(format!("{field}: invalid MAC address {s:?}")))
    };
    let mut mac = None;
    if !c.mac.is_empty() {
        mac = Some(parse("mac", &c.mac)?);
    }
    let env = req.args.load(&["MAC"])?;
    if let Some(m) = env.get("MAC").filter(|m| !m.is_empty()) {
        mac = Some(parse("CNI_ARGS MAC", m)?);
    }
    if !c.runtime_config.mac.is_empty() {
        mac = Some(parse("runtimeConfig.mac", &c.runtime_config.mac)?);
    }
    Ok(Settings {
        mode,
        mtu: c.mtu as u32,
        mac,
        ipam: req.conf.ipam_type().map(str::to_string),
    })
}

struct Macvlan;

impl Macvlan {
    fn add_steps(
        &self,
        req: &Request<Config>,
        at: &Attachment,
        s: &Settings,
        undo: &mut Undo,
        cont: &mut Container,
    ) -> Result<Success, CniError> {
        let mut host = Socket::new()?;
        let m = Master::find_for_mtu(
            &mut host,
            cont,
            &req.config.master,
            req.config.link_in_container,
            s.mtu,
        )?;
        let bcqueuelen = (req.config.bcqueuelen > 0).then_some(req.config.bcqueuelen);
        let link = iface::create_stacked(&mut host, cont, &m, "macvlan", &at.ifname, |tmp| {
            NewLink::macvlan(tmp, m.link.index, s.mode, bcqueuelen)
                .mtu(s.mtu)
                .mac(s.mac)
        })?;
        undo.link = true;
        let mut result = Success {
            interfaces: vec![iface::container_interface(&link, &at.netns)],
            ..Success::default()
        };
        match &s.ipam {
            Some(ipam_type) => {
                let ipam = req.delegate_add(ipam_type)?;
                undo.ipam = Some(ipam_type.clone());
                if ipam.ips.is_empty() {
                    return Err(CniError::internal("IPAM plugin returned missing IP config"));
                }
                result.ips = ipam.ips;
                result.routes = ipam.routes;
                iface::configure_l3(cont, &at.ifname, &mut result)?;
            }
            None => iface::link_up(cont, &at.ifname)?,
        }
        // The config's DNS, never the IPAM plugin's (as the reference).
        result.dns = req.conf.dns.clone();
        Ok(result)
    }
}

impl Plugin for Macvlan {
    type Config = Config;

    fn name(&self) -> &str {
        "macvlan"
    }

    fn add(&self, req: &Request<Config>, at: &Attachment) -> Result<Success, CniError> {
        let s = load(req)?;
        let mut cont = Container::open(&at.netns)?;
        let mut undo = Undo::default();
        let result = self.add_steps(req, at, &s, &mut undo, &mut cont);
        if result.is_err() {
            undo.run(req, at);
        }
        result
    }

    fn del(&self, req: &Request<Config>, at: &Attachment<Option<PathBuf>>) -> Result<(), CniError> {
        // Only what DEL needs: no master lookup, no MTU check.
        req.delegate_ipam(Command::Del)?;
        iface::delete_container_link(at.netns.as_deref(), &at.ifname)
    }

    fn check(&self, req: &Request<Config>, at: &Attachment) -> Result<(), CniError> {
        let s = load(req)?;
        let mut cont = Container::open(&at.netns)?;
        req.delegate_ipam(Command::Check)?;
        let prev = iface::require_prev(req)?;
        let mut host = Socket::new()?;
        Master::find_for_mtu(
            &mut host,
            &mut cont,
            &req.config.master,
            req.config.link_in_container,
            s.mtu,
        )?;
        let link = iface::check_container_link(&mut cont, prev, at, "macvlan")?;
        let mode = link.macvlan_mode();
        if mode != Some(s.mode) {
            return Err(CniError::internal(format!(
                "container macvlan mode {} does not match expected value: {}",
                mode.map(mode_name).unwrap_or_default(),
                mode_name(s.mode)
            )));
        }
        iface::check_l3(&mut cont, &at.ifname, prev)
    }

    fn status(&self, req: &Request<Config>) -> Result<(), CniError> {
        req.delegate_ipam(Command::Status)
    }

    fn gc(&self, req: &Request<Config>) -> Result<(), CniError> {
        req.delegate_ipam(Command::Gc)
    }
}

/// The plugin's entry point (its binary's `main`, and the multi-call binary's).
pub fn main() -> ExitCode {
    cni::run(Macvlan)
}
