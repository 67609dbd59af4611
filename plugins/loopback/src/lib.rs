//! The `loopback` plugin: sets `lo` up in the container's network namespace.
//!
//! ADD brings `lo` up and reports it with its addresses (127.0.0.1/8 and
//! ::1/128 when the namespace has them), or passes a prevResult through.
//! DEL sets `lo` down and succeeds when the namespace is already gone. CHECK
//! verifies that `lo` is up. CNI_IFNAME is ignored: this only works for `lo`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use cni::{Attachment, CniError, Context, Interface, IpConfig, Plugin, Request, Success};
use netlink::{Link, Socket};
use netns::NetNs;

struct Loopback;

/// loopback has no configuration of its own.
type Config = serde::de::IgnoredAny;

/// Open a socket in the namespace and find `lo` there.
fn lo_in(ns: &NetNs) -> Result<(Socket, Link), CniError> {
    let mut sock = Socket::new_in(ns)?;
    let lo = sock.link_by_name("lo")?.ok_or_else(|| {
        CniError::internal(format!("no loopback interface in {}", ns.path().display()))
    })?;
    Ok((sock, lo))
}

impl Plugin for Loopback {
    type Config = Config;

    fn name(&self) -> &str {
        "loopback"
    }

    fn add(&self, req: &Request<Config>, at: &Attachment) -> Result<Success, CniError> {
        let ns = NetNs::open(&at.netns).context("CNI_NETNS")?;
        let (mut sock, lo) = lo_in(&ns)?;
        sock.set_link_up(&lo, true)?;
        let addrs = sock.addresses(Some(lo.index), None)?;
        if let Some(a) = addrs.iter().find(|a| !a.address.ip().is_loopback()) {
            return Err(CniError::internal(format!(
                "loopback interface found with non-loopback address {:?}",
                a.address.ip().to_string()
            )));
        }
        if let Some(prev) = &req.prev_result {
            return Ok(prev.clone());
        }
        let first = |v4: bool| {
            addrs
                .iter()
                .find(|a| matches!(a.address.ip(), IpAddr::V4(_)) == v4)
        };
        Ok(Success {
            interfaces: vec![Interface {
                name: "lo".into(),
                mac: "00:00:00:00:00:00".into(),
                sandbox: at.netns.display().to_string(),
                ..Interface::default()
            }],
            ips: [first(true), first(false)]
                .into_iter()
                .flatten()
                .map(|a| IpConfig {
                    interface: Some(0),
                    address: a.address,
                    gateway: None,
                })
                .collect(),
            ..Success::default()
        })
    }

    fn del(
        &self,
        _req: &Request<Config>,
        at: &Attachment<Option<PathBuf>>,
    ) -> Result<(), CniError> {
        let Some(path) = &at.netns else { return Ok(()) };
        let ns = match NetNs::open(path) {
            // The namespace is gone (or only its mount point is left): nothing to undo.
            Err(e) if e.is_gone() => return Ok(()),
            other => other.context("CNI_NETNS")?,
        };
        let (mut sock, lo) = lo_in(&ns)?;
        sock.set_link_up(&lo, false)?;
        Ok(())
    }

    fn check(&self, _req: &Request<Config>, at: &Attachment) -> Result<(), CniError> {
        let ns = NetNs::open(&at.netns).context("CNI_NETNS")?;
        let (_, lo) = lo_in(&ns)?;
        if !lo.is_up() {
            return Err(CniError::internal("loopback interface is down"));
        }
        Ok(())
    }
}

/// The plugin's entry point (its binary's `main`, and the multi-call binary's).
pub fn main() -> ExitCode {
    cni::run(Loopback)
}
