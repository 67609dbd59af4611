//! cni-bench: whole-process timings of our plugins beside the reference Go
//! binaries (Debian's containernetworking-plugins, /usr/lib/cni), measured
//! in the same run, reported as medians and ratios. Never a pass/fail test.
//!
//! Usage: cni-bench host-local [--ours DIR] [--reference DIR] [--leases 0,1000,60000]
//!        cni-bench bridge|macvlan|ipvlan [--ours DIR] [--reference DIR] [--runs N]

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

mod table;

struct Opts {
    ours: PathBuf,
    reference: PathBuf,
    leases: Vec<usize>,
    runs: usize,
    /// cnitool and cri-pod (target/tools).
    tools: PathBuf,
    /// Where the multi-call binary is installed (default: `ours`).
    multicall: PathBuf,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let mut o = Opts {
        ours: exe_dir.clone(),
        reference: PathBuf::from("/usr/lib/cni"),
        leases: vec![0, 1000, 60000],
        runs: 30,
        tools: exe_dir
            .parent()
            .map(|t| t.join("tools"))
            .unwrap_or_default(),
        multicall: PathBuf::new(),
    };
    let mut multicall = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--ours" => o.ours = PathBuf::from(val()?),
            "--reference" => o.reference = PathBuf::from(val()?),
            "--leases" => {
                o.leases = val()?
                    .split(',')
                    .map(|s| s.parse().map_err(|_| format!("bad lease count {s}")))
                    .collect::<Result<_, _>>()?
            }
            "--tools" => o.tools = PathBuf::from(val()?),
            "--multicall" => multicall = Some(PathBuf::from(val()?)),
            "--runs" => o.runs = val()?.parse().map_err(|_| format!("bad --runs {a}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    o.multicall = multicall.unwrap_or_else(|| o.ours.clone());
    Ok(o)
}

/// One plugin process: how long it took, and the peak RSS (KiB) of it and
/// the children it waited for (its IPAM plugin, iptables, ...).
struct Run {
    took: Duration,
    max_rss_kib: u64,
}

/// Run a plugin once with `CNI_NETNS=netns`.
fn run_plugin(bin: &Path, cmd: &str, cid: &str, netns: &str, stdin: &[u8]) -> Result<Run, String> {
    run_plugin_out(bin, cmd, cid, netns, stdin).map(|(r, _)| r)
}

/// [`run_plugin`], with the plugin's stdout.
fn run_plugin_out(
    bin: &Path,
    cmd: &str,
    cid: &str,
    netns: &str,
    stdin: &[u8],
) -> Result<(Run, String), String> {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", cid)
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", bin.parent().unwrap_or(Path::new("/")))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("run {}: {e}", bin.display()))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin);
    }
    // wait4 instead of Child::wait: it also reports the resource usage.
    // The result (well under a pipe's 64 KiB) is read afterwards.
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our unwaited child; both pointers are valid for writes.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let took = start.elapsed();
    if r != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut o, &mut out);
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!("{} {cmd} {cid} failed: {out}", bin.display()));
    }
    Ok((
        Run {
            took,
            max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        },
        out,
    ))
}

/// Run a plugin once; how long the whole process took.
fn time_plugin(bin: &Path, cmd: &str, cid: &str, stdin: &[u8]) -> Result<Duration, String> {
    run_plugin(bin, cmd, cid, "/run/netns/cni-bench-unused", stdin).map(|r| r.took)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// A /16 network directory holding `n` leases in the reference layout.
fn populate(data: &Path, n: usize) -> Result<(), String> {
    let dir = data.join("bench");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut last = String::new();
    for i in 0..n {
        let host = i as u32 + 2; // .0.1 is the gateway
        let ip = format!("10.60.{}.{}", host >> 8, host & 0xff);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(&ip))
            .map_err(|e| format!("{ip}: {e}"))?;
        f.write_all(format!("lease-{i}\r\neth0").as_bytes())
            .map_err(|e| e.to_string())?;
        last = ip;
    }
    if n > 0 {
        fs::write(dir.join("last_reserved_ip.0"), last).map_err(|e| e.to_string())?;
    }
    Ok(())
}

struct Row {
    add: Duration,
    del: Duration,
    runs: usize,
}

/// One implementation's pool of `leases` leases.
struct Pool {
    bin: PathBuf,
    data: PathBuf,
    conf: Vec<u8>,
    runs: usize,
    adds: Vec<Duration>,
    dels: Vec<Duration>,
}

impl Pool {
    fn new(bin: &Path, tag: &str, leases: usize, runs: usize) -> Result<Pool, String> {
        let data = std::env::temp_dir().join(format!(
            "cni-bench-hl-{}-{tag}-{leases}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&data);
        populate(&data, leases)?;
        let conf = json!({"cniVersion": "1.0.0", "name": "bench", "type": "bridge",
            "ipam": {"type": "host-local", "dataDir": data, "ranges": [[{"subnet": "10.60.0.0/16"}]]}})
        .to_string()
        .into_bytes();
        Ok(Pool {
            bin: bin.to_path_buf(),
            data,
            conf,
            runs,
            adds: Vec::new(),
            dels: Vec::new(),
        })
    }

    fn round(&mut self, i: usize, measure: bool) -> Result<(), String> {
        let cid = format!("bench-{i}");
        let add = time_plugin(&self.bin, "ADD", &cid, &self.conf)?;
        let del = time_plugin(&self.bin, "DEL", &cid, &self.conf)?;
        if measure {
            self.adds.push(add);
            self.dels.push(del);
        }
        Ok(())
    }

    fn row(&self) -> Row {
        Row {
            add: median(self.adds.clone()),
            del: median(self.dels.clone()),
            runs: self.adds.len(),
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.data);
    }
}

/// Both implementations on identical pools, their runs interleaved so that
/// whatever else the machine is doing weighs on both alike.
fn bench_pair(ours: &Path, reference: &Path, leases: usize) -> Result<(Row, Row), String> {
    // The reference reads every lease on each ADD and DEL: fewer runs.
    let ref_runs = if leases >= 10_000 { 7 } else { 25 };
    let mut a = Pool::new(ours, "ours", leases, 40)?;
    let mut b = Pool::new(reference, "ref", leases, ref_runs)?;
    let _ = Command::new("sync").status();
    std::thread::sleep(Duration::from_secs(1));
    // Warm-up (our first run also builds the index of existing leases).
    for i in 0..2 {
        a.round(1000 + i, false)?;
        b.round(1000 + i, false)?;
    }
    for i in 0..a.runs.max(b.runs) {
        if i < a.runs {
            a.round(i, true)?;
        }
        if i < b.runs {
            b.round(i, true)?;
        }
    }
    Ok((a.row(), b.row()))
}

fn host_local(o: &Opts) -> Result<(), String> {
    let ours = o.ours.join("host-local");
    let reference = o.reference.join("host-local");
    for p in [&ours, &reference] {
        if !p.is_file() {
            return Err(format!("{} not found", p.display()));
        }
    }
    println!(
        "host-local on a /16, state on {}: median whole-process time (ms)",
        std::env::temp_dir().display()
    );
    println!(
        "ours: {}   reference: {}",
        ours.display(),
        reference.display()
    );
    println!();
    println!(
        "| leases | ADD ours | ADD reference | ADD ratio | DEL ours | DEL reference | DEL ratio | runs (ours/ref) |"
    );
    println!(
        "|-------:|---------:|--------------:|----------:|---------:|--------------:|----------:|----------------:|"
    );
    let mut base: Option<Row> = None;
    let mut growth = Vec::new();
    for &n in &o.leases {
        let (ours_row, ref_row) = bench_pair(&ours, &reference, n)?;
        let ratio = |a: Duration, b: Duration| format!("{:.1}x", b.as_secs_f64() / a.as_secs_f64());
        println!(
            "| {n} | {} | {} | {} | {} | {} | {} | {}/{} |",
            ms(ours_row.add),
            ms(ref_row.add),
            ratio(ours_row.add, ref_row.add),
            ms(ours_row.del),
            ms(ref_row.del),
            ratio(ours_row.del, ref_row.del),
            ours_row.runs,
            ref_row.runs
        );
        if let Some(b) = &base {
            growth.push(format!(
                "{n} leases: ADD {:.2}x, DEL {:.2}x of the empty pool",
                ours_row.add.as_secs_f64() / b.add.as_secs_f64(),
                ours_row.del.as_secs_f64() / b.del.as_secs_f64()
            ));
        } else {
            base = Some(ours_row);
        }
    }
    println!();
    for g in growth {
        println!("ours, {g}");
    }
    Ok(())
}

/// A network namespace for the benchmark, deleted on drop.
struct BenchNs(String);

impl BenchNs {
    fn new(tag: &str) -> Result<BenchNs, String> {
        let name = format!("cni-bench-{}-{tag}", std::process::id());
        sh("ip", &["netns", "add", &name])?;
        Ok(BenchNs(name))
    }
    fn path(&self) -> String {
        format!("/run/netns/{}", self.0)
    }
}

impl Drop for BenchNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sh(cmd: &str, args: &[&str]) -> Result<(), String> {
    let st = Command::new(cmd)
        .args(args)
        .status()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{cmd} {args:?} failed"))
    }
}

/// Ours and the reference, each with its own `Case` of `plugin` + `fields`
/// (a bridge of its own, `<prefix><pid><o|r>`), two warm-up rounds, then
/// `runs` timed ADD+DEL rounds, interleaved.
fn interleaved(
    o: &Opts,
    plugin: &str,
    fields: &serde_json::Value,
    prefix: &str,
    n: u8,
    runs: usize,
) -> Result<(Case, Case), String> {
    let with_bridge = |tag: &str| {
        let mut f = fields.clone();
        if plugin == "bridge" {
            f["bridge"] = json!(format!("{prefix}{}{tag}", std::process::id() % 1000));
        }
        f
    };
    let mut a = Case::new(&o.ours, plugin, "o", n, &with_bridge("o"))?;
    let mut b = Case::new(&o.reference, plugin, "r", n + 1, &with_bridge("r"))?;
    for w in 0..2 {
        a.round(1000 + w, false)?;
        b.round(1000 + w, false)?;
    }
    for r in 0..runs {
        a.round(r, true)?;
        b.round(r, true)?;
    }
    Ok((a, b))
}

/// One implementation running one config of `plugin` + host-local: its
/// own namespace, subnet and IPAM directory; ADD then DEL per round.
struct Case {
    bin: PathBuf,
    ns: BenchNs,
    /// Host links to delete at the end (the bridge a case created).
    cleanup: Vec<String>,
    data: PathBuf,
    conf: Vec<u8>,
    adds: Vec<Run>,
    dels: Vec<Run>,
}

impl Case {
    fn new(
        dir: &Path,
        plugin: &str,
        tag: &str,
        n: u8,
        fields: &serde_json::Value,
    ) -> Result<Case, String> {
        let pid = std::process::id();
        let data = std::env::temp_dir().join(format!("cni-bench-{plugin}-{pid}-{tag}"));
        let _ = fs::remove_dir_all(&data);
        let mut conf = json!({"cniVersion": "1.0.0", "name": format!("bench-{plugin}-{tag}"),
            "type": plugin,
            "ipam": {"type": "host-local", "dataDir": data,
                     "ranges": [[{"subnet": format!("10.{}.0.0/16", 60 + n)}]]}});
        if let (Some(c), Some(e)) = (conf.as_object_mut(), fields.as_object()) {
            c.extend(e.clone());
        }
        let cleanup = fields["bridge"]
            .as_str()
            .map(String::from)
            .into_iter()
            .collect();
        Ok(Case {
            bin: dir.join(plugin),
            ns: BenchNs::new(&format!("{plugin}-{tag}"))?,
            cleanup,
            data,
            conf: conf.to_string().into_bytes(),
            adds: Vec::new(),
            dels: Vec::new(),
        })
    }

    fn round(&mut self, i: usize, measure: bool) -> Result<(), String> {
        let cid = format!("bench-{i}");
        let ns = self.ns.path();
        let add = run_plugin(&self.bin, "ADD", &cid, &ns, &self.conf)?;
        let del = run_plugin(&self.bin, "DEL", &cid, &ns, &self.conf)?;
        if measure {
            self.adds.push(add);
            self.dels.push(del);
        }
        Ok(())
    }

    fn median(runs: &[Run]) -> Duration {
        median(runs.iter().map(|r| r.took).collect())
    }

    fn peak_rss_mib(&self) -> f64 {
        let kib = self
            .adds
            .iter()
            .chain(&self.dels)
            .map(|r| r.max_rss_kib)
            .max()
            .unwrap_or(0);
        kib as f64 / 1024.0
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        for l in &self.cleanup {
            let _ = Command::new("ip").args(["link", "del", l]).status();
        }
        let _ = fs::remove_dir_all(&self.data);
    }
}

/// A veth pair whose first end is the master for macvlan and ipvlan.
struct MasterLink(String);

impl MasterLink {
    fn new() -> Result<MasterLink, String> {
        let name = format!("cbm{}", std::process::id() % 100_000);
        let peer = format!("{name}p");
        sh(
            "ip",
            &["link", "add", &name, "type", "veth", "peer", "name", &peer],
        )?;
        sh("ip", &["link", "set", &name, "up"])?;
        sh("ip", &["link", "set", &peer, "up"])?;
        Ok(MasterLink(name))
    }
}

impl Drop for MasterLink {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

/// Ours and the reference, the same configs, runs interleaved; a table.
fn compare(
    o: &Opts,
    plugin: &str,
    what: &str,
    cases: &[(&str, serde_json::Value)],
) -> Result<(), String> {
    for d in [&o.ours, &o.reference] {
        for p in [plugin, "host-local"] {
            if !d.join(p).is_file() {
                return Err(format!("{} not found", d.join(p).display()));
            }
        }
    }
    let runs = o.runs;
    println!("{plugin} + host-local, {what}: median whole-process time (ms) of ADD and DEL,");
    println!(
        "peak RSS (MiB) of the largest process of the tree (plugin, IPAM plugin, iptables, ...), {runs} runs each"
    );
    println!(
        "ours: {}   reference: {}",
        o.ours.display(),
        o.reference.display()
    );
    println!();
    println!(
        "| config | ADD ours | ADD reference | ADD ratio | DEL ours | DEL reference | DEL ratio | peak RSS ours | peak RSS reference |"
    );
    println!(
        "|--------|---------:|--------------:|----------:|---------:|--------------:|----------:|--------------:|-------------------:|"
    );
    for (i, (label, fields)) in cases.iter().enumerate() {
        let n = u8::try_from(i * 2).unwrap_or(0);
        let (a, b) = interleaved(o, plugin, fields, "cbench", n, runs)?;
        let ratio = |x: Duration, y: Duration| format!("{:.1}x", y.as_secs_f64() / x.as_secs_f64());
        let (aa, ba) = (Case::median(&a.adds), Case::median(&b.adds));
        let (ad, bd) = (Case::median(&a.dels), Case::median(&b.dels));
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} |",
            ms(aa),
            ms(ba),
            ratio(aa, ba),
            ms(ad),
            ms(bd),
            ratio(ad, bd),
            a.peak_rss_mib(),
            b.peak_rss_mib()
        );
    }
    println!();
    Ok(())
}

fn bridge(o: &Opts) -> Result<(), String> {
    compare(
        o,
        "bridge",
        "isGateway, one container",
        &[
            ("ipMasq off", json!({"isGateway": true})),
            (
                "ipMasq on (ours: nftables)",
                json!({"isGateway": true, "ipMasq": true}),
            ),
            (
                "ipMasq on, ipMasqBackend iptables",
                json!({"isGateway": true, "ipMasq": true, "ipMasqBackend": "iptables"}),
            ),
        ],
    )?;
    println!("(the reference v1.1.1 ignores ipMasqBackend: it always uses iptables)");
    Ok(())
}

fn stacked(o: &Opts, plugin: &str) -> Result<(), String> {
    let master = MasterLink::new()?;
    let m = json!(master.0);
    let cases: Vec<(&str, serde_json::Value)> = if plugin == "macvlan" {
        vec![
            ("mode bridge", json!({"master": m, "mode": "bridge"})),
            (
                "mode private, mtu 1400",
                json!({"master": m, "mode": "private", "mtu": 1400}),
            ),
        ]
    } else {
        vec![
            ("mode l2", json!({"master": m, "mode": "l2"})),
            ("mode l3", json!({"master": m, "mode": "l3"})),
        ]
    };
    compare(o, plugin, "a veth end as master, one container", &cases)
}

/// One implementation running podman's conflist: its own bridge, subnet,
/// IPAM directory and namespace; the whole chain's ADD, then its DEL.
struct ChainCase {
    dir: PathBuf,
    ns: BenchNs,
    list: cni::ConfList,
    bridge: String,
    data: PathBuf,
    caps: serde_json::Map<String, serde_json::Value>,
    adds: Vec<Run>,
    dels: Vec<Run>,
}

impl ChainCase {
    fn new(dir: &Path, tag: &str, n: u8) -> Result<ChainCase, String> {
        let pid = std::process::id();
        let text = include_str!("../../conf/87-podman-bridge.conflist");
        let mut list = cni::ConfList::from_slice(text.as_bytes()).map_err(|e| e.msg)?;
        let bridge = format!("cbch{}{tag}", pid % 1000);
        let data = std::env::temp_dir().join(format!("cni-bench-chain-{pid}-{tag}"));
        let _ = fs::remove_dir_all(&data);
        list.name = format!("bench-chain-{tag}");
        list.plugins[0]["bridge"] = json!(bridge);
        list.plugins[0]["ipam"]["dataDir"] = json!(data);
        list.plugins[0]["ipam"]["ranges"] = json!([[{"subnet": format!("10.{}.0.0/16", 80 + n)}]]);
        let port = 30000 + (pid % 10000) as u16 * 2 + u16::from(n);
        let caps =
            json!({"portMappings": [{"hostPort": port, "containerPort": 80, "protocol": "tcp"}]});
        Ok(ChainCase {
            dir: dir.to_path_buf(),
            ns: BenchNs::new(&format!("chain-{tag}"))?,
            list,
            bridge,
            data,
            caps: caps.as_object().cloned().unwrap_or_default(),
            adds: Vec::new(),
            dels: Vec::new(),
        })
    }

    /// Run the chain for one verb; the time from the first plugin's start
    /// to the last one's end, and the largest peak RSS.
    fn run_chain(
        &self,
        cmd: &str,
        cid: &str,
        prev: Option<&serde_json::Value>,
    ) -> Result<(Run, Option<serde_json::Value>), String> {
        let start = Instant::now();
        let mut rss = 0;
        let mut last = prev.cloned();
        let order: Vec<usize> = if cmd == "DEL" {
            (0..self.list.plugins.len()).rev().collect()
        } else {
            (0..self.list.plugins.len()).collect()
        };
        for i in order {
            let p = if cmd == "DEL" { prev } else { last.as_ref() };
            let stdin = self.list.request(i, &self.caps, p).map_err(|e| e.msg)?;
            let kind = stdin["type"].as_str().unwrap_or_default().to_string();
            let (r, out) = run_plugin_out(
                &self.dir.join(&kind),
                cmd,
                cid,
                &self.ns.path(),
                stdin.to_string().as_bytes(),
            )?;
            rss = rss.max(r.max_rss_kib);
            if cmd == "ADD" {
                last = Some(serde_json::from_str(&out).map_err(|e| format!("{kind}: {e}: {out}"))?);
            }
        }
        Ok((
            Run {
                took: start.elapsed(),
                max_rss_kib: rss,
            },
            last,
        ))
    }

    fn round(&mut self, i: usize, measure: bool) -> Result<(), String> {
        let cid = format!("bench-{i}");
        let (add, result) = self.run_chain("ADD", &cid, None)?;
        let (del, _) = self.run_chain("DEL", &cid, result.as_ref())?;
        if measure {
            self.adds.push(add);
            self.dels.push(del);
        }
        Ok(())
    }
}

impl Drop for ChainCase {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        let _ = fs::remove_dir_all(&self.data);
    }
}

fn chain(o: &Opts) -> Result<(), String> {
    for d in [&o.ours, &o.reference] {
        for p in ["bridge", "host-local", "portmap", "firewall", "tuning"] {
            if !d.join(p).is_file() {
                return Err(format!("{} not found", d.join(p).display()));
            }
        }
    }
    let runs = o.runs;
    println!(
        "podman's conflist (bridge + host-local, portmap with one TCP mapping, firewall, tuning; spec 0.4.0):"
    );
    println!(
        "median time (ms) of the whole chain's ADD and DEL, peak RSS (MiB) of the largest process, {runs} runs"
    );
    println!(
        "ours: {}   reference: {}",
        o.ours.display(),
        o.reference.display()
    );
    println!();
    println!(
        "| chain | ADD ours | ADD reference | ADD ratio | DEL ours | DEL reference | DEL ratio | peak RSS ours | peak RSS reference |"
    );
    println!(
        "|-------|---------:|--------------:|----------:|---------:|--------------:|----------:|--------------:|-------------------:|"
    );
    let mut a = ChainCase::new(&o.ours, "o", 0)?;
    let mut b = ChainCase::new(&o.reference, "r", 1)?;
    for w in 0..2 {
        a.round(1000 + w, false)?;
        b.round(1000 + w, false)?;
    }
    for r in 0..runs {
        a.round(r, true)?;
        b.round(r, true)?;
    }
    let med = |v: &[Run]| median(v.iter().map(|r| r.took).collect());
    let peak = |v: &[Run], w: &[Run]| {
        v.iter().chain(w).map(|r| r.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0
    };
    let ratio = |x: Duration, y: Duration| format!("{:.1}x", y.as_secs_f64() / x.as_secs_f64());
    let (aa, ba, ad, bd) = (med(&a.adds), med(&b.adds), med(&a.dels), med(&b.dels));
    println!(
        "| podman | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} |",
        ms(aa),
        ms(ba),
        ratio(aa, ba),
        ms(ad),
        ms(bd),
        ratio(ad, bd),
        peak(&a.adds, &a.dels),
        peak(&b.adds, &b.dels)
    );
    println!();
    println!(
        "(the reference's portmap and firewall use iptables; ours: portmap nftables over netlink, firewall iptables as the reference's default)"
    );
    Ok(())
}

const USAGE: &str =
    "usage: cni-bench table [--ours DIR] [--reference DIR] [--multicall DIR] [--tools DIR] [--runs N]
       cni-bench host-local [--ours DIR] [--reference DIR] [--leases 0,1000,60000]
       cni-bench bridge|macvlan|ipvlan|chain [--ours DIR] [--reference DIR] [--runs N]
       cni-bench rss BINARY [STDIN FILE]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("host-local") => parse_opts(&args[1..]).and_then(|o| host_local(&o)),
        Some("bridge") => parse_opts(&args[1..]).and_then(|o| bridge(&o)),
        Some("chain") => parse_opts(&args[1..]).and_then(|o| chain(&o)),
        Some("table") => parse_opts(&args[1..]).and_then(|o| table::table(&o)),
        // cni-bench rss <binary> [stdin file]: the peak RSS (KiB) of one
        // run with this process's CNI_* variables (VERSION if unset).
        Some("rss") if args.len() >= 2 => {
            let mut env: Vec<(&str, String)> = [
                "CNI_COMMAND",
                "CNI_CONTAINERID",
                "CNI_NETNS",
                "CNI_IFNAME",
                "CNI_PATH",
                "CNI_ARGS",
                "GLIBC_TUNABLES",
            ]
            .into_iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k, v)))
            .collect();
            if env.is_empty() {
                env.push(("CNI_COMMAND", "VERSION".to_string()));
            }
            let stdin = args
                .get(2)
                .map(|f| fs::read(f).unwrap_or_default())
                .unwrap_or_default();
            table::peak_rss_kib(Path::new(&args[1]), &env, &stdin).map(|k| println!("{k}"))
        }
        Some(p @ ("macvlan" | "ipvlan")) => parse_opts(&args[1..]).and_then(|o| stacked(&o, p)),
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cni-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
