//! End-to-end: the built `bridge` plugin with `host-local`, on real
//! namespaces, bridges and veths, checked the way a user would check them:
//! pings between containers and to an "outside" namespace through the
//! host, `ip -d link`, `bridge link`, nft/iptables rule listings, the
//! result JSON, the host-local records on disk, and the reference Go
//! plugin doing the same work.
//!
//! Tests that need bridge VLAN filtering (which this machine's kernel
//! lacks) are the `vm_*` ones: `#[ignore]`d here, run in a VM guest by
//! scripts/vm-tests.sh.

mod harness;

use std::cell::RefCell;
use std::collections::BTreeSet;

use harness::{
    Chain, Invocation, Netns, Outcome, Outside, Target, TempDir, container_addrs, global_addrs,
    host_ip_json, link_exists, merge, no_eth0, reference_plugin, result_addrs, result_ip, run_ok,
    small_id,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Per-test network: names and subnets nobody else uses.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fam {
    V4,
    V6,
    Dual,
}

impl Fam {
    fn v4(self) -> bool {
        self != Fam::V6
    }
    fn v6(self) -> bool {
        self != Fam::V4
    }
}

/// A bridge, a network name, a host-local data directory, an IPv4 /24 and
/// an IPv6 /64 private to one test. On drop, every attachment it made is
/// deleted (with our DEL) and the bridge and its VLAN gateway links go.
struct Net {
    id: u32,
    bridge: String,
    name: String,
    data: TempDir,
    added: RefCell<Vec<(String, String)>>,
}

impl Net {
    fn new() -> Net {
        harness::require_root();
        let id = small_id();
        Net {
            id,
            bridge: format!("cbt{id:04x}"),
            name: format!("brnet-{id:04x}"),
            data: TempDir::new("cnit-br"),
            added: RefCell::new(Vec::new()),
        }
    }

    fn v4_prefix(&self) -> String {
        format!("10.{}.{}", 192 + (self.id >> 8), self.id & 255)
    }
    fn v4_subnet(&self) -> String {
        format!("{}.0/24", self.v4_prefix())
    }
    fn v4(&self, host: u8) -> String {
        format!("{}.{host}", self.v4_prefix())
    }
    fn v6_subnet(&self) -> String {
        format!("fd7c:{:x}::/64", self.id)
    }
    fn v6(&self, host: u16) -> String {
        format!("fd7c:{:x}::{host:x}", self.id)
    }

    fn ipam(&self, fam: Fam) -> Value {
        let mut ranges = Vec::new();
        if fam.v4() {
            ranges.push(json!([{"subnet": self.v4_subnet()}]));
        }
        if fam.v6() {
            ranges.push(json!([{"subnet": self.v6_subnet()}]));
        }
        json!({"type": "host-local", "dataDir": self.data.str(), "ranges": ranges})
    }

    /// A bridge config for spec `version` with host-local on `fam`, with
    /// `extra`'s keys merged in (a null value removes the key).
    fn conf(&self, version: &str, fam: Fam, extra: Value) -> Value {
        let mut c = json!({
            "cniVersion": version,
            "name": self.name,
            "type": "bridge",
            "bridge": self.bridge,
            "ipam": self.ipam(fam),
        });
        merge(&mut c, extra);
        c
    }

    fn invoke(&self, cmd: &str, netns: &str, cid: &str, conf: &Value) -> Invocation {
        Invocation::attach("bridge", cmd, netns, cid).config(conf)
    }

    /// ADD `cid` in `ns`; remembered for cleanup.
    fn add(&self, ns: &Netns, cid: &str, conf: &Value) -> Outcome {
        self.added
            .borrow_mut()
            .push((ns.path_str().to_string(), cid.to_string()));
        self.invoke("ADD", ns.path_str(), cid, conf).run()
    }

    fn add_ok(&self, ns: &Netns, cid: &str, conf: &Value) -> Value {
        self.add(ns, cid, conf).ok()
    }

    /// DEL with `prev` as prevResult (if any).
    fn del(&self, netns: &str, cid: &str, conf: &Value, prev: Option<&Value>) -> Outcome {
        let mut c = conf.clone();
        if let Some(p) = prev {
            c["prevResult"] = p.clone();
        }
        self.invoke("DEL", netns, cid, &c).run()
    }

    fn check(&self, ns: &Netns, cid: &str, conf: &Value, prev: &Value) -> Outcome {
        let mut c = conf.clone();
        c["prevResult"] = prev.clone();
        self.invoke("CHECK", ns.path_str(), cid, &c).run()
    }

    /// Names of the bridge's ports.
    fn ports(&self) -> BTreeSet<String> {
        host_ip_json(&["link", "show", "master", &self.bridge])
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["ifname"].as_str().unwrap().to_string())
            .collect()
    }

    fn bridge_exists(&self) -> bool {
        link_exists(&self.bridge)
    }

    fn bridge_json(&self) -> Value {
        host_ip_json(&["-d", "link", "show", "dev", &self.bridge])[0].clone()
    }

    /// Global addresses on the bridge.
    fn bridge_addrs(&self) -> BTreeSet<String> {
        global_addrs(&host_ip_json(&["addr", "show", "dev", &self.bridge]))
    }

    /// The host-local allocation records (address files) of this network.
    fn records(&self) -> BTreeSet<String> {
        let dir = self.data.path().join(&self.name);
        let Ok(rd) = std::fs::read_dir(dir) else {
            return BTreeSet::new();
        };
        rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "lock" && !n.starts_with("last_reserved_ip") && !n.starts_with('.'))
            .collect()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let c = self.conf(
            "1.1.0",
            Fam::Dual,
            json!({"ipMasq": true, "macspoofchk": true}),
        );
        for (netns, cid) in self.added.borrow().iter() {
            let _ = self.del(netns, cid, &c, None);
        }
        if let Ok(out) = std::process::Command::new("ip")
            .args(["-j", "link", "show"])
            .output()
            && let Ok(Value::Array(links)) = serde_json::from_slice::<Value>(&out.stdout)
        {
            for l in links {
                let name = l["ifname"].as_str().unwrap_or("");
                if name == self.bridge || name.starts_with(&format!("{}.", self.bridge)) {
                    let _ = std::process::Command::new("ip")
                        .args(["link", "del", name])
                        .status();
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers.

fn host_veth(r: &Value) -> String {
    r["interfaces"][1]["name"].as_str().unwrap().to_string()
}

fn nft_ruleset() -> String {
    run_ok("nft", &["list", "ruleset"])
}

/// nftables masquerade rules of an attachment (by the reference's comment).
fn nft_masq_rules(net: &Net, cid: &str) -> usize {
    let needle = format!("net: {}, if: eth0, id: {cid}\"", net.name);
    nft_ruleset().matches(&needle).count()
}

fn iptables_nat(v6: bool) -> String {
    run_ok(
        if v6 { "ip6tables" } else { "iptables" },
        &["-w", "-t", "nat", "-S"],
    )
}

/// Lines of the nat table (v4 and v6) that belong to an attachment:
/// rules with its comment and the chain named after it.
fn iptables_masq_lines(net: &Net, cid: &str) -> Vec<String> {
    let comment = format!("name: \\\"{}\\\" id: \\\"{cid}\\\"", net.name);
    let mut out = Vec::new();
    for v6 in [false, true] {
        let text = iptables_nat(v6);
        let chains: BTreeSet<String> = text
            .lines()
            .filter(|l| l.contains(&comment))
            .filter_map(|l| l.split(" -j ").nth(1))
            .filter(|c| c.starts_with("CNI-"))
            .map(String::from)
            .collect();
        for l in text.lines() {
            if l.contains(&comment) || chains.iter().any(|c| l.split(' ').nth(1) == Some(c)) {
                out.push(l.to_string());
            }
        }
    }
    out
}

fn spoofcheck_chains(cid: &str) -> usize {
    nft_ruleset()
        .matches(&format!("chain cni-br-iface-{cid}-eth0 {{"))
        .count()
}

/// Everything an attachment leaves on the host besides the bridge.
fn assert_attachment_gone(net: &Net, cid: &str) {
    assert_eq!(
        nft_masq_rules(net, cid),
        0,
        "nft masquerade rules of {cid} left"
    );
    assert_eq!(
        iptables_masq_lines(net, cid),
        Vec::<String>::new(),
        "iptables rules of {cid} left"
    );
    assert_eq!(
        spoofcheck_chains(cid),
        0,
        "spoof check chains of {cid} left"
    );
    let records: Vec<String> = net
        .records()
        .into_iter()
        .filter(|r| {
            std::fs::read_to_string(net.data.path().join(&net.name).join(r))
                .unwrap_or_default()
                .starts_with(cid)
        })
        .collect();
    assert!(
        records.is_empty(),
        "IPAM records of {cid} left: {records:?}"
    );
}

// ---------------------------------------------------------------------------
// Connectivity: containers to each other and to the outside.

fn reach(fam: Fam) {
    let net = Net::new();
    let out = Outside::new(net.id);
    let (ns1, ns2) = (Netns::new("cnit-br"), Netns::new("cnit-br"));
    let conf = net.conf(
        "1.0.0",
        fam,
        json!({"isDefaultGateway": true, "ipMasq": true}),
    );
    let (c1, c2) = (harness::unique("c1"), harness::unique("c2"));
    let r1 = net.add_ok(&ns1, &c1, &conf);
    let r2 = net.add_ok(&ns2, &c2, &conf);

    // What the kernel holds is what the result says.
    assert_eq!(container_addrs(&ns1, "eth0"), result_addrs(&r1));
    assert_eq!(container_addrs(&ns2, "eth0"), result_addrs(&r2));
    let mut gws = BTreeSet::new();
    if fam.v4() {
        gws.insert(format!("{}/24", net.v4(1)));
    }
    if fam.v6() {
        gws.insert(format!("{}/64", net.v6(1)));
    }
    assert_eq!(net.bridge_addrs(), gws);
    assert_eq!(
        net.ports(),
        BTreeSet::from([host_veth(&r1), host_veth(&r2)])
    );

    for v6 in [false, true] {
        if (v6 && !fam.v6()) || (!v6 && !fam.v4()) {
            continue;
        }
        let routes = ns1.ip_json(&[if v6 { "-6" } else { "-4" }, "route", "show", "default"]);
        let gw = if v6 { net.v6(1) } else { net.v4(1) };
        assert_eq!(routes[0]["gateway"], json!(gw), "default route: {routes}");
        assert!(
            ns1.ping(&result_ip(&r2, v6)),
            "container 1 cannot reach container 2 ({})",
            if v6 { "IPv6" } else { "IPv4" }
        );
        let outside = if v6 { &out.v6 } else { &out.v4 };
        // Container 2's ADD found the shared masquerading chains in place
        // and only added its own rules: both get out.
        for (n, ns) in [(1, &ns1), (2, &ns2)] {
            assert!(
                ns.ping(outside),
                "container {n} cannot reach the outside through the host ({})",
                if v6 { "IPv6" } else { "IPv4" }
            );
        }
    }
    let per_family = usize::from(fam.v4()) + usize::from(fam.v6());
    // One jump per address, plus the chain's rules.
    assert!(nft_masq_rules(&net, &c1) >= per_family);
    assert!(nft_masq_rules(&net, &c2) >= per_family);

    net.del(ns1.path_str(), &c1, &conf, Some(&r1)).ok();
    assert_attachment_gone(&net, &c1);
    assert!(no_eth0(&ns1));
    assert!(
        nft_masq_rules(&net, &c2) >= per_family,
        "DEL of c1 removed c2's rules"
    );
    assert_eq!(net.ports(), BTreeSet::from([host_veth(&r2)]));
    net.del(ns2.path_str(), &c2, &conf, Some(&r2)).ok();
    assert_attachment_gone(&net, &c2);
    assert!(net.records().is_empty());
    // DEL never removes the bridge or its gateway addresses.
    assert!(net.bridge_exists());
    assert_eq!(net.bridge_addrs(), gws);
}

#[test]
fn containers_reach_each_other_and_the_outside_ipv4() {
    reach(Fam::V4);
}

#[test]
fn containers_reach_each_other_and_the_outside_ipv6() {
    reach(Fam::V6);
}

#[test]
fn containers_reach_each_other_and_the_outside_dual_stack() {
    reach(Fam::Dual);
}

#[test]
fn without_ip_masq_the_outside_needs_a_route_back() {
    let net = Net::new();
    let out = Outside::new(net.id);
    let ns = Netns::new("cnit-br");
    let conf = net.conf("1.0.0", Fam::V4, json!({"isDefaultGateway": true}));
    let cid = harness::unique("c");
    net.add_ok(&ns, &cid, &conf);
    assert_eq!(nft_masq_rules(&net, &cid), 0);
    assert!(net.ping_gateway(&ns));
    assert!(
        !ns.ping_once(&out.v4),
        "reached the outside without masquerading"
    );
    // The same packets work once the outside can route back: the failure
    // above was the missing masquerading, nothing else.
    out.ns.ip(&[
        "route",
        "add",
        &net.v4_subnet(),
        "via",
        &out.host_v4,
        "dev",
        "eth0",
    ]);
    assert!(ns.ping(&out.v4));
}

impl Net {
    fn ping_gateway(&self, ns: &Netns) -> bool {
        ns.ping(&self.v4(1))
    }
}

#[test]
fn ip_masq_iptables_backend_uses_the_reference_chains() {
    let net = Net::new();
    let out = Outside::new(net.id);
    let ns = Netns::new("cnit-br");
    let conf = net.conf(
        "1.0.0",
        Fam::Dual,
        json!({"isDefaultGateway": true, "ipMasq": true, "ipMasqBackend": "iptables"}),
    );
    let cid = harness::unique("c");
    let r = net.add_ok(&ns, &cid, &conf);
    assert_eq!(
        nft_masq_rules(&net, &cid),
        0,
        "iptables backend wrote nft rules"
    );
    let lines = iptables_masq_lines(&net, &cid);
    // Per family: the chain, its two rules, the POSTROUTING jump.
    let v4_jump = lines
        .iter()
        .find(|l| l.starts_with("-A POSTROUTING") && l.contains(&result_ip(&r, false)))
        .unwrap_or_else(|| panic!("no POSTROUTING jump for the IPv4 address: {lines:#?}"));
    let chain = v4_jump.split(" -j ").nth(1).unwrap();
    assert!(chain.starts_with("CNI-") && chain.len() == 28, "{chain}");
    assert!(lines.iter().any(|l| l == &format!("-N {chain}")));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("-A {chain} ! -d 224.0.0.0/4"))
                && l.ends_with("-j MASQUERADE")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("-A {chain} ! -d ff00::/8"))
                && l.ends_with("-j MASQUERADE")),
        "{lines:#?}"
    );
    assert!(ns.ping(&out.v4));
    assert!(ns.ping(&out.v6));
    net.del(ns.path_str(), &cid, &conf, Some(&r)).ok();
    assert_attachment_gone(&net, &cid);
}

// ---------------------------------------------------------------------------
// Every field's kernel state.

#[test]
fn mtu_applies_to_the_new_bridge_and_both_veth_ends() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let conf = net.conf("1.0.0", Fam::V4, json!({"mtu": 1400}));
    let r = net.add_ok(&ns, "mtu", &conf);
    assert_eq!(ns.ip_json(&["link", "show", "dev", "eth0"])[0]["mtu"], 1400);
    assert_eq!(
        host_ip_json(&["link", "show", "dev", &host_veth(&r)])[0]["mtu"],
        1400
    );
    assert_eq!(net.bridge_json()["mtu"], 1400);
}

#[test]
fn hairpin_mode_and_port_isolation_set_the_port_flags() {
    let net = Net::new();
    let (ns1, ns2) = (Netns::new("cnit-br"), Netns::new("cnit-br"));
    let plain = net.conf("1.0.0", Fam::V4, json!({}));
    let flagged = net.conf(
        "1.0.0",
        Fam::V4,
        json!({"hairpinMode": true, "portIsolation": true}),
    );
    let r1 = net.add_ok(&ns1, "plain", &plain);
    let r2 = net.add_ok(&ns2, "flagged", &flagged);
    let port = |name: &str| {
        let v: Value = serde_json::from_str(&run_ok(
            "bridge",
            &["-j", "-d", "link", "show", "dev", name],
        ))
        .unwrap();
        (v[0]["hairpin"].clone(), v[0]["isolated"].clone())
    };
    assert_eq!(port(&host_veth(&r1)), (json!(false), json!(false)));
    assert_eq!(port(&host_veth(&r2)), (json!(true), json!(true)));
    // The port's state is what a user sees on a working port.
    let v: Value = serde_json::from_str(&run_ok(
        "bridge",
        &["-j", "link", "show", "dev", &host_veth(&r2)],
    ))
    .unwrap();
    assert_eq!(v[0]["state"], "forwarding");
    assert_eq!(v[0]["master"], json!(net.bridge));
}

#[test]
fn promisc_mode_sets_the_bridge_promiscuous() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let conf = net.conf("1.0.0", Fam::V4, json!({"promiscMode": true}));
    let r = net.add_ok(&ns, "promisc", &conf);
    let br = net.bridge_json();
    assert!(
        br["flags"].as_array().unwrap().contains(&json!("PROMISC")),
        "{br}"
    );
    assert_eq!(br["promiscuity"], 1);
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    net.check(&ns, "promisc", &conf, &r).ok();
    // CHECK notices when the state no longer matches the config.
    run_ok("ip", &["link", "set", &net.bridge, "promisc", "off"]);
    let e = net.check(&ns, "promisc", &conf, &r).err();
    assert!(e.msg.contains("Promisc"), "{}", e.msg);
}

#[test]
fn hairpin_and_promisc_together_are_refused() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let conf = net.conf(
        "1.0.0",
        Fam::V4,
        json!({"promiscMode": true, "hairpinMode": true}),
    );
    let e = net.add(&ns, "both", &conf).err();
    assert_eq!(e.code, 7);
    assert!(
        e.msg.contains("hairpin mode and promiscuous mode"),
        "{}",
        e.msg
    );
    assert!(!net.bridge_exists());
}

#[test]
fn mac_comes_from_runtime_config_or_cni_args() {
    let net = Net::new();
    let (ns1, ns2) = (Netns::new("cnit-br"), Netns::new("cnit-br"));
    let mut conf = net.conf("1.0.0", Fam::V4, json!({}));
    conf["runtimeConfig"] = json!({"mac": "0a:58:0a:00:00:11"});
    let r1 = net.add_ok(&ns1, "mac1", &conf);
    assert_eq!(
        ns1.ip_json(&["link", "show", "dev", "eth0"])[0]["address"],
        "0a:58:0a:00:00:11"
    );
    assert_eq!(r1["interfaces"][2]["mac"], "0a:58:0a:00:00:11");

    let plain = net.conf("1.0.0", Fam::V4, json!({}));
    net.added
        .borrow_mut()
        .push((ns2.path_str().to_string(), "mac2".into()));
    let r2 = net
        .invoke("ADD", ns2.path_str(), "mac2", &plain)
        .env("CNI_ARGS", "IgnoreUnknown=1;MAC=0a:58:0a:00:00:22")
        .run()
        .ok();
    assert_eq!(
        ns2.ip_json(&["link", "show", "dev", "eth0"])[0]["address"],
        "0a:58:0a:00:00:22"
    );
    assert_eq!(r2["interfaces"][2]["mac"], "0a:58:0a:00:00:22");
}

#[test]
fn macspoofchk_drops_frames_from_another_mac() {
    let net = Net::new();
    let (ns1, ns2) = (Netns::new("cnit-br"), Netns::new("cnit-br"));
    let conf = net.conf("1.0.0", Fam::V4, json!({"macspoofchk": true}));
    let c1 = harness::unique("spoof");
    let r1 = net.add_ok(&ns1, &c1, &conf);
    let r2 = net.add_ok(&ns2, "peer", &net.conf("1.0.0", Fam::V4, json!({})));
    let text = nft_ruleset();
    let mac = r1["interfaces"][2]["mac"].as_str().unwrap();
    assert_eq!(spoofcheck_chains(&c1), 1, "{text}");
    assert!(
        text.contains(&format!("ether saddr {mac} return")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "iifname \"{}\" jump cni-br-iface-{c1}-eth0",
            host_veth(&r1)
        )),
        "{text}"
    );
    let peer = result_ip(&r2, false);
    assert!(ns1.ping(&peer));
    // Same container, another source MAC: the bridge drops its frames.
    ns1.ip(&["neigh", "flush", "dev", "eth0"]);
    ns1.ip(&["link", "set", "dev", "eth0", "address", "0a:58:0a:de:ad:01"]);
    assert!(!ns1.ping_once(&peer), "spoofed frames got through");
    net.del(ns1.path_str(), &c1, &conf, Some(&r1)).ok();
    assert_eq!(spoofcheck_chains(&c1), 0);
}

#[test]
fn force_address_replaces_a_different_gateway_address() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    run_ok("ip", &["link", "add", &net.bridge, "type", "bridge"]);
    let stale = format!("{}/24", net.v4(77));
    run_ok("ip", &["addr", "add", &stale, "dev", &net.bridge]);

    // Without forceAddress: refused, and everything this ADD did is undone
    // (veth, IPAM allocation, masquerade rules); the bridge is untouched.
    let conf = net.conf("1.0.0", Fam::V4, json!({"isGateway": true, "ipMasq": true}));
    let e = net.add(&ns, "noforce", &conf).err();
    assert!(
        e.msg.contains("already has an IP address different from"),
        "{}",
        e.msg
    );
    assert!(e.msg.contains(&net.bridge), "{}", e.msg);
    assert!(net.ports().is_empty());
    assert!(no_eth0(&ns));
    assert_attachment_gone(&net, "noforce");
    assert!(net.records().is_empty());
    assert_eq!(net.bridge_addrs(), BTreeSet::from([stale.clone()]));

    let forced = net.conf(
        "1.0.0",
        Fam::V4,
        json!({"isGateway": true, "forceAddress": true}),
    );
    net.add_ok(&ns, "force", &forced);
    assert_eq!(
        net.bridge_addrs(),
        BTreeSet::from([format!("{}/24", net.v4(1))])
    );
    assert!(net.ping_gateway(&ns));
}

#[test]
fn is_gateway_enables_forwarding_and_sets_gateways_in_the_result() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let conf = net.conf("1.0.0", Fam::Dual, json!({"isGateway": true}));
    let r = net.add_ok(&ns, "gw", &conf);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding")
            .unwrap()
            .trim(),
        "1"
    );
    assert_eq!(r["ips"][0]["gateway"], json!(net.v4(1)));
    assert_eq!(r["ips"][1]["gateway"], json!(net.v6(1)));
    // isGateway alone adds no default route.
    assert_eq!(ns.ip_json(&["route", "show", "default"]), json!([]));
    assert!(r["routes"].as_array().is_none_or(Vec::is_empty), "{r}");
    assert!(net.ping_gateway(&ns));
}

#[test]
fn enabledad_sets_the_container_sysctls() {
    let net = Net::new();
    let (ns1, ns2) = (Netns::new("cnit-br"), Netns::new("cnit-br"));
    net.add_ok(
        &ns1,
        "dad",
        &net.conf("1.0.0", Fam::Dual, json!({"enabledad": true})),
    );
    net.add_ok(&ns2, "nodad", &net.conf("1.0.0", Fam::Dual, json!({})));
    assert_eq!(ns1.sysctl("net.ipv6.conf.eth0.accept_dad"), "1");
    assert_eq!(ns1.sysctl("net.ipv6.conf.eth0.enhanced_dad"), "1");
    assert_eq!(ns2.sysctl("net.ipv6.conf.eth0.accept_dad"), "0");
    assert_eq!(ns2.sysctl("net.ipv4.conf.eth0.arp_notify"), "1");
    // With DAD on, ADD returns only once the addresses are usable.
    let addrs = ns1.ip_json(&["-6", "addr", "show", "dev", "eth0", "scope", "global"]);
    let info = addrs[0]["addr_info"].as_array().unwrap();
    assert!(info.iter().all(|a| a.get("tentative").is_none()), "{addrs}");
}

#[test]
fn layer2_without_ipam_brings_the_link_up_and_checks_clean() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let conf = net.conf("1.0.0", Fam::V4, json!({"ipam": null}));
    let r = net.add_ok(&ns, "l2", &conf);
    assert!(ns.link_is_up("eth0"));
    assert!(container_addrs(&ns, "eth0").is_empty());
    assert_eq!(r["interfaces"].as_array().unwrap().len(), 3);
    assert!(r.get("ips").is_none(), "{r}");
    // The reference fails this CHECK ("no plugin name provided").
    net.check(&ns, "l2", &conf, &r).ok();
    net.del(ns.path_str(), "l2", &conf, Some(&r)).ok();
    assert!(no_eth0(&ns));
}

#[test]
fn disable_container_interface_leaves_it_down() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let conf = net.conf(
        "1.0.0",
        Fam::V4,
        json!({"ipam": null, "disableContainerInterface": true}),
    );
    let r = net.add_ok(&ns, "down", &conf);
    assert!(!ns.link_is_up("eth0"));
    assert_eq!(net.ports(), BTreeSet::from([host_veth(&r)]));

    let with_ipam = net.conf("1.0.0", Fam::V4, json!({"disableContainerInterface": true}));
    let ns2 = Netns::new("cnit-br");
    let e = net.add(&ns2, "bad", &with_ipam).err();
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("DisableContainerInterface"), "{}", e.msg);
    assert!(no_eth0(&ns2));
}

#[test]
fn dns_in_the_config_replaces_the_ipam_dns() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let dns = json!({"nameservers": ["10.0.0.53"], "search": ["example.test"]});
    let conf = net.conf("1.0.0", Fam::V4, json!({"dns": dns}));
    let r = net.add_ok(&ns, "dns", &conf);
    assert_eq!(r["dns"], dns);
}

#[test]
fn a_vlan_on_a_kernel_without_vlan_filtering_fails_cleanly() {
    // This machine's kernel lacks CONFIG_BRIDGE_VLAN_FILTERING; the VLAN
    // behaviour itself is tested in the VM (vm_* tests). Here: a clean error.
    if vlan_filtering_works() {
        eprintln!("this kernel filters VLANs: the vm_* tests cover them (run with --ignored)");
        return;
    }
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let conf = net.conf("1.0.0", Fam::V4, json!({"vlan": 100}));
    let e = net.add(&ns, "vlan", &conf).err();
    assert!(e.msg.contains(&net.bridge), "{}", e.msg);
    assert!(!net.bridge_exists());
    assert!(no_eth0(&ns));
    assert!(net.records().is_empty());
}

/// Whether this kernel can create a VLAN-filtering bridge.
fn vlan_filtering_works() -> bool {
    let name = format!("cbv{:04x}", small_id());
    let ok = std::process::Command::new("ip")
        .args([
            "link",
            "add",
            &name,
            "type",
            "bridge",
            "vlan_filtering",
            "1",
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    if ok {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &name])
            .status();
    }
    ok
}

// ---------------------------------------------------------------------------
// Results in every spec version.

#[test]
fn result_shape_in_every_version() {
    for version in [
        "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
    ] {
        let net = Net::new();
        let ns = Netns::new("cnit-br");
        let conf = net.conf(version, Fam::Dual, json!({"isDefaultGateway": true}));
        let r = net.add_ok(&ns, "ver", &conf);
        assert_eq!(r["cniVersion"], version);
        let (a4, a6) = (format!("{}/24", net.v4(2)), format!("{}/64", net.v6(2)));
        if version < "0.3.0" {
            assert_eq!(r["ip4"]["ip"], json!(a4), "{version}: {r}");
            assert_eq!(r["ip4"]["gateway"], json!(net.v4(1)));
            assert_eq!(
                r["ip4"]["routes"],
                json!([{"dst": "0.0.0.0/0", "gw": net.v4(1)}])
            );
            assert_eq!(r["ip6"]["ip"], json!(a6));
            assert!(r.get("interfaces").is_none() && r.get("ips").is_none());
        } else {
            let ifs = r["interfaces"].as_array().unwrap();
            assert_eq!(ifs.len(), 3, "{version}: {r}");
            assert_eq!(ifs[0]["name"], json!(net.bridge));
            assert!(ifs[1]["name"].as_str().unwrap().starts_with("veth"));
            assert_eq!(ifs[2]["name"], "eth0");
            assert_eq!(ifs[2]["sandbox"], json!(ns.path_str()));
            assert!(ifs[0].get("sandbox").is_none() && ifs[1].get("sandbox").is_none());
            for i in ifs {
                assert_eq!(i["mac"].as_str().unwrap().len(), 17, "{i}");
            }
            let ips = r["ips"].as_array().unwrap();
            assert_eq!(ips.len(), 2);
            for (ip, (addr, gw, v)) in ips
                .iter()
                .zip([(&a4, net.v4(1), "4"), (&a6, net.v6(1), "6")])
            {
                assert_eq!(ip["address"], json!(addr));
                assert_eq!(ip["gateway"], json!(gw));
                assert_eq!(ip["interface"], 2);
                if version < "1.0.0" {
                    assert_eq!(ip["version"], v);
                } else {
                    assert!(ip.get("version").is_none());
                }
            }
            assert_eq!(
                r["routes"],
                json!([{"dst": "0.0.0.0/0", "gw": net.v4(1)}, {"dst": "::/0", "gw": net.v6(1)}])
            );
        }
        net.del(ns.path_str(), "ver", &conf, Some(&r)).ok();
    }
}

// ---------------------------------------------------------------------------
// DEL is idempotent.

fn full_conf(net: &Net) -> Value {
    net.conf(
        "1.0.0",
        Fam::Dual,
        json!({"isGateway": true, "ipMasq": true, "macspoofchk": true}),
    )
}

#[test]
fn del_twice() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let conf = full_conf(&net);
    let cid = harness::unique("twice");
    let r = net.add_ok(&ns, &cid, &conf);
    assert!(nft_masq_rules(&net, &cid) > 0 && spoofcheck_chains(&cid) == 1);
    net.del(ns.path_str(), &cid, &conf, Some(&r)).ok();
    net.del(ns.path_str(), &cid, &conf, Some(&r)).ok();
    assert_attachment_gone(&net, &cid);
    assert!(no_eth0(&ns));
    assert!(net.ports().is_empty());
}

#[test]
fn del_after_the_namespace_is_gone() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let conf = full_conf(&net);
    let cid = harness::unique("gone");
    let r = net.add_ok(&ns, &cid, &conf);
    ns.delete();
    net.del(ns.path_str(), &cid, &conf, Some(&r)).ok();
    assert_attachment_gone(&net, &cid);
    // The kernel dismantles a deleted namespace (and the veth with it) in
    // the background.
    let empty = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        net.ports().is_empty()
    });
    assert!(empty, "the veth outlived its namespace: {:?}", net.ports());
    // And with no CNI_NETNS at all.
    net.invoke("DEL", "", &cid, &conf)
        .unset("CNI_NETNS")
        .run()
        .ok();
}

#[test]
fn del_without_prev_result_or_netns_still_removes_rules_and_addresses() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let conf = full_conf(&net);
    let (c1, c2) = (harness::unique("noprev"), harness::unique("nons"));
    net.add_ok(&ns, &c1, &conf);
    net.del(ns.path_str(), &c1, &conf, None).ok();
    assert_attachment_gone(&net, &c1);
    assert!(no_eth0(&ns));

    // No namespace given (the reference leaks the rules here, plugins#810).
    let ns2 = Netns::new("cnit-br");
    net.add_ok(&ns2, &c2, &conf);
    net.invoke("DEL", "", &c2, &conf)
        .unset("CNI_NETNS")
        .run()
        .ok();
    assert_attachment_gone(&net, &c2);
}

#[test]
fn del_after_the_host_veth_was_removed_by_hand() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let conf = full_conf(&net);
    let cid = harness::unique("byhand");
    let r = net.add_ok(&ns, &cid, &conf);
    run_ok("ip", &["link", "del", &host_veth(&r)]);
    assert!(no_eth0(&ns));
    net.del(ns.path_str(), &cid, &conf, Some(&r)).ok();
    assert_attachment_gone(&net, &cid);
}

// ---------------------------------------------------------------------------
// A failed ADD leaves nothing behind.

#[test]
fn rollback_when_ipam_is_exhausted() {
    let net = Net::new();
    let (ns1, ns2) = (Netns::new("cnit-br"), Netns::new("cnit-br"));
    let mut conf = full_conf(&net);
    conf["ipam"]["ranges"] = json!([[{
        "subnet": net.v4_subnet(), "rangeStart": net.v4(10), "rangeEnd": net.v4(10)
    }]]);
    let (c1, c2) = (harness::unique("first"), harness::unique("second"));
    let r1 = net.add_ok(&ns1, &c1, &conf);
    let e = net.add(&ns2, &c2, &conf).err();
    assert!(e.msg.contains("no IP addresses available"), "{}", e.msg);
    // The second ADD had created a veth and spoof-check rules before IPAM
    // failed: all gone; the first attachment is intact.
    assert!(no_eth0(&ns2));
    assert_eq!(net.ports(), BTreeSet::from([host_veth(&r1)]));
    assert_attachment_gone(&net, &c2);
    assert_eq!(spoofcheck_chains(&c1), 1);
    assert!(nft_masq_rules(&net, &c1) > 0);
    assert_eq!(net.records().len(), 1);
}

#[test]
fn rollback_when_the_bridge_name_is_taken_by_a_non_bridge() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let peer = format!("cbp{:04x}", net.id);
    run_ok(
        "ip",
        &[
            "link",
            "add",
            &net.bridge,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ],
    );
    let conf = full_conf(&net);
    let e = net.add(&ns, "taken", &conf).err();
    assert_eq!(e.code, 7);
    assert!(
        e.msg.contains("is not a bridge") && e.msg.contains(&net.bridge),
        "{}",
        e.msg
    );
    assert!(no_eth0(&ns));
    assert!(net.records().is_empty());
    assert_attachment_gone(&net, "taken");
    // Nothing joined the veth, which is still there and still a veth.
    let l = net.bridge_json();
    assert_eq!(l["linkinfo"]["info_kind"], "veth");
    assert!(
        host_ip_json(&["link", "show", "master", &net.bridge])
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn rollback_when_the_mtu_is_invalid() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let conf = net.conf("1.0.0", Fam::V4, json!({"mtu": 50, "isGateway": true}));
    // A new bridge cannot have it: nothing is created.
    let e = net.add(&ns, "mtu", &conf).err();
    assert!(e.msg.contains(&net.bridge), "{}", e.msg);
    assert!(!net.bridge_exists());
    assert!(no_eth0(&ns));
    // An existing bridge: the veth cannot have it; the bridge is kept.
    run_ok("ip", &["link", "add", &net.bridge, "type", "bridge"]);
    let e = net.add(&ns, "mtu", &conf).err();
    assert!(e.msg.contains("veth"), "{}", e.msg);
    assert!(net.bridge_exists());
    assert!(net.ports().is_empty());
    assert!(no_eth0(&ns));
    assert!(net.records().is_empty());
    let links = run_ok("ip", &["-o", "link", "show"]);
    assert_eq!(links.matches("mtu 50 ").count(), 0, "{links}");
}

#[test]
fn rollback_removes_the_bridge_it_created() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    // The interface name is taken inside the container.
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
    ]);
    let conf = full_conf(&net);
    let e = net.add(&ns, "exists", &conf).err();
    assert!(
        e.msg.contains("eth0") && e.msg.contains("already exists"),
        "{}",
        e.msg
    );
    assert!(
        !net.bridge_exists(),
        "the bridge this ADD created is still there"
    );
    assert!(net.records().is_empty());
    assert_attachment_gone(&net, "exists");
}

// ---------------------------------------------------------------------------
// CHECK, STATUS, GC.

#[test]
fn check_passes_on_a_fresh_attachment_and_catches_changes() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let conf = net.conf("1.0.0", Fam::Dual, json!({"isDefaultGateway": true}));
    let r = net.add_ok(&ns, "chk", &conf);
    net.check(&ns, "chk", &conf, &r).ok();
    // Without prevResult.
    let e = net.invoke("CHECK", ns.path_str(), "chk", &conf).run().err();
    assert!(e.msg.contains("prevResult"), "{}", e.msg);
    // The host veth moved off the bridge, and back.
    run_ok("ip", &["link", "set", &host_veth(&r), "nomaster"]);
    let e = net.check(&ns, "chk", &conf, &r).err();
    assert!(e.msg.contains("veth"), "{}", e.msg);
    run_ok(
        "ip",
        &["link", "set", &host_veth(&r), "master", &net.bridge],
    );
    net.check(&ns, "chk", &conf, &r).ok();
    // The default route gone from the container.
    ns.ip(&["route", "del", "default", "via", &net.v4(1)]);
    let e = net.check(&ns, "chk", &conf, &r).err();
    assert!(e.msg.contains("0.0.0.0/0"), "{}", e.msg);
    // An address gone from the container.
    ns.ip(&["addr", "del", &format!("{}/24", net.v4(2)), "dev", "eth0"]);
    let e = net.check(&ns, "chk", &conf, &r).err();
    assert!(e.msg.contains(&net.v4(2)), "{}", e.msg);
}

#[test]
fn status_and_gc() {
    let net = Net::new();
    let (ns1, ns2) = (Netns::new("cnit-br"), Netns::new("cnit-br"));
    let conf = net.conf(
        "1.1.0",
        Fam::Dual,
        json!({"isGateway": true, "ipMasq": true}),
    );
    let (c1, c2) = (harness::unique("keep"), harness::unique("stale"));
    net.add_ok(&ns1, &c1, &conf);
    net.add_ok(&ns2, &c2, &conf);
    Invocation::new("bridge", "STATUS").config(&conf).run().ok();

    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": c1, "ifname": "eth0"}]);
    Invocation::new("bridge", "GC").config(&gc).run().ok();
    assert_attachment_gone(&net, &c2);
    assert!(nft_masq_rules(&net, &c1) > 0);
    assert_eq!(net.records().len(), 2, "c1's two addresses are kept");
}

// ---------------------------------------------------------------------------
// The example config.

#[test]
fn containerd_example_conflist() {
    let net = Net::new();
    let ns = Netns::new("cnit-br");
    let mut chain = Chain::load("10-containerd-net.conflist");
    chain.list.name = net.name.clone();
    let p = &mut chain.list.plugins[0];
    p["bridge"] = json!(net.bridge);
    p["ipam"]["dataDir"] = json!(net.data.str());
    p["ipam"]["ranges"] = json!([[{"subnet": net.v4_subnet()}], [{"subnet": net.v6_subnet()}]]);
    let cid = harness::unique("ctrd");
    net.added
        .borrow_mut()
        .push((ns.path_str().to_string(), cid.clone()));
    let t = Target::new(ns.path_str(), &cid);
    let r = chain.add(&t).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(container_addrs(&ns, "eth0"), result_addrs(&r));
    assert!(
        net.bridge_json()["flags"]
            .as_array()
            .unwrap()
            .contains(&json!("PROMISC"))
    );
    assert!(net.ping_gateway(&ns));
    assert!(nft_masq_rules(&net, &cid) > 0);
    chain.check(&t, &r).unwrap_or_else(|e| panic!("{e:?}"));
    chain.del(&t, Some(&r)).unwrap_or_else(|e| panic!("{e:?}"));
    assert_attachment_gone(&net, &cid);
}

// ---------------------------------------------------------------------------
// Interop with the reference Go plugin.

/// What a user compares between two attachments: container addresses,
/// routes and link, the bridge and the port.
fn snapshot(net: &Net, ns: &Netns, r: &Value) -> Value {
    let routes = |fam: &str| {
        let mut v: Vec<Value> = ns
            .ip_json(&[fam, "route", "show", "table", "main"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["dst"].as_str().unwrap_or("").starts_with("fe80"))
            .cloned()
            .collect();
        v.sort_by_key(|r| r.to_string());
        Value::Array(v)
    };
    let link = &ns.ip_json(&["-d", "link", "show", "dev", "eth0"])[0];
    let br = net.bridge_json();
    let port: Value = serde_json::from_str(&run_ok(
        "bridge",
        &["-j", "-d", "link", "show", "dev", &host_veth(r)],
    ))
    .unwrap();
    let mut port = port[0].clone();
    for k in ["ifindex", "ifname", "link"] {
        port.as_object_mut().unwrap().remove(k);
    }
    json!({
        "container_addrs": container_addrs(ns, "eth0"),
        "container_routes4": routes("-4"),
        "container_routes6": routes("-6"),
        "container_link": {
            "mtu": link["mtu"], "flags": link["flags"], "kind": link["linkinfo"]["info_kind"],
            "operstate": link["operstate"],
        },
        "container_sysctls": [
            ns.sysctl("net.ipv6.conf.eth0.accept_dad"),
            ns.sysctl("net.ipv4.conf.eth0.arp_notify"),
        ],
        "bridge": {
            "addrs": net.bridge_addrs(), "mtu": br["mtu"], "flags": br["flags"],
            "promiscuity": br["promiscuity"], "kind": br["linkinfo"]["info_kind"],
            "vlan_filtering": br["linkinfo"]["info_data"]["vlan_filtering"],
            "stp_state": br["linkinfo"]["info_data"]["stp_state"],
            "txqlen": br["txqlen"],
        },
        "port": port,
        "port_mtu": host_ip_json(&["link", "show", "dev", &host_veth(r)])[0]["mtu"],
        "host_accept_ra": std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{}/accept_ra", net.bridge)).unwrap(),
    })
}

/// A result with what differs between any two runs (MACs, the random host
/// veth name) blanked.
fn normalized(r: &Value) -> Value {
    let mut r = r.clone();
    if let Some(ifs) = r["interfaces"].as_array_mut() {
        for i in ifs.iter_mut() {
            i["mac"] = json!("<mac>");
            if i.get("sandbox").is_some() {
                i["sandbox"] = json!("<netns>");
            }
        }
        ifs[1]["name"] = json!("<veth>");
    }
    r
}

#[test]
fn same_result_and_kernel_state_as_the_reference() {
    let reference = reference_plugin("bridge");
    // The Debian reference (v1.1.1) speaks up to 1.0.0.
    for version in ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"] {
        let net = Net::new();
        let conf = net.conf(
            version,
            Fam::Dual,
            json!({"isDefaultGateway": true, "mtu": 1400, "hairpinMode": true,
                   "dns": {"nameservers": ["10.0.0.53"]}}),
        );
        // Reference first, on a fresh bridge and IPAM directory ...
        let ns_ref = Netns::new("cnit-br");
        let r_ref = net
            .invoke("ADD", ns_ref.path_str(), "interop", &conf)
            .with_binary(reference.clone())
            .run()
            .ok();
        let s_ref = (version >= "0.3.0").then(|| snapshot(&net, &ns_ref, &r_ref));
        net.invoke("DEL", ns_ref.path_str(), "interop", &conf)
            .with_binary(reference.clone())
            .run()
            .ok();
        run_ok("ip", &["link", "del", &net.bridge]);
        let _ = std::fs::remove_dir_all(net.data.path().join(&net.name));

        // ... then ours, the same way.
        let ns = Netns::new("cnit-br");
        let r = net.add_ok(&ns, "interop", &conf);
        assert_eq!(
            normalized(&r),
            normalized(&r_ref),
            "result, version {version}"
        );
        if let Some(s_ref) = s_ref {
            assert_eq!(
                snapshot(&net, &ns, &r),
                s_ref,
                "kernel state, version {version}"
            );
        }
        net.del(ns.path_str(), "interop", &conf, Some(&r)).ok();
    }
}

#[test]
fn result_1_1_0_is_1_0_0_with_its_version() {
    let net = Net::new();
    let (ns1, ns2) = (Netns::new("cnit-br"), Netns::new("cnit-br"));
    let r10 = net.add_ok(
        &ns1,
        "v10",
        &net.conf("1.0.0", Fam::Dual, json!({"isGateway": true})),
    );
    let r11 = net.add_ok(
        &ns2,
        "v11",
        &net.conf("1.1.0", Fam::Dual, json!({"isGateway": true})),
    );
    let mut a = normalized(&r10);
    let mut b = normalized(&r11);
    for r in [&mut a, &mut b] {
        r["cniVersion"] = json!("x");
        r["ips"][0]["address"] = json!("x");
        r["ips"][1]["address"] = json!("x");
    }
    assert_eq!(a, b);
    assert_eq!(
        (&r10["cniVersion"], &r11["cniVersion"]),
        (&json!("1.0.0"), &json!("1.1.0"))
    );
}

#[test]
fn our_del_removes_the_references_masquerade_rules_and_check_accepts_its_attachment() {
    let net = Net::new();
    let out = Outside::new(net.id);
    let ns = Netns::new("cnit-br");
    let conf = net.conf(
        "1.0.0",
        Fam::Dual,
        json!({"isDefaultGateway": true, "ipMasq": true}),
    );
    let cid = harness::unique("refmasq");
    net.added
        .borrow_mut()
        .push((ns.path_str().to_string(), cid.clone()));
    let r = net
        .invoke("ADD", ns.path_str(), &cid, &conf)
        .with_binary(reference_plugin("bridge"))
        .run()
        .ok();
    // The reference's iptables chain: the name our formula gives.
    let lines = iptables_masq_lines(&net, &cid);
    let expected_chain = format!("CNI-{}", &sha512_hex(&format!("{}{cid}", net.name))[..24]);
    assert!(
        lines.iter().any(|l| l == &format!("-N {expected_chain}")),
        "{expected_chain} not in {lines:#?}"
    );
    assert!(ns.ping(&out.v4));

    net.check(&ns, &cid, &conf, &r).ok();
    net.del(ns.path_str(), &cid, &conf, Some(&r)).ok();
    assert_attachment_gone(&net, &cid);
    assert!(no_eth0(&ns));
    assert!(net.ports().is_empty());
}

/// sha512 via coreutils, independent of the plugin's own implementation.
fn sha512_hex(s: &str) -> String {
    let mut child = std::process::Command::new("sha512sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..128].to_string()
}

// ---------------------------------------------------------------------------
// VLANs (in the VM: this kernel has no bridge VLAN filtering).

/// The VLANs of a port as (vid, pvid, untagged), ranges expanded.
fn port_vlans(port: &str) -> BTreeSet<(u64, bool, bool)> {
    let v: Value =
        serde_json::from_str(&run_ok("bridge", &["-j", "vlan", "show", "dev", port])).unwrap();
    let mut out = BTreeSet::new();
    for entry in v.as_array().unwrap() {
        if entry["ifname"] != json!(port) {
            continue;
        }
        for vl in entry["vlans"].as_array().unwrap() {
            let flags: Vec<&str> = vl["flags"]
                .as_array()
                .map(|f| f.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let start = vl["vlan"].as_u64().unwrap();
            let end = vl["vlanEnd"].as_u64().unwrap_or(start);
            for vid in start..=end {
                out.insert((
                    vid,
                    flags.contains(&"PVID"),
                    flags.contains(&"Egress Untagged"),
                ));
            }
        }
    }
    out
}

#[test]
#[ignore = "needs bridge VLAN filtering: runs in a VM (scripts/vm-tests.sh)"]
fn vm_vlan_access_and_trunk_ports() {
    let net = Net::new();
    let (ns1, ns2, ns3) = (
        Netns::new("cnit-br"),
        Netns::new("cnit-br"),
        Netns::new("cnit-br"),
    );
    let trunk = json!([{"minID": 200, "maxID": 202}, {"id": 300}]);
    let access = net.conf("1.0.0", Fam::V4, json!({"vlan": 100}));
    let r1 = net.add_ok(&ns1, "access", &access);
    assert_eq!(
        net.bridge_json()["linkinfo"]["info_data"]["vlan_filtering"],
        1
    );
    assert_eq!(
        port_vlans(&host_veth(&r1)),
        BTreeSet::from([(100, true, true)]),
        "default VLAN 1 removed, 100 untagged PVID"
    );
    let both = net.conf("1.0.0", Fam::V4, json!({"vlan": 100, "vlanTrunk": trunk}));
    let r2 = net.add_ok(&ns2, "trunk", &both);
    assert_eq!(
        port_vlans(&host_veth(&r2)),
        BTreeSet::from([
            (100, true, true),
            (200, false, false),
            (201, false, false),
            (202, false, false),
            (300, false, false)
        ])
    );
    let keep = net.conf(
        "1.0.0",
        Fam::V4,
        json!({"vlanTrunk": [{"id": 300}], "preserveDefaultVlan": true}),
    );
    let r3 = net.add_ok(&ns3, "keep", &keep);
    assert_eq!(
        port_vlans(&host_veth(&r3)),
        BTreeSet::from([(1, true, true), (300, false, false)])
    );
}

#[test]
#[ignore = "needs bridge VLAN filtering: runs in a VM (scripts/vm-tests.sh)"]
fn vm_vlans_separate_containers_and_get_a_gateway_interface() {
    let net = Net::new();
    let (ns1, ns2, ns3) = (
        Netns::new("cnit-br"),
        Netns::new("cnit-br"),
        Netns::new("cnit-br"),
    );
    let v100 = net.conf("1.0.0", Fam::V4, json!({"vlan": 100, "isGateway": true}));
    let v200 = net.conf("1.0.0", Fam::V4, json!({"vlan": 200}));
    let r1 = net.add_ok(&ns1, "a100", &v100);
    let r2 = net.add_ok(&ns2, "b100", &v100);
    let r3 = net.add_ok(&ns3, "c200", &v200);
    // The gateway lives on <bridge>.100, an access port of VLAN 100.
    let gw_if = format!("{}.100", net.bridge);
    assert_eq!(r1["interfaces"][3]["name"], json!(gw_if), "{r1}");
    assert_eq!(
        global_addrs(&host_ip_json(&["addr", "show", "dev", &gw_if])),
        BTreeSet::from([format!("{}/24", net.v4(1))])
    );
    assert!(net.bridge_addrs().is_empty());
    assert!(ns1.ping(&net.v4(1)));
    assert!(ns1.ping(&result_ip(&r2, false)));
    assert!(
        !ns1.ping_once(&result_ip(&r3, false)),
        "VLAN 200 reachable from 100"
    );
    assert!(!ns3.ping_once(&result_ip(&r1, false)));
}
