//! End-to-end: the built `host-local` binary, its state directory read back
//! from disk, and interop with the reference Go binary.

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use harness::{Invocation, Outcome, TempDir, reference_plugin};
use serde_json::{Value, json};

const ALL: [&str; 7] = [
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];
/// CNI_NETNS must be set for ADD; host-local never opens it.
const NETNS: &str = "/run/netns/cnit-hl-unused";

fn conf(version: &str, dir: &TempDir, mut ipam: Value) -> Value {
    ipam["type"] = json!("host-local");
    ipam["dataDir"] = json!(dir.str());
    json!({"cniVersion": version, "name": "hlnet", "type": "bridge", "ipam": ipam})
}

fn dual() -> Value {
    json!({"ranges": [[{"subnet": "10.44.0.0/24"}], [{"subnet": "fd44::/120"}]], "routes": [{"dst": "0.0.0.0/0"}]})
}

fn call(cmd: &str, cid: &str, c: &Value) -> Outcome {
    Invocation::attach("host-local", cmd, NETNS, cid)
        .config(c)
        .run()
}

fn net_dir(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join("hlnet")
}

/// The records in the network directory: name -> content.
fn records(dir: &TempDir) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(net_dir(dir)) else {
        return out;
    };
    for e in entries {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "lock" || name.starts_with("last_reserved_ip.") {
            continue;
        }
        out.insert(name, std::fs::read_to_string(e.path()).unwrap());
    }
    out
}

fn addresses(result: &Value) -> Vec<String> {
    result["ips"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| i["address"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_version_allocate_check_release() {
    for version in ALL {
        let dir = TempDir::new("cnit-hl");
        let c = conf(version, &dir, dual());
        let r = call("ADD", "ctr-a", &c).ok();
        assert_eq!(r["cniVersion"], version);
        if version < "0.3.0" {
            assert_eq!(
                r["ip4"],
                json!({"ip": "10.44.0.2/24", "gateway": "10.44.0.1", "routes": [{"dst": "0.0.0.0/0"}]})
            );
            assert_eq!(r["ip6"], json!({"ip": "fd44::2/120", "gateway": "fd44::1"}));
        } else {
            assert_eq!(addresses(&r), ["10.44.0.2/24", "fd44::2/120"], "{version}");
            assert_eq!(r["ips"][0]["gateway"], "10.44.0.1");
            assert!(
                r["ips"][0].get("interface").is_none(),
                "IPAM results carry no interface index"
            );
            assert_eq!(r["routes"], json!([{"dst": "0.0.0.0/0"}]));
            assert_eq!(
                r["ips"][0].get("version").is_some(),
                version.starts_with("0.")
            );
        }
        // On disk, byte for byte what the reference writes.
        let recs = records(&dir);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs["10.44.0.2"], "ctr-a\r\neth0");
        assert_eq!(recs["fd44::2"], "ctr-a\r\neth0");
        let nd = net_dir(&dir);
        assert_eq!(
            std::fs::read_to_string(nd.join("last_reserved_ip.0")).unwrap(),
            "10.44.0.2"
        );
        assert_eq!(
            std::fs::read_to_string(nd.join("last_reserved_ip.1")).unwrap(),
            "fd44::2"
        );
        assert_eq!(
            std::fs::metadata(nd.join("10.44.0.2"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert_eq!(std::fs::metadata(nd.join("lock")).unwrap().len(), 0);

        if version >= "0.4.0" {
            assert_eq!(call("CHECK", "ctr-a", &c).ok(), Value::Null);
        }
        // The next ADD continues round robin.
        let r2 = call("ADD", "ctr-b", &c).ok();
        assert!(r2.to_string().contains("10.44.0.3/24"), "{r2}");
        assert_eq!(call("DEL", "ctr-a", &c).ok(), Value::Null);
        assert_eq!(
            records(&dir).keys().cloned().collect::<Vec<_>>(),
            ["10.44.0.3", "fd44::3"]
        );
        assert_eq!(
            call("DEL", "ctr-a", &c).ok(),
            Value::Null,
            "DEL is idempotent"
        );
        if version >= "0.4.0" {
            let e = call("CHECK", "ctr-a", &c).err();
            assert_eq!(
                e.msg,
                "host-local: Failed to find address added by container ctr-a"
            );
        }
        call("DEL", "ctr-b", &c).ok();
        assert!(records(&dir).is_empty());
    }
}

#[test]
fn legacy_single_range_and_resolv_conf() {
    let dir = TempDir::new("cnit-hl");
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 10.45.0.1\nsearch example.com\noptions ndots:2\n",
    )
    .unwrap();
    let c = conf(
        "1.0.0",
        &dir,
        json!({"subnet": "10.45.0.0/16", "rangeStart": "10.45.1.10", "rangeEnd": "10.45.1.20", "gateway": "10.45.0.254", "resolvConf": resolv}),
    );
    let r = call("ADD", "c1", &c).ok();
    assert_eq!(
        r["ips"],
        json!([{"address": "10.45.1.10/16", "gateway": "10.45.0.254"}])
    );
    assert_eq!(
        r["dns"],
        json!({"nameservers": ["10.45.0.1"], "search": ["example.com"], "options": ["ndots:2"]})
    );
}

#[test]
fn requested_addresses() {
    let dir = TempDir::new("cnit-hl");
    let base = conf("1.0.0", &dir, dual());
    // CNI_ARGS IP=
    let r = Invocation::attach("host-local", "ADD", NETNS, "c1")
        .env("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.44.0.50")
        .config(&base)
        .run()
        .ok();
    assert_eq!(addresses(&r), ["10.44.0.50/24", "fd44::2/120"]);
    // args.cni.ips and runtimeConfig.ips, both families.
    let mut c = base.clone();
    c["args"] = json!({"cni": {"ips": ["fd44::77"]}});
    c["runtimeConfig"] = json!({"ips": ["10.44.0.77/24"]});
    assert_eq!(
        addresses(&call("ADD", "c2", &c).ok()),
        ["10.44.0.77/24", "fd44::77/120"]
    );
    // Taken, gateway, outside every range: refused, nothing left behind.
    let before = records(&dir);
    let cases = [
        (
            "IP=10.44.0.50",
            "requested IP address 10.44.0.50 is not available in range set 10.44.0.1-10.44.0.254",
        ),
        ("IP=10.44.0.1", "requested ip 10.44.0.1 is subnet's gateway"),
        (
            "IP=192.168.7.7",
            "failed to allocate all requested IPs: 192.168.7.7",
        ),
    ];
    for (args, msg) in cases {
        let e = Invocation::attach("host-local", "ADD", NETNS, "c3")
            .env("CNI_ARGS", args)
            .config(&base)
            .run()
            .err();
        assert!(e.msg.contains(msg), "{args}: {e:?}");
        assert_eq!(
            records(&dir),
            before,
            "{args}: a failed ADD releases what it took"
        );
    }
    // Unknown CNI_ARGS keys without IgnoreUnknown.
    let e = Invocation::attach("host-local", "ADD", NETNS, "c3")
        .env("CNI_ARGS", "FOO=bar")
        .config(&base)
        .run()
        .err();
    assert_eq!(e.code, 4);
}

#[test]
fn second_add_is_refused() {
    let dir = TempDir::new("cnit-hl");
    let c = conf("1.0.0", &dir, dual());
    call("ADD", "c1", &c).ok();
    let e = call("ADD", "c1", &c).err();
    assert!(
        e.msg
            .contains("has been allocated to c1, duplicate allocation is not allowed"),
        "{e:?}"
    );
    assert_eq!(records(&dir).len(), 2);
    // Another interface of the same container is another attachment.
    let r = Invocation::attach("host-local", "ADD", NETNS, "c1")
        .env("CNI_IFNAME", "net1")
        .config(&c)
        .run()
        .ok();
    assert_eq!(addresses(&r), ["10.44.0.3/24", "fd44::3/120"]);
}

#[test]
fn exhaustion_and_status() {
    let dir = TempDir::new("cnit-hl");
    let ipam = json!({"ranges": [[{"subnet": "10.46.0.0/29"}]]}); // .2-.6 usable (.1 gateway)
    let c = conf("1.1.0", &dir, ipam);
    let status = || Invocation::new("host-local", "STATUS").config(&c).run();
    status().ok(); // no state yet: available
    for i in 0..5 {
        call("ADD", &format!("c{i}"), &c).ok();
        let s = status();
        if i < 4 {
            s.ok();
        } else {
            let e = s.err();
            assert_eq!(
                (e.code, e.msg.as_str()),
                (
                    50,
                    "no IP addresses available in range set: 10.46.0.1-10.46.0.6"
                )
            );
        }
    }
    let e = call("ADD", "c5", &c).err();
    assert_eq!(e.code, 50);
    assert_eq!(
        e.msg,
        "failed to allocate for range 0: no IP addresses available in range set: 10.46.0.1-10.46.0.6"
    );
    call("DEL", "c2", &c).ok();
    status().ok();
    let r = call("ADD", "c5", &c).ok();
    assert_eq!(addresses(&r), ["10.46.0.4/29"]);
}

#[test]
fn gc_releases_what_is_not_valid() {
    let dir = TempDir::new("cnit-hl");
    let c = conf("1.1.0", &dir, dual());
    for cid in ["keep", "drop1", "drop2"] {
        call("ADD", cid, &c).ok();
    }
    // A record from before interface names, and a half-written one.
    let nd = net_dir(&dir);
    std::fs::write(nd.join("10.44.0.200"), "legacy-keep").unwrap();
    std::fs::write(nd.join("10.44.0.201"), "legacy-drop").unwrap();
    std::fs::write(nd.join("10.44.0.202"), "").unwrap();
    let gc = |valid: Option<Value>| {
        let mut g = c.clone();
        if let Some(v) = valid {
            g["cni.dev/valid-attachments"] = v;
        }
        Invocation::new("host-local", "GC").config(&g).run().ok();
    };
    gc(None);
    assert_eq!(records(&dir).len(), 9, "no list: nothing released");
    gc(Some(
        json!([{"containerID": "keep", "ifname": "eth0"}, {"containerID": "legacy-keep", "ifname": "eth0"}]),
    ));
    let left: Vec<String> = records(&dir).keys().cloned().collect();
    assert_eq!(left, ["10.44.0.2", "10.44.0.200", "fd44::2"]);
    assert!(
        nd.join("lock").exists()
            && nd.join("last_reserved_ip.0").exists()
            && nd.join("last_reserved_ip.1").exists()
    );
    // The freed addresses are allocatable again and "keep" still owns its own.
    call("DEL", "keep", &c).ok();
    assert_eq!(
        records(&dir).keys().cloned().collect::<Vec<_>>(),
        ["10.44.0.200"]
    );
    gc(Some(json!([])));
    assert!(
        records(&dir).is_empty(),
        "an empty list releases everything"
    );
}

#[test]
fn legacy_records_are_honoured() {
    let dir = TempDir::new("cnit-hl");
    let c = conf("1.0.0", &dir, dual());
    call("ADD", "someone", &c).ok();
    std::fs::write(net_dir(&dir).join("10.44.0.9"), "oldctr\n").unwrap();
    // A new ADD for that container is a duplicate of its legacy record.
    let e = call("ADD", "oldctr", &c).err();
    assert!(
        e.msg.contains("10.44.0.9 has been allocated to oldctr"),
        "{e:?}"
    );
    call("CHECK", "oldctr", &c).ok();
    call("DEL", "oldctr", &c).ok();
    assert!(!records(&dir).contains_key("10.44.0.9"));
}

/// The reference writes, we read; we write, the reference reads.
#[test]
fn interop_with_the_reference_plugin() {
    let go = reference_plugin("host-local");
    let dir = TempDir::new("cnit-hl");
    // The reference binary (v1.1.x) speaks up to spec 1.0.0.
    let c = conf("1.0.0", &dir, dual());
    let go_call = |cmd: &str, cid: &str| {
        Invocation::attach("host-local", cmd, NETNS, cid)
            .config(&c)
            .with_binary(go.clone())
            .run()
    };

    assert_eq!(
        addresses(&go_call("ADD", "go-1").ok()),
        ["10.44.0.2/24", "fd44::2/120"]
    );
    // Ours continues the reference's round robin and sees its records.
    assert_eq!(
        addresses(&call("ADD", "rs-1", &c).ok()),
        ["10.44.0.3/24", "fd44::3/120"]
    );
    call("CHECK", "go-1", &c).ok();
    assert!(
        call("ADD", "go-1", &c)
            .err()
            .msg
            .contains("duplicate allocation")
    );
    // And the other way round.
    assert_eq!(
        addresses(&go_call("ADD", "go-2").ok()),
        ["10.44.0.4/24", "fd44::4/120"]
    );
    go_call("CHECK", "rs-1").ok();
    // Cross-implementation DEL.
    call("DEL", "go-1", &c).ok();
    go_call("DEL", "rs-1").ok();
    assert_eq!(
        records(&dir).keys().cloned().collect::<Vec<_>>(),
        ["10.44.0.4", "fd44::4"]
    );
    assert_eq!(records(&dir)["10.44.0.4"], "go-2\r\neth0");
    // Ours must notice what the reference just changed.
    assert_eq!(
        addresses(&call("ADD", "rs-2", &c).ok()),
        ["10.44.0.5/24", "fd44::5/120"]
    );
    go_call("DEL", "rs-2").ok();
    call("DEL", "go-2", &c).ok();
    assert!(records(&dir).is_empty());
    // A reference state directory with many records, then ours.
    for i in 0..20 {
        go_call("ADD", &format!("bulk-{i}")).ok();
    }
    let r = call("ADD", "after-bulk", &c).ok();
    assert_eq!(addresses(&r), ["10.44.0.26/24", "fd44::1a/120"]);
    for i in 0..20 {
        call("DEL", &format!("bulk-{i}"), &c).ok();
    }
    assert_eq!(records(&dir).len(), 2);
}

/// Many processes at once, ours and the reference's mixed, on one network:
/// every address handed out once, every record kept.
#[test]
fn parallel_adds_never_collide() {
    let go = reference_plugin("host-local");
    let dir = TempDir::new("cnit-hl");
    let c = conf(
        "1.0.0",
        &dir,
        json!({"ranges": [[{"subnet": "10.47.0.0/24"}]]}),
    );
    let handles: Vec<_> = (0..64)
        .map(|i| {
            let c = c.clone();
            let go = go.clone();
            std::thread::spawn(move || {
                let mut inv =
                    Invocation::attach("host-local", "ADD", NETNS, &format!("par-{i}")).config(&c);
                if i % 4 == 3 {
                    inv = inv.with_binary(go); // a quarter of them by the reference
                }
                addresses(&inv.run().ok())
            })
        })
        .collect();
    let got: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let distinct: BTreeSet<&String> = got.iter().collect();
    assert_eq!(got.len(), 64);
    assert_eq!(
        distinct.len(),
        64,
        "an address was handed out twice: {got:?}"
    );
    let recs = records(&dir);
    assert_eq!(recs.len(), 64);
    let owners: BTreeSet<&String> = recs.values().collect();
    assert_eq!(
        owners.len(),
        64,
        "every record belongs to a different container"
    );
    // Parallel DELs leave nothing.
    let handles: Vec<_> = (0..64)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || call("DEL", &format!("par-{i}"), &c).ok())
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(records(&dir).is_empty());
}

/// SIGKILL at random points of many ADDs: every record on disk is whole, and
/// DEL (or GC) afterwards leaves nothing behind.
#[test]
fn kill_nine_leaves_no_orphans() {
    for finish_with_gc in [false, true] {
        let dir = TempDir::new("cnit-hl");
        let c = conf("1.1.0", &dir, dual());
        let mut seed: u64 = std::process::id() as u64 * 2_654_435_761;
        let mut ids = Vec::new();
        for round in 0..4 {
            let mut children = Vec::new();
            for i in 0..12 {
                let id = format!("k{round}-{i}");
                let mut cmd = std::process::Command::new(harness::plugin_path("host-local"));
                cmd.env_clear()
                    .env("CNI_COMMAND", "ADD")
                    .env("CNI_CONTAINERID", &id)
                    .env("CNI_NETNS", NETNS)
                    .env("CNI_IFNAME", "eth0")
                    .env("CNI_PATH", "/nonexistent")
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
                let mut child = cmd.spawn().unwrap();
                use std::io::Write;
                let _ = child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(c.to_string().as_bytes());
                children.push(child);
                ids.push(id);
            }
            for child in &mut children {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                std::thread::sleep(std::time::Duration::from_micros((seed >> 33) % 3000));
                let _ = child.kill();
            }
            for mut child in children {
                let _ = child.wait();
            }
        }
        // Whatever was written is whole: "<id>\r\neth0" for one of ours.
        for (name, content) in records(&dir) {
            if name.starts_with(".tmp-") {
                continue;
            }
            let id = content
                .strip_suffix("\r\neth0")
                .unwrap_or_else(|| panic!("partial record {name}: {content:?}"));
            assert!(ids.iter().any(|i| i == id), "{name}: {content:?}");
        }
        if finish_with_gc {
            let mut g = c.clone();
            g["cni.dev/valid-attachments"] = json!([]);
            Invocation::new("host-local", "GC").config(&g).run().ok();
        } else {
            for id in &ids {
                call("DEL", id, &c).ok();
            }
        }
        let left = records(&dir);
        assert!(
            left.keys().all(|n| n.starts_with(".tmp-")) || finish_with_gc,
            "orphans after DEL: {left:?}"
        );
        // The next run cleans debris and works normally.
        call("ADD", "after", &c).ok();
        call("DEL", "after", &c).ok();
        assert!(records(&dir).is_empty(), "left behind: {:?}", records(&dir));
    }
}

/// Names that would escape dataDir are refused before anything is written.
#[test]
fn hostile_names_write_nothing_outside_data_dir() {
    let root = TempDir::new("cnit-hl");
    let data = root.path().join("data");
    let mk = |name: &str| {
        json!({"cniVersion": "1.0.0", "name": name, "type": "bridge",
               "ipam": {"type": "host-local", "dataDir": data, "ranges": [[{"subnet": "10.48.0.0/24"}]]}})
    };
    let long_id = "a".repeat(300);
    let cases: Vec<(Invocation, u64)> = vec![
        (
            Invocation::attach("host-local", "ADD", NETNS, "c").config(&mk("../x")),
            7,
        ),
        (
            Invocation::attach("host-local", "ADD", NETNS, "c").config(&mk("a/b")),
            7,
        ),
        (
            Invocation::attach("host-local", "ADD", NETNS, "c").config(&mk("..")),
            7,
        ),
        (
            Invocation::attach("host-local", "ADD", NETNS, "c").config(&mk("")),
            7,
        ),
        (
            Invocation::attach("host-local", "ADD", NETNS, "../x").config(&mk("ok")),
            4,
        ),
        (
            Invocation::attach("host-local", "ADD", NETNS, "a/b").config(&mk("ok")),
            4,
        ),
        (
            Invocation::attach("host-local", "ADD", NETNS, &long_id).config(&mk("ok")),
            4,
        ),
        (
            Invocation::attach("host-local", "ADD", NETNS, "c")
                .env("CNI_IFNAME", "../x")
                .config(&mk("ok")),
            4,
        ),
        (
            Invocation::attach("host-local", "DEL", NETNS, "../../x").config(&mk("ok")),
            4,
        ),
    ];
    for (inv, code) in cases {
        let e = inv.run().err();
        assert_eq!(e.code, code, "{e:?}");
    }
    let everything: Vec<String> = walk(root.path());
    assert!(everything.is_empty(), "written: {everything:?}");
    // dataDir must be absolute.
    let mut rel = mk("ok");
    rel["ipam"]["dataDir"] = json!("relative/dir");
    assert_eq!(
        Invocation::attach("host-local", "ADD", NETNS, "c")
            .config(&rel)
            .run()
            .err()
            .code,
        7
    );
}

fn walk(p: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(p) {
        for e in entries.flatten() {
            out.push(e.path().display().to_string());
            out.extend(walk(&e.path()));
        }
    }
    out
}

/// The index is a cache: removing it, damaging it, or changing the
/// directory behind its back never changes an answer.
#[test]
fn index_is_only_a_cache() {
    let dir = TempDir::new("cnit-hl");
    let c = conf("1.0.0", &dir, dual());
    for i in 0..5 {
        call("ADD", &format!("c{i}"), &c).ok();
    }
    let index = dir.path().join(".hlnet.hl-index");
    assert!(index.join("stamp").exists());
    // A record created behind its back (a person, the reference plugin).
    std::fs::write(net_dir(&dir).join("10.44.0.100"), "manual\r\neth0").unwrap();
    call("CHECK", "manual", &c).ok();
    call("DEL", "manual", &c).ok();
    assert!(!records(&dir).contains_key("10.44.0.100"));
    // A record removed behind its back.
    std::fs::remove_file(net_dir(&dir).join("10.44.0.2")).unwrap();
    call("DEL", "c0", &c).ok();
    assert!(!records(&dir).contains_key("fd44::2"));
    // The index deleted.
    std::fs::remove_dir_all(&index).unwrap();
    assert!(
        call("ADD", "c1", &c)
            .err()
            .msg
            .contains("duplicate allocation")
    );
    call("DEL", "c1", &c).ok();
    // The index damaged.
    for e in std::fs::read_dir(&index).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("keys-")
        {
            std::fs::write(&p, "garbage that is not a bucket\n").unwrap();
        }
    }
    assert!(
        call("ADD", "c2", &c)
            .err()
            .msg
            .contains("duplicate allocation")
    );
    call("DEL", "c2", &c).ok();
    call("ADD", "c9", &c).ok();
    let owners: BTreeSet<String> = records(&dir).values().cloned().collect();
    assert_eq!(
        owners,
        ["c3\r\neth0", "c4\r\neth0", "c9\r\neth0"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}

#[test]
fn config_errors_have_the_reference_messages() {
    let dir = TempDir::new("cnit-hl");
    let cases = [
        (json!({}), "no IP ranges specified"),
        (
            json!({"ranges": [[{"subnet": "10.0.0.0/31"}]]}),
            "Network 10.0.0.0/31 too small to allocate from",
        ),
        (
            json!({"ranges": [[{"subnet": "10.0.0.5/24"}]]}),
            "Network has host bits set. For a subnet mask of length 24 the network address is 10.0.0.0",
        ),
        (
            json!({"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.1.1"}]]}),
            "10.0.1.1 not in network 10.0.0.0/24",
        ),
        (
            json!({"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.0.0/25"}]]}),
            "range set 0 overlaps with 1",
        ),
        (
            json!({"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "10.0.0.128/25"}]]}),
            "overlap",
        ),
        (
            json!({"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"}]]}),
            "mixed address families",
        ),
    ];
    for (ipam, msg) in cases {
        let e = call("ADD", "c", &conf("1.0.0", &dir, ipam.clone())).err();
        assert_eq!(e.code, 7, "{ipam}");
        assert!(e.msg.contains(msg), "{ipam}: {}", e.msg);
    }
    let e = call("ADD", "c", &json!({"cniVersion": "1.0.0", "name": "n"})).err();
    assert_eq!(e.msg, "IPAM config missing 'ipam' key");
    let two_v4 = json!({"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.1.0/24"}]]});
    let e = call("ADD", "c", &conf("0.2.0", &dir, two_v4)).err();
    assert_eq!(
        e.msg,
        "CNI version 0.2.0 does not support more than 1 address per family"
    );
    assert!(records(&dir).is_empty());
}
