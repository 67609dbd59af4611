//! End-to-end: the chains runtimes configure, through our binaries with the
//! prevResult passed along as libcni does: podman's (bridge + portmap +
//! firewall + tuning, spec 0.4.0) and containerd's (bridge + portmap, dual
//! stack). TCP connections from an "outside" namespace, from the host and
//! from another container reach a mapped port; DEL leaves no rule behind;
//! portmap's and firewall's backends and their interop with the reference.

mod harness;

use std::cell::RefCell;

use harness::{
    Chain, Invocation, Netns, Outside, Target, TcpServer, TempDir, reference_plugin, run_ok,
    small_id, tcp_get,
};
use serde_json::{Value, json};

/// A network from a conf/ file with its names, subnets and IPAM directory
/// made private to one test. On drop: DEL of every attachment, bridge gone.
struct Lan {
    id: u32,
    chain: Chain,
    bridge: String,
    /// Kept for the test's lifetime: the IPAM state.
    _data: TempDir,
    /// (netns, container ID, capability args, ADD result) for cleanup.
    added: RefCell<Vec<(String, String, Value, Value)>>,
}

impl Lan {
    fn new(file: &str) -> Lan {
        harness::require_root();
        let id = small_id();
        let data = TempDir::new("cnit-ch");
        let mut chain = Chain::load(file);
        chain.list.name = format!("chnet-{id:04x}");
        let bridge = format!("cbc{id:04x}");
        let v4 = format!("10.{}.{}.0/24", 128 + (id >> 8), id & 255);
        let v6 = format!("fd7f:{id:x}::/64");
        let p = &mut chain.list.plugins[0];
        p["bridge"] = json!(bridge);
        p["ipam"]["dataDir"] = json!(data.str());
        let dual = p["ipam"]["ranges"].as_array().is_some_and(|r| r.len() > 1);
        p["ipam"]["ranges"] = if dual {
            json!([[{"subnet": v4}], [{"subnet": v6}]])
        } else {
            json!([[{"subnet": v4}]])
        };
        Lan {
            id,
            chain,
            bridge,
            _data: data,
            added: RefCell::new(Vec::new()),
        }
    }

    /// A host port no other test uses.
    fn port(&self, n: u16) -> u16 {
        20000 + (self.id as u16 % 10000) * 2 + n
    }

    fn target<'a>(&self, ns: &'a Netns, cid: &'a str, caps: &Value) -> Target<'a> {
        let mut t = Target::new(ns.path_str(), cid);
        t.caps = caps.clone();
        t
    }

    fn add(&self, ns: &Netns, cid: &str, caps: Value) -> Value {
        let r = self
            .chain
            .add(&self.target(ns, cid, &caps))
            .unwrap_or_else(|e| panic!("ADD {cid}: {e:?}"));
        self.added
            .borrow_mut()
            .push((ns.path_str().to_string(), cid.to_string(), caps, r.clone()));
        r
    }

    fn del(&self, ns: &Netns, cid: &str, caps: &Value, prev: Option<&Value>) {
        self.chain
            .del(&self.target(ns, cid, caps), prev)
            .unwrap_or_else(|e| panic!("DEL {cid}: {e:?}"));
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // As a runtime does: with the cached result (firewall's iptables
        // rules are found by the result's addresses).
        for (netns, cid, caps, result) in self.added.borrow().iter() {
            let mut t = Target::new(netns, cid);
            t.caps = caps.clone();
            let _ = self.chain.del(&t, Some(result));
        }
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn ip_of(r: &Value, v6: bool) -> String {
    harness::result_ip(r, v6)
}

/// Every firewall line (nft ruleset, iptables-save of both families) that
/// mentions one of `needles` as a whole word.
fn traces(needles: &[&str]) -> Vec<String> {
    let mut text = run_ok("nft", &["list", "ruleset"]);
    for tool in ["iptables-save", "ip6tables-save"] {
        text.push_str(&run_ok(tool, &[]));
    }
    text.lines()
        .filter(|l| {
            needles.iter().any(|n| {
                l.match_indices(n).any(|(i, _)| {
                    let after = l[i + n.len()..].chars().next();
                    let before = l[..i].chars().last();
                    !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
                        && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
                })
            })
        })
        .map(|l| l.trim().to_string())
        .collect()
}

fn tcp_mapping(host_port: u16, container_port: u16) -> Value {
    json!({"portMappings": [{"hostPort": host_port, "containerPort": container_port, "protocol": "tcp"}]})
}

// ---------------------------------------------------------------------------
// The runtimes' chains.

#[test]
fn podman_chain_forwards_a_port_from_everywhere_and_cleans_up() {
    let lan = Lan::new("87-podman-bridge.conflist");
    let out = Outside::new(lan.id);
    let (ns, ns2) = (Netns::new("cnit-ch"), Netns::new("cnit-ch"));
    let cid = harness::unique("podman");
    let port = lan.port(0);
    let caps = tcp_mapping(port, 8080);
    let r = lan.add(&ns, &cid, caps.clone());
    assert_eq!(r["cniVersion"], "0.4.0");
    let ip = ip_of(&r, false);
    let _server = TcpServer::start(&ns, 8080, "c1");

    // From outside the host, from the host (its own address and
    // localhost), and from a neighbour container through the host.
    let hello = |from: Option<&Netns>, addr: &str| {
        let got = tcp_get(from, addr, port);
        assert!(
            got.as_deref().is_some_and(|g| g.starts_with("hello c1")),
            "{addr}:{port} from {:?}: {got:?}",
            from.map(Netns::name)
        );
    };
    hello(Some(&out.ns), &out.host_v4);
    hello(None, &out.host_v4);
    hello(None, "127.0.0.1");
    lan.add(&ns2, "neighbour", json!({}));
    hello(Some(&ns2), &out.host_v4);

    // What each plugin of the chain left: portmap's DNAT, firewall's
    // accepts (iptables, the reference's default), bridge's masquerading.
    let t = traces(&[&cid, &ip]);
    assert!(
        t.iter()
            .any(|l| l.contains(&format!("dnat to {ip}:8080")) && l.contains(&cid)),
        "{t:#?}"
    );
    assert!(
        t.iter()
            .any(|l| l == &format!("-A CNI-FORWARD -s {ip}/32 -j ACCEPT")),
        "{t:#?}"
    );
    assert!(
        t.iter()
            .any(|l| l.contains("masquerade") && l.contains(&cid)),
        "{t:#?}"
    );

    let target = lan.target(&ns, &cid, &caps);
    lan.chain.check(&target, &r).unwrap();
    // A mapping rule removed by hand: CHECK says so.
    let handle = run_ok(
        "nft",
        &["-a", "list", "chain", "ip", "cni_hostport", "hostports"],
    )
    .lines()
    .find(|l| l.contains(&format!("\"{cid}\"")))
    .and_then(|l| l.rsplit("handle ").next().map(|h| h.trim().to_string()))
    .expect("the mapping rule");
    run_ok(
        "nft",
        &[
            "delete",
            "rule",
            "ip",
            "cni_hostport",
            "hostports",
            "handle",
            &handle,
        ],
    );
    let e = lan.chain.check(&target, &r).unwrap_err();
    assert!(e.msg.contains("hostport"), "{}", e.msg);

    // DEL removes exactly what ADD added: nothing mentions the container.
    lan.del(&ns, &cid, &caps, Some(&r));
    assert_eq!(traces(&[&cid, &ip]), Vec::<String>::new());
    assert!(tcp_get(Some(&out.ns), &out.host_v4, port).is_none());
    // Twice, and without a prevResult.
    lan.del(&ns, &cid, &caps, Some(&r));
    lan.del(&ns, &cid, &caps, None);
}

#[test]
fn containerd_chain_forwards_ipv4_and_ipv6() {
    let lan = Lan::new("10-containerd-net.conflist");
    let out = Outside::new(lan.id);
    let ns = Netns::new("cnit-ch");
    let cid = harness::unique("ctrd");
    let port = lan.port(0);
    let caps = tcp_mapping(port, 80);
    let r = lan.add(&ns, &cid, caps.clone());
    let (ip4, ip6) = (ip_of(&r, false), ip_of(&r, true));
    let _server = TcpServer::start(&ns, 80, "c1");
    for host in [&out.host_v4, &out.host_v6] {
        // The bridge's IPv6 gateway address may still be in duplicate
        // address detection for a second or two: the container's replies
        // wait for it.
        let got = (0..4).find_map(|_| tcp_get(Some(&out.ns), host, port));
        assert!(
            got.as_deref().is_some_and(|g| g.starts_with("hello c1")),
            "{host}: {got:?}"
        );
    }
    let t = traces(&[&cid]);
    assert!(
        t.iter().any(|l| l.contains(&format!("dnat to {ip4}:80"))),
        "{t:#?}"
    );
    assert!(
        t.iter().any(|l| l.contains(&format!("dnat to [{ip6}]:80"))),
        "{t:#?}"
    );
    lan.chain.check(&lan.target(&ns, &cid, &caps), &r).unwrap();
    lan.del(&ns, &cid, &caps, Some(&r));
    assert_eq!(traces(&[&cid, &ip4, &ip6]), Vec::<String>::new());
}

// ---------------------------------------------------------------------------
// portmap.

fn bridge_portmap(lan: &mut Lan, portmap: Value) {
    let mut p = json!({"type": "portmap", "capabilities": {"portMappings": true}});
    harness::merge(&mut p, portmap);
    lan.chain.list.plugins.truncate(1);
    lan.chain.list.plugins.push(p);
}

#[test]
fn portmap_iptables_backend_uses_the_reference_chains() {
    let mut lan = Lan::new("10-containerd-net.conflist");
    bridge_portmap(&mut lan, json!({"backend": "iptables"}));
    let out = Outside::new(lan.id);
    let ns = Netns::new("cnit-ch");
    let cid = harness::unique("ipt");
    let port = lan.port(0);
    let caps = json!({"portMappings": [
        {"hostPort": port, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": port, "containerPort": 80, "protocol": "udp", "hostIP": out.host_v4},
    ]});
    let r = lan.add(&ns, &cid, caps.clone());
    let ip = ip_of(&r, false);
    let _server = TcpServer::start(&ns, 80, "c1");
    assert!(tcp_get(Some(&out.ns), &out.host_v4, port).is_some());
    let nat = run_ok("iptables-save", &["-t", "nat"]);
    let chain = format!(
        "CNI-DN-{}",
        &sha512(&format!("{}{cid}", lan.chain.list.name))[..21]
    );
    assert!(nat.contains(&format!(":{chain} ")), "{nat}");
    let comment = format!(
        "dnat name: \\\"{}\\\" id: \\\"{cid}\\\"",
        lan.chain.list.name
    );
    assert!(
        nat.lines().any(|l| l.starts_with("-A CNI-HOSTPORT-DNAT")
            && l.contains(&comment)
            && l.ends_with(&format!("-j {chain}"))),
        "{nat}"
    );
    assert!(
        nat.contains(&format!(
            "-A {chain} -p tcp -m tcp --dport {port} -j DNAT --to-destination {ip}:80"
        )),
        "{nat}"
    );
    assert!(
        nat.contains(&format!(
            "-A {chain} -d {}/32 -p udp -m udp --dport {port} -j DNAT --to-destination {ip}:80",
            out.host_v4
        )),
        "{nat}"
    );
    assert!(
        nat.contains("-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE"),
        "{nat}"
    );
    lan.chain.check(&lan.target(&ns, &cid, &caps), &r).unwrap();
    lan.del(&ns, &cid, &caps, Some(&r));
    let nat = run_ok("iptables-save", &["-t", "nat"]);
    assert!(!nat.contains(&chain), "{nat}");
    assert!(tcp_get(Some(&out.ns), &out.host_v4, port).is_none());
}

#[test]
fn our_del_removes_the_reference_portmap_rules() {
    let mut lan = Lan::new("10-containerd-net.conflist");
    bridge_portmap(&mut lan, json!({}));
    let out = Outside::new(lan.id);
    let ns = Netns::new("cnit-ch");
    let cid = harness::unique("refpm");
    let port = lan.port(0);
    let caps = tcp_mapping(port, 80);
    // Bridge by us, portmap by the reference (v1.1.1, iptables).
    let r = lan.add(&ns, &cid, json!({}));
    let mut conf = json!({"cniVersion": "1.0.0", "name": lan.chain.list.name, "type": "portmap",
        "runtimeConfig": caps.clone(), "prevResult": r});
    Invocation::attach("portmap", "ADD", ns.path_str(), &cid)
        .with_binary(reference_plugin("portmap"))
        .config(&conf)
        .run()
        .ok();
    let _server = TcpServer::start(&ns, 80, "c1");
    assert!(tcp_get(Some(&out.ns), &out.host_v4, port).is_some());
    let chain = format!(
        "CNI-DN-{}",
        &sha512(&format!("{}{cid}", lan.chain.list.name))[..21]
    );
    assert!(run_ok("iptables-save", &["-t", "nat"]).contains(&chain));
    // Our DEL, without a prevResult.
    conf.as_object_mut().unwrap().remove("prevResult");
    Invocation::attach("portmap", "DEL", ns.path_str(), &cid)
        .config(&conf)
        .run()
        .ok();
    assert!(!run_ok("iptables-save", &["-t", "nat"]).contains(&chain));
    assert!(tcp_get(Some(&out.ns), &out.host_v4, port).is_none());
}

#[test]
fn portmap_flushes_stale_udp_conntrack_entries() {
    let mut lan = Lan::new("10-containerd-net.conflist");
    bridge_portmap(&mut lan, json!({}));
    let out = Outside::new(lan.id);
    let ns = Netns::new("cnit-ch");
    let port = lan.port(1);
    // A UDP flow to the host port before it is mapped: tracked, unanswered.
    let send = || {
        let script = format!(
            "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('', 40000)); s.sendto(b'x', ('{}', {port}))",
            out.host_v4
        );
        assert!(out.ns.exec(&["python3", "-c", &script]).status.success());
    };
    let tracked = || {
        let mut s = nft::Socket::new().unwrap();
        s.conntrack(nft::Family::Ip)
            .unwrap()
            .iter()
            .any(|f| f.proto == 17 && f.dst_port == Some(port))
    };
    send();
    assert!(tracked(), "no conntrack entry for the test flow");
    let caps =
        json!({"portMappings": [{"hostPort": port, "containerPort": 53, "protocol": "udp"}]});
    let r = lan.add(&ns, "udp", caps.clone());
    assert!(!tracked(), "ADD left the stale UDP entry");
    send();
    lan.del(&ns, "udp", &caps, Some(&r));
    assert!(!tracked(), "DEL left the UDP entry");
}

#[test]
fn portmap_without_mappings_passes_through_and_needs_a_prev_result() {
    let mut lan = Lan::new("10-containerd-net.conflist");
    bridge_portmap(&mut lan, json!({}));
    let ns = Netns::new("cnit-ch");
    let r = lan.add(&ns, "nomap", json!({}));
    let conf = json!({"cniVersion": "1.0.0", "name": "x", "type": "portmap", "prevResult": r});
    let out = Invocation::attach("portmap", "ADD", ns.path_str(), "nomap")
        .config(&conf)
        .run()
        .ok();
    assert_eq!(out, r);
    let e = Invocation::attach("portmap", "ADD", ns.path_str(), "nomap")
        .config(&json!({"cniVersion": "1.0.0", "name": "x", "type": "portmap"}))
        .run()
        .err();
    assert!(e.msg.contains("chained"), "{}", e.msg);
    for (rc, needle) in [
        (
            json!({"portMappings": [{"hostPort": 0, "containerPort": 80, "protocol": "tcp"}]}),
            "Invalid host port number: 0",
        ),
        (
            json!({"portMappings": [{"hostPort": 80, "containerPort": 80, "protocol": "icmp"}]}),
            "Invalid protocol",
        ),
    ] {
        let mut c = conf.clone();
        c["runtimeConfig"] = rc;
        let e = Invocation::attach("portmap", "ADD", ns.path_str(), "nomap")
            .config(&c)
            .run()
            .err();
        assert_eq!(e.code, 7);
        assert!(e.msg.contains(needle), "{}", e.msg);
    }
    let mut c = conf.clone();
    c["backend"] = json!("nftables");
    c["markMasqBit"] = json!(5);
    let e = Invocation::attach("portmap", "ADD", ns.path_str(), "nomap")
        .config(&c)
        .run()
        .err();
    assert!(
        e.msg.contains(
            "nftables backend was requested but configuration contains iptables-specific options"
        ),
        "{}",
        e.msg
    );
}

// ---------------------------------------------------------------------------
// firewall.

fn bridge_firewall(lan: &mut Lan, firewall: Value) {
    let mut p = json!({"type": "firewall"});
    harness::merge(&mut p, firewall);
    lan.chain.list.plugins.truncate(1);
    lan.chain.list.plugins.push(p);
}

#[test]
fn firewall_nftables_backend() {
    let mut lan = Lan::new("87-podman-bridge.conflist");
    bridge_firewall(&mut lan, json!({"backend": "nftables"}));
    let ns = Netns::new("cnit-ch");
    let cid = harness::unique("fwnft");
    let r = lan.add(&ns, &cid, json!({}));
    let ip = ip_of(&r, false);
    let table = run_ok("nft", &["list", "table", "inet", "cni_plugins_firewall"]);
    let comment = format!(
        "comment \"net: {}, if: eth0, id: {cid}\"",
        lan.chain.list.name
    );
    assert!(
        table.contains(&format!("ip saddr {ip} accept {comment}")),
        "{table}"
    );
    assert!(
        table.contains(&format!(
            "ip daddr {ip} ct state established,related accept {comment}"
        )),
        "{table}"
    );
    assert!(table.contains("jump admin"), "{table}");
    let t = lan.target(&ns, &cid, &json!({}));
    lan.chain.check(&t, &r).unwrap();
    let handle = run_ok(
        "nft",
        &[
            "-a",
            "list",
            "chain",
            "inet",
            "cni_plugins_firewall",
            "forward",
        ],
    )
    .lines()
    .find(|l| l.contains(&format!("ip saddr {ip} accept")))
    .and_then(|l| l.rsplit("handle ").next().map(|h| h.trim().to_string()))
    .unwrap();
    run_ok(
        "nft",
        &[
            "delete",
            "rule",
            "inet",
            "cni_plugins_firewall",
            "forward",
            "handle",
            &handle,
        ],
    );
    assert!(lan.chain.check(&t, &r).is_err());
    // DEL without prevResult: the rules are found by their comment.
    lan.del(&ns, &cid, &json!({}), None);
    assert_eq!(traces(&[&cid]), Vec::<String>::new());
}

#[test]
fn firewall_iptables_backend_and_the_reference() {
    let mut lan = Lan::new("87-podman-bridge.conflist");
    bridge_firewall(&mut lan, json!({"backend": "iptables"}));
    let (ns1, ns2) = (Netns::new("cnit-ch"), Netns::new("cnit-ch"));
    let r1 = lan.add(&ns1, "fw1", json!({}));
    let ip1 = ip_of(&r1, false);
    let filter = run_ok("iptables-save", &["-t", "filter"]);
    for want in [
        "-A FORWARD -m comment --comment \"CNI firewall plugin rules\" -j CNI-FORWARD".to_string(),
        "-A CNI-FORWARD -m comment --comment \"CNI firewall plugin admin overrides\" -j CNI-ADMIN"
            .to_string(),
        format!("-A CNI-FORWARD -d {ip1}/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        format!("-A CNI-FORWARD -s {ip1}/32 -j ACCEPT"),
    ] {
        assert!(filter.lines().any(|l| l == want), "{want} not in\n{filter}");
    }
    lan.chain
        .check(&lan.target(&ns1, "fw1", &json!({})), &r1)
        .unwrap();
    lan.del(&ns1, "fw1", &json!({}), Some(&r1));
    assert_eq!(traces(&[&ip1]), Vec::<String>::new());

    // The reference's rules, removed by our DEL.
    let r2 = lan.add(&ns2, "fw2", json!({}));
    let ip2 = ip_of(&r2, false);
    let conf = json!({"cniVersion": "0.4.0", "name": lan.chain.list.name, "type": "firewall",
        "backend": "iptables", "prevResult": r2});
    // Ours first made them; drop them so only the reference's remain.
    Invocation::attach("firewall", "DEL", ns2.path_str(), "fw2")
        .config(&conf)
        .run()
        .ok();
    Invocation::attach("firewall", "ADD", ns2.path_str(), "fw2")
        .with_binary(reference_plugin("firewall"))
        .config(&conf)
        .run()
        .ok();
    let saved = |ip: &str| -> Vec<String> {
        traces(&[ip])
            .into_iter()
            .filter(|l| l.starts_with("-A CNI-FORWARD"))
            .collect()
    };
    assert_eq!(saved(&ip2).len(), 2, "{:#?}", saved(&ip2));
    Invocation::attach("firewall", "DEL", ns2.path_str(), "fw2")
        .config(&conf)
        .run()
        .ok();
    assert_eq!(saved(&ip2), Vec::<String>::new());
}

#[test]
fn firewall_rejects_old_spec_versions_and_unknown_policies() {
    let ns = Netns::new("cnit-ch");
    let prev = json!({"cniVersion": "0.3.1", "ips": [{"version": "4", "address": "10.1.1.2/24"}]});
    let e = Invocation::attach("firewall", "ADD", ns.path_str(), "v")
        .config(
            &json!({"cniVersion": "0.3.1", "name": "n", "type": "firewall", "prevResult": prev}),
        )
        .run()
        .err();
    assert_eq!(e.code, 1, "{}", e.msg);
    let e = Invocation::attach("firewall", "ADD", ns.path_str(), "v")
        .config(&json!({"cniVersion": "1.0.0", "name": "n", "type": "firewall", "ingressPolicy": "nope"}))
        .run()
        .err();
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("unknown ingress policy"), "{}", e.msg);
}

/// Remove the isolation rules naming `bridge` (the plugin never does: other
/// containers may still use them).
fn drop_isolation(bridge: &str) {
    let filter = run_ok("iptables-save", &["-t", "filter"]);
    for l in filter.lines() {
        if l.starts_with("-A CNI-ISOLATION-STAGE-") && l.contains(&format!(" {bridge} ")) {
            let spec: Vec<String> = shell_split(&l[3..]);
            let mut args = vec!["-w".to_string(), "-D".to_string()];
            args.extend(spec);
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let _ = std::process::Command::new("iptables").args(&a).status();
        }
    }
}

fn shell_split(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut q = false;
    for c in s.chars() {
        match c {
            '"' => q = !q,
            ' ' if !q => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[test]
fn firewall_ingress_policies_isolate_bridges() {
    let mut a = Lan::new("87-podman-bridge.conflist");
    let mut b = Lan::new("87-podman-bridge.conflist");
    bridge_firewall(&mut a, json!({"ingressPolicy": "isolated"}));
    bridge_firewall(&mut b, json!({"ingressPolicy": "same-bridge"}));
    struct Cleanup(Vec<String>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for br in &self.0 {
                drop_isolation(br);
            }
        }
    }
    let _cleanup = Cleanup(vec![a.bridge.clone(), b.bridge.clone()]);
    let out = Outside::new(a.id);
    let (a1, a2, b1) = (
        Netns::new("cnit-ch"),
        Netns::new("cnit-ch"),
        Netns::new("cnit-ch"),
    );
    let ra1 = a.add(&a1, "a1", json!({}));
    let ra2 = a.add(&a2, "a2", json!({}));
    let rb1 = b.add(&b1, "b1", json!({}));
    let filter = run_ok("iptables-save", &["-t", "filter"]);
    assert!(
        filter.contains(&format!(
            "-A CNI-ISOLATION-STAGE-1 -i {0} ! -o {0} ",
            b.bridge
        )),
        "{filter}"
    );
    assert!(
        filter.contains(&format!(
            "-A CNI-ISOLATION-STAGE-1 -i {0} -o {0} ",
            a.bridge
        )),
        "{filter}"
    );
    // Out to the world: fine. Across isolated bridges: dropped both ways.
    // Within an "isolated" bridge: dropped (a bridge hands frames between
    // its ports without routing: the rule needs br_netfilter to see them,
    // so here it is the routed path through the gateway that is checked).
    assert!(a1.ping(&out.v4));
    assert!(b1.ping(&out.v4));
    assert!(!a1.ping_once(&ip_of(&rb1, false)), "a1 reached b1");
    assert!(!b1.ping_once(&ip_of(&ra1, false)), "b1 reached a1");
    let _ = ra2;
}

fn sha512(s: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha512sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..128].to_string()
}

// ---------------------------------------------------------------------------
// In a private "host" namespace, whose whole firewall a test owns: exact
// before/after comparisons, and settings that change shared rules.

/// Everything the firewall holds in `host`: the nft ruleset and both
/// iptables-saves, counters zeroed.
fn ruleset(host: &Netns) -> String {
    let mut text = String::new();
    for cmd in [
        vec!["nft", "-s", "list", "ruleset"],
        vec!["iptables-save"],
        vec!["ip6tables-save"],
    ] {
        let out = host.exec(&cmd);
        assert!(out.status.success(), "{cmd:?} in {}", host.name());
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            if l.starts_with('#') {
                continue;
            }
            let l = match l.find(" [") {
                Some(i) if l.starts_with(':') => format!("{} [0:0]", &l[..i]),
                _ => l.to_string(),
            };
            text.push_str(&l);
            text.push('\n');
        }
    }
    text
}

fn private_host() -> Netns {
    let host = Netns::new("cnit-host");
    host.ip(&["link", "set", "lo", "up"]);
    host
}

#[test]
fn del_removes_exactly_what_add_added() {
    for (label, portmap, firewall) in [
        ("defaults", json!({}), json!({})),
        (
            "nftables",
            json!({"backend": "nftables"}),
            json!({"backend": "nftables"}),
        ),
        (
            "iptables",
            json!({"backend": "iptables"}),
            json!({"backend": "iptables", "iptablesAdminChainName": "MY-ADMIN"}),
        ),
    ] {
        let host = private_host();
        let mut lan = Lan::new("87-podman-bridge.conflist");
        lan.chain.host = Some(host.name().to_string());
        for p in &mut lan.chain.list.plugins {
            match p["type"].as_str() {
                Some("portmap") => harness::merge(p, portmap.clone()),
                Some("firewall") => harness::merge(p, firewall.clone()),
                _ => {}
            }
        }
        let (ns1, ns2) = (Netns::new("cnit-ch"), Netns::new("cnit-ch"));
        let caps1 = json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
                                            {"hostPort": 5353, "containerPort": 53, "protocol": "udp"}]});
        let caps2 =
            json!({"portMappings": [{"hostPort": 8081, "containerPort": 80, "protocol": "sctp"}]});
        let r1 = lan.add(&ns1, "c1", caps1.clone());
        let one = ruleset(&host);
        let r2 = lan.add(&ns2, "c2", caps2.clone());
        let two = ruleset(&host);
        assert_ne!(one, two, "{label}: the second ADD added nothing");
        lan.del(&ns2, "c2", &caps2, Some(&r2));
        assert_eq!(
            ruleset(&host),
            one,
            "{label}: DEL left something or took too much"
        );
        // CHECK passes, and fails once one of c1's rules is gone.
        let t1 = lan.target(&ns1, "c1", &caps1);
        lan.chain
            .check(&t1, &r1)
            .unwrap_or_else(|e| panic!("{label}: {e:?}"));
        let ip1 = ip_of(&r1, false);
        if label == "iptables" {
            assert!(one.contains("-A CNI-FORWARD -m comment --comment \"CNI firewall plugin admin overrides\" -j MY-ADMIN"), "{one}");
            assert!(one.contains("-A CNI-HOSTPORT-DNAT"), "{one}");
            host.exec(&[
                "iptables",
                "-w",
                "-D",
                "CNI-FORWARD",
                "-s",
                &format!("{ip1}/32"),
                "-j",
                "ACCEPT",
            ]);
        } else {
            assert!(one.contains(&format!("dnat to {ip1}:80")), "{label}: {one}");
            let listing = host.exec(&[
                "nft",
                "-a",
                "list",
                "chain",
                "ip",
                "cni_hostport",
                "hostports",
            ]);
            let listing = String::from_utf8_lossy(&listing.stdout).to_string();
            let handle = listing
                .lines()
                .find(|l| l.contains("udp dport 5353"))
                .and_then(|l| l.rsplit("handle ").next())
                .unwrap()
                .trim()
                .to_string();
            host.exec(&[
                "nft",
                "delete",
                "rule",
                "ip",
                "cni_hostport",
                "hostports",
                "handle",
                &handle,
            ]);
        }
        assert!(
            lan.chain.check(&t1, &r1).is_err(),
            "{label}: CHECK missed the removed rule"
        );
        lan.del(&ns1, "c1", &caps1, Some(&r1));
        lan.del(&ns1, "c1", &caps1, Some(&r1));
    }
}

/// portmap's settings, read back from the rules (in a private host: the
/// conditions change the shared jump rules).
#[test]
fn portmap_settings_in_the_rules() {
    let host = private_host();
    let ns = Netns::new("cnit-ch");
    let prev = json!({"cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": ns.path_str()}],
        "ips": [{"address": "10.9.9.2/24", "interface": 0}, {"address": "fd09::2/64", "interface": 0}]});
    let maps = json!({"portMappings": [
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 8443, "containerPort": 443, "protocol": "tcp", "hostIP": "192.0.2.7"},
        {"hostPort": 9999, "containerPort": 99, "protocol": "sctp", "hostIP": "::"},
    ]});
    let run = |cmd: &str, extra: Value| {
        let mut c = json!({"cniVersion": "1.0.0", "name": "pmset", "type": "portmap",
            "runtimeConfig": maps, "prevResult": prev});
        harness::merge(&mut c, extra);
        Invocation::attach("portmap", cmd, ns.path_str(), "pmc")
            .in_netns(host.name())
            .config(&c)
            .run()
    };
    // nftables: host IP mappings, masquerading, conditions.
    run("ADD", json!({"conditionsV4": ["iifname", "\"eth9\""]})).ok();
    let r = ruleset(&host);
    for want in [
        "tcp dport 8080 dnat to 10.9.9.2:80 comment \"pmc\"",
        "ip daddr 192.0.2.7 tcp dport 8443 dnat to 10.9.9.2:443 comment \"pmc\"",
        "sctp dport 9999 dnat to [fd09::2]:99 comment \"pmc\"",
        "iifname \"eth9\" fib daddr type local jump hostports_all",
        "ip saddr 10.9.9.2 ip daddr 10.9.9.2 masquerade comment \"pmc\"",
        "ip saddr 127.0.0.1 ip daddr 10.9.9.2 masquerade comment \"pmc\"",
        "ip6 saddr fd09::2 ip6 daddr fd09::2 masquerade comment \"pmc\"",
    ] {
        assert!(r.contains(want), "{want:?} not in\n{r}");
    }
    // A host IP maps its own family only (`::` is IPv6's "any").
    assert!(!r.contains("dnat to [fd09::2]:443"), "{r}");
    assert!(!r.contains("dnat to 10.9.9.2:99"), "{r}");
    run("DEL", json!({})).ok();
    run("ADD", json!({"masqAll": true})).ok();
    let r = ruleset(&host);
    assert!(
        r.contains("ct status dnat ip daddr 10.9.9.2 masquerade comment \"pmc\""),
        "{r}"
    );
    assert!(!r.contains("ip saddr 127.0.0.1"), "{r}");
    run("DEL", json!({})).ok();
    run("ADD", json!({"snat": false})).ok();
    let r = ruleset(&host);
    assert!(!r.contains("masquerade comment \"pmc\""), "{r}");
    run("DEL", json!({})).ok();
    // iptables: the mark bit, an external mark chain.
    run("ADD", json!({"backend": "iptables", "markMasqBit": 5})).ok();
    let r = ruleset(&host);
    assert!(r.contains("-A CNI-HOSTPORT-SETMARK -m comment --comment \"CNI portfwd masquerade mark\" -j MARK --set-xmark 0x20/0x20"), "{r}");
    assert!(
        r.contains("-A CNI-HOSTPORT-MASQ -m mark --mark 0x20/0x20 -j MASQUERADE"),
        "{r}"
    );
    assert!(
        r.contains(
            "-d 192.0.2.7/32 -p tcp -m tcp --dport 8443 -j DNAT --to-destination 10.9.9.2:443"
        ),
        "{r}"
    );
    assert!(r.contains("--to-destination [fd09::2]:99"), "{r}");
    run("DEL", json!({"backend": "iptables"})).ok();
    let host2 = private_host();
    let mut c = json!({"cniVersion": "1.0.0", "name": "pmset", "type": "portmap", "backend": "iptables",
        "externalSetMarkChain": "KUBE-MARK-MASQ", "runtimeConfig": maps, "prevResult": prev});
    for tool in ["iptables", "ip6tables"] {
        host2.exec(&[tool, "-w", "-t", "nat", "-N", "KUBE-MARK-MASQ"]);
    }
    Invocation::attach("portmap", "ADD", ns.path_str(), "pmc")
        .in_netns(host2.name())
        .config(&c)
        .run()
        .ok();
    let r = ruleset(&host2);
    assert!(r.contains("-j KUBE-MARK-MASQ"), "{r}");
    assert!(!r.contains("CNI-HOSTPORT-SETMARK"), "{r}");
    c.as_object_mut().unwrap().remove("prevResult");
    Invocation::attach("portmap", "DEL", ns.path_str(), "pmc")
        .in_netns(host2.name())
        .config(&c)
        .run()
        .ok();
    assert!(!ruleset(&host2).contains("pmc"));
}
