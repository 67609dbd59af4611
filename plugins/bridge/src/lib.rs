//! The `bridge` plugin: the container gets one end of a veth pair, the other
//! end is a port of a Linux bridge on the host, and the delegated IPAM
//! plugin's addresses go on the container end. Optionally the bridge is the
//! containers' gateway, traffic leaving the subnet is masqueraded, ports are
//! VLAN access or trunk ports, and frames must carry the container's MAC.
//!
//! Any failure in ADD undoes what that ADD did. DEL works from the network
//! name, container ID and interface name alone: without a namespace,
//! without a prevResult, after the link is gone.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod config;

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cni::{Attachment, CniError, Command, Interface, Plugin, Request, Success};
use config::{Config, Settings};
use firewall::{masq, spoofcheck};
use ipnetwork::IpNetwork;
use netlink::packet::AddressFamily;
use netlink::{BridgePort, Link, NewLink, PortVlan, Socket};
use netns::{NetNs, sysctl};

struct Bridge;

/// What an ADD has done so far, to undo it if a later step fails.
#[derive(Default)]
struct Undo {
    bridge_created: Option<String>,
    host_veth: Option<String>,
    spoof_ref: Option<String>,
    ipam: Option<String>,
    masq: bool,
}

fn ref_id(at_container: &str, ifname: &str) -> String {
    format!("{at_container}-{ifname}")
}

/// Create the bridge if needed and bring it up; refuse a non-bridge of
/// that name. Returns the bridge and whether this call created it.
fn ensure_bridge(host: &mut Socket, s: &Settings) -> Result<(Link, bool), CniError> {
    let created = match host.create_link(&NewLink::bridge(&s.bridge, s.vlan_filtering()).mtu(s.mtu))
    {
        Ok(()) => true,
        Err(e) if e.is_exists() => false,
        Err(e) => {
            return Err(
                CniError::from(e).context(format!("failed to create bridge {:?}", s.bridge))
            );
        }
    };
    let br = host.require_link(&s.bridge)?;
    if br.kind.as_deref() != Some("bridge") {
        return Err(CniError::invalid_config(format!(
            "{:?} already exists but is not a bridge",
            s.bridge
        )));
    }
    if !created && s.vlan_filtering() && br.bridge_vlan_filtering() == Some(false) {
        host.set_vlan_filtering(&br, true)?;
    }
    if s.promisc && !br.is_promisc() {
        host.set_promisc(&br, true)?;
    }
    let _ = sysctl::write(&format!("net/ipv6/conf/{}/accept_ra", s.bridge), "0");
    if !br.is_up() {
        host.set_link_up(&br, true)?;
    }
    Ok((host.require_link(&s.bridge)?, created))
}

/// A veth pair: `ifname` in the container (`cont`), a random `vethXXXXXXXX`
/// on the host. Returns the host end.
fn create_veth(
    host: &mut Socket,
    cont: &mut Socket,
    host_ns: &NetNs,
    ifname: &str,
    mtu: u32,
    mac: Option<[u8; 6]>,
) -> Result<Link, CniError> {
    if cont.link_by_name(ifname)?.is_some() {
        return Err(CniError::internal(format!(
            "container veth name provided ({ifname}) already exists"
        )));
    }
    for _ in 0..10 {
        let name = iface::random_name("veth");
        let link = NewLink::veth(ifname, &name, Some(host_ns.as_raw_fd()), mtu, None)
            .mtu(mtu)
            .mac(mac);
        match cont.create_link(&link) {
            Ok(()) => return Ok(host.require_link(&name)?),
            Err(e) if e.is_exists() && cont.link_by_name(ifname)?.is_none() => continue, // host name taken
            Err(e) => return Err(CniError::from(e).context("failed to create veth pair")),
        }
    }
    Err(CniError::internal(
        "failed to find a free name for the host end of the veth pair",
    ))
}

/// Attach the host end to the bridge with the configured port settings.
fn setup_port(host: &mut Socket, br: &Link, port: &Link, s: &Settings) -> Result<(), CniError> {
    let _ = sysctl::write(&format!("net/ipv6/conf/{}/accept_ra", port.name), "0");
    host.set_controller(port, Some(br)).map_err(|e| {
        CniError::from(e).context(format!(
            "failed to connect {:?} to bridge {:?}",
            port.name, br.name
        ))
    })?;
    if s.hairpin || s.port_isolation {
        host.set_bridge_port(
            port,
            BridgePort {
                hairpin: s.hairpin,
                isolated: s.port_isolation,
            },
        )?;
    }
    if s.vlan_filtering() {
        if !s.preserve_default_vlan {
            for v in host.bridge_vlans(port)? {
                host.bridge_vlan_del(port, v.vid)?;
            }
        }
        if s.vlan != 0 {
            host.bridge_vlan_add(
                port,
                PortVlan {
                    vid: s.vlan,
                    pvid: true,
                    untagged: true,
                },
            )
            .map_err(|e| {
                CniError::from(e).context(format!(
                    "failed to setup vlan tag on interface {:?}",
                    port.name
                ))
            })?;
        }
        for &vid in &s.trunk {
            host.bridge_vlan_add(
                port,
                PortVlan {
                    vid,
                    pvid: false,
                    untagged: false,
                },
            )
            .map_err(|e| {
                CniError::from(e).context(format!(
                    "failed to setup vlan tag on interface {:?}",
                    port.name
                ))
            })?;
        }
    }
    host.set_link_up(port, true)?;
    Ok(())
}

/// The gateway address on the bridge (or the VLAN gateway interface):
/// present already, or added; a different one is an error unless
/// `forceAddress`. The bridge's MAC is then pinned to itself.
fn ensure_addr(host: &mut Socket, link: &Link, gw: IpNetwork, force: bool) -> Result<(), CniError> {
    let family = if gw.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    for a in host.addresses(Some(link.index), Some(family))? {
        if a.address == gw {
            return Ok(());
        }
        let conflicts = gw.is_ipv4() || a.address.contains(gw.ip()) || gw.contains(a.address.ip());
        if conflicts && a.scope != 253 {
            if force {
                host.delete_address(link, a.address)?;
            } else {
                return Err(CniError::internal(format!(
                    "{:?} already has an IP address different from {gw}",
                    link.name
                )));
            }
        }
    }
    match host.add_address(link, gw) {
        Ok(()) => {}
        Err(e) if e.is_exists() => {}
        Err(e) => {
            return Err(
                CniError::from(e).context(format!("could not add IP address to {:?}", link.name))
            );
        }
    }
    // Pin the MAC the link has now (a bridge takes its lowest port's MAC
    // and, without ports, an all-zero one; fetched before our port joined,
    // it may be stale), so it stops changing as ports come and go.
    let now = host.require_link(&link.name)?;
    if now.mac.iter().any(|&b| b != 0) {
        host.set_mac(&now, &now.mac)
            .map_err(|e| CniError::from(e).context("could not set bridge's mac"))?;
    }
    Ok(())
}

/// `<bridge>.<vlan>`: a veth in the host namespace whose other end is an
/// access port of the bridge in that VLAN; it carries the gateway address.
fn ensure_vlan_interface(
    host: &mut Socket,
    host_ns: &NetNs,
    br: &Link,
    s: &Settings,
) -> Result<Link, CniError> {
    let name = format!("{}.{}", br.name, s.vlan);
    if let Some(l) = host.link_by_name(&name)? {
        return Ok(l);
    }
    let mut same_ns = Socket::new()?;
    let port = create_veth(host, &mut same_ns, host_ns, &name, br.mtu, None)?;
    // An access port in the VLAN: no trunk, no hairpin, not isolated.
    let access = Settings {
        trunk: Vec::new(),
        hairpin: false,
        port_isolation: false,
        ..s.clone()
    };
    setup_port(host, br, &port, &access)?;
    let gw_if = host.require_link(&name)?;
    host.set_link_up(&gw_if, true)?;
    Ok(host.require_link(&name)?)
}

impl Bridge {
    fn add_steps(
        &self,
        req: &Request<Config>,
        at: &Attachment,
        s: &Settings,
        undo: &mut Undo,
        ipam_job: &mut IpamJob,
    ) -> Result<Success, CniError> {
        let host_ns = NetNs::current()?;
        let cont_ns = NetNs::open(&at.netns).map_err(|e| CniError::from(e).context("CNI_NETNS"))?;
        let mut host = Socket::new()?;
        let mut cont = Socket::new_in(&cont_ns)?;

        let (br, created) = ensure_bridge(&mut host, s)?;
        if created {
            undo.bridge_created = Some(br.name.clone());
        }
        let port = create_veth(&mut host, &mut cont, &host_ns, &at.ifname, s.mtu, s.mac)?;
        undo.host_veth = Some(port.name.clone());
        setup_port(&mut host, &br, &port, s)?;
        let cont_link = cont.require_link(&at.ifname)?;

        let mut result = Success {
            interfaces: vec![
                Interface {
                    name: br.name.clone(),
                    mac: br.mac_string(),
                    ..Interface::default()
                },
                Interface {
                    name: port.name.clone(),
                    mac: port.mac_string(),
                    ..Interface::default()
                },
                Interface {
                    name: at.ifname.clone(),
                    mac: cont_link.mac_string(),
                    sandbox: at.netns.display().to_string(),
                    ..Interface::default()
                },
            ],
            ..Success::default()
        };

        if s.spoof_check {
            let mac: [u8; 6] = cont_link
                .mac
                .as_slice()
                .try_into()
                .map_err(|_| CniError::internal("container interface has no MAC"))?;
            let id = ref_id(&at.container_id, &at.ifname);
            spoofcheck::setup(&port.name, mac, &id)?;
            undo.spoof_ref = Some(id);
        }

        if let Some(ipam_result) = ipam_job.result(undo) {
            let ipam_result = ipam_result?;
            if ipam_result.ips.is_empty() {
                return Err(CniError::internal("IPAM plugin returned missing IP config"));
            }
            result.ips = ipam_result.ips;
            result.routes = ipam_result.routes;
            result.dns = ipam_result.dns;
            let gateways = calc_gateways(&mut result, s);

            let ifname = at.ifname.clone();
            let enable_dad = s.enable_dad;
            cont_ns.run(move || {
                if enable_dad {
                    let _ = sysctl::write(&format!("net/ipv6/conf/{ifname}/enhanced_dad"), "1");
                    let _ = sysctl::write(&format!("net/ipv6/conf/{ifname}/accept_dad"), "1");
                } else {
                    let _ = sysctl::write(&format!("net/ipv6/conf/{ifname}/accept_dad"), "0");
                }
                let _ = sysctl::write(&format!("net/ipv4/conf/{ifname}/arp_notify"), "1");
            })?;
            ipam::configure_iface(&cont_ns, &mut cont, &at.ifname, &result)?;

            if s.is_gateway {
                let mut gw_link = br.clone();
                if s.vlan != 0 && !gateways.is_empty() {
                    gw_link = ensure_vlan_interface(&mut host, &host_ns, &br, s)?;
                    result.interfaces.push(Interface {
                        name: gw_link.name.clone(),
                        mac: gw_link.mac_string(),
                        ..Interface::default()
                    });
                }
                for gw in &gateways {
                    ensure_addr(&mut host, &gw_link, *gw, s.force_address).map_err(|e| {
                        e.context(format!(
                            "failed to set {} addr",
                            if s.vlan != 0 {
                                "vlan interface"
                            } else {
                                "bridge"
                            }
                        ))
                    })?;
                }
                ipam::enable_forwarding(
                    gateways.iter().any(IpNetwork::is_ipv4),
                    gateways.iter().any(IpNetwork::is_ipv6),
                )
                .map_err(|e| e.context("failed to enable forwarding"))?;
            }

            if s.ip_masq {
                let owner = masq::Owner {
                    network: &req.conf.name,
                    ifname: &at.ifname,
                    container_id: &at.container_id,
                };
                undo.masq = true;
                let ips: Vec<IpNetwork> = result.ips.iter().map(|i| i.address).collect();
                masq::setup(s.masq_backend, &owner, &ips)?;
            }
        } else if !s.disable_container_interface {
            cont.set_link_up(&cont_link, true)?;
        }

        if !s.disable_container_interface {
            wait_port_up(&mut host, &port.name)?;
        }
        // MACs can change as ports come and go: report what they are now.
        let port = host.require_link(&port.name)?;
        result.interfaces[1].mac = port.mac_string();
        let br = host.require_link(&s.bridge)?;
        result.interfaces[0].mac = br.mac_string();
        if !req.conf.dns.is_empty() {
            result.dns = req.conf.dns.clone();
        }
        Ok(result)
    }

    fn undo(&self, req: &Request<Config>, at: &Attachment, undo: Undo) {
        let log = |what: &str, e: CniError| eprintln!("bridge: undo {what}: {e}");
        if undo.masq {
            let owner = masq::Owner {
                network: &req.conf.name,
                ifname: &at.ifname,
                container_id: &at.container_id,
            };
            if let Err(e) = masq::teardown(&owner) {
                log("masquerading", e);
            }
        }
        if let Some(id) = &undo.spoof_ref
            && let Err(e) = spoofcheck::teardown(id)
        {
            log("spoof check", e);
        }
        if let Some(ipam_type) = &undo.ipam
            && let Err(e) = req.delegate(Command::Del, ipam_type)
        {
            log("IPAM", e);
        }
        let Ok(mut host) = Socket::new() else { return };
        if let Some(name) = &undo.host_veth
            && let Ok(Some(l)) = host.link_by_name(name)
            && let Err(e) = host.delete_link(&l)
        {
            log("veth", e.into());
        }
        // A bridge this ADD created goes too, unless something else joined it.
        if let Some(name) = &undo.bridge_created
            && let Ok(Some(br)) = host.link_by_name(name)
            && host
                .links()
                .is_ok_and(|ls| !ls.iter().any(|l| l.controller == Some(br.index)))
            && let Err(e) = host.delete_link(&br)
        {
            log("bridge", e.into());
        }
    }
}

/// The reference's `calcGateways`: every address is on the container
/// interface (index 2); with `isGateway` a missing gateway becomes the
/// subnet's first address; with `isDefaultGateway` a default route via it
/// is added per family unless the IPAM result has one. Returns the gateway
/// addresses (with the subnet's prefix) for the bridge.
fn calc_gateways(result: &mut Success, s: &Settings) -> Vec<IpNetwork> {
    let mut gws = Vec::new();
    let mut default_found = [false, false];
    for i in 0..result.ips.len() {
        let ip = &mut result.ips[i];
        ip.interface = Some(2);
        let v4 = ip.address.is_ipv4();
        if ip.gateway.is_none() && s.is_gateway {
            ip.gateway = Some(next_ip(ip.address.network()));
        }
        let gateway = ip.gateway;
        let prefix = ip.address.prefix();
        let fam = usize::from(!v4);
        if s.is_default_gateway && !default_found[fam] {
            let zero = if v4 {
                IpAddr::from([0u8; 4])
            } else {
                IpAddr::from([0u8; 16])
            };
            let has = result
                .routes
                .iter()
                .any(|r| r.gw.is_some() && r.dst.prefix() == 0 && r.dst.is_ipv4() == v4);
            if !has && let Ok(dst) = IpNetwork::new(zero, 0) {
                result.routes.push(cni::Route::new(dst, gateway));
            }
            default_found[fam] = true;
        }
        if s.is_gateway
            && let Some(g) = gateway
            && let Ok(n) = IpNetwork::new(g, prefix)
        {
            gws.push(n);
        }
    }
    gws
}

fn next_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) => IpAddr::from(u32::from(a).wrapping_add(1).to_be_bytes()),
        IpAddr::V6(a) => IpAddr::from(u128::from(a).wrapping_add(1).to_be_bytes()),
    }
}

/// Wait for the host end to be operationally up (the reference's retries).
fn wait_port_up(host: &mut Socket, name: &str) -> Result<(), CniError> {
    let sleeps = [0u64, 50, 500, 1000, 1000];
    let mut state = String::new();
    for ms in sleeps {
        std::thread::sleep(Duration::from_millis(ms));
        let l = host.require_link(name)?;
        if l.oper_up {
            return Ok(());
        }
        state = l.oper_state.map(|s| s.to_string()).unwrap_or_default();
    }
    Err(CniError::internal(format!(
        "bridge port in error state: {state}"
    )))
}

/// The IPAM ADD running beside the link work.
struct IpamJob<'scope> {
    kind: Option<String>,
    pending: Option<std::thread::ScopedJoinHandle<'scope, Result<Success, CniError>>>,
}

impl IpamJob<'_> {
    /// Wait for the IPAM result (once; None when there is no IPAM or it was
    /// already taken). A success is recorded for undoing.
    fn result(&mut self, undo: &mut Undo) -> Option<Result<Success, CniError>> {
        let handle = self.pending.take()?;
        let r = handle
            .join()
            .unwrap_or_else(|_| Err(CniError::internal("the IPAM worker thread panicked")));
        if r.is_ok() {
            undo.ipam = self.kind.clone();
        }
        Some(r)
    }
}

/// A worker thread's outcome; a panic there is an error here.
fn joined(r: std::thread::Result<Result<(), CniError>>) -> Result<(), CniError> {
    r.unwrap_or_else(|_| Err(CniError::internal("a DEL worker thread panicked")))
}

/// DEL's view of the config: no validation beyond what is needed.
fn del_ipam(req: &Request<Config>) -> Option<String> {
    req.conf.ipam_type().map(str::to_string)
}

impl Plugin for Bridge {
    type Config = Config;

    fn name(&self) -> &str {
        "bridge"
    }

    fn add(&self, req: &Request<Config>, at: &Attachment) -> Result<Success, CniError> {
        let s = config::load(req)?;
        let mut undo = Undo::default();
        std::thread::scope(|scope| {
            // The IPAM plugin (a process) runs while the bridge and the veth
            // pair are made.
            let mut ipam_job = IpamJob {
                kind: s.ipam.clone(),
                pending: s
                    .ipam
                    .as_deref()
                    .map(|t| scope.spawn(move || req.delegate_add(t))),
            };
            match self.add_steps(req, at, &s, &mut undo, &mut ipam_job) {
                Ok(r) => Ok(r),
                Err(e) => {
                    // An allocation made meanwhile is undone with the rest.
                    let _ = ipam_job.result(&mut undo);
                    self.undo(req, at, undo);
                    Err(e)
                }
            }
        })
    }

    fn del(&self, req: &Request<Config>, at: &Attachment<Option<PathBuf>>) -> Result<(), CniError> {
        let spoof_id = ref_id(&at.container_id, &at.ifname);
        let owner = masq::Owner {
            network: &req.conf.name,
            ifname: &at.ifname,
            container_id: &at.container_id,
        };
        // Three independent jobs, each mostly waiting on the kernel (a
        // link's unregistration, an nf_tables commit's RCU grace period, a
        // process): run side by side. The rules are found from the names
        // alone: no namespace or prevResult needed.
        let (link, rules, ipam) = std::thread::scope(|scope| {
            // The container end (its peer on the bridge goes with it).
            let link =
                scope.spawn(|| iface::delete_container_link(at.netns.as_deref(), &at.ifname));
            let rules = scope.spawn(|| {
                let a = spoofcheck::teardown(&spoof_id);
                let b = masq::teardown(&owner);
                a.and(b)
            });
            let ipam = match del_ipam(req) {
                Some(t) => req.delegate(Command::Del, &t),
                None => Ok(()),
            };
            (joined(link.join()), joined(rules.join()), ipam)
        });
        let errors: Vec<String> = [link, rules, ipam]
            .into_iter()
            .filter_map(Result::err)
            .map(|e| e.msg)
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(CniError::internal(errors.join("; ")))
        }
    }

    fn check(&self, req: &Request<Config>, at: &Attachment) -> Result<(), CniError> {
        let s = config::load(req)?;
        // IPAM CHECK only when there is an IPAM plugin (the reference fails
        // layer-2 configs here).
        if let Some(ipam_type) = &s.ipam {
            req.delegate(Command::Check, ipam_type)?;
        }
        let prev = iface::require_prev(req)?;
        let netns = at.netns.display().to_string();
        let br_entry = prev.interfaces.iter().find(|i| i.name == s.bridge);
        let cont_entry = prev
            .interfaces
            .iter()
            .find(|i| i.name == at.ifname && i.sandbox == netns)
            .ok_or_else(|| {
                CniError::internal(format!(
                    "CNI created interface in container {} not found",
                    at.ifname
                ))
            })?;

        let mut host = Socket::new()?;
        let br = host.link_by_name(&s.bridge)?.ok_or_else(|| {
            CniError::internal(format!(
                "CNI created bridge {} in host namespace was not found",
                s.bridge
            ))
        })?;
        if br.kind.as_deref() != Some("bridge") {
            return Err(CniError::internal(format!(
                "Interface {} does not have link type of bridge",
                s.bridge
            )));
        }
        // The bridge's MAC is only stable when a gateway address pinned it.
        if let Some(e) = br_entry
            && s.is_gateway
            && !e.mac.is_empty()
            && e.mac != br.mac_string()
        {
            return Err(CniError::internal(format!(
                "Bridge interface {} Mac doesn't match: {}",
                s.bridge, e.mac
            )));
        }
        if br.is_promisc() != s.promisc {
            return Err(CniError::internal(format!(
                "Bridge interface {} configured Promisc Mode {} doesn't match current state: {}",
                s.bridge,
                s.promisc,
                br.is_promisc()
            )));
        }

        let cont_ns = NetNs::open(&at.netns).map_err(|e| CniError::from(e).context("CNI_NETNS"))?;
        let mut cont = Socket::new_in(&cont_ns)?;
        let cl = cont
            .link_by_name(&at.ifname)?
            .ok_or_else(|| CniError::internal(format!("Interface name {} not found", at.ifname)))?;
        if cl.kind.as_deref() != Some("veth") {
            return Err(CniError::internal(format!(
                "Error: Container interface {} not of type veth",
                at.ifname
            )));
        }
        if !cont_entry.mac.is_empty() && cont_entry.mac != cl.mac_string() {
            return Err(CniError::internal(format!(
                "Interface {} Mac {} doesn't match container Mac: {}",
                at.ifname,
                cont_entry.mac,
                cl.mac_string()
            )));
        }
        // The host end: a veth of the result whose peer is the container end,
        // enslaved to the bridge.
        let peer = cl.parent.ok_or_else(|| {
            CniError::internal(format!(
                "Unable to obtain veth peer index for veth {}",
                at.ifname
            ))
        })?;
        let mut found = false;
        for i in prev
            .interfaces
            .iter()
            .filter(|i| i.name != s.bridge && i.sandbox.is_empty())
        {
            let Some(l) = host.link_by_name(&i.name)? else {
                continue;
            };
            if l.kind.as_deref() == Some("veth")
                && l.index == peer
                && l.parent == Some(cl.index)
                && l.controller == Some(br.index)
            {
                if !i.mac.is_empty() && i.mac != l.mac_string() {
                    return Err(CniError::internal(format!(
                        "Interface {} Mac doesn't match: {} not found",
                        i.name, i.mac
                    )));
                }
                found = true;
                break;
            }
        }
        if !found {
            return Err(CniError::internal(format!(
                "CNI veth created for bridge {} was not found",
                s.bridge
            )));
        }
        ipam::check_interface_ips(&mut cont, &at.ifname, prev)?;
        ipam::check_routes(&mut cont, &prev.routes)?;
        Ok(())
    }

    fn status(&self, req: &Request<Config>) -> Result<(), CniError> {
        req.delegate_ipam(Command::Status)
    }

    fn gc(&self, req: &Request<Config>) -> Result<(), CniError> {
        let mut errors = Vec::new();
        if let Err(e) = req.delegate_ipam(Command::Gc) {
            errors.push(e.msg);
        }
        if let Some(valid) = req.conf.gc_valid_attachments()
            && let Err(e) = masq::gc(&req.conf.name, valid)
        {
            errors.push(e.msg);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(CniError::internal(errors.join("; ")))
        }
    }
}

/// The plugin's entry point (its binary's `main`, and the multi-call binary's).
pub fn main() -> ExitCode {
    cni::run(Bridge)
}
