//! Shared helpers for the end-to-end tests: throwaway network namespaces, a
//! runner for the built plugin binaries, and parsers for what they print.
//!
//! Every test file does `mod harness;`. The plugin binaries must be built
//! first (`cargo build --workspace`; scripts/test.sh does it). Tests need
//! root; without it they fail and say so, they never skip.

#![allow(dead_code)]

pub mod lab;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

/// Fail loudly (not skip) when the tests cannot do their job.
pub fn require_root() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        });
    assert_eq!(
        uid.as_deref(),
        Some("0"),
        "the end-to-end tests create network namespaces and need root"
    );
}

/// A name unique across parallel tests and concurrent test runs.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Directory holding the built plugins: `CNI_TEST_BIN_DIR`, or the cargo
/// target directory this test binary was built into.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CNI_TEST_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

pub fn plugin_path(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "plugin binary {} not found: run `cargo build --workspace` first",
        p.display()
    );
    p
}

/// A named network namespace (`ip netns add`), deleted on drop, also when
/// the test fails.
pub struct Netns {
    name: String,
    path: PathBuf,
}

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        require_root();
        let name = unique(prefix);
        run_ok("ip", &["netns", "add", &name]);
        let path = PathBuf::from(format!("/run/netns/{name}"));
        Netns { name, path }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("utf-8 path")
    }

    /// `ip -n <ns> <args>`, which must succeed; its stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ok("ip", &all)
    }

    /// `ip -j -n <ns> <args>`, parsed.
    pub fn ip_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["-j"];
        all.extend_from_slice(args);
        let out = self.ip(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -j {args:?}: {e}: {out}"))
    }

    /// The `flags` of a link, as `ip -j link show` reports them.
    pub fn link_flags(&self, dev: &str) -> Vec<String> {
        let v = self.ip_json(&["link", "show", "dev", dev]);
        v[0]["flags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn link_is_up(&self, dev: &str) -> bool {
        self.link_flags(dev).iter().any(|f| f == "UP")
    }

    /// Addresses of `dev` as `a.b.c.d/len` strings.
    pub fn addresses(&self, dev: &str) -> Vec<String> {
        let v = self.ip_json(&["addr", "show", "dev", dev]);
        v[0]["addr_info"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| format!("{}/{}", i["local"].as_str().unwrap_or(""), i["prefixlen"]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Run a program inside the namespace (`ip netns exec`).
    pub fn exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {args:?}: {e}"))
    }

    /// One echo request to `addr`, one second to answer.
    pub fn ping_once(&self, addr: &str) -> bool {
        self.exec(&["ping", "-c1", "-W1", "-q", addr])
            .status
            .success()
    }

    /// Whether `addr` answers within a few seconds (IPv6 addresses on the
    /// way may still be finishing duplicate address detection).
    pub fn ping(&self, addr: &str) -> bool {
        (0..6).any(|_| self.ping_once(addr))
    }

    /// A sysctl's value inside the namespace (`net.ipv4.ip_forward`).
    pub fn sysctl(&self, key: &str) -> String {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let out = self.exec(&["cat", &path]);
        assert!(out.status.success(), "read {path} in {}", self.name);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Delete the namespace now (for "the container is gone" cases).
    pub fn delete(&self) {
        run_ok("ip", &["netns", "del", &self.name]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// `ip -j <args>` in the host namespace, parsed.
pub fn host_ip_json(args: &[&str]) -> Value {
    let mut all = vec!["-j"];
    all.extend_from_slice(args);
    let out = run_ok("ip", &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -j {args:?}: {e}: {out}"))
}

/// Run a command that must succeed; its stdout.
pub fn run_ok(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One plugin invocation, built up and then run.
#[derive(Clone)]
pub struct Invocation {
    plugin: PathBuf,
    env: Vec<(String, String)>,
    stdin: Vec<u8>,
    /// `ulimit -v` in KiB for the plugin process.
    memory_limit_kib: Option<u64>,
    /// Run the plugin in this named namespace (`ip netns exec`): a private
    /// "host" whose firewall a test owns.
    host_netns: Option<String>,
}

/// What a plugin did: exit status, stdout, stderr.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// The CNI error a plugin printed.
#[derive(Debug)]
pub struct CniErr {
    pub code: u64,
    pub msg: String,
    pub details: String,
    pub cni_version: String,
}

impl Invocation {
    /// `plugin` with `CNI_COMMAND=command` and a CNI_PATH of the built plugins.
    pub fn new(plugin: &str, command: &str) -> Invocation {
        Invocation {
            plugin: plugin_path(plugin),
            env: vec![
                ("CNI_COMMAND".into(), command.into()),
                ("CNI_PATH".into(), bin_dir().display().to_string()),
            ],
            stdin: Vec::new(),
            memory_limit_kib: None,
            host_netns: None,
        }
    }

    /// An ADD/CHECK/DEL on `netns` with container ID `cid` and `eth0`.
    pub fn attach(plugin: &str, command: &str, netns: &str, cid: &str) -> Invocation {
        Invocation::new(plugin, command)
            .env("CNI_NETNS", netns)
            .env("CNI_CONTAINERID", cid)
            .env("CNI_IFNAME", "eth0")
    }

    pub fn env(mut self, k: &str, v: &str) -> Invocation {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn unset(mut self, k: &str) -> Invocation {
        self.env.retain(|(key, _)| key != k);
        self
    }

    pub fn stdin(mut self, v: impl Into<Vec<u8>>) -> Invocation {
        self.stdin = v.into();
        self
    }

    pub fn config(self, v: &Value) -> Invocation {
        self.stdin(v.to_string())
    }

    /// Run in the named namespace instead of the test's (see `host_netns`).
    pub fn in_netns(mut self, name: &str) -> Invocation {
        self.host_netns = Some(name.to_string());
        self
    }

    pub fn memory_limit_kib(mut self, kib: u64) -> Invocation {
        self.memory_limit_kib = Some(kib);
        self
    }

    pub fn run(&self) -> Outcome {
        let mut cmd = match (self.memory_limit_kib, &self.host_netns) {
            (None, Some(host)) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", host]).arg(&self.plugin);
                c
            }
            (None, None) => Command::new(&self.plugin),
            (Some(kib), _) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -v {kib} && exec \"$0\""))
                    .arg(&self.plugin);
                c
            }
        };
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.plugin.display()));
        let mut stdin = child.stdin.take().expect("stdin");
        let input = self.stdin.clone();
        // Write from a thread: a plugin may stop reading (and exit) early.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().expect("wait");
        let _ = writer.join();
        Outcome {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Outcome {
    /// Assert success and return the parsed stdout (or Null if empty).
    pub fn ok(&self) -> Value {
        assert_eq!(
            self.code,
            Some(0),
            "plugin failed: stdout {} stderr {}",
            self.stdout,
            self.stderr
        );
        self.assert_no_panic();
        if self.stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&self.stdout)
                .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
        }
    }

    /// Assert a CNI error: exit status 1, the spec's error object on stdout.
    pub fn err(&self) -> CniErr {
        assert_eq!(
            self.code,
            Some(1),
            "expected exit status 1: stdout {} stderr {}",
            self.stdout,
            self.stderr
        );
        self.assert_no_panic();
        let v: Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("error output is not JSON ({e}): {:?}", self.stdout));
        let obj = v.as_object().expect("error is an object");
        for key in ["cniVersion", "code", "msg", "details"] {
            assert!(obj.contains_key(key), "error JSON lacks {key}: {v}");
        }
        CniErr {
            code: v["code"].as_u64().expect("numeric code"),
            msg: v["msg"].as_str().expect("msg").to_string(),
            details: v["details"].as_str().expect("details").to_string(),
            cni_version: v["cniVersion"].as_str().expect("cniVersion").to_string(),
        }
    }

    fn assert_no_panic(&self) {
        for needle in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
            assert!(
                !self.stderr.contains(needle),
                "plugin panicked: {}",
                self.stderr
            );
            assert!(
                !self.stdout.contains(needle),
                "plugin panicked: {}",
                self.stdout
            );
        }
    }
}

/// A network configuration list run the way libcni runs it: ADD and CHECK
/// in order, DEL in reverse, each plugin's stdin derived from its object
/// (name, cniVersion, runtimeConfig from capabilities, prevResult).
pub struct Chain {
    pub list: cni::ConfList,
    pub file: PathBuf,
    /// Run every plugin in this named namespace (a private "host").
    pub host: Option<String>,
}

/// Where an attachment lives.
pub struct Target<'a> {
    pub netns: &'a str,
    pub container_id: &'a str,
    pub ifname: &'a str,
    /// Capability arguments (`portMappings`, `mac`, ...).
    pub caps: Value,
    pub cni_args: &'a str,
}

impl<'a> Target<'a> {
    pub fn new(netns: &'a str, container_id: &'a str) -> Target<'a> {
        Target {
            netns,
            container_id,
            ifname: "eth0",
            caps: Value::Object(Default::default()),
            cni_args: "",
        }
    }
}

impl Chain {
    /// Load a file from conf/.
    pub fn load(name: &str) -> Chain {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("conf")
            .join(name);
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let list =
            cni::ConfList::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        Chain {
            list,
            file,
            host: None,
        }
    }

    fn plugin_type(&self, i: usize) -> String {
        self.list.plugins[i]["type"]
            .as_str()
            .expect("plugin type")
            .to_string()
    }

    fn invoke(&self, i: usize, cmd: &str, t: &Target, prev: Option<&Value>) -> Outcome {
        let caps = t.caps.as_object().cloned().unwrap_or_default();
        let stdin = self.list.request(i, &caps, prev).expect("derive request");
        let mut inv = Invocation::new(&self.plugin_type(i), cmd).config(&stdin);
        if matches!(cmd, "ADD" | "CHECK" | "DEL") {
            inv = inv
                .env("CNI_CONTAINERID", t.container_id)
                .env("CNI_IFNAME", t.ifname)
                .env("CNI_NETNS", t.netns)
                .env("CNI_ARGS", t.cni_args);
        }
        if let Some(h) = &self.host {
            inv = inv.in_netns(h);
        }
        inv.run()
    }

    /// ADD through the list; the final result, or the first error.
    pub fn add(&self, t: &Target) -> Result<Value, CniErr> {
        let mut prev: Option<Value> = None;
        for i in 0..self.list.plugins.len() {
            let out = self.invoke(i, "ADD", t, prev.as_ref());
            if out.code != Some(0) {
                return Err(out.err());
            }
            prev = Some(out.ok());
        }
        Ok(prev.unwrap_or(Value::Null))
    }

    /// CHECK through the list with the cached result.
    pub fn check(&self, t: &Target, result: &Value) -> Result<(), CniErr> {
        for i in 0..self.list.plugins.len() {
            let out = self.invoke(i, "CHECK", t, Some(result));
            if out.code != Some(0) {
                return Err(out.err());
            }
        }
        Ok(())
    }

    /// DEL through the list in reverse, with the cached result if any.
    pub fn del(&self, t: &Target, result: Option<&Value>) -> Result<(), CniErr> {
        for i in (0..self.list.plugins.len()).rev() {
            let out = self.invoke(i, "DEL", t, result);
            if out.code != Some(0) {
                return Err(out.err());
            }
        }
        Ok(())
    }

    /// STATUS (list order) or GC (every plugin) for the whole network.
    pub fn network_verb(&self, cmd: &str, valid: Option<&Value>) -> Result<(), CniErr> {
        for i in 0..self.list.plugins.len() {
            let caps = serde_json::Map::new();
            let mut stdin = self.list.request(i, &caps, None).expect("derive request");
            if let Some(v) = valid {
                stdin["cni.dev/valid-attachments"] = v.clone();
                stdin["cni.dev/attachments"] = v.clone();
            }
            let out = Invocation::new(&self.plugin_type(i), cmd)
                .config(&stdin)
                .run();
            if out.code != Some(0) {
                return Err(out.err());
            }
        }
        Ok(())
    }
}

/// A scratch directory under /tmp, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let p = std::env::temp_dir().join(unique(prefix));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn str(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A plugin from the reference Go suite (Debian's containernetworking-plugins).
/// The interop tests need it; without it they fail and say how to get it.
pub fn reference_plugin(name: &str) -> PathBuf {
    let p = PathBuf::from("/usr/lib/cni").join(name);
    assert!(
        p.is_file(),
        "reference plugin {} missing: apt-get install containernetworking-plugins (scripts/test.sh does)",
        p.display()
    );
    p
}

impl Invocation {
    /// The same invocation, run by another binary (e.g. the reference plugin).
    pub fn with_binary(mut self, path: PathBuf) -> Invocation {
        self.plugin = path;
        self
    }
}

// ---------------------------------------------------------------------------
// Reading results and kernel state.

/// A 14-bit number unique to this process and call, for names (which
/// have at most 15 bytes) and subnets private to one test.
pub fn small_id() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    (std::process::id().wrapping_mul(61) + N.fetch_add(1, Ordering::Relaxed)) & 0x3fff
}

pub fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            if v.is_null() {
                b.remove(&k);
            } else {
                b.insert(k, v);
            }
        }
    }
}

pub fn link_exists(name: &str) -> bool {
    std::process::Command::new("ip")
        .args(["link", "show", "dev", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// `address/prefix` of every global address in an `ip -j addr` listing.
pub fn global_addrs(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in v.as_array().unwrap() {
        for a in l["addr_info"].as_array().unwrap() {
            if a["scope"] == "global" {
                out.insert(format!(
                    "{}/{}",
                    a["local"].as_str().unwrap(),
                    a["prefixlen"]
                ));
            }
        }
    }
    out
}

pub fn container_addrs(ns: &Netns, dev: &str) -> BTreeSet<String> {
    global_addrs(&ns.ip_json(&["addr", "show", "dev", dev]))
}

pub fn result_addrs(r: &Value) -> BTreeSet<String> {
    r["ips"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| i["address"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The bare address of the result's first IP of a family.
pub fn result_ip(r: &Value, v6: bool) -> String {
    r["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["address"].as_str().unwrap())
        .find(|a| a.contains(':') == v6)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

/// Whether the namespace has no `eth0`.
pub fn no_eth0(ns: &Netns) -> bool {
    ns.exec(&["ip", "link", "show", "dev", "eth0"])
        .status
        .code()
        == Some(1)
}

// ---------------------------------------------------------------------------
// TCP: a server in one namespace, clients from others.

/// A TCP server in `ns` on `port` (IPv4 and IPv6) answering each
/// connection with `hello <tag> <peer address>`; killed on drop.
pub struct TcpServer(std::process::Child);

impl TcpServer {
    pub fn start(ns: &Netns, port: u16, tag: &str) -> TcpServer {
        let script = format!(
            r#"
import socket, threading, sys
def serve(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, {port}))
    s.listen(16)
    while True:
        c, a = s.accept()
        c.sendall(("hello {tag} " + a[0]).encode())
        c.close()
threading.Thread(target=serve, args=(socket.AF_INET6, "::"), daemon=True).start()
print("ready", flush=True)
serve(socket.AF_INET, "0.0.0.0")
"#
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "python3", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3 server");
        let mut line = String::new();
        use std::io::BufRead;
        let out = child.stdout.take().expect("stdout");
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .expect("server output");
        assert_eq!(line.trim(), "ready", "the TCP server did not start");
        TcpServer(child)
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connect to `addr`:`port` from `ns` (or the host) and read the greeting;
/// None if nothing answers within two seconds.
pub fn tcp_get(ns: Option<&Netns>, addr: &str, port: u16) -> Option<String> {
    let script = format!(
        r#"
import socket, sys
try:
    s = socket.create_connection(("{addr}", {port}), timeout=2)
    print(s.recv(200).decode().strip())
except Exception as e:
    print("tcp_get: " + repr(e), file=sys.stderr)
    sys.exit(1)
"#
    );
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns.name(), "python3", "-c", &script]);
            c
        }
        None => {
            let mut c = Command::new("python3");
            c.args(["-c", &script]);
            c
        }
    };
    let out = cmd.output().expect("run python3 client");
    if !out.status.success() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

// ---------------------------------------------------------------------------
// An outside network.

/// An "outside" network: a namespace linked to the host by a veth, with no
/// route back to the container subnets. Only masqueraded traffic from a
/// container gets an answer.
pub struct Outside {
    pub ns: Netns,
    pub v4: String,
    pub v6: String,
    pub host_v4: String,
    pub host_v6: String,
}

impl Outside {
    /// `id`: a [`small_id`] private to the test.
    pub fn new(id: u32) -> Outside {
        let ns = Netns::new("cnit-out");
        let host_if = format!("cbo{:04x}", id);
        let p4 = format!("100.{}.{}", 64 + (id >> 8), id & 255);
        let p6 = format!("fd7d:{:x}:", id);
        run_ok(
            "ip",
            &[
                "link",
                "add",
                &host_if,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns.name(),
            ],
        );
        let host_v4 = format!("{p4}.1");
        run_ok(
            "ip",
            &["addr", "add", &format!("{host_v4}/30"), "dev", &host_if],
        );
        run_ok(
            "ip",
            &[
                "-6",
                "addr",
                "add",
                &format!("{p6}:1/64"),
                "dev",
                &host_if,
                "nodad",
            ],
        );
        run_ok("ip", &["link", "set", &host_if, "up"]);
        ns.ip(&["addr", "add", &format!("{p4}.2/30"), "dev", "eth0"]);
        ns.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{p6}:2/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        ns.ip(&["link", "set", "eth0", "up"]);
        ns.ip(&["link", "set", "lo", "up"]);
        Outside {
            ns,
            v4: format!("{p4}.2"),
            v6: format!("{p6}:2"),
            host_v4,
            host_v6: format!("{p6}:1"),
        }
    }
}
