//! The bridge plugin's configuration: every field of the reference's, with
//! its defaults and checks.

use cni::{CniError, Request, validate_ifname};
use firewall::masq::Backend;
use serde::{Deserialize, Deserializer};

pub const DEFAULT_BRIDGE: &str = "cni0";

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Config {
    pub bridge: String,
    pub is_gateway: bool,
    pub is_default_gateway: bool,
    pub force_address: bool,
    pub ip_masq: bool,
    pub ip_masq_backend: Option<String>,
    pub mtu: i64,
    pub hairpin_mode: bool,
    pub promisc_mode: bool,
    pub vlan: i64,
    pub vlan_trunk: Option<Vec<VlanTrunk>>,
    pub preserve_default_vlan: bool,
    #[serde(rename = "macspoofchk")]
    pub mac_spoof_chk: bool,
    #[serde(rename = "enabledad")]
    pub enable_dad: bool,
    pub disable_container_interface: bool,
    /// The docs show it as a string ("true"); accept both.
    #[serde(deserialize_with = "lenient_bool")]
    pub port_isolation: bool,
    pub args: Option<Args>,
    pub runtime_config: RuntimeConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VlanTrunk {
    #[serde(rename = "minID")]
    pub min_id: Option<i64>,
    #[serde(rename = "maxID")]
    pub max_id: Option<i64>,
    pub id: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Args {
    pub cni: Option<ArgsCni>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ArgsCni {
    pub mac: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RuntimeConfig {
    pub mac: String,
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("false") || s.is_empty() => {
            Ok(false)
        }
        other => Err(serde::de::Error::custom(format!(
            "expected a boolean, got {other}"
        ))),
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bridge: String,
    pub is_gateway: bool,
    pub is_default_gateway: bool,
    pub force_address: bool,
    pub ip_masq: bool,
    pub masq_backend: Backend,
    pub mtu: u32,
    pub hairpin: bool,
    pub promisc: bool,
    /// The access (or, with a trunk, native) VLAN; 0 = none.
    pub vlan: u16,
    /// Tagged VLANs, sorted, deduplicated.
    pub trunk: Vec<u16>,
    pub preserve_default_vlan: bool,
    pub spoof_check: bool,
    pub enable_dad: bool,
    pub disable_container_interface: bool,
    pub port_isolation: bool,
    pub mac: Option<[u8; 6]>,
    pub ipam: Option<String>,
}

impl Settings {
    pub fn vlan_filtering(&self) -> bool {
        self.vlan != 0 || !self.trunk.is_empty()
    }
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::invalid_config(msg)
}

/// The reference's `collectVlanTrunk`, with its messages.
fn trunk_vlans(trunk: &[VlanTrunk]) -> Result<Vec<u16>, CniError> {
    let ok = |v: i64| (1..=4094).contains(&v);
    let mut out = Vec::new();
    for t in trunk {
        match (t.min_id, t.max_id) {
            (Some(min), Some(max)) => {
                if !ok(min) {
                    return Err(invalid("incorrect trunk minID parameter"));
                }
                if !ok(max) {
                    return Err(invalid("incorrect trunk maxID parameter"));
                }
                if max < min {
                    return Err(invalid("minID is greater than maxID in trunk parameter"));
                }
                out.extend((min..=max).map(|v| v as u16));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "minID and maxID should be configured simultaneously, minID is missing",
                ));
            }
            (Some(_), None) => {
                return Err(invalid(
                    "minID and maxID should be configured simultaneously, maxID is missing",
                ));
            }
            (None, None) => {}
        }
        if let Some(id) = t.id {
            if !ok(id) {
                return Err(invalid("incorrect trunk id parameter"));
            }
            out.push(id as u16);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn parse_mac(field: &str, s: &str) -> Result<[u8; 6], CniError> {
    netlink::parse_mac(s).ok_or_else(|| invalid(format!("{field}: invalid MAC address {s:?}")))
}

/// Check everything before anything is touched.
pub fn load(req: &Request<Config>) -> Result<Settings, CniError> {
    let c = &req.config;
    if !(0..=4094).contains(&c.vlan) {
        return Err(invalid(format!(
            "invalid VLAN ID {} (must be between 0 and 4094)",
            c.vlan
        )));
    }
    if !(0..=65535).contains(&c.mtu) {
        return Err(invalid(format!(
            "invalid MTU {} (must be between 0 and 65535)",
            c.mtu
        )));
    }
    let trunk = trunk_vlans(c.vlan_trunk.as_deref().unwrap_or_default())?;
    let bridge = if c.bridge.is_empty() {
        DEFAULT_BRIDGE.to_string()
    } else {
        c.bridge.clone()
    };
    validate_ifname(&bridge).map_err(|e| {
        invalid(format!(
            "bridge {bridge:?}: {}",
            e.msg.trim_start_matches("CNI_IFNAME: ")
        ))
    })?;
    if c.hairpin_mode && c.promisc_mode {
        return Err(invalid(
            "cannot set hairpin mode and promiscuous mode at the same time",
        ));
    }
    let ipam = req.conf.ipam_type().map(str::to_string);
    if c.disable_container_interface && ipam.is_some() {
        return Err(invalid(
            "cannot use IPAM when DisableContainerInterface flag is set",
        ));
    }
    // MAC: CNI_ARGS, then args.cni.mac, then runtimeConfig.mac.
    let mut mac = None;
    let env = req.args.load(&["MAC"])?;
    if let Some(m) = env.get("MAC").filter(|m| !m.is_empty()) {
        mac = Some(parse_mac("CNI_ARGS MAC", m)?);
    }
    if let Some(m) = c
        .args
        .as_ref()
        .and_then(|a| a.cni.as_ref())
        .map(|c| c.mac.as_str())
        .filter(|m| !m.is_empty())
    {
        mac = Some(parse_mac("args.cni.mac", m)?);
    }
    if !c.runtime_config.mac.is_empty() {
        mac = Some(parse_mac("runtimeConfig.mac", &c.runtime_config.mac)?);
    }
    Ok(Settings {
        bridge,
        is_gateway: c.is_gateway || c.is_default_gateway,
        is_default_gateway: c.is_default_gateway,
        force_address: c.force_address,
        ip_masq: c.ip_masq,
        masq_backend: Backend::from_config(c.ip_masq_backend.as_deref())?,
        mtu: c.mtu as u32,
        hairpin: c.hairpin_mode,
        promisc: c.promisc_mode,
        vlan: c.vlan as u16,
        trunk,
        preserve_default_vlan: c.preserve_default_vlan,
        spoof_check: c.mac_spoof_chk,
        enable_dad: c.enable_dad,
        disable_container_interface: c.disable_container_interface,
        port_isolation: c.port_isolation,
        mac,
        ipam,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn request(v: Value, cni_args: &str) -> Request<Config> {
        Request {
            command: cni::Command::Add,
            version: cni::Version::V1_0_0,
            conf: cni::json::from_value(&v).unwrap(),
            config: cni::json::from_value(&v).unwrap(),
            prev_result: None,
            args: cni::CniArgs::new(cni_args),
            path: vec![],
            stdin: v.to_string().into_bytes(),
            raw: v,
        }
    }

    fn load_json(v: Value) -> Result<Settings, CniError> {
        load(&request(v, ""))
    }

    #[test]
    fn defaults() {
        let s = load_json(json!({"name": "n", "type": "bridge"})).unwrap();
        assert_eq!(s.bridge, "cni0");
        assert!(!s.is_gateway && !s.ip_masq && !s.preserve_default_vlan && !s.vlan_filtering());
        assert_eq!(s.masq_backend, Backend::Nftables);
        assert_eq!(s.ipam, None);
        let s = load_json(
            json!({"name": "n", "isDefaultGateway": true, "portIsolation": "true", "ipam": {}}),
        )
        .unwrap();
        assert!(s.is_gateway && s.port_isolation);
        assert_eq!(s.ipam, None, "no ipam means layer 2");
    }

    #[test]
    fn vlans() {
        let s = load_json(json!({"name": "n", "vlan": 100, "vlanTrunk": [{"minID": 200, "maxID": 202}, {"id": 300}, {"id": 201}]})).unwrap();
        assert_eq!((s.vlan, s.trunk.clone()), (100, vec![200, 201, 202, 300]));
        assert!(s.vlan_filtering());
        let cases = [
            (
                json!({"vlan": 4095}),
                "invalid VLAN ID 4095 (must be between 0 and 4094)",
            ),
            (json!({"vlan": -1}), "invalid VLAN ID -1"),
            (
                json!({"vlanTrunk": [{"minID": 0, "maxID": 5}]}),
                "incorrect trunk minID parameter",
            ),
            (
                json!({"vlanTrunk": [{"minID": 5, "maxID": 5000}]}),
                "incorrect trunk maxID parameter",
            ),
            (
                json!({"vlanTrunk": [{"minID": 9, "maxID": 5}]}),
                "minID is greater than maxID in trunk parameter",
            ),
            (json!({"vlanTrunk": [{"maxID": 5}]}), "minID is missing"),
            (json!({"vlanTrunk": [{"minID": 5}]}), "maxID is missing"),
            (
                json!({"vlanTrunk": [{"id": 0}]}),
                "incorrect trunk id parameter",
            ),
        ];
        for (extra, msg) in cases {
            let mut v = json!({"name": "n"});
            for (k, val) in extra.as_object().unwrap() {
                v[k] = val.clone();
            }
            let e = load_json(v).unwrap_err();
            assert_eq!(e.code, cni::Code::INVALID_CONFIG);
            assert!(e.msg.contains(msg), "{msg}: {}", e.msg);
        }
    }

    #[test]
    fn conflicts_and_names() {
        let e =
            load_json(json!({"name": "n", "hairpinMode": true, "promiscMode": true})).unwrap_err();
        assert_eq!(
            e.msg,
            "cannot set hairpin mode and promiscuous mode at the same time"
        );
        let e = load_json(
            json!({"name": "n", "disableContainerInterface": true, "ipam": {"type": "host-local"}}),
        )
        .unwrap_err();
        assert_eq!(
            e.msg,
            "cannot use IPAM when DisableContainerInterface flag is set"
        );
        assert!(
            load_json(json!({"name": "n", "bridge": "a-very-long-bridge-name"}))
                .unwrap_err()
                .msg
                .contains("too long")
        );
        assert!(load_json(json!({"name": "n", "bridge": "../x"})).is_err());
        assert!(
            load_json(json!({"name": "n", "mtu": 70000}))
                .unwrap_err()
                .msg
                .contains("invalid MTU")
        );
        assert!(
            load_json(json!({"name": "n", "ipMasqBackend": "pf"}))
                .unwrap_err()
                .msg
                .contains("unknown ipmasq backend")
        );
    }

    #[test]
    fn mac_precedence() {
        let v = json!({"name": "n", "args": {"cni": {"mac": "02:00:00:00:00:02"}}, "runtimeConfig": {"mac": "02:00:00:00:00:03"}});
        assert_eq!(
            load(&request(v, "MAC=02:00:00:00:00:01")).unwrap().mac,
            Some([2, 0, 0, 0, 0, 3])
        );
        let v = json!({"name": "n", "args": {"cni": {"mac": "02:00:00:00:00:02"}}});
        assert_eq!(
            load(&request(v, "MAC=02:00:00:00:00:01")).unwrap().mac,
            Some([2, 0, 0, 0, 0, 2])
        );
        let v = json!({"name": "n"});
        assert_eq!(
            load(&request(
                v.clone(),
                "IgnoreUnknown=1;MAC=02:00:00:00:00:01;K8S_POD_NAME=x"
            ))
            .unwrap()
            .mac,
            Some([2, 0, 0, 0, 0, 1])
        );
        assert!(
            load(&request(v, "MAC=zz"))
                .unwrap_err()
                .msg
                .contains("invalid MAC")
        );
    }
}
