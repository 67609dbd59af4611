//! tuning's configuration: the reference's fields and sources (config <
//! CNI_ARGS `MAC` < `runtimeConfig.mac` < `args.cni.*`), the duplicate
//! sysctl check, the sysctl allowlist, and the sysctl key rules.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use cni::{CniError, Request, validate_ifname};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

pub const DEFAULT_DATA_DIR: &str = "/run/cni/tuning";
pub const ALLOWLIST: &str = "/etc/cni/tuning/allowlist.conf";

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Config {
    pub data_dir: String,
    #[serde(deserialize_with = "string_map")]
    pub sysctl: BTreeMap<String, String>,
    pub mac: String,
    pub promisc: Option<bool>,
    pub mtu: Option<i64>,
    #[serde(rename = "txQLen")]
    pub tx_qlen: Option<i64>,
    pub allmulti: Option<bool>,
    /// Ours: a new name for the interface inside the container, given
    /// back on DEL.
    pub ifname: Option<String>,
    pub runtime_config: RuntimeConfig,
    pub args: Option<Args>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RuntimeConfig {
    pub mac: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Args {
    pub cni: Option<ArgsCni>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ArgsCni {
    #[serde(deserialize_with = "opt_string_map")]
    pub sysctl: Option<BTreeMap<String, String>>,
    pub mac: Option<String>,
    pub promisc: Option<bool>,
    pub mtu: Option<i64>,
    #[serde(rename = "txQLen")]
    pub tx_qlen: Option<i64>,
    pub allmulti: Option<bool>,
}

/// Sysctl values are strings; numbers and booleans are taken as written.
fn value_string(v: serde_json::Value) -> Result<String, String> {
    match v {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(if b { "1" } else { "0" }.to_string()),
        other => Err(format!("sysctl values are strings, not {other}")),
    }
}

fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(opt_string_map(d)?.unwrap_or_default())
}

fn opt_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    let m: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    m.map(|m| {
        m.into_iter()
            .map(|(k, v)| value_string(v).map(|v| (k, v)))
            .collect::<Result<_, _>>()
            .map_err(serde::de::Error::custom)
    })
    .transpose()
}

/// The stdin's top-level `sysctl` object, checked for repeated keys (which
/// a map would silently collapse).
#[derive(Deserialize)]
struct DuplicateCheck {
    #[serde(default)]
    #[allow(dead_code)]
    sysctl: Option<NoDuplicates>,
}

struct NoDuplicates;

impl<'de> Deserialize<'de> for NoDuplicates {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NoDuplicates;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of sysctls")
            }
            fn visit_unit<E>(self) -> Result<NoDuplicates, E> {
                Ok(NoDuplicates)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<NoDuplicates, A::Error> {
                let mut seen = std::collections::HashSet::new();
                while let Some(k) = m.next_key::<String>()? {
                    let _: serde::de::IgnoredAny = m.next_value()?;
                    if !seen.insert(k) {
                        return Err(serde::de::Error::custom(
                            "duplicated sysctl keys are not allowed",
                        ));
                    }
                }
                Ok(NoDuplicates)
            }
        }
        d.deserialize_any(V)
    }
}

/// What ADD, CHECK and DEL work from.
#[derive(Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// (key as configured, value), in key order.
    pub sysctls: Vec<(String, String)>,
    pub mac: Option<[u8; 6]>,
    pub promisc: Option<bool>,
    pub mtu: Option<u32>,
    pub tx_qlen: Option<u32>,
    pub allmulti: Option<bool>,
    pub ifname: Option<String>,
}

impl Settings {
    /// Whether ADD changes the link (and so saves its attributes first).
    pub fn changes_link(&self) -> bool {
        self.mac.is_some()
            || self.promisc == Some(true)
            || self.mtu.is_some()
            || self.tx_qlen.is_some()
            || self.allmulti.is_some()
            || self.ifname.is_some()
    }
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::invalid_config(msg)
}

fn data_dir(c: &Config) -> PathBuf {
    if c.data_dir.is_empty() {
        PathBuf::from(DEFAULT_DATA_DIR)
    } else {
        PathBuf::from(&c.data_dir)
    }
}

/// DEL needs the data directory only.
pub fn load_for_del(req: &Request<Config>) -> Result<Settings, CniError> {
    Ok(Settings {
        data_dir: data_dir(&req.config),
        sysctls: Vec::new(),
        mac: None,
        promisc: None,
        mtu: None,
        tx_qlen: None,
        allmulti: None,
        ifname: None,
    })
}

pub fn load(req: &Request<Config>) -> Result<Settings, CniError> {
    serde_json::from_slice::<DuplicateCheck>(&req.stdin)
        .map_err(|e| invalid(format!("sysctl: {e}")))?;
    let c = &req.config;
    let mut sysctl = c.sysctl.clone();
    let mut mac = (!c.mac.is_empty()).then(|| c.mac.clone());
    let mut promisc = c.promisc;
    let mut mtu = c.mtu;
    let mut tx_qlen = c.tx_qlen;
    let mut allmulti = c.allmulti;
    let env = req.args.load(&["MAC"])?;
    if let Some(m) = env.get("MAC").filter(|m| !m.is_empty()) {
        mac = Some(m.to_string());
    }
    if !c.runtime_config.mac.is_empty() {
        mac = Some(c.runtime_config.mac.clone());
    }
    if let Some(a) = c.args.as_ref().and_then(|a| a.cni.as_ref()) {
        if let Some(s) = &a.sysctl {
            sysctl.extend(s.clone());
        }
        mac = a.mac.clone().or(mac);
        promisc = a.promisc.or(promisc);
        mtu = a.mtu.or(mtu);
        tx_qlen = a.tx_qlen.or(tx_qlen);
        allmulti = a.allmulti.or(allmulti);
    }
    let mac = mac
        .map(|m| {
            netlink::parse_mac(&m).ok_or_else(|| invalid(format!("invalid MAC address {m:?}")))
        })
        .transpose()?;
    let mtu = match mtu {
        None | Some(0) => None,
        Some(m) if (68..=65535).contains(&m) => Some(m as u32),
        Some(m) => return Err(invalid(format!("invalid MTU {m}"))),
    };
    let tx_qlen = match tx_qlen {
        None => None,
        Some(q) if (0..=i64::from(u32::MAX)).contains(&q) => Some(q as u32),
        Some(q) => return Err(invalid(format!("invalid txQLen {q}"))),
    };
    if let Some(n) = &c.ifname {
        validate_ifname(n).map_err(|e| {
            invalid(format!(
                "ifname: {}",
                e.msg.trim_start_matches("CNI_IFNAME: ")
            ))
        })?;
    }
    // Every key must be a net sysctl; the allowlist, if present, must allow it.
    let allow = allowlist(Path::new(ALLOWLIST))?;
    for key in sysctl.keys() {
        sysctl_path(key, "eth0")?;
        if let Some(list) = &allow
            && !list.iter().any(|re| re.is_match(key))
        {
            let pats: Vec<&str> = list.iter().map(regex_lite::Regex::as_str).collect();
            return Err(invalid(format!(
                "Sysctl {key} is not allowed. Only the following sysctls are allowed: [{}]",
                pats.join(" ")
            )));
        }
    }
    Ok(Settings {
        data_dir: data_dir(c),
        sysctls: sysctl.into_iter().collect(),
        mac,
        promisc,
        mtu,
        tx_qlen,
        allmulti,
        ifname: c.ifname.clone(),
    })
}

/// The allowlist's patterns (one regular expression per line, unanchored),
/// or None when there is no allowlist.
fn allowlist(path: &Path) -> Result<Option<Vec<regex_lite::Regex>>, CniError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CniError::internal(format!("read {}: {e}", path.display()))),
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            regex_lite::Regex::new(l)
                .map_err(|e| invalid(format!("{}: bad pattern {l:?}: {e}", path.display())))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The slash-separated sysctl name (under `/proc/sys`) of a configured key:
/// dots become slashes, then the `IFNAME` placeholder becomes the
/// interface's name (which may itself hold dots). Anything outside
/// `/proc/sys/net` is refused.
pub fn sysctl_path(key: &str, ifname: &str) -> Result<String, CniError> {
    let name = key.replace('.', "/").replacen("IFNAME", ifname, 1);
    netns::sysctl::net_path(&name)
        .map_err(|_| invalid(format!("invalid net sysctl key: {key:?}")))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys() {
        assert_eq!(
            sysctl_path("net.ipv4.conf.IFNAME.arp_ignore", "eth0.100").unwrap(),
            "net/ipv4/conf/eth0.100/arp_ignore"
        );
        assert_eq!(
            sysctl_path("net/core/somaxconn", "eth0").unwrap(),
            "net/core/somaxconn"
        );
        for bad in ["kernel.hostname", "net", "fs.file-max", "IFNAME.x"] {
            assert!(sysctl_path(bad, "eth0").is_err(), "{bad}");
        }
        // Dots are separators: ".." cannot climb out of /proc/sys/net.
        let p = sysctl_path("net/../kernel/x", "eth0").unwrap();
        assert!(
            netns::sysctl::net_path(&p)
                .unwrap()
                .starts_with("/proc/sys/net/")
        );
    }

    #[test]
    fn duplicates_are_found_in_the_raw_json() {
        let dup = br#"{"sysctl": {"net.core.somaxconn": "1", "net.core.somaxconn": "2"}}"#;
        assert!(serde_json::from_slice::<DuplicateCheck>(dup).is_err());
        let ok = br#"{"sysctl": {"net.core.somaxconn": "1"}, "x": 1}"#;
        assert!(serde_json::from_slice::<DuplicateCheck>(ok).is_ok());
        assert!(serde_json::from_slice::<DuplicateCheck>(br#"{"sysctl": null}"#).is_ok());
    }

    #[test]
    fn allowlist_patterns() {
        let dir = std::env::temp_dir().join(format!("tuning-allow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("allowlist.conf");
        std::fs::write(
            &f,
            "^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]*$\n\n  ^net\\.core\\.somaxconn$ \n",
        )
        .unwrap();
        let l = allowlist(&f).unwrap().unwrap();
        assert_eq!(l.len(), 2);
        assert!(l[0].is_match("net.ipv4.conf.IFNAME.arp_filter"));
        assert!(!l.iter().any(|r| r.is_match("net.ipv6.conf.all.forwarding")));
        assert!(allowlist(&dir.join("missing")).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
