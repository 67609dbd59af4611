//! cni-bench: whole-process timings of our plugins beside the reference Go
//! binaries (Debian's containernetworking-plugins, /usr/lib/cni), measured
//! in the same run, reported as medians and ratios. Never a pass/fail test.
//!
//! Usage: cni-bench host-local [--ours DIR] [--reference DIR] [--leases 0,1000,60000]

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

struct Opts {
    ours: PathBuf,
    reference: PathBuf,
    leases: Vec<usize>,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let mut o = Opts {
        ours: exe_dir,
        reference: PathBuf::from("/usr/lib/cni"),
        leases: vec![0, 1000, 60000],
    };
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
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// Run a plugin once; how long the whole process took.
fn time_plugin(bin: &Path, cmd: &str, cid: &str, stdin: &[u8]) -> Result<Duration, String> {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", cid)
        .env("CNI_NETNS", "/run/netns/cni-bench-unused")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", bin.parent().unwrap_or(Path::new("/")))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run {}: {e}", bin.display()))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin);
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let took = start.elapsed();
    if !out.status.success() {
        return Err(format!(
            "{} {cmd} {cid} failed: {}",
            bin.display(),
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    Ok(took)
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("host-local") => parse_opts(&args[1..]).and_then(|o| host_local(&o)),
        _ => Err(
            "usage: cni-bench host-local [--ours DIR] [--reference DIR] [--leases 0,1000,60000]"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cni-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
