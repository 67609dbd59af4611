//! End-to-end: the built `loopback` binary against real network namespaces.

mod harness;

use harness::{Invocation, Netns};
use serde_json::{Value, json};

const ALL: [&str; 7] = [
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];

fn conf(version: &str) -> Value {
    json!({"cniVersion": version, "name": "lo-net", "type": "loopback"})
}

fn call(cmd: &str, ns: &str, cid: &str, version: &str) -> harness::Outcome {
    Invocation::attach("loopback", cmd, ns, cid)
        .config(&conf(version))
        .run()
}

#[test]
fn version_reports_every_spec_version() {
    let out = Invocation::new("loopback", "VERSION")
        .stdin("not even json")
        .run();
    let v = out.ok();
    assert_eq!(v, json!({"cniVersion": "1.1.0", "supportedVersions": ALL}));
}

#[test]
fn about_text_without_command() {
    let out = Invocation::new("loopback", "").unset("CNI_COMMAND").run();
    assert_eq!(out.code, Some(0));
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr.lines().next(),
        Some(format!("CNI loopback plugin v{}", env!("CARGO_PKG_VERSION")).as_str())
    );
}

/// ADD, CHECK, DEL, DEL again, for every spec version, with `lo`'s state
/// checked inside the namespace after each step.
#[test]
fn every_version_every_verb() {
    for version in ALL {
        let ns = Netns::new("cnit-lo");
        let path = ns.path_str();
        assert!(!ns.link_is_up("lo"), "a new namespace starts with lo down");

        let result = call("ADD", path, "ctr1", version).ok();
        assert!(ns.link_is_up("lo"), "{version}: lo up after ADD");
        assert_eq!(ns.addresses("lo"), ["127.0.0.1/8", "::1/128"]);
        assert_eq!(result["cniVersion"], version);
        if version.starts_with("0.1") || version.starts_with("0.2") {
            assert_eq!(
                result,
                json!({"cniVersion": version, "ip4": {"ip": "127.0.0.1/8"}, "ip6": {"ip": "::1/128"}, "dns": {}})
            );
        } else {
            assert_eq!(
                result["interfaces"],
                json!([{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": path}])
            );
            let ips = result["ips"].as_array().unwrap();
            assert_eq!(ips.len(), 2);
            assert_eq!(ips[0]["address"], "127.0.0.1/8");
            assert_eq!(ips[1]["address"], "::1/128");
            assert!(ips.iter().all(|ip| ip["interface"] == 0));
            if version.starts_with("0.") {
                assert_eq!(
                    (ips[0]["version"].as_str(), ips[1]["version"].as_str()),
                    (Some("4"), Some("6"))
                );
                assert_eq!(result["dns"], json!({}));
            } else {
                assert!(ips[0].get("version").is_none());
                assert!(result.get("dns").is_none());
            }
        }

        let check = call("CHECK", path, "ctr1", version);
        if version >= "0.4.0" {
            assert_eq!(check.ok(), Value::Null, "{version}");
        } else {
            let e = check.err();
            assert_eq!(
                (e.code, e.msg.as_str()),
                (1, "config version does not allow CHECK"),
                "{version}"
            );
        }

        for cmd in ["STATUS", "GC"] {
            let out = Invocation::new("loopback", cmd)
                .config(&conf(version))
                .run();
            if version == "1.1.0" {
                assert_eq!(out.ok(), Value::Null);
            } else {
                assert_eq!(out.err().code, 1, "{cmd} at {version}");
            }
        }

        assert_eq!(call("DEL", path, "ctr1", version).ok(), Value::Null);
        assert!(!ns.link_is_up("lo"), "{version}: lo down after DEL");
        assert_eq!(
            call("DEL", path, "ctr1", version).ok(),
            Value::Null,
            "{version}: DEL twice"
        );
        if version >= "0.4.0" {
            let e = call("CHECK", path, "ctr1", version).err();
            assert_eq!(e.msg, "loopback interface is down");
        }
    }
}

#[test]
fn prev_result_is_passed_through() {
    let ns = Netns::new("cnit-lo");
    let prev = json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": ns.path_str()}],
        "ips": [{"address": "10.9.0.2/24", "gateway": "10.9.0.1", "interface": 0}]});
    let mut c = conf("1.0.0");
    c["prevResult"] = prev.clone();
    let out = Invocation::attach("loopback", "ADD", ns.path_str(), "c2")
        .config(&c)
        .run()
        .ok();
    assert_eq!(out, prev);
    assert!(ns.link_is_up("lo"));
}

#[test]
fn del_when_the_namespace_is_gone() {
    let ns = Netns::new("cnit-lo");
    call("ADD", ns.path_str(), "c3", "1.0.0").ok();
    let path = ns.path_str().to_string();
    ns.delete();
    assert_eq!(call("DEL", &path, "c3", "1.0.0").ok(), Value::Null);
    let no_netns = Invocation::attach("loopback", "DEL", "", "c3")
        .unset("CNI_NETNS")
        .config(&conf("1.0.0"))
        .run();
    assert_eq!(no_netns.ok(), Value::Null);
    // ADD and CHECK on a missing namespace: "container unknown".
    for cmd in ["ADD", "CHECK"] {
        let e = call(cmd, &path, "c3", "1.0.0").err();
        assert_eq!(e.code, 3, "{cmd}: {e:?}");
        assert!(e.msg.contains(&path), "{}", e.msg);
    }
}

#[test]
fn missing_environment() {
    let ns = Netns::new("cnit-lo");
    for (cmd, var) in [
        ("ADD", "CNI_CONTAINERID"),
        ("ADD", "CNI_NETNS"),
        ("ADD", "CNI_IFNAME"),
        ("ADD", "CNI_PATH"),
        ("CHECK", "CNI_NETNS"),
        ("DEL", "CNI_CONTAINERID"),
        ("DEL", "CNI_IFNAME"),
        ("DEL", "CNI_PATH"),
    ] {
        let out = Invocation::attach("loopback", cmd, ns.path_str(), "c4")
            .unset(var)
            .config(&conf("1.0.0"))
            .run();
        let e = out.err();
        assert_eq!(e.code, 4, "{cmd} without {var}");
        assert_eq!(e.msg, format!("required env variables [{var}] missing"));
    }
    assert!(!ns.link_is_up("lo"), "nothing was done");
}

#[test]
fn bad_input_gives_clean_errors() {
    let ns = Netns::new("cnit-lo");
    let p = ns.path_str();
    let base = || Invocation::attach("loopback", "ADD", p, "c5");
    let cases: Vec<(&str, Invocation, u64, &str)> = vec![
        (
            "malformed JSON",
            base().stdin(r#"{"cniVersion": "1.0.0", "name": "#),
            6,
            "error unmarshalling network config",
        ),
        (
            "not JSON",
            base().stdin("hello"),
            6,
            "error unmarshalling network config",
        ),
        (
            "empty stdin",
            base().stdin(""),
            6,
            "error unmarshalling network config",
        ),
        ("array", base().stdin("[]"), 6, "not a JSON object"),
        (
            "unknown cniVersion",
            base().config(&conf("0.5.0")),
            1,
            "incompatible CNI versions",
        ),
        (
            "garbage cniVersion",
            base().config(&conf("one")),
            1,
            "incompatible CNI versions",
        ),
        (
            "no name",
            base().config(&json!({"cniVersion": "1.0.0", "type": "loopback"})),
            7,
            "missing network name",
        ),
        (
            "name with a slash",
            base().config(&json!({"cniVersion": "1.0.0", "name": "../../etc"})),
            7,
            "invalid characters found in network name",
        ),
        (
            "ifname too long",
            base()
                .env("CNI_IFNAME", "abcdefghijklmnop")
                .config(&conf("1.0.0")),
            4,
            "CNI_IFNAME: interface name is too long",
        ),
        (
            "ifname with slash",
            base().env("CNI_IFNAME", "../x").config(&conf("1.0.0")),
            4,
            "CNI_IFNAME",
        ),
        (
            "container id",
            base().env("CNI_CONTAINERID", "../x").config(&conf("1.0.0")),
            4,
            "CNI_CONTAINERID",
        ),
        (
            "netns is a file",
            base()
                .env("CNI_NETNS", "/etc/hostname")
                .config(&conf("1.0.0")),
            4,
            "is not a network namespace",
        ),
        (
            "netns is a directory",
            base().env("CNI_NETNS", "/tmp").config(&conf("1.0.0")),
            4,
            "is not a network namespace",
        ),
        (
            "netns missing",
            base()
                .env("CNI_NETNS", "/run/netns/cnit-none-such")
                .config(&conf("1.0.0")),
            3,
            "does not exist",
        ),
        (
            "own netns",
            base()
                .env("CNI_NETNS", "/proc/self/ns/net")
                .config(&conf("1.0.0")),
            8,
            "should not be the same",
        ),
        (
            "unknown command",
            base().env("CNI_COMMAND", "ADDD").config(&conf("1.0.0")),
            4,
            "unknown CNI_COMMAND: ADDD",
        ),
    ];
    for (what, inv, code, needle) in cases {
        let e = inv.run().err();
        assert_eq!(e.code, code, "{what}: {e:?}");
        assert!(
            e.msg.contains(needle) || e.details.contains(needle),
            "{what}: {e:?}"
        );
    }
    assert!(!ns.link_is_up("lo"), "no bad input touched the namespace");
}

#[test]
fn error_json_carries_the_config_version() {
    let e = Invocation::attach("loopback", "ADD", "/run/netns/cnit-none-such", "c6")
        .config(&conf("0.4.0"))
        .run()
        .err();
    assert_eq!(e.cni_version, "0.4.0");
}

/// A 100 MB stdin is refused after a bounded read: the plugin runs under a
/// 64 MiB address-space limit, which buffering the input would blow.
#[test]
fn huge_stdin_is_refused_with_bounded_memory() {
    let ns = Netns::new("cnit-lo");
    let mut big = b"{\"cniVersion\":\"1.0.0\",\"name\":\"lo-net\",\"pad\":\"".to_vec();
    big.resize(100 * 1024 * 1024, b'x');
    let out = Invocation::attach("loopback", "ADD", ns.path_str(), "c7")
        .stdin(big)
        .memory_limit_kib(64 * 1024)
        .run();
    let e = out.err();
    assert_eq!(e.code, 5, "{e:?}");
    assert!(e.msg.contains("larger than"), "{e:?}");
    // The same limit is no obstacle to a normal ADD.
    let ok = Invocation::attach("loopback", "ADD", ns.path_str(), "c7")
        .config(&conf("1.0.0"))
        .memory_limit_kib(64 * 1024)
        .run();
    ok.ok();
}

#[test]
fn unknown_config_keys_are_ignored() {
    let ns = Netns::new("cnit-lo");
    let mut c = conf("1.0.0");
    c["somethingNew"] = json!({"nested": [1, 2, 3]});
    c["capabilities"] = json!({"portMappings": true});
    c["runtimeConfig"] = json!({"portMappings": null});
    Invocation::attach("loopback", "ADD", ns.path_str(), "c8")
        .config(&c)
        .run()
        .ok();
    assert!(ns.link_is_up("lo"));
}

/// conf/99-loopback.conf, run the way a runtime runs it.
#[test]
fn example_config_through_the_runtime_path() {
    let chain = harness::Chain::load("99-loopback.conf");
    let ns = Netns::new("cnit-lo");
    let t = harness::Target::new(ns.path_str(), "conf-lo");
    let result = chain.add(&t).unwrap();
    assert_eq!(result["interfaces"][0]["name"], "lo");
    assert!(ns.link_is_up("lo"));
    chain.check(&t, &result).unwrap();
    chain.network_verb("STATUS", None).unwrap();
    chain.network_verb("GC", Some(&json!([]))).unwrap();
    chain.del(&t, Some(&result)).unwrap();
    assert!(!ns.link_is_up("lo"));
    chain.del(&t, None).unwrap();
}
