//! Network configuration: the conflist a runtime loads, and the request
//! config a plugin receives on stdin.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::json::from_value;
use crate::result::Dns;
use crate::{CniError, Semver, Version};

/// The fields of a request config that every plugin shares (the reference's
/// `types.PluginConf`). Plugin-specific fields are decoded separately, from
/// the same object, into the plugin's own type; unknown keys are ignored.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NetConf {
    pub cni_version: String,
    /// Only meaningful in a conflist; kept if a runtime passes it on.
    #[serde(deserialize_with = "lenient_strings")]
    pub cni_versions: Vec<String>,
    pub name: String,
    #[serde(rename = "type")]
    pub plugin_type: String,
    #[serde(deserialize_with = "lenient_bool")]
    pub disable_check: bool,
    #[serde(rename = "disableGC", deserialize_with = "lenient_bool")]
    pub disable_gc: bool,
    pub capabilities: BTreeMap<String, bool>,
    pub ipam: Option<IpamConf>,
    pub dns: Dns,
    pub prev_result: Option<Value>,
    pub runtime_config: Option<Value>,
    pub args: Option<Value>,
    /// GC only: the attachments that are still in use.
    #[serde(rename = "cni.dev/valid-attachments")]
    pub valid_attachments: Option<Vec<GcAttachment>>,
    /// GC only: the older name of `cni.dev/valid-attachments` (libcni sends both).
    #[serde(rename = "cni.dev/attachments")]
    pub attachments: Option<Vec<GcAttachment>>,
}

/// The `ipam` object's common part: which plugin to delegate to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct IpamConf {
    #[serde(rename = "type")]
    pub plugin_type: String,
}

/// One still-valid attachment in a GC request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct GcAttachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

impl NetConf {
    /// The delegated IPAM plugin's type, if the config names one (`"ipam": {}`
    /// means layer 2 only).
    pub fn ipam_type(&self) -> Option<&str> {
        self.ipam
            .as_ref()
            .map(|i| i.plugin_type.as_str())
            .filter(|t| !t.is_empty())
    }

    /// The GC list (`cni.dev/valid-attachments`, else `cni.dev/attachments`);
    /// `None` when the runtime sent neither.
    pub fn gc_valid_attachments(&self) -> Option<&[GcAttachment]> {
        self.valid_attachments
            .as_deref()
            .or(self.attachments.as_deref())
    }
}

/// libcni accepts `"true"`/`"false"` strings for these booleans.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Value::Null => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected a boolean, got {other}"
        ))),
    }
}

/// A list-level key the plugin itself does not use: never fail on it.
fn lenient_strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(a) => a
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    })
}

/// A network configuration list (`.conflist`), as runtimes load it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConfList {
    pub cni_version: String,
    #[serde(deserialize_with = "lenient_strings")]
    pub cni_versions: Vec<String>,
    pub name: String,
    #[serde(deserialize_with = "lenient_bool")]
    pub disable_check: bool,
    #[serde(rename = "disableGC", deserialize_with = "lenient_bool")]
    pub disable_gc: bool,
    #[serde(deserialize_with = "lenient_bool")]
    pub load_only_inlined_plugins: bool,
    pub plugins: Vec<Value>,
}

impl ConfList {
    /// Parse a `.conflist`, or a single-plugin `.conf` (up-converted to a
    /// one-element list the way libcni does).
    pub fn from_slice(bytes: &[u8]) -> Result<ConfList, CniError> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| CniError::decoding(format!("decode network config: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| CniError::decoding("network config is not a JSON object"))?;
        let has_plugins = obj.keys().any(|k| k.eq_ignore_ascii_case("plugins"));
        let mut list: ConfList =
            from_value(&v).map_err(|e| CniError::invalid_config(format!("network config: {e}")))?;
        if !has_plugins {
            list.plugins = vec![v.clone()];
        }
        crate::env::validate_network_name(&list.name)?;
        if list.plugins.is_empty() {
            return Err(CniError::invalid_config(format!(
                "no plugin configs found in network {:?}",
                list.name
            )));
        }
        Ok(list)
    }

    /// The version to run the list at, as libcni picks it: the highest of
    /// `cniVersions` (and `cniVersion`) that is not newer than the version
    /// this library implements.
    pub fn version(&self) -> Result<Version, CniError> {
        let current = Semver::from(Version::CURRENT);
        let mut best: Option<(Semver, &str)> = None;
        for s in self
            .cni_versions
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(self.cni_version.as_str()))
        {
            if s.is_empty() {
                continue;
            }
            let v =
                Semver::parse(s).map_err(|e| CniError::decoding(format!("network config: {e}")))?;
            if v <= current && best.is_none_or(|(b, _)| v > b) {
                best = Some((v, s));
            }
        }
        let chosen = best.map_or("", |(_, s)| s);
        Version::from_config(chosen).ok_or_else(|| {
            CniError::new(
                crate::Code::INCOMPATIBLE_VERSION,
                format!("unsupported CNI version {chosen:?}"),
            )
        })
    }

    /// The stdin of plugin `index` for one invocation, derived the way the
    /// spec (and libcni) derives it: the plugin object with `name` and
    /// `cniVersion` inserted, `runtimeConfig` holding the capabilities the
    /// plugin enabled and the runtime supplied, and `prevResult` if given.
    pub fn request(
        &self,
        index: usize,
        capability_args: &Map<String, Value>,
        prev_result: Option<&Value>,
    ) -> Result<Value, CniError> {
        let Some(Value::Object(plugin)) = self.plugins.get(index) else {
            return Err(CniError::invalid_config(format!(
                "network {:?} has no plugin object #{index}",
                self.name
            )));
        };
        let mut out = plugin.clone();
        out.insert("name".into(), Value::String(self.name.clone()));
        out.insert(
            "cniVersion".into(),
            Value::String(self.version()?.as_str().into()),
        );
        let enabled: BTreeMap<String, bool> = plugin
            .get("capabilities")
            .and_then(|c| from_value(c).ok())
            .unwrap_or_default();
        let runtime: Map<String, Value> = capability_args
            .iter()
            .filter(|(k, _)| enabled.get(*k).copied().unwrap_or(false))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !runtime.is_empty() {
            out.insert("runtimeConfig".into(), Value::Object(runtime));
        }
        if let Some(prev) = prev_result {
            out.insert("prevResult".into(), prev.clone());
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn request_config_fields() {
        let c: NetConf = from_value(&json!({
            "cniVersion": "1.1.0", "name": "net", "type": "bridge",
            "disableCheck": "true", "disableGC": true,
            "capabilities": {"mac": true, "ips": false},
            "ipam": {"type": "host-local", "subnet": "10.0.0.0/24"},
            "dns": {"nameservers": ["1.1.1.1"]},
            "prevResult": {"cniVersion": "1.1.0"},
            "runtimeConfig": {"portMappings": null},
            "args": {"cni": {"ips": ["10.0.0.9"]}},
            "cni.dev/valid-attachments": [{"containerID": "a", "ifname": "eth0"}],
            "cni.dev/attachments": [{"containerID": "b", "ifname": "eth0"}],
            "somethingElse": [1, 2, 3]
        }))
        .unwrap();
        assert_eq!(c.plugin_type, "bridge");
        assert!(c.disable_check && c.disable_gc);
        assert_eq!(c.capabilities.get("mac"), Some(&true));
        assert_eq!(c.ipam_type(), Some("host-local"));
        assert_eq!(c.dns.nameservers, vec!["1.1.1.1"]);
        assert!(c.prev_result.is_some());
        assert_eq!(c.gc_valid_attachments().unwrap()[0].container_id, "a");
    }

    #[test]
    fn gc_falls_back_to_the_old_key_and_absent_means_none() {
        let c: NetConf = from_value(
            &json!({"name": "n", "cni.dev/attachments": [{"containerID": "b", "ifname": "eth0"}]}),
        )
        .unwrap();
        assert_eq!(c.gc_valid_attachments().unwrap()[0].container_id, "b");
        let c: NetConf = from_value(&json!({"name": "n"})).unwrap();
        assert_eq!(c.gc_valid_attachments(), None);
        let c: NetConf =
            from_value(&json!({"name": "n", "cni.dev/valid-attachments": []})).unwrap();
        assert_eq!(c.gc_valid_attachments(), Some(&[][..]));
    }

    #[test]
    fn empty_ipam_is_layer2() {
        let c: NetConf = from_value(&json!({"name": "n", "ipam": {}})).unwrap();
        assert_eq!(c.ipam_type(), None);
    }

    #[test]
    fn conflist_version_selection() {
        let pick = |v: Value| {
            ConfList::from_slice(v.to_string().as_bytes())
                .unwrap()
                .version()
        };
        let p = json!([{"type": "loopback"}]);
        assert_eq!(
            pick(json!({"name": "n", "cniVersion": "0.4.0", "plugins": p})).unwrap(),
            Version::V0_4_0
        );
        assert_eq!(
            pick(json!({"name": "n", "cniVersion": "0.4.0", "cniVersions": ["1.0.0", "9.0.0", "0.3.1"], "plugins": p})).unwrap(),
            Version::V1_0_0
        );
        assert_eq!(
            pick(json!({"name": "n", "plugins": p})).unwrap(),
            Version::V0_1_0
        );
        assert!(pick(json!({"name": "n", "cniVersion": "x.y", "plugins": p})).is_err());
    }

    #[test]
    fn conflist_errors_and_single_conf() {
        assert_eq!(
            ConfList::from_slice(b"{\"name\":\"n\",\"plugins\":[]}")
                .unwrap_err()
                .code,
            crate::Code::INVALID_CONFIG
        );
        assert_eq!(
            ConfList::from_slice(b"{\"name\":\"a/b\",\"plugins\":[{}]}")
                .unwrap_err()
                .code,
            crate::Code::INVALID_CONFIG
        );
        assert_eq!(
            ConfList::from_slice(b"{").unwrap_err().code,
            crate::Code::DECODING_FAILURE
        );
        let l = ConfList::from_slice(br#"{"cniVersion":"1.0.0","name":"lo","type":"loopback"}"#)
            .unwrap();
        assert_eq!(l.plugins.len(), 1);
        assert_eq!(l.plugins[0]["type"], "loopback");
    }

    #[test]
    fn request_derivation() {
        let l = ConfList::from_slice(
            json!({"cniVersion": "1.0.0", "name": "net", "disableCheck": true, "plugins": [
                {"type": "bridge"},
                {"type": "portmap", "capabilities": {"portMappings": true, "mac": false}}
            ]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let caps = json!({"portMappings": [{"hostPort": 80}], "mac": "aa:bb:cc:dd:ee:ff"});
        let caps = caps.as_object().unwrap();
        let r0 = l.request(0, caps, None).unwrap();
        assert_eq!(
            r0,
            json!({"type": "bridge", "name": "net", "cniVersion": "1.0.0"})
        );
        let prev = json!({"cniVersion": "1.0.0"});
        let r1 = l.request(1, caps, Some(&prev)).unwrap();
        assert_eq!(
            r1["runtimeConfig"],
            json!({"portMappings": [{"hostPort": 80}]})
        );
        assert_eq!(r1["prevResult"], prev);
        assert!(r1.get("disableCheck").is_none());
        assert!(l.request(2, caps, None).is_err());
    }
}
