//! Container interfaces, as the main plugins make them.
//!
//! - Links stacked on a master (macvlan, ipvlan, vlan) are created straight
//!   into the container namespace under a temporary name and renamed there
//!   (the reference's pattern: the final name may exist on the host), from
//!   the namespace that holds the master: the host, or the container itself
//!   (`linkInContainer`).
//! - Without a configured master, the interface of the first default route.
//! - Layer 3 on such a link: every address on it, the neighbour
//!   announcement sysctls (a gratuitous ARP and an unsolicited neighbour
//!   advertisement when the link comes up), addresses, link up, routes.
//! - DEL's "remove the container's link if there still is one", and CHECK's
//!   look at the container link a prevResult describes.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;

use cni::{Attachment, CniError, Interface, Success};
use netlink::packet::AddressFamily;
use netlink::{Link, NewLink, Socket};
use netns::{NetNs, sysctl};

/// A random `<prefix>xxxxxxxx` name (8 hex digits from the kernel's RNG),
/// as the reference names host veths and temporary links.
pub fn random_name(prefix: &str) -> String {
    let mut b = [0u8; 4];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        b = (t ^ std::process::id().rotate_left(16)).to_ne_bytes();
    }
    format!("{prefix}{:08x}", u32::from_ne_bytes(b))
}

/// The container namespace and a socket in it.
pub struct Container {
    pub ns: NetNs,
    pub sock: Socket,
}

impl Container {
    pub fn open(path: &Path) -> Result<Container, CniError> {
        let ns = NetNs::open(path).map_err(|e| CniError::from(e).context("CNI_NETNS"))?;
        let sock = Socket::new_in(&ns)?;
        Ok(Container { ns, sock })
    }
}

/// The name of the interface of the first default route (IPv4 or IPv6,
/// main table) in `sock`'s namespace.
pub fn default_route_interface(sock: &mut Socket) -> Result<String, CniError> {
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        for r in sock.routes(family)? {
            if r.is_default()
                && r.table.is_none_or(|t| t == 254)
                && let Some(oif) = r.oif
                && let Some(l) = sock.link_by_index(oif)?
            {
                return Ok(l.name);
            }
        }
    }
    Err(CniError::internal("no default route interface found"))
}

/// Where a stacked link's master lives.
pub struct Master {
    pub link: Link,
    /// In the container namespace (`linkInContainer`), not the host's.
    pub in_container: bool,
}

impl Master {
    /// The master named `name` (empty: the default-route interface of the
    /// namespace it lives in).
    pub fn find(
        host: &mut Socket,
        cont: &mut Container,
        name: &str,
        in_container: bool,
    ) -> Result<Master, CniError> {
        let sock = if in_container { &mut cont.sock } else { host };
        let name = if name.is_empty() {
            default_route_interface(sock)?
        } else {
            name.to_string()
        };
        let link = sock.link_by_name(&name)?.ok_or_else(|| {
            CniError::internal(format!("failed to lookup master {name:?}: Link not found"))
        })?;
        Ok(Master { link, in_container })
    }
    /// [`Master::find`], and the link to create may not have a larger MTU
    /// (`mtu`, 0 = the master's).
    pub fn find_for_mtu(
        host: &mut Socket,
        cont: &mut Container,
        name: &str,
        in_container: bool,
        mtu: u32,
    ) -> Result<Master, CniError> {
        let m = Master::find(host, cont, name, in_container)?;
        if mtu > m.link.mtu {
            return Err(CniError::invalid_config(format!(
                "invalid MTU {mtu}, must be [0, master MTU({})]",
                m.link.mtu
            )));
        }
        Ok(m)
    }
}

/// What a failed ADD of a container link has to undo: the link (only if
/// this ADD created it) and the IPAM allocation (only if it made one).
#[derive(Default)]
pub struct Undo {
    pub link: bool,
    pub ipam: Option<String>,
}

impl Undo {
    /// Undo, reporting (on stderr) what could not be undone: the ADD's own
    /// error is what the runtime gets.
    pub fn run<C>(self, req: &cni::Request<C>, at: &Attachment) {
        if let Some(t) = &self.ipam
            && let Err(e) = req.delegate(cni::Command::Del, t)
        {
            eprintln!("undo: IPAM DEL: {e}");
        }
        if self.link
            && let Err(e) = delete_container_link(Some(&at.netns), &at.ifname)
        {
            eprintln!("undo: {e}");
        }
    }
}

/// CHECK needs the prevResult.
pub fn require_prev<C>(req: &cni::Request<C>) -> Result<&Success, CniError> {
    req.prev_result
        .as_ref()
        .ok_or_else(|| CniError::internal("Required prevResult missing"))
}

/// Create a link on `master` (built by `build` from a temporary name) in
/// the container, renamed there to `ifname`. `kind` names it in errors.
/// Nothing is left behind when it fails.
pub fn create_stacked(
    host: &mut Socket,
    cont: &mut Container,
    master: &Master,
    kind: &str,
    ifname: &str,
    build: impl Fn(&str) -> NewLink,
) -> Result<Link, CniError> {
    if cont.sock.link_by_name(ifname)?.is_some() {
        return Err(CniError::internal(format!(
            "failed to rename {kind} to {ifname:?}: an interface of that name already exists in the container"
        )));
    }
    let mut tmp = String::new();
    for attempt in 0.. {
        tmp = random_name("veth");
        let res = if master.in_container {
            cont.sock.create_link(&build(&tmp))
        } else {
            host.create_link(&build(&tmp).netns(cont.ns.as_raw_fd()))
        };
        match res {
            Ok(()) => break,
            Err(e) if e.is_exists() && attempt < 10 => continue,
            Err(e) => {
                return Err(CniError::from(e).context(format!("failed to create {kind}")));
            }
        }
    }
    let link = cont.sock.require_link(&tmp)?;
    if let Err(e) = cont.sock.rename_link(&link, ifname) {
        let _ = cont.sock.delete_link(&link);
        return Err(CniError::from(e).context(format!("failed to rename {kind} to {ifname:?}")));
    }
    Ok(cont.sock.require_link(ifname)?)
}

/// The result's interface entry for a container link.
pub fn container_interface(link: &Link, netns: &Path) -> Interface {
    Interface {
        name: link.name.clone(),
        mac: link.mac_string(),
        sandbox: netns.display().to_string(),
        ..Interface::default()
    }
}

/// Layer 3 on the container link `ifname`, the result's only interface:
/// every address on it (`interface: 0`), `arp_notify` and `ndisc_notify`
/// on (the kernel announces the addresses when the link comes up), then
/// addresses, link up and routes.
pub fn configure_l3(
    cont: &mut Container,
    ifname: &str,
    result: &mut Success,
) -> Result<(), CniError> {
    for ip in &mut result.ips {
        ip.interface = Some(0);
    }
    let name = ifname.to_string();
    cont.ns.run(move || {
        let _ = sysctl::write(&format!("net/ipv4/conf/{name}/arp_notify"), "1");
        let _ = sysctl::write(&format!("net/ipv6/conf/{name}/ndisc_notify"), "1");
    })?;
    ipam::configure_iface(&cont.ns, &mut cont.sock, ifname, result)
}

/// Layer 2 only: bring the container link up.
pub fn link_up(cont: &mut Container, ifname: &str) -> Result<(), CniError> {
    let l = cont.sock.require_link(ifname)?;
    cont.sock
        .set_link_up(&l, true)
        .map_err(|e| CniError::from(e).context(format!("failed to set {ifname:?} UP")))
}

/// DEL: remove `ifname` from the namespace at `netns`. No namespace given,
/// a namespace that is gone, and a link that is gone are all success.
pub fn delete_container_link(netns: Option<&Path>, ifname: &str) -> Result<(), CniError> {
    let Some(path) = netns else { return Ok(()) };
    let ns = match NetNs::open(path) {
        Ok(ns) => ns,
        Err(e) if e.is_gone() => return Ok(()),
        Err(e) => return Err(CniError::from(e).context("CNI_NETNS")),
    };
    let mut sock = Socket::new_in(&ns)?;
    if let Some(l) = sock.link_by_name(ifname)? {
        match sock.delete_link(&l) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                return Err(CniError::from(e).context(format!("failed to delete {ifname:?}")));
            }
        }
    }
    Ok(())
}

/// CHECK: the prevResult's entry for the attachment (same name and
/// sandbox), and the container link it describes, which must be of `kind`
/// and have the recorded MAC.
pub fn check_container_link(
    cont: &mut Container,
    prev: &Success,
    at: &Attachment,
    kind: &str,
) -> Result<Link, CniError> {
    let netns = at.netns.display().to_string();
    let entry = prev
        .interfaces
        .iter()
        .find(|i| i.name == at.ifname && i.sandbox == netns)
        .ok_or_else(|| {
            CniError::internal(format!(
                "sandbox in prevResult doesn't match configured netns: {netns}"
            ))
        })?;
    let link = cont.sock.link_by_name(&entry.name)?.ok_or_else(|| {
        CniError::internal(format!(
            "container Interface name in prevResult: {} not found",
            entry.name
        ))
    })?;
    if link.kind.as_deref() != Some(kind) {
        return Err(CniError::internal(format!(
            "error: Container interface {} not of type {kind}",
            link.name
        )));
    }
    if !entry.mac.is_empty() && entry.mac != link.mac_string() {
        return Err(CniError::internal(format!(
            "interface {} Mac {} doesn't match container Mac: {}",
            link.name,
            entry.mac,
            link.mac_string()
        )));
    }
    Ok(link)
}

/// CHECK: the result's addresses and routes are in the container.
pub fn check_l3(cont: &mut Container, ifname: &str, prev: &Success) -> Result<(), CniError> {
    ipam::check_interface_ips(&mut cont.sock, ifname, prev)?;
    ipam::check_routes(&mut cont.sock, &prev.routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_names_fit_an_ifname() {
        let a = random_name("veth");
        assert_eq!(a.len(), 12);
        assert!(a.starts_with("veth") && a[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, random_name("veth"));
    }
}
