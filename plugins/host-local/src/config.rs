//! host-local's configuration, as the reference's `LoadIPAMConfig` reads it:
//! `ipam.ranges`, the legacy single range at `ipam` top level,
//! `runtimeConfig.ipRanges` (prepended), and requested addresses from
//! CNI_ARGS `IP`, `args.cni.ips` and `runtimeConfig.ips` (accumulated).

use std::net::IpAddr;
use std::path::PathBuf;

use cni::{CniError, Code, Request, Route, Version};
use serde::Deserialize;

use crate::range::{RangeConf, RangeSet, parse_ip_lenient};

pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

/// The plugin's view of stdin (the whole config of the calling plugin).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Config {
    pub ipam: Option<IpamConf>,
    pub runtime_config: RuntimeConfig,
    pub args: Option<Args>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IpamConf {
    /// Legacy single range (used when `subnet` is set).
    pub subnet: Option<String>,
    pub range_start: Option<String>,
    pub range_end: Option<String>,
    pub gateway: Option<String>,
    pub ranges: Vec<Vec<RangeConf>>,
    pub routes: Vec<Route>,
    pub data_dir: String,
    pub resolv_conf: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RuntimeConfig {
    pub ip_ranges: Vec<Vec<RangeConf>>,
    pub ips: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Args {
    pub cni: Option<ArgsCni>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ArgsCni {
    pub ips: Vec<String>,
}

/// Where the state lives: enough for DEL, which must work even when the
/// ranges in the config are no longer valid.
#[derive(Debug, Clone)]
pub struct Location {
    pub network: String,
    pub data_dir: PathBuf,
}

/// A validated configuration.
#[derive(Debug)]
pub struct Ipam {
    pub location: Location,
    pub ranges: Vec<RangeSet>,
    pub routes: Vec<Route>,
    pub resolv_conf: Option<PathBuf>,
    /// Requested addresses, in the order given, duplicates removed.
    pub requested: Vec<IpAddr>,
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::invalid_config(msg)
}

/// The `ipam` section and where the state is (no range validation).
pub fn location(req: &Request<Config>) -> Result<(&IpamConf, Location), CniError> {
    let ipam = req
        .config
        .ipam
        .as_ref()
        .ok_or_else(|| invalid("IPAM config missing 'ipam' key"))?;
    let data_dir = if ipam.data_dir.is_empty() {
        DEFAULT_DATA_DIR
    } else {
        &ipam.data_dir
    };
    if !data_dir.starts_with('/') {
        return Err(invalid(format!(
            "ipam.dataDir {data_dir:?} must be an absolute path"
        )));
    }
    // The dispatcher has checked the name against the spec's rule, which
    // makes it a single safe path component; check again where it matters.
    let network = req.conf.name.clone();
    if !cni::is_valid_name(&network) {
        return Err(invalid("invalid characters found in network name").with_details(network));
    }
    Ok((
        ipam,
        Location {
            network,
            data_dir: PathBuf::from(data_dir),
        },
    ))
}

/// Load and validate everything ADD, CHECK and STATUS need.
pub fn load(req: &Request<Config>) -> Result<Ipam, CniError> {
    let (ipam, location) = location(req)?;

    let mut requested: Vec<IpAddr> = Vec::new();
    let mut request = |ip: IpAddr| {
        if !requested.contains(&ip) {
            requested.push(ip);
        }
    };
    let env = req.args.load(&["IP"])?;
    if let Some(s) = env.get("IP").filter(|s| !s.is_empty()) {
        request(parse_ip_lenient(s).ok_or_else(|| {
            CniError::invalid_env(format!("CNI_ARGS: IP={s} is not an IP address"))
        })?);
    }
    let args_ips = req
        .config
        .args
        .as_ref()
        .and_then(|a| a.cni.as_ref())
        .map(|c| c.ips.as_slice())
        .unwrap_or_default();
    for (field, list) in [
        ("args.cni.ips", args_ips),
        (
            "runtimeConfig.ips",
            req.config.runtime_config.ips.as_slice(),
        ),
    ] {
        for s in list {
            request(
                parse_ip_lenient(s)
                    .ok_or_else(|| invalid(format!("{field}: cannot understand ip: {s:?}")))?,
            );
        }
    }

    // runtimeConfig.ipRanges, then the legacy single range, then ipam.ranges.
    let mut confs: Vec<(String, &[RangeConf])> = Vec::new();
    for (i, set) in req.config.runtime_config.ip_ranges.iter().enumerate() {
        confs.push((format!("runtimeConfig.ipRanges[{i}]"), set));
    }
    let legacy;
    if let Some(subnet) = ipam.subnet.as_ref().filter(|s| !s.is_empty()) {
        legacy = [RangeConf {
            subnet: subnet.clone(),
            range_start: ipam.range_start.clone(),
            range_end: ipam.range_end.clone(),
            gateway: ipam.gateway.clone(),
        }];
        confs.push(("ipam.subnet".into(), &legacy));
    }
    for (i, set) in ipam.ranges.iter().enumerate() {
        confs.push((format!("ipam.ranges[{i}]"), set));
    }
    if confs.is_empty() {
        return Err(invalid("no IP ranges specified"));
    }
    let mut ranges = Vec::with_capacity(confs.len());
    for (i, (field, set)) in confs.iter().enumerate() {
        let set = RangeSet::from_conf(set)
            .map_err(|e| invalid(format!("invalid range set {i} ({field}): {e}")))?;
        ranges.push(set);
    }
    let v4 = ranges.iter().filter(|s| s.is_v4()).count();
    if (v4 > 1 || ranges.len() - v4 > 1) && req.version < Version::V0_3_0 {
        return Err(CniError::new(
            Code::INCOMPATIBLE_VERSION,
            format!(
                "CNI version {} does not support more than 1 address per family",
                req.version
            ),
        ));
    }
    for (i, a) in ranges.iter().enumerate() {
        for (j, b) in ranges.iter().enumerate().skip(i + 1) {
            if a.overlaps(b) {
                return Err(invalid(format!("range set {i} overlaps with {j}")));
            }
        }
    }

    let routes = ipam.routes.clone();
    let resolv_conf = (!ipam.resolv_conf.is_empty()).then(|| PathBuf::from(&ipam.resolv_conf));
    Ok(Ipam {
        location,
        ranges,
        routes,
        resolv_conf,
        requested,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use cni::CniArgs;

    use super::*;

    fn request(v: Value, cni_args: &str) -> Request<Config> {
        let version = Version::from_config(v["cniVersion"].as_str().unwrap_or("")).unwrap();
        Request {
            command: cni::Command::Add,
            version,
            conf: cni::json::from_value(&v).unwrap(),
            config: cni::json::from_value(&v).unwrap(),
            prev_result: None,
            args: CniArgs::new(cni_args),
            path: vec![],
            stdin: v.to_string().into_bytes(),
            raw: v,
        }
    }

    fn load_json(v: Value) -> Result<Ipam, CniError> {
        load(&request(v, ""))
    }

    #[test]
    fn legacy_runtime_and_ranges_in_order() {
        let c = load_json(json!({
            "cniVersion": "1.0.0", "name": "net",
            "runtimeConfig": {"ipRanges": [[{"subnet": "10.9.0.0/24"}]]},
            "ipam": {"type": "host-local", "subnet": "10.1.0.0/16", "rangeStart": "10.1.0.10", "gateway": "10.1.0.254",
                     "ranges": [[{"subnet": "2001:db8::/64"}]], "dataDir": "/tmp/x",
                     "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.1.0.1", "priority": 5}]}
        }))
        .unwrap();
        let sets: Vec<String> = c.ranges.iter().map(ToString::to_string).collect();
        assert_eq!(
            sets,
            [
                "10.9.0.1-10.9.0.254",
                "10.1.0.10-10.1.255.254",
                "2001:db8::1-2001:db8::ffff:ffff:ffff:ffff"
            ]
        );
        assert_eq!(c.ranges[1].0[0].gateway.to_string(), "10.1.0.254");
        assert_eq!(c.location.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.routes[1].priority, 5);
    }

    #[test]
    fn requested_ips_accumulate() {
        let v = json!({
            "cniVersion": "1.0.0", "name": "net",
            "ipam": {"ranges": [[{"subnet": "10.1.0.0/16"}], [{"subnet": "2001:db8::/64"}]]},
            "args": {"cni": {"ips": ["10.1.0.7", "2001:db8::7/64"]}},
            "runtimeConfig": {"ips": ["10.1.0.8/16", "10.1.0.7"]}
        });
        let c = load(&request(v, "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.1.0.6")).unwrap();
        let got: Vec<String> = c.requested.iter().map(ToString::to_string).collect();
        assert_eq!(got, ["10.1.0.6", "10.1.0.7", "2001:db8::7", "10.1.0.8"]);
    }

    #[test]
    fn errors() {
        let base = |ipam: Value| json!({"cniVersion": "1.0.0", "name": "net", "ipam": ipam});
        let cases: Vec<(Value, &str, Code, &str)> = vec![
            (
                json!({"cniVersion": "1.0.0", "name": "n"}),
                "",
                Code::INVALID_CONFIG,
                "IPAM config missing 'ipam' key",
            ),
            (
                base(json!({"type": "host-local"})),
                "",
                Code::INVALID_CONFIG,
                "no IP ranges specified",
            ),
            (
                base(json!({"ranges": [[]]})),
                "",
                Code::INVALID_CONFIG,
                "invalid range set 0 (ipam.ranges[0]): empty range set",
            ),
            (
                base(json!({"ranges": [[{"subnet": "10.0.0.0/31"}]]})),
                "",
                Code::INVALID_CONFIG,
                "too small to allocate from",
            ),
            (
                base(json!({"subnet": "10.0.0.5/24"})),
                "",
                Code::INVALID_CONFIG,
                "invalid range set 0 (ipam.subnet): Network has host bits set",
            ),
            (
                base(json!({"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.0.0/25"}]]})),
                "",
                Code::INVALID_CONFIG,
                "range set 0 overlaps with 1",
            ),
            (
                base(json!({"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"}]]})),
                "",
                Code::INVALID_CONFIG,
                "mixed address families",
            ),
            (
                base(json!({"ranges": [[{"subnet": "10.0.0.0/24"}]], "dataDir": "relative/dir"})),
                "",
                Code::INVALID_CONFIG,
                "must be an absolute path",
            ),
            (
                base(json!({"ranges": [[{"subnet": "10.0.0.0/24"}]]})),
                "IP=banana",
                Code::INVALID_ENV,
                "IP=banana",
            ),
            (
                base(json!({"ranges": [[{"subnet": "10.0.0.0/24"}]]})),
                "FOO=1",
                Code::INVALID_ENV,
                "unknown args",
            ),
        ];
        for (v, args, code, needle) in cases {
            let e = load(&request(v.clone(), args)).unwrap_err();
            assert_eq!(e.code, code, "{v}");
            assert!(e.msg.contains(needle), "{v}: {}", e.msg);
        }
        // More than one address per family before 0.3.0.
        let v = json!({"cniVersion": "0.2.0", "name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.1.0/24"}]]}});
        let e = load_json(v).unwrap_err();
        assert_eq!(
            e.msg,
            "CNI version 0.2.0 does not support more than 1 address per family"
        );
        // Dual stack is fine at 0.2.0.
        let v = json!({"cniVersion": "0.2.0", "name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "fd00::/64"}]]}});
        assert!(load_json(v).is_ok());
    }
}
