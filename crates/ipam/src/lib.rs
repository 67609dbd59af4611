//! What the main plugins do with an IPAM result, as the reference's
//! `pkg/ipam.ConfigureIface` and `pkg/ip` CHECK helpers do it.
//!
//! Delegating to the IPAM plugin itself is [`cni::Request::delegate_add`]
//! and [`cni::Request::delegate`].

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use cni::{CniError, IpConfig, Success};
use ipnetwork::IpNetwork;
use netlink::packet::AddressFamily;
use netlink::{Link, Route, Socket};
use netns::{NetNs, sysctl};

/// The IPs of `result` that belong to the interface `ifname`.
fn ips_for<'a>(result: &'a Success, ifname: &str) -> Result<Vec<&'a IpConfig>, CniError> {
    let mut out = Vec::new();
    for ip in &result.ips {
        let Some(i) = ip.interface else { continue };
        match result.interfaces.get(i) {
            Some(intf) if intf.name == ifname => out.push(ip),
            Some(_) => {}
            None => {
                return Err(CniError::internal(format!(
                    "failed to add IP addr {} to {ifname:?}: invalid interface index {i}",
                    ip.address
                )));
            }
        }
    }
    Ok(out)
}

/// Apply `result` to `ifname` in `ns` (`sock` is a socket in `ns`):
/// addresses whose `interface` names it, link up, then routes. IPv6 is
/// enabled on the interface and `lo` first if needed; with an IPv6 gateway,
/// wait for duplicate address detection to finish.
pub fn configure_iface(
    ns: &NetNs,
    sock: &mut Socket,
    ifname: &str,
    result: &Success,
) -> Result<(), CniError> {
    if result.interfaces.is_empty() {
        return Err(CniError::internal("no interfaces to configure"));
    }
    let link = sock
        .link_by_name(ifname)?
        .ok_or_else(|| CniError::internal(format!("failed to lookup {ifname:?}")))?;
    let ips = ips_for(result, ifname)?;
    if ips.iter().any(|ip| ip.address.is_ipv6()) {
        ns.run(|| -> Result<(), CniError> {
            for dev in ["lo", ifname] {
                let key = format!("net/ipv6/conf/{dev}/disable_ipv6");
                if sysctl::read(&key).is_ok_and(|v| v != "0") {
                    sysctl::write(&key, "0").map_err(|e| {
                        CniError::internal(format!(
                            "failed to enable IPv6 for interface {dev:?}: {}",
                            e.msg
                        ))
                    })?;
                }
            }
            let _ = sysctl::write(&format!("net/ipv6/conf/{ifname}/keep_addr_on_down"), "1");
            Ok(())
        })??;
    }
    let (mut v4gw, mut v6gw) = (None, None);
    for ip in &ips {
        sock.add_address(&link, ip.address).map_err(|e| {
            CniError::from(e).context(format!("failed to add IP addr {}", ip.address))
        })?;
        match ip.gateway {
            Some(g @ IpAddr::V4(_)) if v4gw.is_none() => v4gw = Some(g),
            Some(g @ IpAddr::V6(_)) if v6gw.is_none() => v6gw = Some(g),
            _ => {}
        }
    }
    sock.set_link_up(&link, true)?;
    if v6gw.is_some() {
        settle_addresses(sock, &link, Duration::from_secs(5))?;
    }
    for r in &result.routes {
        let gw = r.gw.or(if r.dst.is_ipv4() { v4gw } else { v6gw });
        let route = Route {
            priority: r.priority,
            table: r.table,
            scope: r.scope,
            ..Route::new(r.dst).via(gw).dev(link.index)
        };
        sock.append_route(&route).map_err(|e| {
            CniError::internal(format!(
                "failed to add route '{} via {} dev {ifname} metric {}': {e}",
                r.dst,
                gw.map_or("<nil>".to_string(), |g| g.to_string()),
                r.priority
            ))
        })?;
    }
    Ok(())
}

/// Wait until no IPv6 address of `link` is tentative (duplicate address
/// detection running); fail if one failed DAD. Giving up on a link that is
/// not up is not an error: DAD only runs once it is.
pub fn settle_addresses(sock: &mut Socket, link: &Link, timeout: Duration) -> Result<(), CniError> {
    let start = Instant::now();
    loop {
        let addrs = sock.addresses(Some(link.index), Some(AddressFamily::Inet6))?;
        if let Some(a) = addrs.iter().find(|a| a.dad_failed) {
            return Err(CniError::internal(format!(
                "link {} has address {} in DADFAILED state",
                link.name, a.address
            )));
        }
        if !addrs.iter().any(|a| a.tentative) {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            let up = sock.link_by_index(link.index)?.is_some_and(|l| l.oper_up);
            if up {
                return Err(CniError::internal(format!(
                    "link {} still has tentative addresses after {} seconds",
                    link.name,
                    timeout.as_secs()
                )));
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// CHECK: every address of `ips` meant for `ifname` is on it, with the
/// route to its subnet.
pub fn check_interface_ips(
    sock: &mut Socket,
    ifname: &str,
    result: &Success,
) -> Result<(), CniError> {
    let link = sock
        .link_by_name(ifname)?
        .ok_or_else(|| CniError::internal(format!("Cannot find container link {ifname}")))?;
    let have = sock.addresses(Some(link.index), None)?;
    let mut routes_v4 = None;
    let mut routes_v6 = None;
    for ip in ips_for(result, ifname)? {
        if !have.iter().any(|a| a.address == ip.address) {
            return Err(CniError::internal(format!(
                "Failed to match addr {} on interface {ifname}",
                ip.address
            )));
        }
        let prefix = IpNetwork::new(ip.address.network(), ip.address.prefix())
            .map_err(|e| CniError::internal(e.to_string()))?;
        let routes = if prefix.is_ipv4() {
            routes_v4.get_or_insert(sock.routes(AddressFamily::Inet)?)
        } else {
            routes_v6.get_or_insert(sock.routes(AddressFamily::Inet6)?)
        };
        if !routes.iter().any(|r| r.dst == prefix) {
            return Err(CniError::internal(format!(
                "Failed to find route to {prefix} for interface {ifname}"
            )));
        }
    }
    Ok(())
}

/// CHECK: every route of the result is in the routing table (by
/// destination, and gateway when the result names one).
pub fn check_routes(sock: &mut Socket, routes: &[cni::Route]) -> Result<(), CniError> {
    let mut table_v4 = None;
    let mut table_v6 = None;
    for r in routes {
        let table = if r.dst.is_ipv4() {
            table_v4.get_or_insert(sock.routes(AddressFamily::Inet)?)
        } else {
            table_v6.get_or_insert(sock.routes(AddressFamily::Inet6)?)
        };
        let dst = IpNetwork::new(r.dst.network(), r.dst.prefix())
            .map_err(|e| CniError::internal(e.to_string()))?;
        let found = table
            .iter()
            .any(|t| t.dst == dst && (r.gw.is_none() || t.gateway == r.gw));
        if !found {
            let via = r.gw.map(|g| format!(" via {g}")).unwrap_or_default();
            return Err(CniError::internal(format!(
                "Expected Route {}{via} not found in routing table",
                r.dst
            )));
        }
    }
    Ok(())
}

/// Turn on forwarding in the calling thread's namespace for the families
/// given (only writing what is not already on).
pub fn enable_forwarding(v4: bool, v6: bool) -> Result<(), CniError> {
    if v4 {
        sysctl::ensure("net/ipv4/ip_forward", "1")?;
    }
    if v6 {
        sysctl::ensure("net/ipv6/conf/all/forwarding", "1")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use cni::{Interface, parse_cidr};

    use super::*;

    fn result(ifname: &str) -> Success {
        Success {
            interfaces: vec![Interface {
                name: ifname.into(),
                ..Default::default()
            }],
            ips: vec![
                IpConfig {
                    interface: Some(0),
                    address: parse_cidr("10.30.0.5/24").unwrap(),
                    gateway: "10.30.0.1".parse().ok(),
                },
                IpConfig {
                    interface: Some(0),
                    address: parse_cidr("fd30::5/64").unwrap(),
                    gateway: "fd30::1".parse().ok(),
                },
                IpConfig {
                    interface: None,
                    address: parse_cidr("10.99.0.5/24").unwrap(),
                    gateway: None,
                },
            ],
            routes: vec![
                cni::Route::new(parse_cidr("0.0.0.0/0").unwrap(), None),
                cni::Route {
                    priority: 7,
                    ..cni::Route::new(
                        parse_cidr("192.168.50.0/24").unwrap(),
                        "10.30.0.254".parse().ok(),
                    )
                },
                cni::Route::new(parse_cidr("::/0").unwrap(), None),
            ],
            ..Default::default()
        }
    }

    /// In a private namespace: a veth end configured from a result, read
    /// back, checked, and the checks failing once something is removed.
    #[test]
    fn configure_and_check() {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let ns = NetNs::current().unwrap();
        let mut s = Socket::new().unwrap();
        s.create_link(&netlink::NewLink::veth("ct0", "ct0peer", None, 0, None))
            .unwrap();
        let peer = s.require_link("ct0peer").unwrap();
        s.set_link_up(&peer, true).unwrap();
        netns::sysctl::write("net/ipv6/conf/ct0/accept_dad", "0").unwrap();
        let r = result("ct0");
        configure_iface(&ns, &mut s, "ct0", &r).unwrap();
        let link = s.require_link("ct0").unwrap();
        assert!(link.is_up());
        let addrs: Vec<String> = s
            .addresses(Some(link.index), None)
            .unwrap()
            .iter()
            .map(|a| a.address.to_string())
            .collect();
        assert!(
            addrs.contains(&"10.30.0.5/24".to_string())
                && addrs.contains(&"fd30::5/64".to_string()),
            "{addrs:?}"
        );
        assert!(
            !addrs.contains(&"10.99.0.5/24".to_string()),
            "IPs without an interface index are not applied"
        );
        let v4 = s.routes(AddressFamily::Inet).unwrap();
        assert!(
            v4.iter()
                .any(|r| r.is_default() && r.gateway == "10.30.0.1".parse().ok()),
            "default via the IP's gateway"
        );
        assert!(v4.iter().any(|r| r.dst.to_string() == "192.168.50.0/24"
            && r.gateway == "10.30.0.254".parse().ok()
            && r.priority == 7));
        assert!(
            s.routes(AddressFamily::Inet6)
                .unwrap()
                .iter()
                .any(|r| r.is_default() && r.gateway == "fd30::1".parse().ok())
        );
        check_interface_ips(&mut s, "ct0", &r).unwrap();
        check_routes(&mut s, &r.routes).unwrap();
        s.delete_route(
            &Route::new("192.168.50.0/24".parse().unwrap()).via("10.30.0.254".parse().ok()),
        )
        .unwrap();
        let e = check_routes(&mut s, &r.routes).unwrap_err();
        assert!(
            e.msg.contains("192.168.50.0/24 via 10.30.0.254 not found"),
            "{}",
            e.msg
        );
        s.delete_address(&link, "10.30.0.5/24".parse().unwrap())
            .unwrap();
        let e = check_interface_ips(&mut s, "ct0", &r).unwrap_err();
        assert!(
            e.msg.contains("Failed to match addr 10.30.0.5/24"),
            "{}",
            e.msg
        );
    }

    #[test]
    fn bad_interface_index() {
        let mut r = result("ct0");
        r.ips[0].interface = Some(5);
        assert!(
            ips_for(&r, "ct0")
                .unwrap_err()
                .msg
                .contains("invalid interface index 5")
        );
    }
}
