//! End-to-end: the built `macvlan` plugin (with `host-local`) on real
//! namespaces. The master is one end of a veth pair (this machine's kernel
//! has no dummy links); its other end sits in a "switch" namespace that
//! holds an address on the same subnet, or is a port of a bridge there
//! (with hairpin for VEPA).

mod harness;

use harness::lab::Lab;

use std::collections::BTreeSet;

use harness::{
    Chain, Invocation, Netns, Target, container_addrs, host_ip_json, no_eth0, reference_plugin,
    result_ip, run_ok,
};
use serde_json::{Value, json};

/// `ip -d -j link show eth0` in a namespace.
fn eth0(ns: &Netns) -> Value {
    ns.ip_json(&["-d", "link", "show", "dev", "eth0"])[0].clone()
}

fn macvlan_mode(ns: &Netns) -> String {
    let l = eth0(ns);
    assert_eq!(l["linkinfo"]["info_kind"], "macvlan", "{l}");
    l["linkinfo"]["info_data"]["mode"]
        .as_str()
        .unwrap()
        .to_string()
}

fn host_ifindex(name: &str) -> u64 {
    host_ip_json(&["link", "show", "dev", name])[0]["ifindex"]
        .as_u64()
        .unwrap()
}

// ---------------------------------------------------------------------------
// Modes.

#[test]
fn bridge_mode_containers_reach_each_other_and_the_network() {
    let lab = Lab::new("macvlan");
    let (ns1, ns2) = (Netns::new("cnit-mv"), Netns::new("cnit-mv"));
    let conf = lab.conf("1.0.0", json!({"mode": "bridge", "ipam": lab.ipam(true)}));
    let r1 = lab.add_ok(&ns1, "a", &conf);
    let r2 = lab.add_ok(&ns2, "b", &conf);
    assert_eq!(macvlan_mode(&ns1), "bridge");
    // The link sits on our master, in the container.
    assert_eq!(
        eth0(&ns1)["link_index"].as_u64(),
        Some(host_ifindex(&lab.master))
    );
    for v6 in [false, true] {
        assert!(ns1.ping(&result_ip(&r2, v6)), "c1 -> c2 (v6: {v6})");
    }
    assert!(ns1.ping(&lab.v4(250)));
    assert!(ns2.ping(&lab.v6(0xfa)));
    lab.del(ns1.path_str(), "a", &conf, Some(&r1)).ok();
    assert!(no_eth0(&ns1));
    assert_eq!(lab.records().len(), 2, "only b's addresses are left");
}

#[test]
fn private_mode_containers_reach_the_network_but_not_each_other() {
    let lab = Lab::new("macvlan");
    let (ns1, ns2) = (Netns::new("cnit-mv"), Netns::new("cnit-mv"));
    let conf = lab.conf("1.0.0", json!({"mode": "private"}));
    lab.add_ok(&ns1, "a", &conf);
    let r2 = lab.add_ok(&ns2, "b", &conf);
    assert_eq!(macvlan_mode(&ns1), "private");
    assert!(ns1.ping(&lab.v4(250)));
    assert!(ns2.ping(&lab.v4(250)));
    assert!(
        !ns1.ping_once(&result_ip(&r2, false)),
        "private macvlans talked"
    );
}

#[test]
fn vepa_mode_goes_through_the_switch_and_needs_its_hairpin() {
    for hairpin in [true, false] {
        let lab = Lab::new("macvlan");
        lab.bridge_switch(hairpin);
        let (ns1, ns2) = (Netns::new("cnit-mv"), Netns::new("cnit-mv"));
        let conf = lab.conf("1.0.0", json!({"mode": "vepa"}));
        lab.add_ok(&ns1, "a", &conf);
        let r2 = lab.add_ok(&ns2, "b", &conf);
        assert_eq!(macvlan_mode(&ns1), "vepa");
        assert!(ns1.ping(&lab.v4(250)));
        let peer = result_ip(&r2, false);
        if hairpin {
            assert!(ns1.ping(&peer), "VEPA through a hairpin switch");
        } else {
            assert!(!ns1.ping_once(&peer), "VEPA without hairpin talked");
        }
    }
}

#[test]
fn passthru_takes_the_masters_mac_and_allows_one_link() {
    let lab = Lab::new("macvlan");
    let (ns1, ns2) = (Netns::new("cnit-mv"), Netns::new("cnit-mv"));
    let conf = lab.conf("1.0.0", json!({"mode": "passthru"}));
    let master_mac = host_ip_json(&["link", "show", "dev", &lab.master])[0]["address"].clone();
    let r = lab.add_ok(&ns1, "a", &conf);
    assert_eq!(macvlan_mode(&ns1), "passthru");
    assert_eq!(eth0(&ns1)["address"], master_mac);
    assert_eq!(r["interfaces"][0]["mac"], master_mac);
    let m = host_ip_json(&["-d", "link", "show", "dev", &lab.master]);
    assert!(m[0]["promiscuity"].as_u64().unwrap() >= 1, "{m}");
    assert!(ns1.ping(&lab.v4(250)));
    // A second passthru link on the same master: refused, nothing left.
    let e = lab.add(&ns2, "b", &conf).err();
    assert!(e.msg.contains("macvlan"), "{}", e.msg);
    assert!(no_eth0(&ns2));
    assert_eq!(lab.records().len(), 1);
}

#[test]
fn source_mode_and_bcqueuelen() {
    let lab = Lab::new("macvlan");
    let (ns1, ns2) = (Netns::new("cnit-mv"), Netns::new("cnit-mv"));
    lab.add_ok(&ns1, "src", &lab.conf("1.0.0", json!({"mode": "source"})));
    assert_eq!(macvlan_mode(&ns1), "source");
    lab.add_ok(&ns2, "bcq", &lab.conf("1.0.0", json!({"bcqueuelen": 2000})));
    assert_eq!(eth0(&ns2)["linkinfo"]["info_data"]["bcqueuelen"], 2000);
}

#[test]
fn unknown_mode_is_invalid_config() {
    let lab = Lab::new("macvlan");
    let ns = Netns::new("cnit-mv");
    let e = lab
        .add(&ns, "x", &lab.conf("1.0.0", json!({"mode": "bogus"})))
        .err();
    assert_eq!(e.code, 7);
    assert!(
        e.msg.contains("unknown macvlan mode: \"bogus\""),
        "{}",
        e.msg
    );
}

// ---------------------------------------------------------------------------
// Other fields.

#[test]
fn mtu_up_to_the_masters() {
    let lab = Lab::new("macvlan");
    let (ns1, ns2) = (Netns::new("cnit-mv"), Netns::new("cnit-mv"));
    run_ok("ip", &["link", "set", &lab.master, "mtu", "1400"]);
    let e = lab
        .add(&ns1, "big", &lab.conf("1.0.0", json!({"mtu": 1500})))
        .err();
    assert_eq!(e.code, 7);
    assert!(
        e.msg
            .contains("invalid MTU 1500, must be [0, master MTU(1400)]"),
        "{}",
        e.msg
    );
    assert!(no_eth0(&ns1));
    assert!(lab.records().is_empty());
    lab.add_ok(&ns2, "ok", &lab.conf("1.0.0", json!({"mtu": 1300})));
    assert_eq!(eth0(&ns2)["mtu"], 1300);
}

#[test]
fn mac_from_config_cni_args_and_runtime_config() {
    let lab = Lab::new("macvlan");
    let nss: Vec<Netns> = (0..3).map(|_| Netns::new("cnit-mv")).collect();
    let conf = lab.conf("1.0.0", json!({"mac": "0a:58:00:00:00:01"}));
    lab.add_ok(&nss[0], "cfg", &conf);
    assert_eq!(eth0(&nss[0])["address"], "0a:58:00:00:00:01");
    // CNI_ARGS beats the config.
    lab.track(&nss[1], "args");
    lab.invoke("ADD", nss[1].path_str(), "args", &conf)
        .env("CNI_ARGS", "IgnoreUnknown=1;MAC=0a:58:00:00:00:02")
        .run()
        .ok();
    assert_eq!(eth0(&nss[1])["address"], "0a:58:00:00:00:02");
    // runtimeConfig beats both.
    let mut rc = conf.clone();
    rc["runtimeConfig"] = json!({"mac": "0a:58:00:00:00:03"});
    lab.track(&nss[2], "rc");
    let r = lab
        .invoke("ADD", nss[2].path_str(), "rc", &rc)
        .env("CNI_ARGS", "IgnoreUnknown=1;MAC=0a:58:00:00:00:02")
        .run()
        .ok();
    assert_eq!(eth0(&nss[2])["address"], "0a:58:00:00:00:03");
    assert_eq!(r["interfaces"][0]["mac"], "0a:58:00:00:00:03");
    // A bad MAC is a config error naming its source.
    let ns = Netns::new("cnit-mv");
    let e = lab
        .add(&ns, "bad", &lab.conf("1.0.0", json!({"mac": "zz"})))
        .err();
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("mac"), "{}", e.msg);
}

#[test]
fn link_in_container_uses_a_master_inside_the_namespace() {
    let lab = Lab::new("macvlan");
    let ns = Netns::new("cnit-mv");
    ns.ip(&[
        "link", "add", "mst0", "type", "veth", "peer", "name", "mst1",
    ]);
    ns.ip(&["link", "set", "mst0", "up"]);
    ns.ip(&["link", "set", "mst1", "up"]);

    let conf = lab.conf("1.0.0", json!({"master": "mst0", "linkInContainer": true}));
    let r = lab.add_ok(&ns, "inside", &conf);
    assert_eq!(eth0(&ns)["link"], "mst0");
    lab.check(&ns, "inside", &conf, &r).ok();
    lab.del(ns.path_str(), "inside", &conf, Some(&r)).ok();
    assert!(no_eth0(&ns));

    // Without a master: the container's default-route interface.
    ns.ip(&["addr", "add", "192.0.2.10/24", "dev", "mst0"]);
    ns.ip(&["route", "add", "default", "via", "192.0.2.1", "dev", "mst0"]);
    let conf = lab.conf(
        "1.0.0",
        json!({"master": null, "linkInContainer": true, "ipam": null}),
    );
    lab.add_ok(&ns, "default", &conf);
    assert_eq!(eth0(&ns)["link"], "mst0");
}

#[test]
fn without_a_master_the_hosts_default_route_interface() {
    let lab = Lab::new("macvlan");
    let ns = Netns::new("cnit-mv");
    // Layer 2 only, and no IPv6 on the new link: nothing is sent on the
    // host's real network.
    for key in ["all", "default"] {
        assert!(
            ns.exec(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{key}.disable_ipv6=1")
            ])
            .status
            .success()
        );
    }
    let default = host_ip_json(&["route", "show", "default"]);
    let dev = default[0]["dev"]
        .as_str()
        .expect("this host has a default route");
    let conf = lab.conf("1.0.0", json!({"master": null, "ipam": null}));
    lab.add_ok(&ns, "dflt", &conf);
    assert_eq!(eth0(&ns)["link_index"].as_u64(), Some(host_ifindex(dev)));
}

#[test]
fn layer2_only_without_ipam() {
    let lab = Lab::new("macvlan");
    let ns = Netns::new("cnit-mv");
    let conf = lab.conf("1.0.0", json!({"ipam": {}}));
    let r = lab.add_ok(&ns, "l2", &conf);
    assert!(ns.link_is_up("eth0"));
    assert!(container_addrs(&ns, "eth0").is_empty());
    assert!(r.get("ips").is_none(), "{r}");
    lab.check(&ns, "l2", &conf, &r).ok();
    lab.del(ns.path_str(), "l2", &conf, Some(&r)).ok();
    assert!(no_eth0(&ns));
}

#[test]
fn addresses_are_announced_when_the_link_comes_up() {
    let lab = Lab::new("macvlan");
    // The switch learns neighbours from unsolicited announcements (IPv6:
    // RFC 9131, only on a router).
    for key in [
        "net.ipv4.conf.up0.arp_accept=1",
        "net.ipv6.conf.up0.forwarding=1",
        "net.ipv6.conf.up0.accept_untracked_na=1",
    ] {
        assert!(lab.switch.exec(&["sysctl", "-qw", key]).status.success());
    }
    let ns = Netns::new("cnit-mv");
    let r = lab.add_ok(
        &ns,
        "garp",
        &lab.conf("1.0.0", json!({"ipam": lab.ipam(true)})),
    );
    assert_eq!(ns.sysctl("net.ipv4.conf.eth0.arp_notify"), "1");
    assert_eq!(ns.sysctl("net.ipv6.conf.eth0.ndisc_notify"), "1");
    let mac = r["interfaces"][0]["mac"].as_str().unwrap();
    for v6 in [false, true] {
        let ip = result_ip(&r, v6);
        let fam = if v6 { "-6" } else { "-4" };
        // No traffic was sent to the switch: only the announcements.
        let neigh = (0..20)
            .find_map(|_| {
                let n = lab.switch.ip_json(&[fam, "neigh", "show", "dev", "up0"]);
                let hit = n
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["dst"] == json!(ip))
                    .cloned();
                if hit.is_none() {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                hit
            })
            .unwrap_or_else(|| panic!("the switch never heard of {ip}"));
        assert_eq!(neigh["lladdr"], json!(mac));
    }
}

// ---------------------------------------------------------------------------
// Results, interop.

fn normalized(r: &Value) -> Value {
    let mut r = r.clone();
    if let Some(ifs) = r["interfaces"].as_array_mut() {
        for i in ifs {
            i["mac"] = json!("<mac>");
            i["sandbox"] = json!("<netns>");
        }
    }
    r
}

/// What a user compares: addresses, routes, and the link's attributes.
fn snapshot(ns: &Netns) -> Value {
    let mut l = eth0(ns);
    let o = l.as_object_mut().unwrap();
    // The reference (v1.1.1) creates the link with a zero transmit queue
    // length (an unset Go field); ours keeps the kernel's default, which
    // queueing disciplines a user adds rely on.
    for k in [
        "ifindex",
        "address",
        "link_index",
        "link_netnsid",
        "addr_info",
        "txqlen",
    ] {
        o.remove(k);
    }
    let routes = |fam: &str| {
        let mut v: Vec<Value> = ns
            .ip_json(&[fam, "route", "show"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["dst"].as_str().unwrap_or("").starts_with("fe80"))
            .cloned()
            .collect();
        v.sort_by_key(Value::to_string);
        Value::Array(v)
    };
    json!({
        "addrs": container_addrs(ns, "eth0"),
        "routes4": routes("-4"),
        "routes6": routes("-6"),
        "link": l,
        // ndisc_notify: newer reference versions set it too (v1.1.1 does not).
        "arp_notify": ns.sysctl("net.ipv4.conf.eth0.arp_notify"),
    })
}

#[test]
fn same_results_and_state_as_the_reference_in_every_version() {
    let reference = reference_plugin("macvlan");
    for version in ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"] {
        let lab = Lab::new("macvlan");
        // Dual stack where the result shapes differ most (IPv6 DAD costs a
        // second or two per ADD).
        let dual = matches!(version, "0.2.0" | "1.0.0");
        let mut ipam = lab.ipam(dual);
        ipam["routes"] = if dual {
            json!([{"dst": "0.0.0.0/0"}, {"dst": "::/0"}])
        } else {
            json!([{"dst": "0.0.0.0/0"}])
        };
        let conf = lab.conf(
            version,
            json!({"mode": "private", "mtu": 1400, "ipam": ipam,
                   "dns": {"nameservers": ["10.0.0.53"], "search": ["example.test"]}}),
        );
        let ns_ref = Netns::new("cnit-mv");
        let r_ref = lab
            .invoke("ADD", ns_ref.path_str(), "interop", &conf)
            .with_binary(reference.clone())
            .run()
            .ok();
        let s_ref = snapshot(&ns_ref);
        lab.invoke("DEL", ns_ref.path_str(), "interop", &conf)
            .with_binary(reference.clone())
            .run()
            .ok();
        assert!(lab.records().is_empty());
        let _ = std::fs::remove_dir_all(lab.data.path().join(&lab.name));

        let ns = Netns::new("cnit-mv");
        let r = lab.add_ok(&ns, "interop", &conf);
        assert_eq!(normalized(&r), normalized(&r_ref), "result, {version}");
        assert_eq!(snapshot(&ns), s_ref, "kernel state, {version}");
        lab.del(ns.path_str(), "interop", &conf, Some(&r)).ok();
    }
}

#[test]
fn result_1_1_0() {
    let lab = Lab::new("macvlan");
    let ns = Netns::new("cnit-mv");
    let r = lab.add_ok(
        &ns,
        "v11",
        &lab.conf("1.1.0", json!({"ipam": lab.ipam(true)})),
    );
    assert_eq!(r["cniVersion"], "1.1.0");
    assert_eq!(
        r["interfaces"],
        json!([{"name": "eth0", "mac": eth0(&ns)["address"], "sandbox": ns.path_str()}])
    );
    assert_eq!(
        r["ips"],
        json!([
            {"address": format!("{}/24", lab.v4(2)), "gateway": lab.v4(1), "interface": 0},
            {"address": format!("{}/64", lab.v6(2)), "gateway": lab.v6(1), "interface": 0},
        ])
    );
}

#[test]
fn our_del_and_check_on_a_reference_attachment() {
    let lab = Lab::new("macvlan");
    let ns = Netns::new("cnit-mv");
    let conf = lab.conf("1.0.0", json!({}));
    lab.track(&ns, "ref");
    let r = lab
        .invoke("ADD", ns.path_str(), "ref", &conf)
        .with_binary(reference_plugin("macvlan"))
        .run()
        .ok();
    lab.check(&ns, "ref", &conf, &r).ok();
    lab.del(ns.path_str(), "ref", &conf, Some(&r)).ok();
    assert!(no_eth0(&ns));
    assert!(lab.records().is_empty());
}

// ---------------------------------------------------------------------------
// DEL, rollback, CHECK, STATUS, GC.

#[test]
fn del_is_idempotent() {
    let lab = Lab::new("macvlan");
    let conf = lab.conf("1.0.0", json!({}));
    // Twice in a row.
    let ns = Netns::new("cnit-mv");
    let r = lab.add_ok(&ns, "twice", &conf);
    lab.del(ns.path_str(), "twice", &conf, Some(&r)).ok();
    lab.del(ns.path_str(), "twice", &conf, Some(&r)).ok();
    assert!(no_eth0(&ns) && lab.records().is_empty());
    // The namespace deleted first.
    let ns = Netns::new("cnit-mv");
    lab.add_ok(&ns, "gone", &conf);
    ns.delete();
    lab.del(ns.path_str(), "gone", &conf, None).ok();
    assert!(lab.records().is_empty());
    // No CNI_NETNS: the addresses are released all the same.
    let ns = Netns::new("cnit-mv");
    lab.add_ok(&ns, "nons", &conf);
    lab.invoke("DEL", "", "nons", &conf)
        .unset("CNI_NETNS")
        .run()
        .ok();
    assert!(lab.records().is_empty());
    // The master deleted (which takes the macvlan with it), no prevResult,
    // and a config whose master no longer exists.
    let ns = Netns::new("cnit-mv");
    lab.add_ok(&ns, "nomaster", &conf);
    run_ok("ip", &["link", "del", &lab.master]);
    assert!(no_eth0(&ns));
    lab.del(ns.path_str(), "nomaster", &conf, None).ok();
    assert!(lab.records().is_empty());
}

#[test]
fn rollback_when_ipam_fails() {
    let lab = Lab::new("macvlan");
    let (ns1, ns2) = (Netns::new("cnit-mv"), Netns::new("cnit-mv"));
    let mut conf = lab.conf("1.0.0", json!({}));
    conf["ipam"]["ranges"] = json!([[{"subnet": format!("{}.0/24", lab.prefix()),
        "rangeStart": lab.v4(9), "rangeEnd": lab.v4(9)}]]);
    lab.add_ok(&ns1, "first", &conf);
    let e = lab.add(&ns2, "second", &conf).err();
    assert!(e.msg.contains("no IP addresses available"), "{}", e.msg);
    assert!(no_eth0(&ns2), "the macvlan was left behind");
    assert_eq!(lab.records().len(), 1);
    // The master has one macvlan on it: the first container's.
    let uppers = run_ok("ip", &["-o", "link", "show"]);
    assert_eq!(
        uppers.matches(&format!("@{}:", lab.master)).count(),
        0,
        "a macvlan stayed on the host: {uppers}"
    );
}

#[test]
fn rollback_keeps_an_existing_container_interface() {
    let lab = Lab::new("macvlan");
    let ns = Netns::new("cnit-mv");
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
    ]);
    let e = lab.add(&ns, "taken", &lab.conf("1.0.0", json!({}))).err();
    assert!(e.msg.contains("eth0"), "{}", e.msg);
    assert_eq!(
        eth0(&ns)["linkinfo"]["info_kind"],
        "veth",
        "ours was deleted"
    );
    assert!(lab.records().is_empty());
}

#[test]
fn check_catches_changes() {
    let lab = Lab::new("macvlan");
    let ns = Netns::new("cnit-mv");
    let conf = lab.conf("1.0.0", json!({"mode": "bridge"}));
    let r = lab.add_ok(&ns, "chk", &conf);
    lab.check(&ns, "chk", &conf, &r).ok();
    let e = lab.invoke("CHECK", ns.path_str(), "chk", &conf).run().err();
    assert!(e.msg.contains("prevResult"), "{}", e.msg);
    let private = lab.conf("1.0.0", json!({"mode": "private"}));
    let e = lab.check(&ns, "chk", &private, &r).err();
    assert!(
        e.msg
            .contains("container macvlan mode bridge does not match expected value: private"),
        "{}",
        e.msg
    );
    ns.ip(&["addr", "flush", "dev", "eth0"]);
    let e = lab.check(&ns, "chk", &conf, &r).err();
    assert!(e.msg.contains(&lab.v4(2)), "{}", e.msg);
    let e = lab
        .check(
            &ns,
            "chk",
            &lab.conf("1.0.0", json!({"master": "nosuchmaster"})),
            &r,
        )
        .err();
    assert!(e.msg.contains("nosuchmaster"), "{}", e.msg);
}

#[test]
fn status_and_gc_delegate_to_ipam() {
    let lab = Lab::new("macvlan");
    let (ns1, ns2) = (Netns::new("cnit-mv"), Netns::new("cnit-mv"));
    let conf = lab.conf("1.1.0", json!({}));
    lab.add_ok(&ns1, "keep", &conf);
    lab.add_ok(&ns2, "stale", &conf);
    Invocation::new("macvlan", "STATUS")
        .config(&conf)
        .run()
        .ok();
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "keep", "ifname": "eth0"}]);
    Invocation::new("macvlan", "GC").config(&gc).run().ok();
    assert_eq!(lab.records(), BTreeSet::from([lab.v4(2)]));
}

#[test]
fn example_conf() {
    let lab = Lab::new("macvlan");
    let ns = Netns::new("cnit-mv");
    let mut chain = Chain::load("30-macvlan.conf");
    chain.list.name = lab.name.clone();
    let p = &mut chain.list.plugins[0];
    p["master"] = json!(lab.master);
    p["ipam"]["dataDir"] = json!(lab.data.str());
    p["ipam"]["subnet"] = json!(format!("{}.0/24", lab.prefix()));
    p["ipam"]["rangeStart"] = json!(lab.v4(100));
    p["ipam"]["rangeEnd"] = json!(lab.v4(200));
    p["ipam"]["gateway"] = json!(lab.v4(250));
    lab.track(&ns, "example");
    let t = Target::new(ns.path_str(), "example");
    let r = chain.add(&t).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(r["ips"][0]["address"], json!(format!("{}/24", lab.v4(100))));
    // The default route goes via the switch's address.
    assert_eq!(
        ns.ip_json(&["route", "show", "default"])[0]["gateway"],
        json!(lab.v4(250))
    );
    assert!(ns.ping(&lab.v4(250)));
    chain.check(&t, &r).unwrap_or_else(|e| panic!("{e:?}"));
    chain.del(&t, Some(&r)).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(no_eth0(&ns));
}
