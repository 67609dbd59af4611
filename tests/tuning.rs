//! End-to-end: the built `tuning` plugin on a veth end inside a real
//! namespace, with a prevResult as a main plugin would leave it; kernel
//! state and the backup file read back; interop with the reference.

mod harness;

use harness::{Invocation, Netns, TempDir, no_eth0, reference_plugin};
use serde_json::{Value, json};

struct Box {
    ns: Netns,
    data: TempDir,
    prev: Value,
}

impl Box {
    /// A namespace whose `eth0` is one end of a veth pair (the other end,
    /// `peer0`, stays beside it), up, with an address.
    fn new() -> Box {
        let ns = Netns::new("cnit-tu");
        ns.ip(&[
            "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
        ]);
        ns.ip(&["link", "set", "eth0", "up"]);
        ns.ip(&["link", "set", "peer0", "up"]);
        ns.ip(&["addr", "add", "10.9.0.2/24", "dev", "eth0"]);
        let mac = Box::link(&ns)["address"].clone();
        let prev = json!({"cniVersion": "1.0.0",
            "interfaces": [{"name": "br0", "mac": "0a:00:00:00:00:01"},
                           {"name": "eth0", "mac": mac, "sandbox": ns.path_str()}],
            "ips": [{"address": "10.9.0.2/24", "gateway": "10.9.0.1", "interface": 1}]});
        Box {
            ns,
            data: TempDir::new("cnit-tu"),
            prev,
        }
    }

    fn link(ns: &Netns) -> Value {
        ns.ip_json(&["-d", "link", "show", "dev", "eth0"])[0].clone()
    }

    fn conf(&self, version: &str, extra: Value) -> Value {
        let mut c = json!({"cniVersion": version, "name": "tunet", "type": "tuning",
            "dataDir": self.data.str(), "prevResult": self.prev});
        harness::merge(&mut c, extra);
        c
    }

    fn run(&self, cmd: &str, conf: &Value) -> harness::Outcome {
        Invocation::attach("tuning", cmd, self.ns.path_str(), "ctr1")
            .config(conf)
            .run()
    }

    fn backup(&self) -> Option<Value> {
        std::fs::read(self.data.path().join("ctr1_eth0.json"))
            .ok()
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    fn flags(&self, dev: &str) -> Vec<String> {
        self.ns.link_flags(dev)
    }
}

#[test]
fn sysctls_including_interface_scoped_ones() {
    let b = Box::new();
    let conf = b.conf(
        "1.0.0",
        json!({"sysctl": {"net.ipv4.conf.IFNAME.arp_ignore": "1", "net.core.somaxconn": "512",
                          "net/ipv4/conf/IFNAME/arp_filter": 1}}),
    );
    let r = b.run("ADD", &conf).ok();
    assert_eq!(
        r, b.prev,
        "a tuning without link changes passes prevResult through"
    );
    assert_eq!(b.ns.sysctl("net.ipv4.conf.eth0.arp_ignore"), "1");
    assert_eq!(b.ns.sysctl("net.ipv4.conf.eth0.arp_filter"), "1");
    assert_eq!(b.ns.sysctl("net.core.somaxconn"), "512");
    // CHECK replaces IFNAME too (the reference's does not, and fails here).
    b.run("CHECK", &conf).ok();
    b.ns.exec(&["sysctl", "-qw", "net.ipv4.conf.eth0.arp_ignore=0"]);
    let e = b.run("CHECK", &conf).err();
    assert!(
        e.msg.contains("arp_ignore") && e.msg.contains("current value is 0"),
        "{}",
        e.msg
    );
    b.run("DEL", &conf).ok();
}

#[test]
fn link_attributes_saved_applied_and_restored() {
    let b = Box::new();
    let before = Box::link(&b.ns);
    let conf = b.conf(
        "1.0.0",
        json!({"mac": "0a:58:00:aa:bb:cc", "mtu": 1400, "promisc": true,
               "allmulti": true, "txQLen": 2000}),
    );
    let r = b.run("ADD", &conf).ok();
    let l = Box::link(&b.ns);
    assert_eq!(l["address"], "0a:58:00:aa:bb:cc");
    assert_eq!(l["mtu"], 1400);
    assert_eq!(l["txqlen"], 2000);
    let flags = b.flags("eth0");
    assert!(flags.iter().any(|f| f == "PROMISC"), "{flags:?}");
    assert!(flags.iter().any(|f| f == "ALLMULTI"), "{flags:?}");
    // The result carries the new MAC for the container interface only.
    assert_eq!(r["interfaces"][1]["mac"], "0a:58:00:aa:bb:cc");
    assert_eq!(r["interfaces"][0], b.prev["interfaces"][0]);
    // The reference's backup format, with the old values.
    let saved = b.backup().expect("backup file");
    assert_eq!(
        saved,
        json!({"mac": before["address"], "promisc": false, "mtu": 1500,
               "allmulti": false, "txQLen": before["txqlen"]})
    );
    b.run("CHECK", &conf).ok();

    b.run("DEL", &conf).ok();
    let l = Box::link(&b.ns);
    assert_eq!(l["address"], before["address"]);
    assert_eq!(l["mtu"], 1500);
    assert_eq!(l["txqlen"], before["txqlen"]);
    let flags = b.flags("eth0");
    assert!(
        !flags.iter().any(|f| f == "PROMISC" || f == "ALLMULTI"),
        "{flags:?}"
    );
    assert!(b.backup().is_none(), "backup left after DEL");
    b.run("DEL", &conf).ok();
}

#[test]
fn check_finds_each_attribute_changed_by_hand() {
    let b = Box::new();
    let conf = b.conf(
        "1.0.0",
        json!({"mac": "0a:58:00:aa:bb:cd", "mtu": 1400, "promisc": true, "allmulti": true,
               "txQLen": 900}),
    );
    b.run("ADD", &conf).ok();
    b.run("CHECK", &conf).ok();
    for (cmd, needle) in [
        (vec!["link", "set", "eth0", "mtu", "1300"], "MTU"),
        (vec!["link", "set", "eth0", "promisc", "off"], "promisc"),
        (
            vec!["link", "set", "eth0", "allmulticast", "off"],
            "all-multicast",
        ),
        (
            vec!["link", "set", "eth0", "txqueuelen", "10"],
            "transmit queue length",
        ),
        (
            vec!["link", "set", "eth0", "address", "0a:58:00:00:00:09"],
            "Ethernet",
        ),
    ] {
        b.ns.ip(&cmd);
        let e = b.run("CHECK", &conf).err();
        assert!(e.msg.contains(needle), "{needle}: {}", e.msg);
        b.run("DEL", &conf).ok();
        b.run("ADD", &conf).ok();
    }
}

#[test]
fn sources_in_the_reference_order() {
    let b = Box::new();
    let mut conf = b.conf(
        "1.0.0",
        json!({"mac": "0a:58:00:00:00:01", "mtu": 1400,
               "sysctl": {"net.core.somaxconn": "100"}}),
    );
    // CNI_ARGS beats the config, runtimeConfig beats CNI_ARGS, args.cni beats all.
    let run = |conf: &Value, args: &str| {
        Invocation::attach("tuning", "ADD", b.ns.path_str(), "ctr1")
            .env("CNI_ARGS", args)
            .config(conf)
            .run()
            .ok();
        let l = Box::link(&b.ns);
        Invocation::attach("tuning", "DEL", b.ns.path_str(), "ctr1")
            .config(conf)
            .run()
            .ok();
        l
    };
    let l = run(&conf, "IgnoreUnknown=1;MAC=0a:58:00:00:00:02");
    assert_eq!(l["address"], "0a:58:00:00:00:02");
    conf["runtimeConfig"] = json!({"mac": "0a:58:00:00:00:03"});
    let l = run(&conf, "IgnoreUnknown=1;MAC=0a:58:00:00:00:02");
    assert_eq!(l["address"], "0a:58:00:00:00:03");
    conf["args"] = json!({"cni": {"mac": "0a:58:00:00:00:04", "mtu": 1300,
                                  "sysctl": {"net.core.somaxconn": "300"}}});
    let l = run(&conf, "IgnoreUnknown=1;MAC=0a:58:00:00:00:02");
    assert_eq!(l["address"], "0a:58:00:00:00:04");
    assert_eq!(l["mtu"], 1300);
    assert_eq!(b.ns.sysctl("net.core.somaxconn"), "300");
}

#[test]
fn invalid_configs_touch_nothing() {
    let b = Box::new();
    let before = Box::link(&b.ns);
    for (extra, needle) in [
        (
            json!({"sysctl": {"kernel.hostname": "pwned"}}),
            "invalid net sysctl key",
        ),
        (
            json!({"sysctl": {"net.core.somaxconn": "1"}, "mac": "nonsense"}),
            "invalid MAC address",
        ),
        (json!({"mtu": 10}), "invalid MTU"),
        (json!({"ifname": "a/b"}), "ifname"),
    ] {
        let e = b.run("ADD", &b.conf("1.0.0", extra)).err();
        assert_eq!(e.code, 7, "{}", e.msg);
        assert!(e.msg.contains(needle), "{needle}: {}", e.msg);
    }
    // Repeated keys in the JSON text.
    let text = format!(
        r#"{{"cniVersion":"1.0.0","name":"tunet","type":"tuning","dataDir":"{}","prevResult":{},"sysctl":{{"net.core.somaxconn":"1","net.core.somaxconn":"2"}}}}"#,
        b.data.str(),
        b.prev
    );
    let e = Invocation::attach("tuning", "ADD", b.ns.path_str(), "ctr1")
        .stdin(text)
        .run()
        .err();
    assert!(e.msg.contains("duplicated sysctl keys"), "{}", e.msg);
    // No prevResult.
    let mut c = b.conf("1.0.0", json!({"mtu": 1400}));
    c.as_object_mut().unwrap().remove("prevResult");
    let e = b.run("ADD", &c).err();
    assert!(e.msg.contains("prevResult"), "{}", e.msg);
    assert_eq!(Box::link(&b.ns), before);
    assert!(b.backup().is_none());
}

#[test]
fn a_failed_add_puts_everything_back() {
    let b = Box::new();
    let before = Box::link(&b.ns);
    let somaxconn = b.ns.sysctl("net.core.somaxconn");
    // The new name is taken: the last step fails after the others worked.
    let conf = b.conf(
        "1.0.0",
        json!({"sysctl": {"net.core.somaxconn": "77"}, "mac": "0a:58:00:00:00:0a",
               "mtu": 1300, "ifname": "peer0"}),
    );
    let e = b.run("ADD", &conf).err();
    assert!(e.msg.contains("peer0"), "{}", e.msg);
    assert_eq!(Box::link(&b.ns), before);
    assert_eq!(b.ns.sysctl("net.core.somaxconn"), somaxconn);
    assert!(b.backup().is_none());
}

#[test]
fn ifname_renames_and_del_gives_the_name_back() {
    let b = Box::new();
    let conf = b.conf("1.0.0", json!({"ifname": "net1", "mtu": 1450}));
    let r = b.run("ADD", &conf).ok();
    assert_eq!(r["interfaces"][1]["name"], "net1");
    assert!(no_eth0(&b.ns));
    assert!(
        b.ns.link_is_up("net1"),
        "the link stays up across the rename"
    );
    assert_eq!(
        b.ns.ip_json(&["link", "show", "dev", "net1"])[0]["mtu"],
        1450
    );
    b.run("CHECK", &conf).ok();
    b.run("DEL", &conf).ok();
    assert!(b.ns.link_is_up("eth0"));
    assert_eq!(Box::link(&b.ns)["mtu"], 1500);
}

#[test]
fn del_is_idempotent() {
    let b = Box::new();
    let conf = b.conf("1.0.0", json!({"mtu": 1400}));
    b.run("DEL", &conf).ok(); // nothing was added
    b.run("ADD", &conf).ok();
    b.run("DEL", &conf).ok();
    b.run("DEL", &conf).ok();
    // The namespace gone: DEL succeeds and drops the stale backup.
    b.run("ADD", &conf).ok();
    assert!(b.backup().is_some());
    b.ns.delete();
    b.run("DEL", &conf).ok();
    assert!(b.backup().is_none());
    // No CNI_NETNS at all.
    Invocation::new("tuning", "DEL")
        .env("CNI_CONTAINERID", "ctr1")
        .env("CNI_IFNAME", "eth0")
        .config(&conf)
        .run()
        .ok();
}

#[test]
fn prev_result_in_every_version() {
    for version in [
        "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
    ] {
        let b = Box::new();
        let conf = b.conf(version, json!({"mac": "0a:58:00:00:00:0b"}));
        let r = b.run("ADD", &conf).ok();
        assert_eq!(r["cniVersion"], version);
        if version < "0.3.0" {
            assert_eq!(r["ip4"]["ip"], "10.9.0.2/24", "{r}");
            assert!(r.get("interfaces").is_none());
        } else {
            assert_eq!(
                r["interfaces"][1]["mac"], "0a:58:00:00:00:0b",
                "{version}: {r}"
            );
            assert_eq!(r["ips"][0]["interface"], 1);
        }
        b.run("DEL", &conf).ok();
    }
}

#[test]
fn backups_cross_between_the_reference_and_ours() {
    let reference = reference_plugin("tuning");
    let b = Box::new();
    let before = Box::link(&b.ns);
    let conf = b.conf(
        "1.0.0",
        json!({"mac": "0a:58:00:00:00:0c", "mtu": 1400, "promisc": true}),
    );
    // Reference ADD, our DEL.
    Invocation::attach("tuning", "ADD", b.ns.path_str(), "ctr1")
        .with_binary(reference.clone())
        .config(&conf)
        .run()
        .ok();
    assert_eq!(Box::link(&b.ns)["mtu"], 1400);
    b.run("DEL", &conf).ok();
    assert_eq!(Box::link(&b.ns), before);
    // Our ADD, reference DEL.
    b.run("ADD", &conf).ok();
    Invocation::attach("tuning", "DEL", b.ns.path_str(), "ctr1")
        .with_binary(reference)
        .config(&conf)
        .run()
        .ok();
    assert_eq!(Box::link(&b.ns), before);
    assert!(b.backup().is_none());
}
