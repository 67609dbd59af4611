use std::cell::RefCell;
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;

use super::*;
use crate::{Interface, IpConfig, parse_cidr};

#[derive(Deserialize, Default)]
#[serde(default)]
struct MockConfig {
    mtu: u32,
}

#[derive(Default)]
struct Mock {
    calls: RefCell<Vec<String>>,
    /// What ADD returns: L3 (one address) unless told otherwise.
    l2_only: bool,
    fail_with: Option<CniError>,
    seen_prev: RefCell<Option<Option<Success>>>,
}

impl Plugin for Mock {
    type Config = MockConfig;

    fn name(&self) -> &str {
        "mock"
    }

    fn add(&self, req: &Request<MockConfig>, at: &Attachment) -> Result<Success, CniError> {
        self.calls.borrow_mut().push(format!(
            "add {} {} {} mtu={}",
            at.container_id,
            at.ifname,
            at.netns.display(),
            req.config.mtu
        ));
        *self.seen_prev.borrow_mut() = Some(req.prev_result.clone());
        if let Some(e) = &self.fail_with {
            return Err(e.clone());
        }
        let mut r = Success {
            interfaces: vec![Interface {
                name: at.ifname.clone(),
                sandbox: at.netns.display().to_string(),
                ..Default::default()
            }],
            ..Default::default()
        };
        if !self.l2_only {
            r.ips.push(IpConfig {
                interface: Some(0),
                address: parse_cidr("10.0.0.2/24").unwrap(),
                gateway: None,
            });
        }
        Ok(r)
    }

    fn del(
        &self,
        req: &Request<MockConfig>,
        at: &Attachment<Option<PathBuf>>,
    ) -> Result<(), CniError> {
        self.calls.borrow_mut().push(format!(
            "del {} {} {:?}",
            at.container_id, at.ifname, at.netns
        ));
        *self.seen_prev.borrow_mut() = Some(req.prev_result.clone());
        Ok(())
    }

    fn check(&self, _req: &Request<MockConfig>, _at: &Attachment) -> Result<(), CniError> {
        self.calls.borrow_mut().push("check".into());
        Ok(())
    }

    fn status(&self, _req: &Request<MockConfig>) -> Result<(), CniError> {
        self.calls.borrow_mut().push("status".into());
        Ok(())
    }

    fn gc(&self, req: &Request<MockConfig>) -> Result<(), CniError> {
        self.calls.borrow_mut().push(format!(
            "gc {:?}",
            req.conf.gc_valid_attachments().map(<[_]>::len)
        ));
        Ok(())
    }
}

struct Outcome {
    result: Result<(), Failure>,
    stdout: String,
    stderr: String,
}

fn call(plugin: &Mock, vars: &[(&str, &str)], stdin: &[u8]) -> Outcome {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env = Env::read(|k| Ok(map.get(k).cloned()));
    let mut out = Vec::new();
    let mut err = Vec::new();
    let result = dispatch(plugin, env, &mut &stdin[..], &mut out, &mut err);
    Outcome {
        result,
        stdout: String::from_utf8(out).unwrap(),
        stderr: String::from_utf8(err).unwrap(),
    }
}

fn env(cmd: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("CNI_COMMAND", cmd),
        ("CNI_CONTAINERID", "ctr1"),
        // A path that is not this thread's namespace.
        ("CNI_NETNS", "/run/netns/does-not-exist"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/opt/cni/bin"),
    ]
}

fn conf(version: &str) -> Vec<u8> {
    json!({"cniVersion": version, "name": "net1", "type": "mock"})
        .to_string()
        .into_bytes()
}

fn failure(o: &Outcome) -> &Failure {
    match &o.result {
        Err(f) => f,
        Ok(()) => panic!("expected a failure; stdout {}", o.stdout),
    }
}

#[test]
fn version_ignores_stdin_and_config() {
    let o = call(&Mock::default(), &[("CNI_COMMAND", "VERSION")], b"garbage");
    assert!(o.result.is_ok());
    assert_eq!(
        o.stdout,
        "{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.1.0\",\"0.2.0\",\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n"
    );
}

#[test]
fn no_command_prints_about() {
    let o = call(&Mock::default(), &[], b"");
    assert!(o.result.is_ok());
    assert_eq!(o.stdout, "");
    let first = o.stderr.lines().next().unwrap();
    assert_eq!(
        first,
        format!("CNI mock plugin v{}", env!("CARGO_PKG_VERSION"))
    );
    assert!(o.stderr.contains(
        "CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"
    ));
}

#[test]
fn add_prints_the_result_in_the_config_version() {
    for v in Version::ALL {
        let m = Mock::default();
        let o = call(&m, &env("ADD"), &conf(v.as_str()));
        assert!(o.result.is_ok(), "{v}: {:?}", o.result);
        let got: Value = serde_json::from_str(&o.stdout).unwrap();
        assert_eq!(got["cniVersion"], v.as_str());
        match v.family() {
            crate::Family::V02 => assert_eq!(got["ip4"]["ip"], "10.0.0.2/24"),
            crate::Family::V04 => assert_eq!(got["ips"][0]["version"], "4"),
            crate::Family::V1 => assert!(got["ips"][0].get("version").is_none()),
        }
        assert_eq!(
            m.calls.borrow()[0],
            "add ctr1 eth0 /run/netns/does-not-exist mtu=0"
        );
    }
}

#[test]
fn empty_version_means_0_1_0() {
    let o = call(&Mock::default(), &env("ADD"), br#"{"name":"n"}"#);
    assert!(o.result.is_ok());
    let got: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(got["cniVersion"], "0.1.0");
}

#[test]
fn unconvertible_result_is_undone() {
    let m = Mock {
        l2_only: true,
        ..Default::default()
    };
    let o = call(&m, &env("ADD"), &conf("0.2.0"));
    let f = failure(&o);
    assert_eq!(f.error.code, Code::INCOMPATIBLE_VERSION);
    assert_eq!(f.version, Version::V0_2_0);
    assert_eq!(o.stdout, "");
    let calls = m.calls.borrow();
    assert_eq!(calls.len(), 2);
    assert!(calls[1].starts_with("del ctr1 eth0"), "{calls:?}");
}

#[test]
fn plugin_errors_pass_through() {
    let m = Mock {
        fail_with: Some(CniError::new(Code::TRY_AGAIN_LATER, "busy")),
        ..Default::default()
    };
    let o = call(&m, &env("ADD"), &conf("1.0.0"));
    let f = failure(&o);
    assert_eq!(f.error, CniError::new(Code::TRY_AGAIN_LATER, "busy"));
    assert_eq!(f.version, Version::V1_0_0);
}

#[test]
fn bad_input_codes() {
    let big = vec![b' '; (MAX_STDIN + 10) as usize];
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, Code, &'a str);
    let cases: Vec<Case> = vec![
        (
            "malformed json",
            env("ADD"),
            b"{\"name\":".to_vec(),
            Code::DECODING_FAILURE,
            "error unmarshalling network config",
        ),
        (
            "not an object",
            env("ADD"),
            b"[1,2]".to_vec(),
            Code::DECODING_FAILURE,
            "not a JSON object",
        ),
        ("too big", env("ADD"), big, Code::IO_FAILURE, "larger than"),
        (
            "no name",
            env("ADD"),
            br#"{"cniVersion":"1.0.0"}"#.to_vec(),
            Code::INVALID_CONFIG,
            "missing network name",
        ),
        (
            "bad name",
            env("ADD"),
            br#"{"cniVersion":"1.0.0","name":"../x"}"#.to_vec(),
            Code::INVALID_CONFIG,
            "invalid characters found in network name",
        ),
        (
            "unknown version",
            env("ADD"),
            conf("0.5.0"),
            Code::INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
        ),
        (
            "garbage version",
            env("DEL"),
            conf("abc"),
            Code::INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
        ),
        (
            "check too old",
            env("CHECK"),
            conf("0.3.1"),
            Code::INCOMPATIBLE_VERSION,
            "config version does not allow CHECK",
        ),
        (
            "check garbage",
            env("CHECK"),
            conf("abc"),
            Code::DECODING_FAILURE,
            "unable to parse version",
        ),
        (
            "check newer than plugin",
            env("CHECK"),
            conf("2.0.0"),
            Code::INCOMPATIBLE_VERSION,
            "plugin version does not allow CHECK",
        ),
        (
            "status too old",
            vec![("CNI_COMMAND", "STATUS"), ("CNI_PATH", "/x")],
            conf("1.0.0"),
            Code::INCOMPATIBLE_VERSION,
            "config version does not allow STATUS",
        ),
        (
            "gc too old",
            vec![("CNI_COMMAND", "GC"), ("CNI_PATH", "/x")],
            conf("0.4.0"),
            Code::INCOMPATIBLE_VERSION,
            "config version does not allow GC",
        ),
        (
            "gc without name",
            vec![("CNI_COMMAND", "GC"), ("CNI_PATH", "/x")],
            br#"{"cniVersion":"1.1.0"}"#.to_vec(),
            Code::INVALID_CONFIG,
            "missing network name",
        ),
        (
            "field type",
            env("ADD"),
            br#"{"cniVersion":"1.0.0","name":"n","mtu":"big"}"#.to_vec(),
            Code::DECODING_FAILURE,
            "mtu: invalid type",
        ),
        (
            "common field type",
            env("ADD"),
            br#"{"cniVersion":"1.0.0","name":"n","dns":{"nameservers":"x"}}"#.to_vec(),
            Code::DECODING_FAILURE,
            "dns.nameservers",
        ),
        (
            "bad prevResult",
            env("ADD"),
            br#"{"cniVersion":"1.0.0","name":"n","prevResult":{"ips":[{"address":"x"}]}}"#.to_vec(),
            Code::DECODING_FAILURE,
            "failed to parse prevResult",
        ),
        (
            "missing env",
            vec![("CNI_COMMAND", "ADD"), ("CNI_PATH", "/x")],
            conf("1.0.0"),
            Code::INVALID_ENV,
            "[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME]",
        ),
    ];
    for (what, vars, stdin, code, needle) in cases {
        let m = Mock::default();
        let o = call(&m, &vars, &stdin);
        let f = failure(&o);
        assert_eq!(f.error.code, code, "{what}: {:?}", f.error);
        assert!(
            f.error.msg.contains(needle) || f.error.details.contains(needle),
            "{what}: {:?}",
            f.error
        );
        assert!(
            m.calls.borrow().is_empty(),
            "{what}: the plugin must not be called"
        );
        assert_eq!(o.stdout, "", "{what}");
    }
}

#[test]
fn incompatible_details_list_versions() {
    let o = call(&Mock::default(), &env("ADD"), &conf("0.5.0"));
    assert_eq!(
        failure(&o).error.details,
        r#"config is "0.5.0", plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]"#
    );
}

#[test]
fn prev_result_is_parsed_and_tolerated_on_del() {
    let m = Mock::default();
    let stdin = json!({"cniVersion": "0.4.0", "name": "n", "prevResult": {"ips": [{"version": "4", "address": "10.0.0.9/24"}]}}).to_string();
    let o = call(&m, &env("ADD"), stdin.as_bytes());
    assert!(o.result.is_ok());
    let prev = m.seen_prev.borrow().clone().unwrap().unwrap();
    assert_eq!(prev.ips[0].address.to_string(), "10.0.0.9/24");

    let m = Mock::default();
    let stdin = br#"{"cniVersion":"1.0.0","name":"n","prevResult":{"ips":[{"address":"nope"}]}}"#;
    let o = call(&m, &env("DEL"), stdin);
    assert!(o.result.is_ok());
    assert_eq!(m.seen_prev.borrow().clone(), Some(None));
    assert!(o.stderr.contains("ignoring prevResult"), "{}", o.stderr);
}

#[test]
fn del_without_netns() {
    let m = Mock::default();
    let vars: Vec<_> = env("DEL")
        .into_iter()
        .filter(|(k, _)| *k != "CNI_NETNS")
        .collect();
    let o = call(&m, &vars, &conf("1.0.0"));
    assert!(o.result.is_ok());
    assert_eq!(m.calls.borrow()[0], "del ctr1 eth0 None");
}

#[test]
fn check_status_gc_dispatch() {
    let m = Mock::default();
    assert!(call(&m, &env("CHECK"), &conf("0.4.0")).result.is_ok());
    let gc = json!({"cniVersion": "1.1.0", "name": "n", "cni.dev/valid-attachments": [{"containerID": "a", "ifname": "eth0"}]}).to_string();
    assert!(
        call(
            &m,
            &[("CNI_COMMAND", "GC"), ("CNI_PATH", "/x")],
            gc.as_bytes()
        )
        .result
        .is_ok()
    );
    assert!(
        call(
            &m,
            &[("CNI_COMMAND", "STATUS"), ("CNI_PATH", "/x")],
            &conf("1.1.0")
        )
        .result
        .is_ok()
    );
    assert_eq!(*m.calls.borrow(), vec!["check", "gc Some(1)", "status"]);
}

#[test]
fn own_netns_is_refused_unless_overridden() {
    let m = Mock::default();
    let mut vars = env("ADD");
    vars.retain(|(k, _)| *k != "CNI_NETNS");
    vars.push(("CNI_NETNS", "/proc/thread-self/ns/net"));
    let o = call(&m, &vars, &conf("1.0.0"));
    assert_eq!(failure(&o).error.code, Code::INVALID_NETNS);
    assert!(m.calls.borrow().is_empty());
    vars.push(("CNI_NETNS_OVERRIDE", "true"));
    assert!(call(&m, &vars, &conf("1.0.0")).result.is_ok());
}

#[test]
fn limited_plugin_versions() {
    struct Old;
    impl Plugin for Old {
        type Config = serde::de::IgnoredAny;
        fn name(&self) -> &str {
            "old"
        }
        fn supported_versions(&self) -> &[Version] {
            Version::V0_4_0.and_later()
        }
        fn add(&self, _: &Request<Self::Config>, _: &Attachment) -> Result<Success, CniError> {
            Ok(Success::default())
        }
        fn del(
            &self,
            _: &Request<Self::Config>,
            _: &Attachment<Option<PathBuf>>,
        ) -> Result<(), CniError> {
            Ok(())
        }
        fn check(&self, _: &Request<Self::Config>, _: &Attachment) -> Result<(), CniError> {
            Ok(())
        }
    }
    let map: HashMap<String, String> = env("ADD")
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut out = Vec::new();
    let r = dispatch(
        &Old,
        Env::read(|k| Ok(map.get(k).cloned())),
        &mut &conf("0.3.1")[..],
        &mut out,
        &mut Vec::new(),
    );
    assert_eq!(r.unwrap_err().error.code, Code::INCOMPATIBLE_VERSION);
}
