//! `cni-bench table`: every measurement of docs/BENCHMARKS.md in one run,
//! ours beside the reference, as one markdown table with the targets.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{
    BenchNs, Case, ChainCase, MasterLink, Opts, bench_pair, interleaved, median, run_plugin, sh,
};

/// One line of the table.
struct Line {
    what: String,
    ours: f64,
    reference: f64,
    unit: &'static str,
    /// Wanted `reference / ours` (or an absolute bound, see `bound`).
    target: Option<f64>,
    /// An absolute upper bound on ours instead of a ratio.
    bound: Option<f64>,
}

impl Line {
    fn new(what: impl Into<String>, ours: f64, reference: f64, unit: &'static str) -> Line {
        Line {
            what: what.into(),
            ours,
            reference,
            unit,
            target: None,
            bound: None,
        }
    }
    fn ratio_target(mut self, t: f64) -> Line {
        self.target = Some(t);
        self
    }
    fn bound(mut self, b: f64) -> Line {
        self.bound = Some(b);
        self
    }
    fn render(&self) -> String {
        if self.reference.is_nan() {
            return format!("| {} | {:.2} {} | | | | |", self.what, self.ours, self.unit);
        }
        let ratio = self.reference / self.ours;
        let (target, met) = match (self.target, self.bound) {
            (Some(t), _) => (format!(">= {t}x"), if ratio >= t { "yes" } else { "no" }),
            (_, Some(b)) => (
                format!("<= {b} {}", self.unit),
                if self.ours <= b { "yes" } else { "no" },
            ),
            _ => (String::new(), ""),
        };
        format!(
            "| {} | {:.2} {u} | {:.2} {u} | {:.1}x | {target} | {met} |",
            self.what,
            self.ours,
            self.reference,
            ratio,
            u = self.unit
        )
    }
}

fn msf(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn med_ms(v: Vec<Duration>) -> f64 {
    msf(median(v))
}

/// VERSION of the bridge plugin, interleaved.
fn version(o: &Opts, runs: usize) -> Result<Line, String> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        for (dir, out) in [(&o.ours, &mut a), (&o.reference, &mut b)] {
            let start = Instant::now();
            let st = Command::new(dir.join("bridge"))
                .env_clear()
                .env("CNI_COMMAND", "VERSION")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .map_err(|e| e.to_string())?;
            out.push(start.elapsed());
            if !st.success() {
                return Err("VERSION failed".into());
            }
        }
    }
    Ok(Line::new("VERSION (bridge binary)", med_ms(a), med_ms(b), "ms").ratio_target(2.5))
}

/// ADD+DEL rounds of one plugin config, interleaved; medians of the sums.
fn add_del(
    o: &Opts,
    plugin: &str,
    fields: &Value,
    n: u8,
    runs: usize,
) -> Result<(f64, f64), String> {
    let (a, b) = interleaved(o, plugin, fields, "cbt", n, runs)?;
    let sums = |c: &Case| -> Vec<Duration> {
        c.adds
            .iter()
            .zip(&c.dels)
            .map(|(x, y)| x.took + y.took)
            .collect()
    };
    Ok((med_ms(sums(&a)), med_ms(sums(&b))))
}

/// What the kernel alone takes for the link work of one bridge ADD+DEL:
/// create a veth pair in a namespace and delete it, over one netlink
/// socket, no process started. No plugin can be faster than this.
fn veth_floor(runs: usize) -> Result<Line, String> {
    let ns = BenchNs::new("floor")?;
    let handle = netns::NetNs::open(ns.path()).map_err(|e| e.to_string())?;
    let mut sock = netlink::Socket::new_in(&handle).map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    for r in 0..runs + 2 {
        let start = Instant::now();
        sock.create_link(&netlink::NewLink::veth("floor0", "floor1", None, 0, None))
            .map_err(|e| e.to_string())?;
        let link = sock.require_link("floor0").map_err(|e| e.to_string())?;
        sock.delete_link(&link).map_err(|e| e.to_string())?;
        if r >= 2 {
            times.push(start.elapsed());
        }
    }
    Ok(Line {
        reference: f64::NAN,
        ..Line::new(
            "kernel alone: create + delete one veth pair (in process, no plugin)",
            med_ms(times),
            0.0,
            "ms",
        )
    })
}

/// podman's conflist through cnitool: ADD then DEL, interleaved.
fn cnitool_chain(o: &Opts, runs: usize) -> Result<Line, String> {
    let cnitool = o.tools.join("cnitool");
    if !cnitool.is_file() {
        return Err(format!(
            "{} missing (scripts/bench.sh builds it)",
            cnitool.display()
        ));
    }
    let pid = std::process::id();
    let mut times = [Vec::new(), Vec::new()];
    let mut setups = Vec::new();
    for (i, dir) in [&o.ours, &o.reference].into_iter().enumerate() {
        let case = ChainCase::new(dir, if i == 0 { "co" } else { "cr" }, 10 + i as u8)?;
        let netdir = std::env::temp_dir().join(format!("cni-bench-netd-{pid}-{i}"));
        fs::create_dir_all(&netdir).map_err(|e| e.to_string())?;
        let mut list =
            json!({"cniVersion": "0.4.0", "name": case.list.name, "plugins": case.list.plugins});
        list["cniVersion"] = json!("0.4.0");
        fs::write(netdir.join("87-bench.conflist"), list.to_string()).map_err(|e| e.to_string())?;
        setups.push((case, netdir, dir.clone()));
    }
    let round = |(case, netdir, dir): &(ChainCase, PathBuf, PathBuf),
                 verb: &str|
     -> Result<Duration, String> {
        let start = Instant::now();
        let out = Command::new(&cnitool)
            .args([verb, &case.list.name, &case.ns.path()])
            .env("NETCONFPATH", netdir)
            .env("CNI_PATH", dir)
            .env("CAP_ARGS", Value::Object(case.caps.clone()).to_string())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "cnitool {verb}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(start.elapsed())
    };
    for r in 0..runs + 2 {
        for (i, s) in setups.iter().enumerate() {
            let t = round(s, "add")? + round(s, "del")?;
            if r >= 2 {
                times[i].push(t);
            }
        }
    }
    for (_, netdir, _) in &setups {
        let _ = fs::remove_dir_all(netdir);
    }
    let [a, b] = times;
    Ok(Line::new(
        "podman's chain ADD+DEL through cnitool",
        med_ms(a),
        med_ms(b),
        "ms",
    ))
}

/// `count` ADDs in as many namespaces, one after the other then all at
/// once; returns (sequential ADDs, sequential DELs, parallel ADDs of
/// `parallel` each) in ms, for one implementation.
fn batch(
    dir: &Path,
    tag: &str,
    n: u8,
    count: usize,
    parallel: &[usize],
) -> Result<(f64, f64, Vec<f64>), String> {
    let pid = std::process::id();
    let bridge = format!("cbb{}{tag}", pid % 1000);
    let data = std::env::temp_dir().join(format!("cni-bench-batch-{pid}-{tag}"));
    let _ = fs::remove_dir_all(&data);
    let conf = json!({"cniVersion": "1.0.0", "name": format!("batch-{tag}"), "type": "bridge",
        "bridge": bridge, "isGateway": true,
        "ipam": {"type": "host-local", "dataDir": data, "ranges": [[{"subnet": format!("10.{}.0.0/16", 100 + n)}]]}})
    .to_string()
    .into_bytes();
    let nss: Vec<BenchNs> = (0..count)
        .map(|i| BenchNs::new(&format!("b{tag}{i}")))
        .collect::<Result<_, _>>()?;
    let bin = dir.join("bridge");
    let one =
        |i: usize, cmd: &str| run_plugin(&bin, cmd, &format!("batch-{i}"), &nss[i].path(), &conf);
    // Warm-up: the bridge exists before timing.
    one(0, "ADD")?;
    one(0, "DEL")?;
    let start = Instant::now();
    for i in 0..count {
        one(i, "ADD")?;
    }
    let adds = start.elapsed();
    let start = Instant::now();
    for i in 0..count {
        one(i, "DEL")?;
    }
    let dels = start.elapsed();
    let mut par = Vec::new();
    for &p in parallel {
        let start = Instant::now();
        std::thread::scope(|s| -> Result<(), String> {
            let handles: Vec<_> = (0..p).map(|i| s.spawn(move || one(i, "ADD"))).collect();
            for h in handles {
                h.join().map_err(|_| "thread panicked".to_string())??;
            }
            Ok(())
        })?;
        par.push(msf(start.elapsed()));
        for i in 0..p {
            one(i, "DEL")?;
        }
    }
    let _ = Command::new("ip").args(["link", "del", &bridge]).status();
    let _ = fs::remove_dir_all(&data);
    Ok((msf(adds), msf(dels), par))
}

/// The peak resident set of the plugin process itself (not its children):
/// traced with ptrace, `VmHWM` read when it exits. (A parent's wait4
/// maxrss would count the parent's memory too: it is where the child came
/// from before exec.)
pub fn peak_rss_kib(bin: &Path, env: &[(&str, String)], stdin: &[u8]) -> Result<u64, String> {
    use std::io::Write;
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: PTRACE_TRACEME is async-signal-safe; nothing else runs
    // between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin);
    }
    let pid = child.id() as libc::pid_t;
    let mut hwm = 0;
    let mut status = 0;
    // SAFETY: plain syscalls on our own traced child.
    unsafe {
        libc::waitpid(pid, &mut status, 0); // the stop after exec
        libc::ptrace(
            libc::PTRACE_SETOPTIONS,
            pid,
            0,
            libc::PTRACE_O_TRACEEXIT as libc::c_long,
        );
        libc::ptrace(libc::PTRACE_CONT, pid, 0, 0);
        loop {
            if libc::waitpid(pid, &mut status, 0) < 0
                || libc::WIFEXITED(status)
                || libc::WIFSIGNALED(status)
            {
                break;
            }
            let mut sig = 0;
            if libc::WIFSTOPPED(status) {
                if status >> 8 == (libc::SIGTRAP | (libc::PTRACE_EVENT_EXIT << 8)) {
                    let text =
                        fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                    if let Ok(f) = std::env::var("CNI_BENCH_SMAPS") {
                        let _ = fs::copy(format!("/proc/{pid}/smaps"), f);
                    }
                    hwm = text
                        .lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.split_whitespace().next())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                } else {
                    sig = libc::WSTOPSIG(status);
                }
            }
            libc::ptrace(libc::PTRACE_CONT, pid, 0, sig as libc::c_long);
        }
    }
    Ok(hwm)
}

/// Drops a file's pages from the page cache, so that the next run reads it
/// back the way a binary installed a while ago is read. How the cache was
/// filled changes the resident set: the kernel maps 64 KiB of cached file
/// around each fault, and a file just written by `cp` sits in larger
/// folios than one read back by readahead.
fn evict(path: &Path) {
    use std::os::fd::AsRawFd;
    if let Ok(f) = fs::File::open(path) {
        // SAFETY: an advisory call on an open descriptor.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
}

fn rss_line(o: &Opts) -> Result<Line, String> {
    let mut out = [0u64; 2];
    for (i, dir) in [&o.ours, &o.reference].into_iter().enumerate() {
        for p in ["bridge", "host-local"] {
            evict(&dir.join(p));
        }
        let pid = std::process::id();
        let ns = BenchNs::new(&format!("rss{i}"))?;
        let bridge = format!("cbr{}{i}", pid % 1000);
        let data = std::env::temp_dir().join(format!("cni-bench-rss-{pid}-{i}"));
        let conf = json!({"cniVersion": "1.0.0", "name": format!("rss-{i}"), "type": "bridge",
            "bridge": bridge, "isGateway": true, "ipMasq": true,
            "ipam": {"type": "host-local", "dataDir": data, "ranges": [[{"subnet": format!("10.{}.0.0/16", 110 + i)}]]}})
        .to_string();
        // The first ADD reads the binaries back; the next five are measured.
        for r in 0..6 {
            let env = [
                ("CNI_COMMAND", "ADD".to_string()),
                ("CNI_CONTAINERID", format!("rss-{r}")),
                ("CNI_NETNS", ns.path()),
                ("CNI_IFNAME", "eth0".to_string()),
                ("CNI_PATH", dir.display().to_string()),
            ];
            let kib = peak_rss_kib(&dir.join("bridge"), &env, conf.as_bytes())?;
            if r > 0 {
                out[i] = out[i].max(kib);
            }
            run_plugin(
                &dir.join("bridge"),
                "DEL",
                &format!("rss-{r}"),
                &ns.path(),
                conf.as_bytes(),
            )?;
        }
        let _ = Command::new("ip").args(["link", "del", &bridge]).status();
        let _ = fs::remove_dir_all(&data);
    }
    Ok(Line::new(
        "peak RSS of one bridge ADD (ipMasq, the plugin process)",
        out[0] as f64 / 1024.0,
        out[1] as f64 / 1024.0,
        "MiB",
    )
    .bound(2.0))
}

const PLUGINS: [&str; 8] = [
    "bridge",
    "firewall",
    "host-local",
    "ipvlan",
    "loopback",
    "macvlan",
    "portmap",
    "tuning",
];

fn size_lines(o: &Opts) -> Vec<Line> {
    let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    let reference: f64 = PLUGINS.iter().map(|p| size(&o.reference.join(p))).sum();
    let separate: f64 = PLUGINS.iter().map(|p| size(&o.ours.join(p))).sum();
    let multicall = size(&o.multicall.join("cni-plugins"));
    vec![
        Line::new(
            "the 8 plugins on disk, one multi-call binary",
            multicall,
            reference,
            "MB",
        )
        .bound(5.0),
        Line::new(
            "the 8 plugins on disk, separate binaries",
            separate,
            reference,
            "MB",
        ),
    ]
}

/// A command's stdout, or an error with its stderr.
fn stdout_of(mut cmd: Command, what: &str) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command, its output kept for the error message only.
fn quiet(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A podman with private storage, our or the reference's plugins.
struct Podman {
    dir: PathBuf,
}

impl Podman {
    fn new(tag: &str, plugins: &Path) -> Result<Podman, String> {
        let dir =
            std::env::temp_dir().join(format!("cni-bench-podman-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("net.d")).map_err(|e| e.to_string())?;
        fs::write(
            dir.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = []\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n[network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{}\"]\nnetwork_config_dir = \"{}\"\n",
                plugins.display(),
                dir.join("net.d").display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let rootfs = dir.join("rootfs");
        fs::create_dir_all(rootfs.join("bin")).map_err(|e| e.to_string())?;
        fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .map_err(|e| format!("busybox-static: {e}"))?;
        for a in ["sh", "true", "sleep"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a))
                .map_err(|e| e.to_string())?;
        }
        sh(
            "tar",
            &[
                "-C",
                &rootfs.display().to_string(),
                "-cf",
                &dir.join("rootfs.tar").display().to_string(),
                ".",
            ],
        )?;
        let p = Podman { dir };
        p.run(&[
            "import",
            &p.dir.join("rootfs.tar").display().to_string(),
            "localhost/cnibench:latest",
        ])?;
        Ok(p)
    }

    fn run(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("podman");
        cmd.arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args(args)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"));
        stdout_of(cmd, &format!("podman {args:?}"))
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-af", "-t", "0"]);
        let _ = self.run(&["network", "rm", "-f", "benchnet"]);
        let _ = self.run(&["system", "reset", "-f"]);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn podman_lines(o: &Opts, runs: usize) -> Result<Vec<Line>, String> {
    let pid = std::process::id();
    let mut with = [Vec::new(), Vec::new()];
    let mut without = Vec::new();
    let pms = [Podman::new("o", &o.ours)?, Podman::new("r", &o.reference)?];
    for (i, pm) in pms.iter().enumerate() {
        pm.run(&[
            "network",
            "create",
            "--disable-dns",
            "--subnet",
            &format!("10.{}.{}.0/24", 120 + i, pid % 250),
            "benchnet",
        ])?;
        // A bridge name of our own.
        let path = pm.dir.join("net.d/benchnet.conflist");
        let mut conf: Value = serde_json::from_slice(&fs::read(&path).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        conf["plugins"][0]["bridge"] = json!(format!("cbpm{}{i}", pid % 1000));
        fs::write(&path, conf.to_string()).map_err(|e| e.to_string())?;
    }
    let time = |f: &dyn Fn() -> Result<String, String>| -> Result<Duration, String> {
        let start = Instant::now();
        f()?;
        Ok(start.elapsed())
    };
    for r in 0..runs + 1 {
        for (i, pm) in pms.iter().enumerate() {
            let t = time(&|| {
                pm.run(&[
                    "run",
                    "--rm",
                    "--network",
                    "benchnet",
                    "localhost/cnibench:latest",
                    "true",
                ])
            })?;
            if r > 0 {
                with[i].push(t);
            }
        }
        let t = time(&|| {
            pms[0].run(&[
                "run",
                "--rm",
                "--network",
                "none",
                "localhost/cnibench:latest",
                "true",
            ])
        })?;
        if r > 0 {
            without.push(t);
        }
    }
    let [a, b] = with;
    Ok(vec![Line::new(
        format!(
            "podman run --rm (the same without a network: {:.0} ms)",
            med_ms(without)
        ),
        med_ms(a),
        med_ms(b),
        "ms",
    )])
}

/// containerd with the CRI plugin, our or the reference's plugins.
struct Containerd {
    dir: PathBuf,
    daemon: std::process::Child,
    sock: PathBuf,
    cri_pod: PathBuf,
    /// The bridge its pods join (left by the last DEL, as with any bridge).
    bridge: String,
}

impl Containerd {
    fn start(tag: &str, plugins: &Path, image_tar: &Path, o: &Opts) -> Result<Containerd, String> {
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("cni-bench-ctrd-{pid}-{tag}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("net.d")).map_err(|e| e.to_string())?;
        let n = if tag == "o" { 130 } else { 131 };
        let bridge = format!("cbcd{}{tag}", pid % 1000);
        let conf = json!({"cniVersion": "1.0.0", "name": format!("ctrd-bench-{tag}"), "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": true,
             "ipam": {"type": "host-local", "dataDir": dir.join("ipam"), "ranges": [[{"subnet": format!("10.{n}.0.0/16")}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": true}}]});
        fs::write(dir.join("net.d/10-bench.conflist"), conf.to_string())
            .map_err(|e| e.to_string())?;
        let sock = dir.join("containerd.sock");
        fs::write(
            dir.join("config.toml"),
            format!(
                "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n[grpc]\n  address = \"{s}\"\n[ttrpc]\n  address = \"{s}.ttrpc\"\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"localhost/cnibench-pause:latest\"\n  restrict_oom_score_adj = true\n  [plugins.\"io.containerd.grpc.v1.cri\".cni]\n    bin_dir = \"{b}\"\n    conf_dir = \"{d}/net.d\"\n",
                d = dir.display(),
                s = sock.display(),
                b = plugins.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let log = fs::File::create(dir.join("containerd.log")).map_err(|e| e.to_string())?;
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("containerd: {e}"))?;
        let c = Containerd {
            dir,
            daemon,
            sock,
            cri_pod: o.tools.join("cri-pod"),
            bridge,
        };
        for _ in 0..100 {
            if c.sock.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        quiet(
            "ctr",
            &[
                "--address",
                &c.sock.display().to_string(),
                "-n",
                "k8s.io",
                "images",
                "import",
                &image_tar.display().to_string(),
            ],
        )?;
        Ok(c)
    }

    fn cri(&self, args: &[&str], host_net: bool) -> Result<String, String> {
        let mut cmd = Command::new(&self.cri_pod);
        cmd.arg(&self.sock)
            .args(args)
            .env("CRI_POD_HOST_NETWORK", if host_net { "1" } else { "0" });
        stdout_of(cmd, &format!("cri-pod {args:?}"))
    }

    /// One pod's run, stop and remove.
    fn cycle(&self, i: usize, host_net: bool) -> Result<Duration, String> {
        let start = Instant::now();
        let out = self.cri(
            &["run", &format!("bench{i}"), &format!("uid{i}"), "default"],
            host_net,
        )?;
        let v: Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
        let id = v["id"].as_str().unwrap_or_default().to_string();
        self.cri(&["stop", &id], host_net)?;
        self.cri(&["rm", &id], host_net)?;
        Ok(start.elapsed())
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        let root = self.dir.display().to_string();
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!("grep -o ' {root}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l"),
            ])
            .status();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn containerd_lines(o: &Opts, runs: usize) -> Result<Vec<Line>, String> {
    if !o.tools.join("cri-pod").is_file() {
        return Err("target/tools/cri-pod missing (scripts/bench.sh builds it)".into());
    }
    // The pause image, made with podman.
    let pm = Podman::new("pause", &o.ours)?;
    let tar = pm.dir.join("pause.tar");
    pm.run(&[
        "import",
        "--change",
        "ENTRYPOINT [\"/bin/sleep\", \"1000000\"]",
        &pm.dir.join("rootfs.tar").display().to_string(),
        "localhost/cnibench-pause:latest",
    ])?;
    pm.run(&[
        "save",
        "--format",
        "docker-archive",
        "-o",
        &tar.display().to_string(),
        "localhost/cnibench-pause:latest",
    ])?;
    let mut with = [Vec::new(), Vec::new()];
    let mut without = Vec::new();
    for (i, dir) in [&o.ours, &o.reference].into_iter().enumerate() {
        let c = Containerd::start(if i == 0 { "o" } else { "r" }, dir, &tar, o)?;
        c.cycle(999, false)?;
        for r in 0..runs {
            with[i].push(c.cycle(r, false)?);
            if i == 0 {
                without.push(c.cycle(1000 + r, true)?);
            }
        }
    }
    let [a, b] = with;
    Ok(vec![Line::new(
        format!(
            "containerd CRI pod run+stop+remove (host network: {:.0} ms)",
            med_ms(without)
        ),
        med_ms(a),
        med_ms(b),
        "ms",
    )])
}

pub fn table(o: &Opts) -> Result<(), String> {
    let runs = o.runs;
    let mut lines = Vec::new();
    let step = |what: &str| eprintln!("cni-bench: {what}");
    step("VERSION");
    lines.push(version(o, runs.max(100))?);
    step("bridge");
    let (a, b) = add_del(o, "bridge", &json!({"isGateway": true}), 0, runs)?;
    lines.push(Line::new("bridge + host-local ADD+DEL, no ipMasq", a, b, "ms").ratio_target(6.0));
    let (a, b) = add_del(
        o,
        "bridge",
        &json!({"isGateway": true, "ipMasq": true}),
        2,
        runs,
    )?;
    lines.push(Line::new("bridge + host-local ADD+DEL, ipMasq", a, b, "ms").ratio_target(10.0));
    lines.push(veth_floor(runs)?);
    step("macvlan");
    let master = MasterLink::new()?;
    let (a, b) = add_del(o, "macvlan", &json!({"master": master.0}), 4, runs)?;
    lines.push(Line::new("macvlan + host-local ADD+DEL", a, b, "ms"));
    drop(master);
    step("chain");
    lines.push(cnitool_chain(o, runs.min(20))?);
    step("200 sequential, 8 and 32 parallel");
    let (sa, sd, pa) = batch(&o.ours, "o", 0, 200, &[8, 32])?;
    let (ra, rd, pr) = batch(&o.reference, "r", 1, 200, &[8, 32])?;
    lines.push(Line::new("200 bridge ADDs one after another", sa, ra, "ms"));
    lines.push(Line::new("then their 200 DELs", sd, rd, "ms"));
    lines.push(Line::new(
        "8 bridge ADDs at once (wall)",
        pa[0],
        pr[0],
        "ms",
    ));
    lines.push(Line::new(
        "32 bridge ADDs at once (wall)",
        pa[1],
        pr[1],
        "ms",
    ));
    step("host-local with 60,000 leases");
    let (ours, reference) = bench_pair(
        &o.ours.join("host-local"),
        &o.reference.join("host-local"),
        60_000,
    )?;
    lines.push(Line::new(
        "host-local ADD, 60,000 leases",
        msf(ours.add),
        msf(reference.add),
        "ms",
    ));
    lines.push(Line::new(
        "host-local DEL, 60,000 leases",
        msf(ours.del),
        msf(reference.del),
        "ms",
    ));
    step("peak RSS");
    lines.push(rss_line(o)?);
    lines.extend(size_lines(o));
    step("podman");
    lines.extend(podman_lines(o, 5)?);
    step("containerd");
    lines.extend(containerd_lines(o, 5)?);

    println!("| measurement | ours | reference | ratio (reference / ours) | target | met |");
    println!("|---|---:|---:|---:|---|---|");
    for l in &lines {
        println!("{}", l.render());
    }
    Ok(())
}
