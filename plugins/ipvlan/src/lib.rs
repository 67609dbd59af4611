//! The `ipvlan` plugin: an ipvlan link on a master interface (the host's,
//! or with `linkInContainer` one in the container), created straight into
//! the container namespace and renamed there. Its addresses come from the
//! delegated IPAM plugin or, chained without IPAM, from the previous
//! plugin's result, whose single interface is then also the default master.
//!
//! A failed ADD removes the link and releases the addresses. DEL never
//! looks at the master: it works after the master is gone.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::path::PathBuf;
use std::process::ExitCode;

use cni::{Attachment, CniError, Command, Plugin, Request, Success};
use iface::{Container, Master, Undo};
use netlink::packet::link::{IpVlanFlags, IpVlanMode};
use netlink::{NewLink, Socket};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Config {
    master: String,
    mode: String,
    flag: String,
    mtu: i64,
    link_in_container: bool,
}

/// Where the addresses come from.
enum Addresses {
    Ipam(String),
    /// Chained without IPAM: the previous plugin's result.
    Previous(Box<Success>),
}

/// What ADD and CHECK work from, checked before anything is touched.
struct Settings {
    master: String,
    mode: IpVlanMode,
    flags: IpVlanFlags,
    mtu: u32,
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::invalid_config(msg)
}

fn mode_from_str(s: &str) -> Result<IpVlanMode, CniError> {
    Ok(match s {
        "" | "l2" => IpVlanMode::L2,
        "l3" => IpVlanMode::L3,
        "l3s" => IpVlanMode::L3S,
        other => return Err(invalid(format!("unknown ipvlan mode: {other:?}"))),
    })
}

fn flags_from_str(s: &str) -> Result<IpVlanFlags, CniError> {
    Ok(match s {
        "" | "bridge" => IpVlanFlags::empty(),
        "private" => IpVlanFlags::Private,
        "vepa" => IpVlanFlags::Vepa,
        other => return Err(invalid(format!("unknown ipvlan flag: {other:?}"))),
    })
}

fn mode_name(m: IpVlanMode) -> String {
    match m {
        IpVlanMode::L2 => "l2".into(),
        IpVlanMode::L3 => "l3".into(),
        IpVlanMode::L3S => "l3s".into(),
        other => format!("{other:?}"),
    }
}

fn flags_name(f: IpVlanFlags) -> &'static str {
    if f.contains(IpVlanFlags::Private) {
        "private"
    } else if f.contains(IpVlanFlags::Vepa) {
        "vepa"
    } else {
        "bridge"
    }
}

fn load(req: &Request<Config>) -> Result<Settings, CniError> {
    let c = &req.config;
    let mode = mode_from_str(&c.mode)?;
    let flags = flags_from_str(&c.flag)?;
    if c.mtu < 0 || c.mtu > i64::from(u32::MAX) {
        return Err(invalid(format!("invalid MTU {}", c.mtu)));
    }
    // Chained without a master: the previous plugin's single interface.
    let mut master = c.master.clone();
    if master.is_empty()
        && let Some(prev) = &req.prev_result
    {
        match prev.interfaces.as_slice() {
            [only] if !only.name.is_empty() => master = only.name.clone(),
            _ => {
                return Err(invalid(
                    "chained master failure. PrevResult lacks a single named interface",
                ));
            }
        }
    }
    Ok(Settings {
        master,
        mode,
        flags,
        mtu: c.mtu as u32,
    })
}

fn addresses(req: &Request<Config>) -> Result<Addresses, CniError> {
    if let Some(t) = req.conf.ipam_type() {
        return Ok(Addresses::Ipam(t.to_string()));
    }
    match &req.prev_result {
        Some(prev) if !prev.ips.is_empty() => Ok(Addresses::Previous(Box::new(prev.clone()))),
        _ => Err(invalid(
            "ipam: an IPAM plugin is required unless chained after a plugin whose result has IPs",
        )),
    }
}

struct Ipvlan;

impl Ipvlan {
    fn add_steps(
        &self,
        req: &Request<Config>,
        at: &Attachment,
        s: &Settings,
        source: Addresses,
        undo: &mut Undo,
        cont: &mut Container,
    ) -> Result<Success, CniError> {
        let mut host = Socket::new()?;
        let m = Master::find_for_mtu(
            &mut host,
            cont,
            &s.master,
            req.config.link_in_container,
            s.mtu,
        )?;
        let link = iface::create_stacked(&mut host, cont, &m, "ipvlan", &at.ifname, |tmp| {
            NewLink::ipvlan(tmp, m.link.index, s.mode, s.flags).mtu(s.mtu)
        })?;
        undo.link = true;
        let mut result = match source {
            Addresses::Previous(prev) => *prev,
            Addresses::Ipam(t) => {
                let r = req.delegate_add(&t)?;
                undo.ipam = Some(t);
                if r.ips.is_empty() {
                    return Err(CniError::internal("IPAM plugin returned missing IP config"));
                }
                r
            }
        };
        result.interfaces = vec![iface::container_interface(&link, &at.netns)];
        iface::configure_l3(cont, &at.ifname, &mut result)?;
        result.dns = req.conf.dns.clone();
        Ok(result)
    }
}

impl Plugin for Ipvlan {
    type Config = Config;

    fn name(&self) -> &str {
        "ipvlan"
    }

    fn add(&self, req: &Request<Config>, at: &Attachment) -> Result<Success, CniError> {
        let s = load(req)?;
        let source = addresses(req)?;
        let mut cont = Container::open(&at.netns)?;
        let mut undo = Undo::default();
        let result = self.add_steps(req, at, &s, source, &mut undo, &mut cont);
        if result.is_err() {
            undo.run(req, at);
        }
        result
    }

    fn del(&self, req: &Request<Config>, at: &Attachment<Option<PathBuf>>) -> Result<(), CniError> {
        // Only what DEL needs: no master, no default route, no prevResult.
        req.delegate_ipam(Command::Del)?;
        iface::delete_container_link(at.netns.as_deref(), &at.ifname)
    }

    fn check(&self, req: &Request<Config>, at: &Attachment) -> Result<(), CniError> {
        let s = load(req)?;
        let mut cont = Container::open(&at.netns)?;
        req.delegate_ipam(Command::Check)?;
        let prev = iface::require_prev(req)?;
        // A configured master must still be there. Without one, ADD took the
        // previous plugin's interface or the default route's; the link's
        // existence says enough (deleting a master deletes its ipvlans).
        if !req.config.master.is_empty() {
            let mut host = Socket::new()?;
            Master::find_for_mtu(
                &mut host,
                &mut cont,
                &s.master,
                req.config.link_in_container,
                s.mtu,
            )?;
        }
        let link = iface::check_container_link(&mut cont, prev, at, "ipvlan")?;
        let (mode, flags) = link
            .ipvlan_mode()
            .map_or((None, None), |(m, f)| (Some(m), Some(f)));
        if mode != Some(s.mode) {
            return Err(CniError::internal(format!(
                "Container IPVlan mode {} does not match expected value: {}",
                mode.map(mode_name).unwrap_or_default(),
                mode_name(s.mode)
            )));
        }
        if flags != Some(s.flags) {
            return Err(CniError::internal(format!(
                "Container IPVlan flag {} does not match expected value: {}",
                flags.map(flags_name).unwrap_or_default(),
                flags_name(s.flags)
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
    cni::run(Ipvlan)
}
