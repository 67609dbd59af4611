//! The `host-local` IPAM plugin: addresses from configured ranges, state in
//! `<dataDir>/<network>/` exactly as the reference keeps it, so a node can
//! switch between the two in place.
//!
//! ADD takes one address per range set (round robin after
//! `last_reserved_ip`, or the requested one), DEL releases every record of
//! the container's interface, CHECK verifies they exist, STATUS reports
//! whether every range set still has a free address (code 50 if not), and GC
//! releases the records of attachments not in `cni.dev/valid-attachments`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod config;
mod dns;
mod index;
mod range;
mod store;

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use cni::{Attachment, CniError, Code, Context, IpConfig, Plugin, Request, Success};
use ipnetwork::IpNetwork;

use config::{Config, Ipam};
use range::{Range, RangeSet};
use store::{Owner, Record, Store};

struct HostLocal;

/// Take one address from range set `i` for `owner`.
fn allocate_one(
    store: &mut Store,
    i: usize,
    set: &RangeSet,
    owner: &Owner,
    requested: Option<IpAddr>,
) -> Result<(IpAddr, Range), CniError> {
    if let Some(ip) = requested {
        let Some((_, range)) = set.range_for(ip) else {
            return Err(CniError::internal(format!("{ip} not in range set {set}")));
        };
        if ip == range.gateway {
            return Err(CniError::invalid_config(format!(
                "requested ip {ip} is subnet's gateway"
            )));
        }
        if !store.reserve(ip, owner)? {
            return Err(CniError::internal(format!(
                "requested IP address {ip} is not available in range set {set}"
            )));
        }
        return Ok((ip, range.clone()));
    }
    let cursor = set.cursor_after(store.last_reserved(i));
    for (ri, first, last) in set.segments(cursor) {
        let range = &set.0[ri];
        let mut from = first;
        while from <= last {
            let Some(off) = store.next_free_hint(i, ri, from, last) else {
                break;
            };
            let ip = range.at(off);
            if ip != range.gateway && store.reserve(ip, owner)? {
                return Ok((ip, range.clone()));
            }
            from = off + 1;
        }
    }
    Err(CniError::new(
        Code::NOT_AVAILABLE,
        format!("no IP addresses available in range set: {set}"),
    ))
}

/// Allocate for every range set, or nothing at all.
fn allocate(store: &mut Store, ipam: &Ipam, at: &Attachment) -> Result<Vec<IpConfig>, CniError> {
    let owner = Owner::new(&at.container_id, &at.ifname);
    // A second ADD for the same attachment is refused (the spec forbids it).
    let existing = store.owned(&at.container_id, &at.ifname)?;
    let mut requested = ipam.requested.clone();
    let mut taken: Vec<Record> = Vec::new();
    let mut ips = Vec::new();
    let mut outcome = Ok(());
    for (i, set) in ipam.ranges.iter().enumerate() {
        let want = requested
            .iter()
            .position(|ip| set.contains(*ip))
            .map(|p| requested.remove(p));
        let step = (|| {
            if let Some(dup) = existing.iter().find(|r| set.contains(r.ip)) {
                return Err(CniError::internal(format!(
                    "{} has been allocated to {}, duplicate allocation is not allowed",
                    dup.ip, at.container_id
                )));
            }
            let (ip, range) = allocate_one(store, i, set, &owner, want)?;
            taken.push(Record {
                ip,
                owner: owner.clone(),
            });
            store.set_last_reserved(i, ip)?;
            Ok((ip, range))
        })();
        match step {
            Ok((ip, range)) => ips.push(IpConfig {
                interface: None,
                address: IpNetwork::new(ip, range.subnet.prefix())
                    .map_err(|e| CniError::internal(e.to_string()))?,
                gateway: Some(range.gateway),
            }),
            Err(e) => {
                outcome = Err(e.context(format!("failed to allocate for range {i}")));
                break;
            }
        }
    }
    if outcome.is_ok() && !requested.is_empty() {
        let left: Vec<String> = requested.iter().map(ToString::to_string).collect();
        outcome = Err(CniError::invalid_config(format!(
            "failed to allocate all requested IPs: {}",
            left.join(" ")
        )));
    }
    if let Err(e) = outcome {
        for r in &taken {
            let _ = store.release(r);
        }
        return Err(e);
    }
    Ok(ips)
}

/// Whether range set `i` has an address no one holds.
fn has_free(store: &mut Store, i: usize, set: &RangeSet) -> Result<bool, CniError> {
    for (ri, range) in set.0.iter().enumerate() {
        if store.has_map(i, ri) {
            let mut from = 0;
            while let Some(off) = store.next_free_hint(i, ri, from, range.size() - 1) {
                if range.at(off) != range.gateway {
                    return Ok(true);
                }
                from = off + 1;
            }
        } else if range.size() > u128::from(u32::MAX) {
            return Ok(true); // no directory holds that many records
        } else {
            let gateway = u128::from(range.contains(range.gateway));
            let single = RangeSet(vec![range.clone()]);
            if store.count_in(&single)? + gateway < range.size() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn not_found(at_id: &str) -> CniError {
    CniError::internal(format!(
        "host-local: Failed to find address added by container {at_id}"
    ))
}

impl Plugin for HostLocal {
    type Config = Config;

    fn name(&self) -> &str {
        "host-local"
    }

    fn add(&self, req: &Request<Config>, at: &Attachment) -> Result<Success, CniError> {
        let ipam = config::load(req)?;
        let dns = ipam
            .resolv_conf
            .as_deref()
            .map(dns::read)
            .transpose()?
            .unwrap_or_default();
        let mut store = Store::open(&ipam.location, &ipam.ranges, true)?
            .ok_or_else(|| CniError::internal("state directory vanished"))?;
        let ips = allocate(&mut store, &ipam, at)?;
        store.finish()?;
        Ok(Success {
            interfaces: vec![],
            ips,
            routes: ipam.routes,
            dns,
        })
    }

    fn del(&self, req: &Request<Config>, at: &Attachment<Option<PathBuf>>) -> Result<(), CniError> {
        let (_, location) = config::location(req)?;
        // DEL does not depend on the ranges still being valid; they only
        // select the free-address maps to keep current.
        let ranges = config::load(req).map(|c| c.ranges).unwrap_or_default();
        let Some(mut store) = Store::open(&location, &ranges, false)? else {
            return Ok(());
        };
        let mut errors = Vec::new();
        for r in store.owned(&at.container_id, &at.ifname)?.into_release() {
            if let Err(e) = store.release(&r) {
                errors.push(e.msg);
            }
        }
        store.finish()?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(CniError::internal(errors.join(";")))
        }
    }

    fn check(&self, req: &Request<Config>, at: &Attachment) -> Result<(), CniError> {
        let ipam = config::load(req)?;
        let mut store = Store::open(&ipam.location, &ipam.ranges, false)?
            .ok_or_else(|| not_found(&at.container_id))?;
        let owned = store.owned(&at.container_id, &at.ifname)?;
        if owned.is_empty() {
            return Err(not_found(&at.container_id));
        }
        // Beyond the reference: every address of ours in prevResult must be
        // reserved for this attachment.
        if let Some(prev) = &req.prev_result {
            for ip in prev.ips.iter().map(|c| c.address.ip()) {
                if ipam.ranges.iter().any(|s| s.contains(ip)) && !owned.iter().any(|r| r.ip == ip) {
                    return Err(CniError::internal(format!(
                        "host-local: address {ip} in prevResult is not reserved for container {}",
                        at.container_id
                    )));
                }
            }
        }
        Ok(())
    }

    fn status(&self, req: &Request<Config>) -> Result<(), CniError> {
        let ipam = config::load(req)?;
        let Some(mut store) = Store::open(&ipam.location, &ipam.ranges, false)? else {
            return Ok(());
        };
        for (i, set) in ipam.ranges.iter().enumerate() {
            if !has_free(&mut store, i, set)? {
                return Err(CniError::new(
                    Code::NOT_AVAILABLE,
                    format!("no IP addresses available in range set: {set}"),
                ));
            }
        }
        Ok(())
    }

    /// GC without a list of valid attachments releases nothing: an absent
    /// list means the runtime said nothing about what is in use.
    fn gc(&self, req: &Request<Config>) -> Result<(), CniError> {
        let (_, location) = config::location(req)?;
        let Some(valid) = req.conf.gc_valid_attachments() else {
            eprintln!("host-local: GC without cni.dev/valid-attachments: nothing released");
            return Ok(());
        };
        let exact: HashSet<(&str, &str)> = valid
            .iter()
            .map(|a| (a.container_id.as_str(), a.ifname.as_str()))
            .collect();
        let ids: HashSet<&str> = valid.iter().map(|a| a.container_id.as_str()).collect();
        let ranges = config::load(req).map(|c| c.ranges).unwrap_or_default();
        let Some(mut store) = Store::open(&location, &ranges, false)? else {
            return Ok(());
        };
        let mut kept = Vec::new();
        let mut errors = Vec::new();
        for r in store.scan()? {
            let in_use = match &r.owner.ifname {
                Some(i) => exact.contains(&(r.owner.container_id.as_str(), i.as_str())),
                None => ids.contains(r.owner.container_id.as_str()),
            };
            if in_use {
                kept.push(r);
            } else if let Err(e) = store.remove(&r) {
                errors.push(e.msg);
                kept.push(r);
            }
        }
        store.reindex(&kept);
        store.finish().context("GC")?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(CniError::internal(errors.join(";")))
        }
    }
}

/// The plugin's entry point (its binary's `main`, and the multi-call binary's).
pub fn main() -> ExitCode {
    cni::run(HostLocal)
}
