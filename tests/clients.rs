//! Real clients driving the installed suite: cnitool (libcni's own client,
//! built from Debian's source by scripts/test.sh), podman with its CNI
//! backend, and containerd's CRI. They run the multi-call installation
//! that scripts/test.sh makes with scripts/install.sh (target/install/bin).

mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::{Netns, TcpServer, TempDir, small_id, tcp_get};
use serde_json::{Value, json};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The installed suite (`scripts/install.sh --multicall --prefix
/// target/install/bin`, which scripts/test.sh runs).
fn installed() -> PathBuf {
    let dir = std::env::var_os("CNI_TEST_INSTALLED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/install/bin"));
    assert!(
        dir.join("bridge").exists(),
        "no installed suite in {}: scripts/test.sh installs it (scripts/install.sh --multicall --prefix target/install/bin)",
        dir.display()
    );
    dir
}

fn tool(name: &str) -> PathBuf {
    let p = root().join("target/tools").join(name);
    assert!(
        p.is_file(),
        "{} missing: scripts/test.sh builds it",
        p.display()
    );
    p
}

/// The example conflists rewritten to be private to this test: names,
/// bridges, subnets, IPAM directories; macvlan's master a veth of ours.
struct Confs {
    dir: TempDir,
    data: TempDir,
    id: u32,
}

impl Confs {
    fn new() -> Confs {
        harness::require_root();
        Confs {
            dir: TempDir::new("cnit-netd"),
            data: TempDir::new("cnit-cl"),
            id: small_id(),
        }
    }

    /// Write conf/`file` for this test; its network name.
    fn write(&self, file: &str, master: Option<&str>) -> String {
        let text = std::fs::read_to_string(root().join("conf").join(file)).unwrap();
        let mut v: Value = serde_json::from_str(&text).unwrap();
        let name = format!(
            "cl{}-{:04x}",
            file.split('-').next().unwrap_or("x"),
            self.id
        );
        v["name"] = json!(name);
        // Debian's libcni (1.1.2) speaks up to spec 1.0.0.
        if v["cniVersion"] == "1.1.0" {
            v["cniVersion"] = json!("1.0.0");
        }
        let subnet4 = format!("10.{}.{}.0/24", 240 + (self.id >> 10), (self.id >> 2) & 255);
        let fix = |p: &mut Value| {
            if p["type"] == "bridge" {
                p["bridge"] = json!(format!("cbl{:04x}", self.id));
            }
            if p["type"] == "macvlan" || p["type"] == "ipvlan" {
                p["master"] = json!(master.unwrap_or("eth0"));
            }
            if p["ipam"]["type"] == "host-local" {
                p["ipam"]["dataDir"] = json!(self.data.str());
                if p["ipam"].get("subnet").is_some() {
                    p["ipam"] = json!({"type": "host-local", "dataDir": self.data.str(),
                        "subnet": subnet4, "routes": [{"dst": "0.0.0.0/0"}]});
                } else {
                    let dual = p["ipam"]["ranges"].as_array().is_some_and(|r| r.len() > 1);
                    p["ipam"]["ranges"] = if dual {
                        json!([[{"subnet": subnet4}], [{"subnet": format!("fd7b:{:x}::/64", self.id)}]])
                    } else {
                        json!([[{"subnet": subnet4}]])
                    };
                }
            }
        };
        if let Some(plugins) = v["plugins"].as_array_mut() {
            plugins.iter_mut().for_each(fix);
        } else {
            fix(&mut v);
        }
        std::fs::write(self.dir.path().join(file), v.to_string()).unwrap();
        name
    }
}

/// Run cnitool; its stdout, or a panic with its stderr.
fn cnitool(cmd: &str, net: &str, ns: &Netns, netdir: &Path, caps: &Value) -> String {
    let out = Command::new(tool("cnitool"))
        .args([cmd, net, ns.path_str()])
        .env("NETCONFPATH", netdir)
        .env("CNI_PATH", installed())
        .env("CAP_ARGS", caps.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cnitool {cmd} {net}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cnitool_adds_checks_and_deletes_every_example_config() {
    let confs = Confs::new();
    // macvlan's master: one end of a veth pair of ours.
    let master = format!("cml{:04x}", confs.id);
    harness::run_ok(
        "ip",
        &[
            "link",
            "add",
            &master,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{master}p"),
        ],
    );
    harness::run_ok("ip", &["link", "set", &master, "up"]);
    struct DelLink(String);
    impl Drop for DelLink {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", &self.0]).status();
        }
    }
    let _master = DelLink(master.clone());
    let bridge = DelLink(format!("cbl{:04x}", confs.id));
    let mut seen = 0;
    for entry in std::fs::read_dir(root().join("conf")).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        if file.contains("ipvlan") {
            continue; // this kernel has no ipvlan: vm_cnitool_ipvlan
        }
        seen += 1;
        let net = confs.write(&file, Some(&master));
        let ns = Netns::new("cnit-cl");
        let port = 21000 + (confs.id as u16 % 8000);
        let caps =
            json!({"portMappings": [{"hostPort": port, "containerPort": 80, "protocol": "tcp"}]});
        let r: Value = serde_json::from_str(&cnitool("add", &net, &ns, confs.dir.path(), &caps))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        if file.contains("loopback") {
            assert!(ns.link_is_up("lo"), "{file}");
        } else {
            let want = harness::result_addrs(&r);
            assert!(!want.is_empty(), "{file}: {r}");
            assert_eq!(harness::container_addrs(&ns, "eth0"), want, "{file}");
        }
        if file.contains("containerd") || file.contains("podman") {
            let _server = TcpServer::start(&ns, 80, "cl");
            let got = tcp_get(None, "127.0.0.1", port);
            assert!(
                got.is_some_and(|g| g.starts_with("hello cl")),
                "{file}: port {port}"
            );
        }
        cnitool("check", &net, &ns, confs.dir.path(), &caps);
        cnitool("del", &net, &ns, confs.dir.path(), &caps);
        if !file.contains("loopback") {
            assert!(harness::no_eth0(&ns), "{file}: eth0 left");
        }
        // A second DEL (libcni's cache is gone by now) still succeeds.
        cnitool("del", &net, &ns, confs.dir.path(), &caps);
        drop(ns);
        let _ = Command::new("ip").args(["link", "del", &bridge.0]).status();
    }
    assert!(seen >= 4, "only {seen} example configs");
}

#[test]
#[ignore = "needs ipvlan: runs in a VM (scripts/vm-tests.sh)"]
fn vm_cnitool_ipvlan() {
    let confs = Confs::new();
    let master = format!("cmi{:04x}", confs.id);
    harness::run_ok("ip", &["link", "add", &master, "type", "dummy"]);
    harness::run_ok("ip", &["link", "set", &master, "up"]);
    let net = confs.write("30-ipvlan.conf", Some(&master));
    let ns = Netns::new("cnit-cl");
    let r: Value =
        serde_json::from_str(&cnitool("add", &net, &ns, confs.dir.path(), &json!({}))).unwrap();
    assert_eq!(
        harness::container_addrs(&ns, "eth0"),
        harness::result_addrs(&r)
    );
    cnitool("check", &net, &ns, confs.dir.path(), &json!({}));
    cnitool("del", &net, &ns, confs.dir.path(), &json!({}));
    assert!(harness::no_eth0(&ns));
    harness::run_ok("ip", &["link", "del", &master]);
}
