//! The iptables commands, for the iptables backend and legacy hosts.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use cni::CniError;

/// Find a tool in PATH or the usual sbin directories (runtimes often run
/// plugins with a minimal PATH).
pub fn find(tool: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .filter(|d| !d.is_empty())
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| PathBuf::from(d).join(tool))
        .find(|p| p.is_file())
}

/// Feed `script` to `iptables-restore --noflush` (or ip6tables-restore).
pub fn restore(v6: bool, script: &str) -> Result<(), CniError> {
    let tool = if v6 {
        "ip6tables-restore"
    } else {
        "iptables-restore"
    };
    run_stdin(tool, &["--noflush", "--wait"], script)
}

fn spawn(tool: &str, args: &[&str], input: Option<&str>) -> Result<String, CniError> {
    let bin = find(tool).ok_or_else(|| CniError::internal(format!("{tool} not found")))?;
    let mut child = Command::new(&bin)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CniError::internal(format!("run {tool}: {e}")))?;
    if let (Some(mut i), Some(text)) = (child.stdin.take(), input) {
        let _ = i.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| CniError::internal(format!("run {tool}: {e}")))?;
    if !out.status.success() {
        return Err(CniError::internal(format!(
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run `tool` with `input` on its stdin.
pub fn run_stdin(tool: &str, args: &[&str], input: &str) -> Result<(), CniError> {
    spawn(tool, args, Some(input)).map(|_| ())
}

/// Run `tool`; its stdout.
pub fn run_stdout(tool: &str, args: &[&str]) -> Result<String, CniError> {
    spawn(tool, args, None)
}

/// Whether the legacy (x_tables) nat table of a family is loaded: then
/// rules may live there, out of nf_tables' sight.
pub fn legacy_nat_loaded(v6: bool) -> bool {
    let f = if v6 {
        "/proc/net/ip6_tables_names"
    } else {
        "/proc/net/ip_tables_names"
    };
    std::fs::read_to_string(f).is_ok_and(|s| s.lines().any(|l| l.trim() == "nat"))
}

/// The legacy iptables binary, if this host has one.
fn legacy(v6: bool) -> Option<PathBuf> {
    let name = if v6 {
        "ip6tables-legacy"
    } else {
        "iptables-legacy"
    };
    find(name).or_else(|| {
        let plain = find(if v6 { "ip6tables" } else { "iptables" })?;
        let out = Command::new(&plain).arg("-V").output().ok()?;
        String::from_utf8_lossy(&out.stdout)
            .contains("legacy")
            .then_some(plain)
    })
}

fn run(bin: &PathBuf, args: &[&str]) -> Result<String, CniError> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .map_err(|e| CniError::internal(format!("run {}: {e}", bin.display())))?;
    if !out.status.success() {
        return Err(CniError::internal(format!(
            "{} {}: {}",
            bin.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Remove a chain and the POSTROUTING rules that jump to it from the
/// legacy nat table.
pub fn legacy_remove_chain(v6: bool, chain: &str) -> Result<(), CniError> {
    let Some(bin) = legacy(v6) else { return Ok(()) };
    let rules = run(&bin, &["-w", "-t", "nat", "-S", "POSTROUTING"])?;
    for line in rules.lines() {
        let Some(spec) = line.strip_prefix("-A POSTROUTING ") else {
            continue;
        };
        if spec
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w == ["-j", chain])
        {
            let mut args = vec!["-w", "-t", "nat", "-D", "POSTROUTING"];
            let words = shell_words(spec);
            args.extend(words.iter().map(String::as_str));
            run(&bin, &args)?;
        }
    }
    let chains = run(&bin, &["-w", "-t", "nat", "-S"])?;
    if chains.lines().any(|l| l == format!("-N {chain}")) {
        run(&bin, &["-w", "-t", "nat", "-F", chain])?;
        run(&bin, &["-w", "-t", "nat", "-X", chain])?;
    }
    Ok(())
}

/// Split an `iptables -S` rule into arguments (double quotes group, as
/// iptables prints comments).
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut any = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
            any = true;
        } else if c.is_whitespace() && !quoted {
            if any || !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
                any = false;
            }
        } else {
            cur.push(c);
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Quote a string for iptables-restore.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// An `iptables-save -t <table>` listing, read once and queried.
pub struct Saved(String);

impl Saved {
    pub fn load(v6: bool, table: &str) -> Result<Saved, CniError> {
        let tool = if v6 {
            "ip6tables-save"
        } else {
            "iptables-save"
        };
        run_stdout(tool, &["-t", table]).map(Saved)
    }

    pub fn has_chain(&self, chain: &str) -> bool {
        let decl = format!(":{chain} ");
        self.0.lines().any(|l| l.starts_with(&decl))
    }

    /// The rules of `chain` as listed (`-A <chain> ...` lines).
    pub fn lines<'a>(&'a self, chain: &str) -> impl Iterator<Item = &'a str> {
        let prefix = format!("-A {chain} ");
        self.0.lines().filter(move |l| l.starts_with(&prefix))
    }

    /// The rules of `chain` without the `-A <chain> ` in front.
    pub fn rules<'a>(&'a self, chain: &str) -> impl Iterator<Item = &'a str> {
        let prefix = format!("-A {chain} ");
        self.0
            .lines()
            .filter_map(move |l| l.strip_prefix(prefix.as_str()))
    }

    pub fn has_rule(&self, chain: &str, rule: &str) -> bool {
        self.rules(chain).any(|r| r == rule)
    }

    /// Whether a rule of `chain` jumps to `target`.
    pub fn jumps_to(&self, chain: &str, target: &str) -> bool {
        self.jumps(chain, target).next().is_some()
    }

    /// The lines of `chain` that jump to `target`.
    pub fn jumps<'a>(&'a self, chain: &str, target: &'a str) -> impl Iterator<Item = &'a str> {
        self.lines(chain).filter(move |l| {
            l.split_whitespace()
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| w == ["-j", target])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            shell_words(r#"-s 10.0.0.5/32 -m comment --comment "name: \"n\" id: \"c\"" -j CNI-x"#),
            [
                "-s",
                "10.0.0.5/32",
                "-m",
                "comment",
                "--comment",
                r#"name: "n" id: "c""#,
                "-j",
                "CNI-x"
            ]
        );
        assert_eq!(quote(r#"name: "n" id: "c""#), r#""name: \"n\" id: \"c\"""#);
    }
}
