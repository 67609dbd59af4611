//! End-to-end: the built `ipvlan` plugin (with `host-local`).
//!
//! This machine's kernel has no ipvlan: the `vm_*` tests, which need it,
//! are `#[ignore]`d here and run in a VM guest with Debian's kernel by
//! scripts/vm-tests.sh (part of scripts/test.sh). What runs here: config
//! errors found before anything is touched, and a clean failure on a kernel
//! without ipvlan.

mod harness;

use std::collections::BTreeSet;

use harness::lab::Lab;
use harness::{
    Chain, Invocation, Netns, Target, container_addrs, host_ip_json, no_eth0, reference_plugin,
    result_ip, run_ok,
};
use serde_json::{Value, json};

fn eth0(ns: &Netns) -> Value {
    ns.ip_json(&["-d", "link", "show", "dev", "eth0"])[0].clone()
}

/// (mode, flag) of the container's ipvlan, as `ip -d link` names them.
fn ipvlan_mode(ns: &Netns) -> (String, String) {
    let l = eth0(ns);
    assert_eq!(l["linkinfo"]["info_kind"], "ipvlan", "{l}");
    let d = &l["linkinfo"]["info_data"];
    // iproute2 prints the flag as a boolean key: "private" or "vepa".
    let flag = ["private", "vepa"]
        .into_iter()
        .find(|f| d[*f] == json!(true))
        .unwrap_or("bridge");
    (d["mode"].as_str().unwrap().to_string(), flag.to_string())
}

/// Whether this kernel can create an ipvlan (on a veth: not on `lo`).
fn kernel_has_ipvlan() -> bool {
    let id = harness::small_id();
    let (a, b, c) = (
        format!("cipa{id:04x}"),
        format!("cipb{id:04x}"),
        format!("cipc{id:04x}"),
    );
    run_ok(
        "ip",
        &["link", "add", &a, "type", "veth", "peer", "name", &b],
    );
    let ok = std::process::Command::new("ip")
        .args(["link", "add", &c, "link", &a, "type", "ipvlan"])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    run_ok("ip", &["link", "del", &a]);
    ok
}

// ---------------------------------------------------------------------------
// On any kernel.

#[test]
fn config_errors_touch_nothing() {
    let lab = Lab::new("ipvlan");
    let ns = Netns::new("cnit-ip");
    for (extra, needle) in [
        (json!({"mode": "l4"}), "unknown ipvlan mode: \"l4\""),
        (json!({"flag": "loud"}), "unknown ipvlan flag: \"loud\""),
        (json!({"ipam": null}), "ipam: an IPAM plugin is required"),
        (
            json!({"master": null, "ipam": null, "prevResult": {"cniVersion": "1.0.0",
                "interfaces": [{"name": "a"}, {"name": "b"}],
                "ips": [{"address": "10.1.2.3/24"}]}}),
            "chained master failure. PrevResult lacks a single named interface",
        ),
    ] {
        let e = lab.add(&ns, "bad", &lab.conf("1.0.0", extra)).err();
        assert_eq!(e.code, 7, "{}", e.msg);
        assert!(e.msg.contains(needle), "{}", e.msg);
        assert!(no_eth0(&ns));
        assert!(lab.records().is_empty());
    }
}

#[test]
fn a_kernel_without_ipvlan_fails_cleanly() {
    if kernel_has_ipvlan() {
        eprintln!("this kernel has ipvlan: the vm_* tests cover it (run with --ignored)");
        return;
    }
    let lab = Lab::new("ipvlan");
    let ns = Netns::new("cnit-ip");
    let e = lab
        .add(&ns, "nokernel", &lab.conf("1.0.0", json!({})))
        .err();
    assert!(e.msg.contains("failed to create ipvlan"), "{}", e.msg);
    assert!(no_eth0(&ns));
    assert!(lab.records().is_empty());
    // DEL works all the same.
    lab.del(
        ns.path_str(),
        "nokernel",
        &lab.conf("1.0.0", json!({})),
        None,
    )
    .ok();
}

// ---------------------------------------------------------------------------
// In the VM (Debian's kernel has ipvlan).

const VM: &str = "needs ipvlan: runs in a VM (scripts/vm-tests.sh)";

fn modes_conf(lab: &Lab, mode: &str, flag: &str, dual: bool) -> Value {
    lab.conf(
        "1.0.0",
        json!({"mode": mode, "flag": flag, "ipam": lab.ipam(dual)}),
    )
}

/// One mode with every flag.
fn every_flag(mode: &str) {
    assert!(kernel_has_ipvlan(), "{VM}");
    {
        for flag in ["bridge", "private", "vepa"] {
            let lab = Lab::new("ipvlan");
            let (ns1, ns2) = (Netns::new("cnit-ip"), Netns::new("cnit-ip"));
            let conf = modes_conf(&lab, mode, flag, false);
            let r1 = lab.add_ok(&ns1, "a", &conf);
            let r2 = lab.add_ok(&ns2, "b", &conf);
            assert_eq!(ipvlan_mode(&ns1), (mode.to_string(), flag.to_string()));
            lab.check(&ns1, "a", &conf, &r1).ok();
            // Every container and the master share one MAC.
            let master_mac =
                host_ip_json(&["link", "show", "dev", &lab.master])[0]["address"].clone();
            assert_eq!(eth0(&ns1)["address"], master_mac);
            assert_eq!(eth0(&ns2)["address"], master_mac);
            assert_eq!(r1["interfaces"][0]["mac"], master_mac);
            // The network beyond the master (in l3 and l3s that takes
            // routing in the master's namespace and on the network: not the
            // plugin's business).
            if mode == "l2" {
                assert!(ns1.ping(&lab.v4(250)), "{mode}/{flag}: c1 -> switch");
            }
            // Container to container: switched inside unless private; vepa
            // sends it to the switch, which does not send it back.
            let peer = result_ip(&r2, false);
            if flag == "bridge" {
                assert!(ns1.ping(&peer), "{mode}/{flag}: c1 -> c2");
            } else {
                assert!(!ns1.ping_once(&peer), "{mode}/{flag}: c1 reached c2");
            }
            if mode != "l2" {
                let l = eth0(&ns1);
                assert!(
                    l["flags"].as_array().unwrap().contains(&json!("NOARP")),
                    "{mode}: {l}"
                );
            }
        }
    }
}

#[test]
#[ignore = "needs ipvlan: runs in a VM (scripts/vm-tests.sh)"]
fn vm_l2_every_flag() {
    every_flag("l2");
}

#[test]
#[ignore = "needs ipvlan: runs in a VM (scripts/vm-tests.sh)"]
fn vm_l3_every_flag() {
    every_flag("l3");
}

#[test]
#[ignore = "needs ipvlan: runs in a VM (scripts/vm-tests.sh)"]
fn vm_l3s_every_flag() {
    every_flag("l3s");
}

#[test]
#[ignore = "needs ipvlan: runs in a VM (scripts/vm-tests.sh)"]
fn vm_l2_dual_stack_and_vepa_through_a_hairpin_switch() {
    assert!(kernel_has_ipvlan(), "{VM}");
    let lab = Lab::new("ipvlan");
    let (ns1, ns2) = (Netns::new("cnit-ip"), Netns::new("cnit-ip"));
    let conf = modes_conf(&lab, "l2", "bridge", true);
    lab.add_ok(&ns1, "a", &conf);
    let r2 = lab.add_ok(&ns2, "b", &conf);
    assert!(ns1.ping(&result_ip(&r2, true)));
    assert!(ns1.ping(&lab.v6(0xfa)));

    let lab = Lab::new("ipvlan");
    lab.bridge_switch(true);
    let (ns1, ns2) = (Netns::new("cnit-ip"), Netns::new("cnit-ip"));
    let conf = modes_conf(&lab, "l2", "vepa", false);
    lab.add_ok(&ns1, "a", &conf);
    let r2 = lab.add_ok(&ns2, "b", &conf);
    assert!(ns1.ping(&lab.v4(250)));
    assert!(
        ns1.ping(&result_ip(&r2, false)),
        "vepa via a hairpin switch"
    );
}

#[test]
#[ignore = "needs ipvlan: runs in a VM (scripts/vm-tests.sh)"]
fn vm_l3_containers_in_different_subnets_route_to_each_other() {
    assert!(kernel_has_ipvlan(), "{VM}");
    let lab = Lab::new("ipvlan");
    let (ns1, ns2) = (Netns::new("cnit-ip"), Netns::new("cnit-ip"));
    let subnet = |third: u32| format!("10.{}.{}.0/24", 160 + (lab.id >> 8), third);
    let conf_for = |third: u32| {
        lab.conf(
            "1.0.0",
            json!({"mode": "l3", "ipam": {"type": "host-local", "dataDir": lab.data.str(),
                "ranges": [[{"subnet": subnet(third)}]], "routes": [{"dst": "0.0.0.0/0"}]}}),
        )
    };
    // Two subnets from the lab's id (third octet) so parallel tests differ.
    let (a, b) = (lab.id & 0x7f, (lab.id & 0x7f) | 0x80);
    let r1 = lab.add_ok(&ns1, "a", &conf_for(a));
    let r2 = lab.add_ok(&ns2, "b", &conf_for(b));
    assert!(ns1.ping(&result_ip(&r2, false)), "l3: c1 -> c2 by route");
    assert!(ns2.ping(&result_ip(&r1, false)), "l3: c2 -> c1 by route");
}

#[test]
#[ignore = "needs ipvlan: runs in a VM (scripts/vm-tests.sh)"]
fn vm_chained_after_a_plugin_with_a_result() {
    assert!(kernel_has_ipvlan(), "{VM}");
    let lab = Lab::new("ipvlan");
    let ns = Netns::new("cnit-ip");
    let addr = format!("{}/24", lab.v4(77));
    let prev = json!({"cniVersion": "1.0.0",
        "interfaces": [{"name": lab.master}],
        "ips": [{"address": addr, "gateway": lab.v4(250), "interface": 0}],
        "routes": [{"dst": "0.0.0.0/0"}]});
    let conf = lab.conf(
        "1.0.0",
        json!({"master": null, "ipam": null, "prevResult": prev}),
    );
    let r = lab.add_ok(&ns, "chained", &conf);
    assert_eq!(container_addrs(&ns, "eth0"), BTreeSet::from([addr.clone()]));
    assert_eq!(r["interfaces"].as_array().unwrap().len(), 1);
    assert_eq!(r["interfaces"][0]["name"], "eth0");
    assert_eq!(r["ips"][0]["interface"], 0);
    assert_eq!(
        ns.ip_json(&["route", "show", "default"])[0]["gateway"],
        json!(lab.v4(250))
    );
    assert!(ns.ping(&lab.v4(250)));
    let check_conf = lab.conf("1.0.0", json!({"master": null, "ipam": null}));
    lab.check(&ns, "chained", &check_conf, &r).ok();
    lab.del(ns.path_str(), "chained", &check_conf, Some(&r))
        .ok();
    assert!(no_eth0(&ns));
}

#[test]
#[ignore = "needs ipvlan: runs in a VM (scripts/vm-tests.sh)"]
fn vm_del_is_idempotent_and_needs_no_master() {
    assert!(kernel_has_ipvlan(), "{VM}");
    let lab = Lab::new("ipvlan");
    let conf = lab.conf("1.0.0", json!({}));
    let ns = Netns::new("cnit-ip");
    let r = lab.add_ok(&ns, "twice", &conf);
    lab.del(ns.path_str(), "twice", &conf, Some(&r)).ok();
    lab.del(ns.path_str(), "twice", &conf, Some(&r)).ok();
    assert!(no_eth0(&ns) && lab.records().is_empty());

    let ns = Netns::new("cnit-ip");
    lab.add_ok(&ns, "gone", &conf);
    ns.delete();
    lab.del(ns.path_str(), "gone", &conf, None).ok();
    assert!(lab.records().is_empty());

    let ns = Netns::new("cnit-ip");
    lab.add_ok(&ns, "nons", &conf);
    lab.invoke("DEL", "", "nons", &conf)
        .unset("CNI_NETNS")
        .run()
        .ok();
    assert!(lab.records().is_empty());

    // The master deleted (its ipvlans go with it), then DEL, also with a
    // config that names no master and a host without a default route
    // would not matter: DEL never resolves it.
    let ns = Netns::new("cnit-ip");
    lab.add_ok(&ns, "nomaster", &conf);
    run_ok("ip", &["link", "del", &lab.master]);
    assert!(no_eth0(&ns));
    lab.del(
        ns.path_str(),
        "nomaster",
        &lab.conf("1.0.0", json!({"master": null})),
        None,
    )
    .ok();
    assert!(lab.records().is_empty());
}

#[test]
#[ignore = "needs ipvlan: runs in a VM (scripts/vm-tests.sh)"]
fn vm_rollback_mtu_and_check() {
    assert!(kernel_has_ipvlan(), "{VM}");
    let lab = Lab::new("ipvlan");
    let (ns1, ns2, ns3) = (
        Netns::new("cnit-ip"),
        Netns::new("cnit-ip"),
        Netns::new("cnit-ip"),
    );
    // IPAM exhausted: no link, no record left.
    let mut conf = lab.conf("1.0.0", json!({}));
    conf["ipam"]["ranges"] = json!([[{"subnet": format!("{}.0/24", lab.prefix()),
        "rangeStart": lab.v4(9), "rangeEnd": lab.v4(9)}]]);
    let r1 = lab.add_ok(&ns1, "first", &conf);
    let e = lab.add(&ns2, "second", &conf).err();
    assert!(e.msg.contains("no IP addresses available"), "{}", e.msg);
    assert!(no_eth0(&ns2));
    assert_eq!(lab.records().len(), 1);
    // MTU above the master's.
    let e = lab
        .add(&ns3, "mtu", &lab.conf("1.0.0", json!({"mtu": 9000})))
        .err();
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("invalid MTU 9000"), "{}", e.msg);
    assert!(no_eth0(&ns3));
    lab.add_ok(&ns3, "mtu", &lab.conf("1.0.0", json!({"mtu": 1280})));
    assert_eq!(eth0(&ns3)["mtu"], 1280);
    // CHECK: mode and flag mismatches, missing prevResult, lost address.
    let e = lab
        .check(
            &ns1,
            "first",
            &lab.conf("1.0.0", json!({"mode": "l3"})),
            &r1,
        )
        .err();
    assert!(
        e.msg
            .contains("Container IPVlan mode l2 does not match expected value: l3"),
        "{}",
        e.msg
    );
    let e = lab
        .check(
            &ns1,
            "first",
            &lab.conf("1.0.0", json!({"flag": "private"})),
            &r1,
        )
        .err();
    assert!(e.msg.contains("flag bridge does not match"), "{}", e.msg);
    let e = lab
        .invoke("CHECK", ns1.path_str(), "first", &conf)
        .run()
        .err();
    assert!(e.msg.contains("prevResult"), "{}", e.msg);
    ns1.ip(&["addr", "flush", "dev", "eth0"]);
    let e = lab.check(&ns1, "first", &conf, &r1).err();
    assert!(e.msg.contains(&lab.v4(9)), "{}", e.msg);
}

#[test]
#[ignore = "needs ipvlan: runs in a VM (scripts/vm-tests.sh)"]
fn vm_link_in_container_and_example_conf() {
    assert!(kernel_has_ipvlan(), "{VM}");
    let lab = Lab::new("ipvlan");
    let ns = Netns::new("cnit-ip");
    ns.ip(&["link", "add", "mst0", "type", "dummy"]);
    ns.ip(&["link", "set", "mst0", "up"]);
    let conf = lab.conf("1.0.0", json!({"master": "mst0", "linkInContainer": true}));
    let r = lab.add_ok(&ns, "inside", &conf);
    assert_eq!(eth0(&ns)["link"], "mst0");
    lab.check(&ns, "inside", &conf, &r).ok();
    lab.del(ns.path_str(), "inside", &conf, Some(&r)).ok();
    assert!(no_eth0(&ns));

    let ns = Netns::new("cnit-ip");
    let mut chain = Chain::load("30-ipvlan.conf");
    chain.list.name = lab.name.clone();
    let p = &mut chain.list.plugins[0];
    p["master"] = json!(lab.master);
    p["ipam"]["dataDir"] = json!(lab.data.str());
    p["ipam"]["subnet"] = json!(format!("{}.0/24", lab.prefix()));
    p["ipam"]["gateway"] = json!(lab.v4(250));
    lab.track(&ns, "example");
    let t = Target::new(ns.path_str(), "example");
    let r = chain.add(&t).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(ns.ping(&lab.v4(250)));
    chain.check(&t, &r).unwrap_or_else(|e| panic!("{e:?}"));
    chain.del(&t, Some(&r)).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(no_eth0(&ns));
}

/// What a user compares (as for macvlan): addresses, routes, link
/// attributes, minus what differs by design (see tests/macvlan.rs).
fn snapshot(ns: &Netns) -> Value {
    let mut l = eth0(ns);
    let o = l.as_object_mut().unwrap();
    for k in [
        "ifindex",
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
    json!({"addrs": container_addrs(ns, "eth0"), "routes4": routes("-4"),
           "routes6": routes("-6"), "link": l,
           "arp_notify": ns.sysctl("net.ipv4.conf.eth0.arp_notify")})
}

#[test]
#[ignore = "needs ipvlan: runs in a VM (scripts/vm-tests.sh)"]
fn vm_same_results_and_state_as_the_reference() {
    assert!(kernel_has_ipvlan(), "{VM}");
    let reference = reference_plugin("ipvlan");
    // (Under the VM's emulated CPU a reference ADD + DEL takes seconds.)
    for version in ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"] {
        let modes: &[&str] = if version == "1.0.0" {
            &["l2", "l3"]
        } else {
            &["l2"]
        };
        for &mode in modes {
            let lab = Lab::new("ipvlan");
            // Dual stack once per mode (IPv6 DAD costs a second or two).
            let mut ipam = lab.ipam(version == "1.0.0");
            ipam["routes"] = json!([{"dst": "0.0.0.0/0"}]);
            let conf = lab.conf(
                version,
                json!({"mode": mode, "mtu": 1400, "ipam": ipam,
                       "dns": {"nameservers": ["10.0.0.53"]}}),
            );
            let ns_ref = Netns::new("cnit-ip");
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
            let _ = std::fs::remove_dir_all(lab.data.path().join(&lab.name));
            let ns = Netns::new("cnit-ip");
            let r = lab.add_ok(&ns, "interop", &conf);
            let norm = |r: &Value| {
                let mut r = r.clone();
                if let Some(i) = r["interfaces"].as_array_mut() {
                    for i in i {
                        i["sandbox"] = json!("<netns>");
                    }
                }
                r
            };
            assert_eq!(norm(&r), norm(&r_ref), "result, {version} {mode}");
            assert_eq!(snapshot(&ns), s_ref, "kernel state, {version} {mode}");
            // Our DEL on the reference's kind of attachment and theirs on ours.
            lab.invoke("DEL", ns.path_str(), "interop", &conf)
                .with_binary(reference.clone())
                .run()
                .ok();
            assert!(no_eth0(&ns));
            assert!(lab.records().is_empty());
        }
    }
}

#[test]
#[ignore = "needs ipvlan: runs in a VM (scripts/vm-tests.sh)"]
fn vm_status_gc_and_1_1_0() {
    assert!(kernel_has_ipvlan(), "{VM}");
    let lab = Lab::new("ipvlan");
    let (ns1, ns2) = (Netns::new("cnit-ip"), Netns::new("cnit-ip"));
    let conf = lab.conf("1.1.0", json!({}));
    let r = lab.add_ok(&ns1, "keep", &conf);
    assert_eq!(r["cniVersion"], "1.1.0");
    assert_eq!(r["ips"][0]["interface"], 0);
    lab.add_ok(&ns2, "stale", &conf);
    Invocation::new("ipvlan", "STATUS").config(&conf).run().ok();
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "keep", "ifname": "eth0"}]);
    Invocation::new("ipvlan", "GC").config(&gc).run().ok();
    assert_eq!(lab.records(), BTreeSet::from([lab.v4(2)]));
}
