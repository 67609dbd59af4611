//! The ADD result ("Success") in every specification version.
//!
//! [`Success`] is the 1.1.0 shape, a superset of the others. It converts to
//! and from the three wire families exactly as the reference library does
//! (`pkg/types/{020,040,100}`, `internal/convert.go`): 0.3.x/0.4.0 gain an
//! `ips[].version` and lose interface `mtu`/`socketPath`/`pciID`; 0.1.0/0.2.0
//! keep the first IPv4 and the first IPv6 address and the routes of those
//! families (`dst` and `gw` only), and a result without addresses cannot be
//! expressed there at all. Output is 4-space indented with the reference's
//! key order: alphabetical for 1.x (the reference re-marshals it through a
//! map), struct order for the older families.

use std::net::IpAddr;
use std::str::FromStr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::json::from_value;
use crate::{CniError, Code, Family, Version};

/// DNS settings, in configs (`dns`) and results alike.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dns {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_empty()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

/// An interface the plugin created or configured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    /// Empty when unknown.
    pub mac: String,
    /// 0 when unset (1.1.0 only).
    pub mtu: u32,
    /// The CNI_NETNS path for container interfaces; empty for host ones.
    pub sandbox: String,
    /// 1.1.0 only.
    pub socket_path: String,
    /// 1.1.0 only.
    pub pci_id: String,
}

/// An address, with the index of the interface it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpConfig {
    /// Index into [`Success::interfaces`]; IPAM plugins leave it unset.
    pub interface: Option<usize>,
    /// The address with its prefix length (host bits kept: `10.1.0.5/16`).
    pub address: IpNetwork,
    pub gateway: Option<IpAddr>,
}

/// A route. `mtu`, `advmss`, `priority`, `table` and `scope` are 1.1.0
/// additions; 0/`None` means unset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: IpNetwork,
    pub gw: Option<IpAddr>,
    pub mtu: u32,
    pub advmss: u32,
    pub priority: u32,
    pub table: Option<u32>,
    pub scope: Option<u8>,
}

/// Routes in configs (`ipam.routes`) have the result's shape.
impl<'de> Deserialize<'de> for Route {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Route, D::Error> {
        wire::WireRoute::deserialize(d).map(Route::from)
    }
}

impl Route {
    pub fn new(dst: IpNetwork, gw: Option<IpAddr>) -> Route {
        Route {
            dst,
            gw,
            mtu: 0,
            advmss: 0,
            priority: 0,
            table: None,
            scope: None,
        }
    }
}

/// The result of a successful ADD, in the 1.1.0 shape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Success {
    pub interfaces: Vec<Interface>,
    pub ips: Vec<IpConfig>,
    pub routes: Vec<Route>,
    pub dns: Dns,
}

/// Parse a CIDR strictly: unlike `IpNetwork::from_str`, a bare address
/// without `/prefix` is an error, as it is for Go's `net.ParseCIDR`.
pub fn parse_cidr(s: &str) -> Result<IpNetwork, String> {
    if !s.contains('/') {
        return Err(format!("invalid CIDR address: {s}"));
    }
    IpNetwork::from_str(s).map_err(|_| format!("invalid CIDR address: {s}"))
}

impl Success {
    /// The result as a JSON value in `version`'s shape.
    pub fn to_value(&self, version: Version) -> Result<Value, CniError> {
        let v = match version.family() {
            Family::V1 => serde_json::to_value(wire::V1::from_success(self, version)),
            Family::V04 => serde_json::to_value(wire::V04::from_success(self, version)),
            Family::V02 => serde_json::to_value(wire::V02::from_success(self, version)?),
        };
        v.map_err(|e| CniError::internal(format!("encode result: {e}")))
    }

    /// The result as the reference prints it for `version`: 4-space indent,
    /// no trailing newline.
    pub fn to_json(&self, version: Version) -> Result<String, CniError> {
        let s = match version.family() {
            // serde_json's map is ordered by key, which is what the reference's
            // map round trip produces for 1.x.
            Family::V1 => to_pretty_json(&self.to_value(version)?),
            Family::V04 => to_pretty_json(&wire::V04::from_success(self, version)),
            Family::V02 => to_pretty_json(&wire::V02::from_success(self, version)?),
        };
        s.map_err(|e| CniError::internal(format!("encode result: {e}")))
    }

    /// Parse a result: a prevResult, or what a delegated plugin printed.
    /// `config_version` is used when the result names no `cniVersion`. A
    /// result in another known version is accepted and converted (the
    /// reference requires the config's family; accepting more breaks nothing).
    pub fn from_value(v: &Value, config_version: Version) -> Result<Success, CniError> {
        let obj = v
            .as_object()
            .ok_or_else(|| CniError::decoding("result is not a JSON object"))?;
        let named = obj
            .get("cniVersion")
            .or_else(|| {
                obj.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("cniVersion"))
                    .map(|(_, v)| v)
            })
            .and_then(Value::as_str)
            .unwrap_or("");
        let version = if named.is_empty() {
            config_version
        } else {
            Version::parse(named).ok_or_else(|| {
                CniError::new(
                    Code::INCOMPATIBLE_VERSION,
                    format!("unsupported CNI result version {named:?}"),
                )
            })?
        };
        let bad = |e: crate::json::DecodeError| {
            CniError::decoding(format!("decode {version} result: {e}"))
        };
        match version.family() {
            Family::V1 => from_value::<wire::V1>(v)
                .map_err(bad)
                .map(wire::V1::into_success),
            Family::V04 => from_value::<wire::V04>(v)
                .map_err(bad)
                .map(wire::V04::into_success),
            Family::V02 => from_value::<wire::V02>(v)
                .map_err(bad)
                .map(wire::V02::into_success),
        }
    }

    pub fn from_json(bytes: &[u8], config_version: Version) -> Result<Success, CniError> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| CniError::decoding(format!("decode result: {e}")))?;
        Success::from_value(&v, config_version)
    }
}

/// JSON with the reference's `MarshalIndent(v, "", "    ")` layout.
pub(crate) fn to_pretty_json<T: Serialize>(v: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b"    "),
    );
    v.serialize(&mut ser)?;
    // serde_json only writes valid UTF-8.
    Ok(String::from_utf8(out).unwrap_or_default())
}

/// serde helpers for addresses in their text form.
pub mod serde_ip {
    use super::*;

    pub fn ser_cidr<S: Serializer>(n: &IpNetwork, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(n)
    }

    pub fn de_cidr<'de, D: Deserializer<'de>>(d: D) -> Result<IpNetwork, D::Error> {
        let s = String::deserialize(d)?;
        parse_cidr(&s).map_err(serde::de::Error::custom)
    }

    pub fn ser_opt_ip<S: Serializer>(ip: &Option<IpAddr>, s: S) -> Result<S::Ok, S::Error> {
        match ip {
            Some(ip) => s.collect_str(ip),
            None => s.serialize_none(),
        }
    }

    /// An optional address; `""` means none, as Go's `net.IP` reads it.
    pub fn de_opt_ip<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        if s.is_empty() {
            return Ok(None);
        }
        IpAddr::from_str(&s)
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("invalid IP address: {s}")))
    }
}

/// The wire shapes, one per family.
mod wire {
    use super::serde_ip::*;
    use super::*;

    fn is_zero(n: &u32) -> bool {
        *n == 0
    }

    #[derive(Serialize, Deserialize)]
    pub struct WireRoute {
        #[serde(serialize_with = "ser_cidr", deserialize_with = "de_cidr")]
        dst: IpNetwork,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            serialize_with = "ser_opt_ip",
            deserialize_with = "de_opt_ip"
        )]
        gw: Option<IpAddr>,
        #[serde(default, skip_serializing_if = "is_zero")]
        mtu: u32,
        #[serde(default, skip_serializing_if = "is_zero")]
        advmss: u32,
        #[serde(default, skip_serializing_if = "is_zero")]
        priority: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        table: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<u8>,
    }

    impl From<&Route> for WireRoute {
        fn from(r: &Route) -> WireRoute {
            WireRoute {
                dst: r.dst,
                gw: r.gw,
                mtu: r.mtu,
                advmss: r.advmss,
                priority: r.priority,
                table: r.table,
                scope: r.scope,
            }
        }
    }

    impl From<WireRoute> for Route {
        fn from(r: WireRoute) -> Route {
            Route {
                dst: r.dst,
                gw: r.gw,
                mtu: r.mtu,
                advmss: r.advmss,
                priority: r.priority,
                table: r.table,
                scope: r.scope,
            }
        }
    }

    // ---- 1.0.0 / 1.1.0 ----

    #[derive(Serialize, Deserialize, Default)]
    #[serde(default)]
    pub struct V1 {
        #[serde(rename = "cniVersion")]
        cni_version: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        interfaces: Vec<V1Interface>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        ips: Vec<V1Ip>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        routes: Vec<WireRoute>,
        #[serde(skip_serializing_if = "Dns::is_empty")]
        dns: Dns,
    }

    #[derive(Serialize, Deserialize, Default)]
    #[serde(default)]
    struct V1Interface {
        name: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        mac: String,
        #[serde(skip_serializing_if = "is_zero")]
        mtu: u32,
        #[serde(skip_serializing_if = "String::is_empty")]
        sandbox: String,
        #[serde(rename = "socketPath", skip_serializing_if = "String::is_empty")]
        socket_path: String,
        #[serde(rename = "pciID", skip_serializing_if = "String::is_empty")]
        pci_id: String,
    }

    #[derive(Serialize, Deserialize)]
    struct V1Ip {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interface: Option<usize>,
        #[serde(serialize_with = "ser_cidr", deserialize_with = "de_cidr")]
        address: IpNetwork,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            serialize_with = "ser_opt_ip",
            deserialize_with = "de_opt_ip"
        )]
        gateway: Option<IpAddr>,
    }

    impl V1 {
        pub fn from_success(r: &Success, v: Version) -> V1 {
            V1 {
                cni_version: v.as_str().to_string(),
                interfaces: r
                    .interfaces
                    .iter()
                    .map(|i| V1Interface {
                        name: i.name.clone(),
                        mac: i.mac.clone(),
                        mtu: i.mtu,
                        sandbox: i.sandbox.clone(),
                        socket_path: i.socket_path.clone(),
                        pci_id: i.pci_id.clone(),
                    })
                    .collect(),
                ips: r
                    .ips
                    .iter()
                    .map(|ip| V1Ip {
                        interface: ip.interface,
                        address: ip.address,
                        gateway: ip.gateway,
                    })
                    .collect(),
                routes: r.routes.iter().map(WireRoute::from).collect(),
                dns: r.dns.clone(),
            }
        }

        pub fn into_success(self) -> Success {
            Success {
                interfaces: self
                    .interfaces
                    .into_iter()
                    .map(|i| Interface {
                        name: i.name,
                        mac: i.mac,
                        mtu: i.mtu,
                        sandbox: i.sandbox,
                        socket_path: i.socket_path,
                        pci_id: i.pci_id,
                    })
                    .collect(),
                ips: self
                    .ips
                    .into_iter()
                    .map(|ip| IpConfig {
                        interface: ip.interface,
                        address: ip.address,
                        gateway: ip.gateway,
                    })
                    .collect(),
                routes: self.routes.into_iter().map(Route::from).collect(),
                dns: self.dns,
            }
        }
    }

    // ---- 0.3.0 / 0.3.1 / 0.4.0 ----

    #[derive(Serialize, Deserialize, Default)]
    #[serde(default)]
    pub struct V04 {
        #[serde(rename = "cniVersion")]
        cni_version: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        interfaces: Vec<V04Interface>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        ips: Vec<V04Ip>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        routes: Vec<WireRoute>,
        dns: Dns,
    }

    #[derive(Serialize, Deserialize, Default)]
    #[serde(default)]
    struct V04Interface {
        name: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        mac: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        sandbox: String,
    }

    #[derive(Serialize, Deserialize)]
    struct V04Ip {
        #[serde(default)]
        version: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interface: Option<usize>,
        #[serde(serialize_with = "ser_cidr", deserialize_with = "de_cidr")]
        address: IpNetwork,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            serialize_with = "ser_opt_ip",
            deserialize_with = "de_opt_ip"
        )]
        gateway: Option<IpAddr>,
    }

    impl V04 {
        pub fn from_success(r: &Success, v: Version) -> V04 {
            V04 {
                cni_version: v.as_str().to_string(),
                interfaces: r
                    .interfaces
                    .iter()
                    .map(|i| V04Interface {
                        name: i.name.clone(),
                        mac: i.mac.clone(),
                        sandbox: i.sandbox.clone(),
                    })
                    .collect(),
                ips: r
                    .ips
                    .iter()
                    .map(|ip| V04Ip {
                        version: if ip.address.is_ipv4() { "4" } else { "6" }.to_string(),
                        interface: ip.interface,
                        address: ip.address,
                        gateway: ip.gateway,
                    })
                    .collect(),
                routes: r.routes.iter().map(WireRoute::from).collect(),
                dns: r.dns.clone(),
            }
        }

        pub fn into_success(self) -> Success {
            Success {
                interfaces: self
                    .interfaces
                    .into_iter()
                    .map(|i| Interface {
                        name: i.name,
                        mac: i.mac,
                        sandbox: i.sandbox,
                        ..Interface::default()
                    })
                    .collect(),
                ips: self
                    .ips
                    .into_iter()
                    .map(|ip| IpConfig {
                        interface: ip.interface,
                        address: ip.address,
                        gateway: ip.gateway,
                    })
                    .collect(),
                routes: self.routes.into_iter().map(Route::from).collect(),
                dns: self.dns,
            }
        }
    }

    // ---- 0.1.0 / 0.2.0 ----

    #[derive(Serialize, Deserialize, Default)]
    #[serde(default)]
    pub struct V02 {
        #[serde(rename = "cniVersion", skip_serializing_if = "String::is_empty")]
        cni_version: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        ip4: Option<V02Ip>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ip6: Option<V02Ip>,
        dns: Dns,
    }

    #[derive(Serialize, Deserialize)]
    struct V02Ip {
        #[serde(serialize_with = "ser_cidr", deserialize_with = "de_cidr")]
        ip: IpNetwork,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            serialize_with = "ser_opt_ip",
            deserialize_with = "de_opt_ip"
        )]
        gateway: Option<IpAddr>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        routes: Vec<WireRoute>,
    }

    impl V02 {
        pub fn from_success(r: &Success, v: Version) -> Result<V02, CniError> {
            let first = |v4: bool| {
                r.ips
                    .iter()
                    .find(|ip| ip.address.is_ipv4() == v4)
                    .map(|ip| V02Ip {
                        ip: ip.address,
                        gateway: ip.gateway,
                        routes: r
                            .routes
                            .iter()
                            .filter(|rt| rt.dst.is_ipv4() == v4)
                            .map(|rt| WireRoute::from(&Route::new(rt.dst, rt.gw)))
                            .collect(),
                    })
            };
            let out = V02 {
                cni_version: v.as_str().to_string(),
                ip4: first(true),
                ip6: first(false),
                dns: r.dns.clone(),
            };
            if out.ip4.is_none() && out.ip6.is_none() {
                return Err(CniError::new(
                    Code::INCOMPATIBLE_VERSION,
                    format!(
                        "cannot express the result in CNI version {v}: cannot convert: no valid IP addresses"
                    ),
                ));
            }
            Ok(out)
        }

        pub fn into_success(self) -> Success {
            let mut out = Success {
                dns: self.dns,
                ..Success::default()
            };
            for ip in [self.ip4, self.ip6].into_iter().flatten() {
                out.ips.push(IpConfig {
                    interface: None,
                    address: ip.ip,
                    gateway: ip.gateway,
                });
                out.routes.extend(ip.routes.into_iter().map(Route::from));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cidr(s: &str) -> IpNetwork {
        parse_cidr(s).unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    /// A result with everything: two interfaces, dual stack, 1.1 route extras, DNS.
    fn full() -> Success {
        Success {
            interfaces: vec![
                Interface {
                    name: "cni0".into(),
                    mac: "aa:bb:cc:dd:ee:01".into(),
                    ..Default::default()
                },
                Interface {
                    name: "eth0".into(),
                    mac: "aa:bb:cc:dd:ee:02".into(),
                    mtu: 1400,
                    sandbox: "/run/netns/x".into(),
                    socket_path: "/tmp/sock".into(),
                    pci_id: "0000:00:01.0".into(),
                },
            ],
            ips: vec![
                IpConfig {
                    interface: Some(1),
                    address: cidr("10.1.0.5/16"),
                    gateway: ip("10.1.0.1"),
                },
                IpConfig {
                    interface: Some(1),
                    address: cidr("10.2.0.5/16"),
                    gateway: None,
                },
                IpConfig {
                    interface: Some(1),
                    address: cidr("2001:db8::5/64"),
                    gateway: ip("2001:db8::1"),
                },
            ],
            routes: vec![
                Route {
                    mtu: 1300,
                    advmss: 1200,
                    priority: 10,
                    table: Some(0),
                    scope: Some(253),
                    ..Route::new(cidr("0.0.0.0/0"), ip("10.1.0.1"))
                },
                Route::new(cidr("192.168.0.0/16"), None),
                Route::new(cidr("::/0"), None),
            ],
            dns: Dns {
                nameservers: vec!["10.1.0.1".into()],
                domain: "example.com".into(),
                search: vec!["a".into()],
                options: vec!["ndots:2".into()],
            },
        }
    }

    fn l2_only() -> Success {
        Success {
            interfaces: vec![Interface {
                name: "eth0".into(),
                sandbox: "/run/netns/x".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn golden_v1() {
        let want = json!({
            "cniVersion": "1.1.0",
            "dns": {"domain": "example.com", "nameservers": ["10.1.0.1"], "options": ["ndots:2"], "search": ["a"]},
            "interfaces": [
                {"mac": "aa:bb:cc:dd:ee:01", "name": "cni0"},
                {"mac": "aa:bb:cc:dd:ee:02", "mtu": 1400, "name": "eth0", "pciID": "0000:00:01.0", "sandbox": "/run/netns/x", "socketPath": "/tmp/sock"}
            ],
            "ips": [
                {"address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 1},
                {"address": "10.2.0.5/16", "interface": 1},
                {"address": "2001:db8::5/64", "gateway": "2001:db8::1", "interface": 1}
            ],
            "routes": [
                {"advmss": 1200, "dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1300, "priority": 10, "scope": 253, "table": 0},
                {"dst": "192.168.0.0/16"},
                {"dst": "::/0"}
            ]
        });
        assert_eq!(full().to_value(Version::V1_1_0).unwrap(), want);
        // 1.0.0 differs only in the version.
        let mut v10 = want.clone();
        v10["cniVersion"] = json!("1.0.0");
        assert_eq!(full().to_value(Version::V1_0_0).unwrap(), v10);
        // Text: alphabetical keys at every level, 4-space indent, no newline at the end.
        let text = full().to_json(Version::V1_1_0).unwrap();
        assert!(
            text.starts_with(
                "{\n    \"cniVersion\": \"1.1.0\",\n    \"dns\": {\n        \"domain\""
            ),
            "{text}"
        );
        assert!(
            text.contains("{\n            \"address\": \"10.1.0.5/16\",\n            \"gateway\""),
            "{text}"
        );
        assert!(text.ends_with('}'));
    }

    #[test]
    fn golden_v1_empty_dns_omitted() {
        assert_eq!(
            l2_only().to_value(Version::V1_0_0).unwrap(),
            json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}]})
        );
    }

    #[test]
    fn golden_v04() {
        let want = json!({
            "cniVersion": "0.4.0",
            "interfaces": [
                {"name": "cni0", "mac": "aa:bb:cc:dd:ee:01"},
                {"name": "eth0", "mac": "aa:bb:cc:dd:ee:02", "sandbox": "/run/netns/x"}
            ],
            "ips": [
                {"version": "4", "interface": 1, "address": "10.1.0.5/16", "gateway": "10.1.0.1"},
                {"version": "4", "interface": 1, "address": "10.2.0.5/16"},
                {"version": "6", "interface": 1, "address": "2001:db8::5/64", "gateway": "2001:db8::1"}
            ],
            "routes": [
                {"dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1300, "advmss": 1200, "priority": 10, "table": 0, "scope": 253},
                {"dst": "192.168.0.0/16"},
                {"dst": "::/0"}
            ],
            "dns": {"nameservers": ["10.1.0.1"], "domain": "example.com", "search": ["a"], "options": ["ndots:2"]}
        });
        for v in [Version::V0_3_0, Version::V0_3_1, Version::V0_4_0] {
            let mut w = want.clone();
            w["cniVersion"] = json!(v.as_str());
            assert_eq!(full().to_value(v).unwrap(), w, "{v}");
        }
        // Struct order, as the reference prints it, and `dns` always present.
        let text = full().to_json(Version::V0_4_0).unwrap();
        let order: Vec<usize> = [
            "\"cniVersion\"",
            "\"interfaces\"",
            "\"ips\"",
            "\"routes\"",
            "\"dns\"",
        ]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(
            text.contains(
                "\"version\": \"4\",\n            \"interface\": 1,\n            \"address\""
            ),
            "{text}"
        );
        assert_eq!(
            l2_only().to_value(Version::V0_3_1).unwrap(),
            json!({"cniVersion": "0.3.1", "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}], "dns": {}})
        );
    }

    #[test]
    fn golden_v02() {
        let want = json!({
            "cniVersion": "0.2.0",
            "ip4": {"ip": "10.1.0.5/16", "gateway": "10.1.0.1", "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}, {"dst": "192.168.0.0/16"}]},
            "ip6": {"ip": "2001:db8::5/64", "gateway": "2001:db8::1", "routes": [{"dst": "::/0"}]},
            "dns": {"nameservers": ["10.1.0.1"], "domain": "example.com", "search": ["a"], "options": ["ndots:2"]}
        });
        assert_eq!(full().to_value(Version::V0_2_0).unwrap(), want);
        let mut v01 = want.clone();
        v01["cniVersion"] = json!("0.1.0");
        assert_eq!(full().to_value(Version::V0_1_0).unwrap(), v01);
        // Routes of a family without an address are dropped.
        let mut v4only = full();
        v4only.ips.truncate(1);
        assert_eq!(
            v4only.to_value(Version::V0_2_0).unwrap(),
            json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.1.0.5/16", "gateway": "10.1.0.1", "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}, {"dst": "192.168.0.0/16"}]}, "dns": {"nameservers": ["10.1.0.1"], "domain": "example.com", "search": ["a"], "options": ["ndots:2"]}})
        );
    }

    #[test]
    fn l2_only_cannot_be_0_2() {
        for v in [Version::V0_1_0, Version::V0_2_0] {
            let e = l2_only().to_value(v).unwrap_err();
            assert_eq!(e.code, Code::INCOMPATIBLE_VERSION);
            assert!(
                e.msg.contains("cannot convert: no valid IP addresses"),
                "{}",
                e.msg
            );
        }
    }

    /// Every (from, to) pair: parse what `from` prints, print it as `to`, and
    /// compare with converting the original directly, which is what the
    /// reference's converter chain amounts to.
    #[test]
    fn every_conversion_pair() {
        for from in Version::ALL {
            let printed = full().to_value(from).unwrap();
            let parsed = Success::from_value(&printed, from).unwrap();
            for to in Version::ALL {
                let got = parsed.to_value(to).unwrap();
                let expected = match (from.family(), to.family()) {
                    // Going down to 0.2 and back up loses interfaces, extra addresses and route extras.
                    (Family::V02, _) => {
                        let down = Success::from_value(
                            &full().to_value(Version::V0_2_0).unwrap(),
                            Version::V0_2_0,
                        )
                        .unwrap();
                        down.to_value(to).unwrap()
                    }
                    // 0.4 drops the 1.1-only interface fields.
                    (Family::V04, Family::V1) => {
                        let mut r = full();
                        for i in &mut r.interfaces {
                            i.mtu = 0;
                            i.socket_path.clear();
                            i.pci_id.clear();
                        }
                        r.to_value(to).unwrap()
                    }
                    _ => full().to_value(to).unwrap(),
                };
                assert_eq!(got, expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn v02_up_conversion() {
        let r = Success::from_value(
            &json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.2/24", "gateway": "10.0.0.1", "routes": [{"dst": "0.0.0.0/0"}]}, "ip6": {"ip": "fd00::2/64", "routes": [{"dst": "::/0", "gw": "fd00::1"}]}}),
            Version::V0_2_0,
        )
        .unwrap();
        assert_eq!(
            r.to_value(Version::V0_4_0).unwrap(),
            json!({"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.0.0.2/24", "gateway": "10.0.0.1"}, {"version": "6", "address": "fd00::2/64"}], "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd00::1"}], "dns": {}})
        );
    }

    #[test]
    fn parsing_rules() {
        // No cniVersion: the config's version is assumed.
        let r = Success::from_value(
            &json!({"ips": [{"version": "4", "address": "10.0.0.2/24"}]}),
            Version::V0_3_1,
        )
        .unwrap();
        assert_eq!(r.ips[0].address, cidr("10.0.0.2/24"));
        // Host bits are kept; "" gateway is no gateway; keys in any case.
        let r = Success::from_value(
            &json!({"CNIVersion": "1.0.0", "IPs": [{"Address": "10.0.0.2/24", "gateway": ""}]}),
            Version::V1_0_0,
        )
        .unwrap();
        assert_eq!(r.ips[0].address.ip().to_string(), "10.0.0.2");
        assert_eq!(r.ips[0].gateway, None);
        // Errors.
        let cases = [
            (
                json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2"}]}),
                Code::DECODING_FAILURE,
                "ips[0].address",
            ),
            (
                json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24", "gateway": "x"}]}),
                Code::DECODING_FAILURE,
                "invalid IP address",
            ),
            (
                json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24", "interface": -1}]}),
                Code::DECODING_FAILURE,
                "interface",
            ),
            (
                json!({"cniVersion": "9.9.9"}),
                Code::INCOMPATIBLE_VERSION,
                "unsupported CNI result version",
            ),
            (json!([1]), Code::DECODING_FAILURE, "not a JSON object"),
        ];
        for (v, code, needle) in cases {
            let e = Success::from_value(&v, Version::V1_0_0).unwrap_err();
            assert_eq!(e.code, code, "{v}");
            assert!(e.msg.contains(needle), "{v}: {}", e.msg);
        }
    }

    #[test]
    fn strict_cidr() {
        assert!(parse_cidr("10.0.0.0/8").is_ok());
        assert!(parse_cidr("10.0.0.1").is_err());
        assert!(parse_cidr("10.0.0.1/33").is_err());
        assert!(parse_cidr("fd00::/129").is_err());
        assert!(parse_cidr("").is_err());
    }
}
