//! A master interface private to one test, for the plugins that stack
//! links on one (macvlan, ipvlan): one end of a veth pair (no dummy links
//! on every kernel), whose other end, `up0`, sits in a "switch" namespace
//! with an address on the lab's subnets, or is a port of a bridge there.

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Invocation, Netns, Outcome, TempDir, merge, run_ok, small_id};

/// A master private to one test, its switch namespace, subnets and IPAM
/// directory. On drop: DEL of every attachment made, then the master.
pub struct Lab {
    pub plugin: &'static str,
    pub id: u32,
    pub name: String,
    pub master: String,
    pub switch: Netns,
    pub data: TempDir,
    pub added: RefCell<Vec<(String, String)>>,
}

impl Lab {
    pub fn new(plugin: &'static str) -> Lab {
        super::require_root();
        let id = small_id();
        let master = format!("cmm{id:04x}");
        let switch = Netns::new("cnit-sw");
        run_ok(
            "ip",
            &[
                "link",
                "add",
                &master,
                "type",
                "veth",
                "peer",
                "name",
                "up0",
                "netns",
                switch.name(),
            ],
        );
        run_ok("ip", &["link", "set", &master, "up"]);
        let lab = Lab {
            plugin,
            id,
            name: format!("{plugin}-{id:04x}"),
            master,
            switch,
            data: TempDir::new("cnit-lab"),
            added: RefCell::new(Vec::new()),
        };
        lab.switch.ip(&["link", "set", "lo", "up"]);
        lab.switch.ip(&["link", "set", "up0", "up"]);
        lab.switch_addresses("up0");
        lab
    }

    pub fn prefix(&self) -> String {
        format!("10.{}.{}", 64 + (self.id >> 8), self.id & 255)
    }
    pub fn v4(&self, host: u8) -> String {
        format!("{}.{host}", self.prefix())
    }
    pub fn v6(&self, host: u16) -> String {
        format!("fd7e:{:x}::{host:x}", self.id)
    }

    pub fn switch_addresses(&self, dev: &str) {
        self.switch
            .ip(&["addr", "add", &format!("{}/24", self.v4(250)), "dev", dev]);
        self.switch.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{}/64", self.v6(0xfa)),
            "dev",
            dev,
            "nodad",
        ]);
    }

    /// Make the switch a bridge with the master's peer as a port (with
    /// or without hairpin), its address on the bridge.
    pub fn bridge_switch(&self, hairpin: bool) {
        let sw = &self.switch;
        sw.ip(&["addr", "flush", "dev", "up0"]);
        sw.ip(&["link", "add", "br0", "type", "bridge"]);
        sw.ip(&["link", "set", "up0", "master", "br0"]);
        sw.ip(&["link", "set", "br0", "up"]);
        self.switch_addresses("br0");
        let out = sw.exec(&[
            "bridge",
            "link",
            "set",
            "dev",
            "up0",
            "hairpin",
            if hairpin { "on" } else { "off" },
        ]);
        assert!(out.status.success());
    }

    pub fn ipam(&self, dual: bool) -> Value {
        let mut ranges = vec![json!([{"subnet": format!("{}.0/24", self.prefix())}])];
        if dual {
            ranges.push(json!([{"subnet": format!("fd7e:{:x}::/64", self.id)}]));
        }
        json!({"type": "host-local", "dataDir": self.data.str(), "ranges": ranges})
    }

    pub fn conf(&self, version: &str, extra: Value) -> Value {
        let mut c = json!({
            "cniVersion": version, "name": self.name, "type": self.plugin,
            "master": self.master, "ipam": self.ipam(false),
        });
        merge(&mut c, extra);
        c
    }

    pub fn invoke(&self, cmd: &str, netns: &str, cid: &str, conf: &Value) -> Invocation {
        Invocation::attach(self.plugin, cmd, netns, cid).config(conf)
    }

    pub fn track(&self, ns: &Netns, cid: &str) {
        self.added
            .borrow_mut()
            .push((ns.path_str().to_string(), cid.to_string()));
    }

    pub fn add(&self, ns: &Netns, cid: &str, conf: &Value) -> Outcome {
        self.track(ns, cid);
        self.invoke("ADD", ns.path_str(), cid, conf).run()
    }

    pub fn add_ok(&self, ns: &Netns, cid: &str, conf: &Value) -> Value {
        self.add(ns, cid, conf).ok()
    }

    pub fn del(&self, netns: &str, cid: &str, conf: &Value, prev: Option<&Value>) -> Outcome {
        let mut c = conf.clone();
        if let Some(p) = prev {
            c["prevResult"] = p.clone();
        }
        self.invoke("DEL", netns, cid, &c).run()
    }

    pub fn check(&self, ns: &Netns, cid: &str, conf: &Value, prev: &Value) -> Outcome {
        let mut c = conf.clone();
        c["prevResult"] = prev.clone();
        self.invoke("CHECK", ns.path_str(), cid, &c).run()
    }

    /// host-local records of this network.
    pub fn records(&self) -> BTreeSet<String> {
        let Ok(rd) = std::fs::read_dir(self.data.path().join(&self.name)) else {
            return BTreeSet::new();
        };
        rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "lock" && !n.starts_with("last_reserved_ip"))
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let c = self.conf("1.0.0", json!({"ipam": self.ipam(true)}));
        for (netns, cid) in self.added.borrow().iter() {
            let _ = self.del(netns, cid, &c, None);
        }
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.master])
            .stderr(std::process::Stdio::null())
            .status();
    }
}
