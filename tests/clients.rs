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

// ---------------------------------------------------------------------------
// podman (4.3, CNI backend, runc), on private storage.

/// A podman with its own storage, CNI config directory and our plugins.
struct Podman {
    dir: TempDir,
    id: u32,
}

impl Podman {
    fn new() -> Podman {
        harness::require_root();
        let dir = TempDir::new("cnit-podman");
        let d = dir.path().to_path_buf();
        std::fs::create_dir_all(d.join("net.d")).unwrap();
        // This machine lacks CAP_SYS_RESOURCE: no raised ulimits. crun
        // fails on its mixed cgroups: runc.
        let conf = format!(
            "[containers]\ndefault_ulimits = []\n\
             [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
             [network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{}\"]\nnetwork_config_dir = \"{}\"\n",
            installed().display(),
            d.join("net.d").display()
        );
        std::fs::write(d.join("containers.conf"), conf).unwrap();
        let p = Podman {
            dir,
            id: small_id(),
        };
        // The image: busybox and a web page.
        let rootfs = d.join("rootfs");
        for sub in ["bin", "www", "tmp"] {
            std::fs::create_dir_all(rootfs.join(sub)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static");
        for applet in ["sh", "httpd", "wget", "ip", "sleep"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        std::fs::write(rootfs.join("www/index.html"), "hello from podman\n").unwrap();
        let tar = d.join("rootfs.tar");
        harness::run_ok(
            "tar",
            &[
                "-C",
                rootfs.to_str().unwrap(),
                "-cf",
                tar.to_str().unwrap(),
                ".",
            ],
        );
        p.ok(&["import", tar.to_str().unwrap(), &p.image()]);
        p
    }

    fn image(&self) -> String {
        format!("localhost/cnitest:{:04x}", self.id)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let d = self.dir.path();
        Command::new("podman")
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(args)
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .output()
            .expect("podman (apt-get install podman runc busybox-static; scripts/test.sh does)")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-af", "-t", "0"]);
        let _ = self.run(&["system", "reset", "-f"]);
    }
}

fn http_get(url: &str) -> Option<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            &format!("import urllib.request; print(urllib.request.urlopen('{url}', timeout=3).read().decode().strip())"),
        ])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn podman_network_containers_published_port_and_cleanup() {
    let pm = Podman::new();
    let id = pm.id;
    let net = format!("cnitnet{id:04x}");
    let subnet = format!("10.{}.{}.0/24", 236 + (id >> 12), (id >> 4) & 255);
    let bridge = format!("cbp{id:04x}");
    pm.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "--disable-dns",
        &net,
    ]);
    // A bridge name no parallel run takes (podman numbers cni-podmanN per
    // config directory).
    let conf_path = pm.dir.path().join("net.d").join(format!("{net}.conflist"));
    let mut conf: Value = serde_json::from_slice(&std::fs::read(&conf_path).unwrap()).unwrap();
    assert_eq!(conf["cniVersion"], "0.4.0");
    let kinds: Vec<&str> = conf["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["bridge", "portmap", "firewall", "tuning"]);
    conf["plugins"][0]["bridge"] = json!(bridge);
    std::fs::write(&conf_path, conf.to_string()).unwrap();
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(Path::new("/var/lib/cni/networks").join(&self.0));
        }
    }
    let _state = Cleanup(net.clone());

    let image = pm.image();
    let a = format!("a{id:04x}");
    pm.ok(&[
        "run",
        "-d",
        "--name",
        &a,
        "--network",
        &net,
        &image,
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/www",
    ]);
    let ip_a = pm.ok(&[
        "inspect",
        &a,
        "--format",
        &format!("{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}"),
    ]);
    assert!(
        ip_a.starts_with(&subnet[..subnet.len() - 4]),
        "{ip_a} not in {subnet}"
    );
    assert!(harness::link_exists(&bridge));
    // Container to container.
    let got = pm.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        &image,
        "wget",
        "-qO-",
        &format!("http://{ip_a}:8080/"),
    ]);
    assert_eq!(got, "hello from podman");
    // A published port, from the host.
    let port = 22000 + (id as u16 % 8000);
    let c = format!("c{id:04x}");
    pm.ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "-p",
        &format!("{port}:8080"),
        "--network",
        &net,
        &image,
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/www",
    ]);
    let got = (0..10).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        http_get(&format!("http://127.0.0.1:{port}/"))
    });
    assert_eq!(got.as_deref(), Some("hello from podman"));

    // Remove everything: nothing of the network is left.
    pm.ok(&["rm", "-f", "-t", "0", &a, &c]);
    pm.ok(&["network", "rm", &net]);
    assert!(!harness::link_exists(&bridge), "bridge {bridge} left");
    let prefix = &subnet[..subnet.len() - 5];
    let mut text = harness::run_ok("nft", &["list", "ruleset"]);
    text.push_str(&harness::run_ok("iptables-save", &[]));
    let left: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&format!("{prefix}.")))
        .collect();
    assert!(left.is_empty(), "rules left: {left:#?}");
    let records: Vec<String> = std::fs::read_dir(Path::new("/var/lib/cni/networks").join(&net))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    assert!(records.is_empty(), "address records left: {records:?}");
}

// ---------------------------------------------------------------------------
// containerd 1.6 CRI, a private instance, driven by cri-pod (our CRI client).

struct Containerd {
    dir: TempDir,
    daemon: std::process::Child,
    sock: PathBuf,
}

impl Containerd {
    /// Start containerd with the CRI plugin using `conflist` and our
    /// installed plugins; import a pause image made with podman.
    fn start(conflist: &Value, pm: &Podman) -> Containerd {
        let dir = TempDir::new("cnit-ctrd");
        let d = dir.path().to_path_buf();
        std::fs::create_dir_all(d.join("net.d")).unwrap();
        std::fs::write(d.join("net.d/10-test.conflist"), conflist.to_string()).unwrap();
        let pause = format!("localhost/cnitest-pause:{:04x}", pm.id);
        let sock = d.join("containerd.sock");
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{bin}"
    conf_dir = "{d}/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
"#,
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = sock.display(),
            d = d.display(),
            bin = installed().display(),
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd (apt-get install containerd; scripts/test.sh does)");
        let c = Containerd { dir, daemon, sock };
        for _ in 0..100 {
            if c.sock.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(c.sock.exists(), "containerd did not start: {}", c.log());
        // The pause image: busybox sleeping, saved by podman, imported.
        let tar = d.join("pause.tar");
        pm.ok(&[
            "import",
            "--change",
            "ENTRYPOINT [\"/bin/sleep\", \"1000000\"]",
            pm.dir.path().join("rootfs.tar").to_str().unwrap(),
            &pause,
        ]);
        pm.ok(&[
            "save",
            "--format",
            "docker-archive",
            "-o",
            tar.to_str().unwrap(),
            &pause,
        ]);
        let out = Command::new("ctr")
            .args([
                "--address",
                c.sock.to_str().unwrap(),
                "-n",
                "k8s.io",
                "images",
                "import",
            ])
            .arg(&tar)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ctr import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    fn cri(&self, args: &[&str]) -> String {
        let out = Command::new(tool("cri-pod"))
            .arg(&self.sock)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cri-pod {args:?}: {}\n--- containerd log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Ok(ids) = serde_json::from_str::<Vec<String>>(&self.cri_quiet(&["list"])) {
            for id in ids {
                self.cri_quiet(&["stop", &id]);
                self.cri_quiet(&["rm", &id]);
            }
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // Shims and mounts of the private instance.
        let root = self.dir.path().to_string_lossy().into_owned();
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!("grep -o ' {root}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l"),
            ])
            .status();
    }
}

impl Containerd {
    fn cri_quiet(&self, args: &[&str]) -> String {
        Command::new(tool("cri-pod"))
            .arg(&self.sock)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    }
}

#[test]
fn containerd_cri_pod_gets_its_network_and_gives_it_back() {
    let pm = Podman::new();
    let id = pm.id;
    let text = std::fs::read_to_string(root().join("conf/10-containerd-net.conflist")).unwrap();
    let mut conf: Value = serde_json::from_str(&text).unwrap();
    let bridge = format!("cbk{id:04x}");
    let data = TempDir::new("cnit-ctrd-ipam");
    let v4 = format!("10.{}.{}.0/24", 232 + (id >> 12), (id >> 4) & 255);
    conf["name"] = json!(format!("ctrd{id:04x}"));
    conf["plugins"][0]["bridge"] = json!(bridge);
    conf["plugins"][0]["ipam"]["dataDir"] = json!(data.str());
    conf["plugins"][0]["ipam"]["ranges"] =
        json!([[{"subnet": v4}], [{"subnet": format!("fd7a:{id:x}::/64")}]]);
    let ctrd = Containerd::start(&conf, &pm);
    struct DelLink(String);
    impl Drop for DelLink {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", &self.0]).status();
        }
    }
    let _bridge = DelLink(bridge.clone());

    let port = 23000 + (id as u16 % 8000);
    let pod: Value = serde_json::from_str(&ctrd.cri(&[
        "run",
        &format!("pod{id:04x}"),
        &format!("uid-{id}"),
        "default",
        &format!("{port}:8080"),
    ]))
    .unwrap();
    assert_eq!(pod["state"], "SANDBOX_READY", "{pod}");
    let ip4 = pod["ip"].as_str().unwrap().to_string();
    let ip6 = pod["additionalIps"][0].as_str().unwrap_or("").to_string();
    assert!(ip4.starts_with(&v4[..v4.len() - 4]), "{pod}");
    assert!(ip6.starts_with(&format!("fd7a:{id:x}:")), "{pod}");
    // The addresses are in the pod's namespace, lo is up (loopback ran too).
    let netns = pod["netns"].as_str().unwrap();
    let ns_name = Path::new(netns)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let addrs = Command::new("ip")
        .args(["-n", &ns_name, "-j", "addr", "show", "dev", "eth0"])
        .output()
        .unwrap();
    let addrs: Value = serde_json::from_slice(&addrs.stdout).unwrap();
    let have = harness::global_addrs(&addrs);
    assert!(
        have.contains(&format!("{ip4}/24")) && have.contains(&format!("{ip6}/64")),
        "{have:?}"
    );
    let lo = Command::new("ip")
        .args(["-n", &ns_name, "-j", "link", "show", "dev", "lo"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&lo.stdout).contains("\"UP\""),
        "lo not up"
    );
    // The port mapping reaches a server in the pod.
    let server = Command::new("ip")
        .args(["netns", "exec", &ns_name, "python3", "-c",
            "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 8080)); s.listen(1)\nc,a=s.accept(); c.sendall(b'hello pod'); c.close()"])
        .spawn()
        .unwrap();
    let got = (0..20).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        tcp_get(None, "127.0.0.1", port)
    });
    let _ = server.wait_with_output();
    assert_eq!(got.as_deref(), Some("hello pod"));
    let sandbox = pod["id"].as_str().unwrap().to_string();

    // Stop (DEL with the cached result), remove (DEL again, no netns).
    ctrd.cri(&["stop", &sandbox]);
    ctrd.cri(&["rm", &sandbox]);
    let ports = Command::new("ip")
        .args(["-j", "link", "show", "master", &bridge])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ports.stdout).trim(),
        "[]",
        "veths left on {bridge}"
    );
    let mut text = harness::run_ok("nft", &["list", "ruleset"]);
    text.push_str(&harness::run_ok("iptables-save", &[]));
    let left: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains(&sandbox) || l.contains(&format!("{ip4} ")) || l.contains(&format!("{ip4}:"))
        })
        .collect();
    assert!(left.is_empty(), "rules left: {left:#?}");
    let records: Vec<String> = std::fs::read_dir(data.path().join(conf["name"].as_str().unwrap()))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains('.') && !n.starts_with("last_reserved"))
                .collect()
        })
        .unwrap_or_default();
    assert!(records.is_empty(), "address records left: {records:?}");
    // containerd deleted the pod's namespace.
    assert!(!Path::new(netns).exists(), "{netns} left");
}
