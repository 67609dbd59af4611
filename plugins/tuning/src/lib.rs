//! The `tuning` plugin (chained): network sysctls of the container
//! namespace, and attributes of the container interface: MAC, MTU,
//! promiscuous and all-multicast mode, transmit queue length, and its name.
//! The interface's original attributes are saved under `dataDir`
//! (`/run/cni/tuning/<containerID>_<ifname>.json`, the reference's format)
//! and put back by DEL; a failed ADD puts back everything it changed,
//! sysctls included.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod config;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cni::{Attachment, CniError, Plugin, Request, Success};
use config::{Config, Settings, sysctl_path};
use iface::Container;
use netlink::packet::link::LinkFlags;
use netlink::{Link, Socket};
use serde::{Deserialize, Serialize};

/// The saved attributes (only those this ADD changes), as the reference
/// writes them; `ifname` (the name ADD gave the link) is ours.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Backup {
    #[serde(skip_serializing_if = "String::is_empty")]
    mac: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    promisc: Option<bool>,
    #[serde(skip_serializing_if = "is_zero")]
    mtu: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    allmulti: Option<bool>,
    #[serde(rename = "txQLen", skip_serializing_if = "Option::is_none")]
    tx_qlen: Option<u32>,
    #[serde(skip_serializing_if = "String::is_empty")]
    ifname: String,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

fn backup_path(s: &Settings, at_cid: &str, ifname: &str) -> PathBuf {
    s.data_dir.join(format!("{at_cid}_{ifname}.json"))
}

fn save_backup(path: &Path, b: &Backup) -> Result<(), CniError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            CniError::internal(format!(
                "failed to create backup directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let data = serde_json::to_vec_pretty(b)
        .map_err(|e| CniError::internal(format!("failed to encode the backup: {e}")))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, data)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CniError::internal(format!("failed to save {}: {e}", path.display())))
}

fn mac_string(mac: [u8; 6]) -> String {
    netlink::format_mac(&mac)
}

/// Put the saved attributes back on the link (found under the name ADD gave
/// it, or its own). Returns what failed.
fn restore(sock: &mut Socket, ifname: &str, b: &Backup) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    // Under its own name (not renamed yet, or a failed rename), else under
    // the name ADD gave it.
    let found = match sock.link_by_name(ifname) {
        Ok(Some(l)) => Some(l),
        _ if !b.ifname.is_empty() => sock.link_by_name(&b.ifname).ok().flatten(),
        _ => None,
    };
    let Some(mut link) = found else {
        return Ok(()); // gone with its namespace or its plugin: nothing to restore
    };
    if link.name != ifname {
        match rename(sock, &link, ifname) {
            Ok(l) => link = l,
            Err(e) => errors.push(format!("failed to restore the name: {e}")),
        }
    }
    if b.mtu != 0
        && let Err(e) = sock.set_mtu(&link, b.mtu)
    {
        errors.push(format!("failed to restore MTU: {e}"));
    }
    if !b.mac.is_empty() {
        match netlink::parse_mac(&b.mac) {
            Some(m) => {
                if let Err(e) = sock.set_mac(&link, &m) {
                    errors.push(format!("failed to restore MAC address: {e}"));
                }
            }
            None => errors.push(format!("bad saved MAC address {:?}", b.mac)),
        }
    }
    if let Some(p) = b.promisc
        && let Err(e) = sock.set_promisc(&link, p)
    {
        errors.push(format!("failed to restore promiscuous mode: {e}"));
    }
    if let Some(a) = b.allmulti
        && let Err(e) = sock.set_allmulti(&link, a)
    {
        errors.push(format!("failed to restore all-multicast mode: {e}"));
    }
    if let Some(q) = b.tx_qlen
        && let Err(e) = sock.set_tx_queue_len(&link, q)
    {
        errors.push(format!("failed to restore the transmit queue length: {e}"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Rename a link (which must be down for it), keeping its up/down state.
fn rename(sock: &mut Socket, link: &Link, name: &str) -> Result<Link, CniError> {
    let was_up = link.is_up();
    if was_up {
        sock.set_link_up(link, false)?;
    }
    let renamed = sock.rename_link(link, name);
    let now = sock
        .link_by_index(link.index)?
        .ok_or_else(|| CniError::internal(format!("{:?} disappeared", link.name)))?;
    if was_up {
        sock.set_link_up(&now, true)?;
    }
    renamed.map_err(|e| CniError::from(e).context(format!("failed to rename {:?}", link.name)))?;
    Ok(now)
}

fn allmulti(link: &Link) -> bool {
    link.flags.contains(LinkFlags::Allmulti)
}

struct Tuning;

impl Tuning {
    /// Write the sysctls, remembering the old values for an undo.
    fn write_sysctls(
        cont: &Container,
        s: &Settings,
        ifname: &str,
        old: &mut Vec<(String, String)>,
    ) -> Result<(), CniError> {
        let keys: Vec<(String, String)> = s
            .sysctls
            .iter()
            .map(|(k, v)| sysctl_path(k, ifname).map(|p| (p, v.clone())))
            .collect::<Result<_, _>>()?;
        cont.ns.run(|| -> Result<(), CniError> {
            for (key, value) in &keys {
                let before = netns::sysctl::read(key)?;
                netns::sysctl::write(key, value)?;
                old.push((key.clone(), before));
            }
            Ok(())
        })?
    }

    fn apply(
        cont: &mut Container,
        s: &Settings,
        at: &Attachment,
        result: &mut Success,
    ) -> Result<(), CniError> {
        let sock = &mut cont.sock;
        let mut link = sock.link_by_name(&at.ifname)?.ok_or_else(|| {
            CniError::internal(format!("failed to get {:?}: Link not found", at.ifname))
        })?;
        let sandbox = at.netns.display().to_string();
        if let Some(mac) = s.mac {
            sock.set_mac(&link, &mac)
                .map_err(|e| CniError::from(e).context("failed to set the MAC address"))?;
            for i in &mut result.interfaces {
                if i.name == at.ifname && (i.sandbox.is_empty() || i.sandbox == sandbox) {
                    i.mac = mac_string(mac);
                }
            }
        }
        if s.promisc == Some(true) {
            sock.set_promisc(&link, true)?;
        }
        if let Some(mtu) = s.mtu {
            sock.set_mtu(&link, mtu)
                .map_err(|e| CniError::from(e).context(format!("failed to set MTU {mtu}")))?;
        }
        if let Some(a) = s.allmulti {
            sock.set_allmulti(&link, a)?;
        }
        if let Some(q) = s.tx_qlen {
            sock.set_tx_queue_len(&link, q)?;
        }
        if let Some(name) = &s.ifname
            && *name != at.ifname
        {
            if sock.link_by_name(name)?.is_some() {
                return Err(CniError::internal(format!(
                    "cannot rename {:?} to {name:?}: that name is taken",
                    at.ifname
                )));
            }
            link = rename(sock, &link, name)?;
            for i in &mut result.interfaces {
                if i.name == at.ifname && (i.sandbox.is_empty() || i.sandbox == sandbox) {
                    i.name = link.name.clone();
                }
            }
        }
        Ok(())
    }
}

impl Plugin for Tuning {
    type Config = Config;

    fn name(&self) -> &str {
        "tuning"
    }

    fn add(&self, req: &Request<Config>, at: &Attachment) -> Result<Success, CniError> {
        let s = config::load(req)?;
        let mut result = iface::require_prev(req)?.clone();
        let mut cont = Container::open(&at.netns)?;
        let path = backup_path(&s, &at.container_id, &at.ifname);
        let mut old_sysctls = Vec::new();
        let mut saved = false;
        let outcome = (|| -> Result<(), CniError> {
            Tuning::write_sysctls(&cont, &s, &at.ifname, &mut old_sysctls)?;
            if s.changes_link() {
                let link = cont.sock.link_by_name(&at.ifname)?.ok_or_else(|| {
                    CniError::internal(format!("failed to get {:?}: Link not found", at.ifname))
                })?;
                let backup = Backup {
                    mac: if s.mac.is_some() {
                        link.mac_string()
                    } else {
                        String::new()
                    },
                    promisc: (s.promisc == Some(true)).then(|| link.is_promisc()),
                    mtu: if s.mtu.is_some() { link.mtu } else { 0 },
                    allmulti: s.allmulti.map(|_| allmulti(&link)),
                    tx_qlen: s.tx_qlen.and(link.tx_queue_len),
                    ifname: s
                        .ifname
                        .clone()
                        .filter(|n| *n != at.ifname)
                        .unwrap_or_default(),
                };
                save_backup(&path, &backup)?;
                saved = true;
                Tuning::apply(&mut cont, &s, at, &mut result)?;
            }
            Ok(())
        })();
        if let Err(e) = outcome {
            // Put back what this ADD changed.
            if saved {
                if let Ok(bytes) = std::fs::read(&path)
                    && let Ok(b) = serde_json::from_slice::<Backup>(&bytes)
                    && let Err(errs) = restore(&mut cont.sock, &at.ifname, &b)
                {
                    eprintln!("tuning: undo: {}", errs.join("; "));
                }
                let _ = std::fs::remove_file(&path);
            }
            let _ = cont.ns.run(|| {
                for (key, value) in old_sysctls.iter().rev() {
                    let _ = netns::sysctl::write(key, value);
                }
            });
            return Err(e);
        }
        Ok(result)
    }

    /// Put the saved attributes back; sysctls stay (as the reference: they
    /// live and die with the namespace or the interface). Never fails on
    /// what is already gone.
    fn del(&self, req: &Request<Config>, at: &Attachment<Option<PathBuf>>) -> Result<(), CniError> {
        let s = config::load_for_del(req)?;
        let path = backup_path(&s, &at.container_id, &at.ifname);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CniError::internal(format!("read {}: {e}", path.display()))),
        };
        let Ok(backup) = serde_json::from_slice::<Backup>(&bytes) else {
            eprintln!("tuning: ignoring unreadable backup {}", path.display());
            let _ = std::fs::remove_file(&path);
            return Ok(());
        };
        let mut outcome = Ok(());
        if let Some(netns) = &at.netns {
            match netns::NetNs::open(netns) {
                Ok(ns) => {
                    let mut sock = Socket::new_in(&ns)?;
                    outcome = restore(&mut sock, &at.ifname, &backup);
                }
                Err(e) if e.is_gone() => {} // nothing left to restore
                Err(e) => return Err(CniError::from(e).context("CNI_NETNS")),
            }
        }
        match outcome {
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
                Ok(())
            }
            // As the reference: DEL succeeds; the backup stays for another try.
            Err(errs) => {
                eprintln!("tuning: restoring {}: {}", at.ifname, errs.join("; "));
                Ok(())
            }
        }
    }

    fn check(&self, req: &Request<Config>, at: &Attachment) -> Result<(), CniError> {
        let s = config::load(req)?;
        iface::require_prev(req)?;
        let mut cont = Container::open(&at.netns)?;
        // Interface-scoped sysctls name the interface as ADD did (the
        // reference's CHECK forgets to replace IFNAME).
        let keys: Vec<(String, String)> = s
            .sysctls
            .iter()
            .map(|(k, v)| sysctl_path(k, &at.ifname).map(|p| (p, v.clone())))
            .collect::<Result<_, _>>()?;
        cont.ns.run(|| -> Result<(), CniError> {
            for (key, want) in &keys {
                let have = netns::sysctl::read(key)?;
                if have != *want {
                    return Err(CniError::internal(format!(
                        "Error: Tuning configured value of /proc/sys/{key} is {want}, current value is {have}"
                    )));
                }
            }
            Ok(())
        })??;
        let name = s.ifname.as_deref().unwrap_or(&at.ifname);
        let link = cont
            .sock
            .link_by_name(name)?
            .ok_or_else(|| CniError::internal(format!("Cannot find container link {name}")))?;
        let mismatch = |what: &str, want: String, have: String| {
            CniError::internal(format!(
                "Error: Tuning configured {what} of {name} is {want}, current value is {have}"
            ))
        };
        if let Some(mac) = s.mac
            && link.mac != mac
        {
            return Err(mismatch("Ethernet", mac_string(mac), link.mac_string()));
        }
        if let Some(p) = s.promisc
            && link.is_promisc() != p
        {
            return Err(mismatch(
                "promisc",
                p.to_string(),
                link.is_promisc().to_string(),
            ));
        }
        if let Some(mtu) = s.mtu
            && link.mtu != mtu
        {
            return Err(mismatch("MTU", mtu.to_string(), link.mtu.to_string()));
        }
        if let Some(a) = s.allmulti
            && allmulti(&link) != a
        {
            return Err(mismatch(
                "all-multicast mode",
                a.to_string(),
                allmulti(&link).to_string(),
            ));
        }
        if let Some(q) = s.tx_qlen
            && link.tx_queue_len != Some(q)
        {
            return Err(mismatch(
                "transmit queue length",
                q.to_string(),
                link.tx_queue_len.map(|v| v.to_string()).unwrap_or_default(),
            ));
        }
        Ok(())
    }
}

/// The plugin's entry point (its binary's `main`, and the multi-call binary's).
pub fn main() -> ExitCode {
    cni::run(Tuning)
}
