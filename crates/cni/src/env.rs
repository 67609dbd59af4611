//! The `CNI_*` environment, with the reference's per-verb requirements and
//! validation rules (`skel.getCmdArgsFromEnv`, `utils.Validate*`).

use std::path::PathBuf;

use crate::{CniArgs, CniError, Code};

/// A CNI verb.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    Add,
    Del,
    Check,
    Version,
    Status,
    Gc,
}

impl Command {
    pub fn parse(s: &str) -> Option<Command> {
        Some(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "VERSION" => Command::Version,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Version => "VERSION",
            Command::Status => "STATUS",
            Command::Gc => "GC",
        }
    }
}

/// Everything a plugin reads from its environment, validated for its verb.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Env {
    pub command: Command,
    /// Empty for VERSION, STATUS and GC.
    pub container_id: String,
    /// `None` when unset or empty (allowed for DEL, STATUS, GC, VERSION).
    pub netns: Option<PathBuf>,
    /// Empty for VERSION, STATUS and GC.
    pub ifname: String,
    pub args: CniArgs,
    /// CNI_PATH split on `:`, empty entries dropped.
    pub path: Vec<PathBuf>,
    /// `CNI_NETNS_OVERRIDE` is `1` or `true`: skip the "CNI_NETNS is my own
    /// namespace" safety check.
    pub netns_override: bool,
}

/// Why the environment could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvError {
    /// `CNI_COMMAND` is unset or empty: the plugin was run by hand.
    NoCommand,
    Invalid(CniError),
}

impl From<CniError> for EnvError {
    fn from(e: CniError) -> EnvError {
        EnvError::Invalid(e)
    }
}

type Validator = fn(&str) -> Result<(), CniError>;

struct Var {
    name: &'static str,
    required: &'static [Command],
    validate: Option<Validator>,
}

use Command::{Add, Check, Del, Gc, Status};

const VARS: [Var; 6] = [
    Var {
        name: "CNI_CONTAINERID",
        required: &[Add, Check, Del],
        validate: Some(validate_container_id),
    },
    Var {
        name: "CNI_NETNS",
        required: &[Add, Check],
        validate: None,
    },
    Var {
        name: "CNI_IFNAME",
        required: &[Add, Check, Del],
        validate: Some(validate_ifname),
    },
    Var {
        name: "CNI_ARGS",
        required: &[],
        validate: None,
    },
    Var {
        name: "CNI_PATH",
        required: &[Add, Check, Del, Gc, Status],
        validate: None,
    },
    Var {
        name: "CNI_NETNS_OVERRIDE",
        required: &[],
        validate: None,
    },
];

impl Env {
    /// Read the environment through `get` (`std::env::var` in a plugin, a map
    /// in tests). `get` returns `Err(())` for a value that is not UTF-8.
    pub fn read(get: impl Fn(&str) -> Result<Option<String>, ()>) -> Result<Env, EnvError> {
        let value = |name: &str| -> Result<String, CniError> {
            get(name)
                .map(Option::unwrap_or_default)
                .map_err(|()| CniError::invalid_env(format!("{name} is not valid UTF-8")))
        };
        let cmd_raw = value("CNI_COMMAND")?;
        if cmd_raw.is_empty() {
            return Err(EnvError::NoCommand);
        }
        let command = Command::parse(&cmd_raw);

        let mut values: [String; 6] = Default::default();
        let mut missing = Vec::new();
        for (var, slot) in VARS.iter().zip(values.iter_mut()) {
            let v = value(var.name)?;
            let required = command.is_some_and(|c| var.required.contains(&c));
            if v.is_empty() {
                if required {
                    missing.push(var.name);
                }
            } else if required && let Some(validate) = var.validate {
                validate(&v)?;
            }
            *slot = v;
        }
        if !missing.is_empty() {
            return Err(CniError::invalid_env(format!(
                "required env variables [{}] missing",
                missing.join(",")
            ))
            .into());
        }
        let Some(command) = command else {
            return Err(CniError::invalid_env(format!("unknown CNI_COMMAND: {cmd_raw}")).into());
        };
        let [container_id, netns, ifname, args, path, netns_override] = values;
        // Only the attachment verbs carry an attachment; the reference ignores
        // these variables for the others.
        let attachment = matches!(command, Add | Check | Del);
        Ok(Env {
            command,
            container_id: if attachment {
                container_id
            } else {
                String::new()
            },
            netns: (attachment && !netns.is_empty()).then(|| PathBuf::from(netns)),
            ifname: if attachment { ifname } else { String::new() },
            args: CniArgs::new(if attachment { args } else { String::new() }),
            path: path
                .split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect(),
            netns_override: netns_override == "1" || netns_override.eq_ignore_ascii_case("true"),
        })
    }

    /// Read the process environment.
    pub fn from_process() -> Result<Env, EnvError> {
        Env::read(|name| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(()),
        })
    }
}

/// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`: the rule for container IDs and network
/// names. Such a string is always a safe single path component.
pub fn is_valid_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The longest container ID accepted. The reference sets no limit, but IDs
/// end up in file names (and runtimes use 64 characters or fewer).
pub const MAX_CONTAINER_ID_LEN: usize = 255;

/// The reference's container ID rule (missing: code 3; bad characters: 4),
/// plus a length limit.
pub fn validate_container_id(id: &str) -> Result<(), CniError> {
    if id.is_empty() {
        return Err(CniError::new(
            Code::UNKNOWN_CONTAINER,
            "missing containerID",
        ));
    }
    if id.len() > MAX_CONTAINER_ID_LEN {
        return Err(CniError::invalid_env(format!(
            "CNI_CONTAINERID: container ID is {} bytes long; at most {MAX_CONTAINER_ID_LEN} are accepted",
            id.len()
        )));
    }
    if !is_valid_name(id) {
        return Err(
            CniError::invalid_env("CNI_CONTAINERID: invalid characters in containerID")
                .with_details(id),
        );
    }
    Ok(())
}

/// The longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// The reference's interface name rule: non-empty, at most 15 bytes, not `.`
/// or `..`, no `/`, `:` or whitespace. Names that pass are safe as a path
/// component and in a netlink message.
pub fn validate_ifname(name: &str) -> Result<(), CniError> {
    let err = |msg: &str| CniError::invalid_env(format!("CNI_IFNAME: {msg}"));
    if name.is_empty() {
        return Err(err("interface name is empty"));
    }
    if name.len() > MAX_IFNAME_LEN {
        return Err(err("interface name is too long").with_details(format!(
            "interface name should be less than {} characters",
            MAX_IFNAME_LEN + 1
        )));
    }
    if name == "." || name == ".." {
        return Err(err("interface name is . or .."));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
    {
        return Err(err(
            "interface name contains / or : or whitespace characters",
        ));
    }
    Ok(())
}

/// The network name rule (code 7): non-empty, `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`.
pub fn validate_network_name(name: &str) -> Result<(), CniError> {
    if name.is_empty() {
        return Err(CniError::invalid_config("missing network name"));
    }
    if !is_valid_name(name) {
        return Err(
            CniError::invalid_config("invalid characters found in network name").with_details(name),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Env, EnvError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::read(|k| Ok(map.get(k).cloned()))
    }

    const FULL: [(&str, &str); 5] = [
        ("CNI_CONTAINERID", "c1"),
        ("CNI_NETNS", "/run/netns/x"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/opt/cni/bin::/usr/lib/cni"),
        ("CNI_ARGS", "IgnoreUnknown=1"),
    ];

    fn with(
        cmd: &'static str,
        drop: &[&str],
        set: &[(&'static str, &'static str)],
    ) -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<_> = FULL
            .iter()
            .copied()
            .filter(|(k, _)| !drop.contains(k))
            .collect();
        v.retain(|(k, _)| !set.iter().any(|(s, _)| s == k));
        v.extend_from_slice(set);
        v.push(("CNI_COMMAND", cmd));
        v
    }

    fn err_of(vars: &[(&str, &str)]) -> CniError {
        match read(vars) {
            Err(EnvError::Invalid(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn complete_add() {
        let env = read(&with("ADD", &[], &[])).unwrap();
        assert_eq!(env.command, Command::Add);
        assert_eq!(env.container_id, "c1");
        assert_eq!(env.netns, Some(PathBuf::from("/run/netns/x")));
        assert_eq!(env.ifname, "eth0");
        assert_eq!(
            env.path,
            vec![PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")]
        );
        assert_eq!(env.args.raw(), "IgnoreUnknown=1");
        assert!(!env.netns_override);
    }

    #[test]
    fn no_command_is_not_an_error() {
        assert_eq!(read(&[]), Err(EnvError::NoCommand));
        assert_eq!(read(&[("CNI_COMMAND", "")]), Err(EnvError::NoCommand));
    }

    #[test]
    fn required_per_verb() {
        // (verb, variables removed, the variables the error must name)
        let cases: &[(&str, &[&str], &str)] = &[
            ("ADD", &["CNI_NETNS"], "[CNI_NETNS]"),
            (
                "ADD",
                &["CNI_CONTAINERID", "CNI_IFNAME"],
                "[CNI_CONTAINERID,CNI_IFNAME]",
            ),
            ("ADD", &["CNI_PATH"], "[CNI_PATH]"),
            ("CHECK", &["CNI_NETNS"], "[CNI_NETNS]"),
            ("DEL", &["CNI_IFNAME"], "[CNI_IFNAME]"),
            ("DEL", &["CNI_CONTAINERID"], "[CNI_CONTAINERID]"),
            ("GC", &["CNI_PATH"], "[CNI_PATH]"),
            ("STATUS", &["CNI_PATH"], "[CNI_PATH]"),
        ];
        for (cmd, drop, names) in cases {
            let e = err_of(&with(cmd, drop, &[]));
            assert_eq!(e.code, Code::INVALID_ENV, "{cmd} {drop:?}");
            assert_eq!(
                e.msg,
                format!("required env variables {names} missing"),
                "{cmd}"
            );
        }
    }

    #[test]
    fn optional_per_verb() {
        let env = read(&with("DEL", &["CNI_NETNS"], &[])).unwrap();
        assert_eq!(env.netns, None);
        let env = read(&with("DEL", &[], &[("CNI_NETNS", "")])).unwrap();
        assert_eq!(env.netns, None);
        let env = read(&[("CNI_COMMAND", "VERSION")]).unwrap();
        assert_eq!(env.command, Command::Version);
        let env = read(&[("CNI_COMMAND", "GC"), ("CNI_PATH", "/bin")]).unwrap();
        assert_eq!(
            (env.container_id.as_str(), env.ifname.as_str(), env.netns),
            ("", "", None)
        );
        // Attachment variables are not validated for verbs that do not use them.
        let env = read(&[
            ("CNI_COMMAND", "STATUS"),
            ("CNI_PATH", "/bin"),
            ("CNI_IFNAME", "a/b"),
        ])
        .unwrap();
        assert_eq!(env.ifname, "");
    }

    #[test]
    fn unknown_command() {
        let e = err_of(&[("CNI_COMMAND", "ADDD")]);
        assert_eq!(e.code, Code::INVALID_ENV);
        assert_eq!(e.msg, "unknown CNI_COMMAND: ADDD");
    }

    #[test]
    fn ifname_rules() {
        let bad = [
            "",
            "a/b",
            "a:b",
            "a b",
            "tab\there",
            ".",
            "..",
            "sixteen-chars-xx",
            "é-is-two-bytes-x",
        ];
        for name in bad {
            let vars = with("ADD", &[], &[("CNI_IFNAME", name)]);
            let e = err_of(&vars);
            assert_eq!(e.code, Code::INVALID_ENV, "{name:?}");
            if name.is_empty() {
                assert!(e.msg.contains("CNI_IFNAME"), "{}", e.msg);
            } else {
                assert!(e.msg.starts_with("CNI_IFNAME: "), "{}", e.msg);
            }
        }
        for good in ["eth0", "fifteen-chars-x", "net1.100", "veth_a-b"] {
            assert!(validate_ifname(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn container_id_rules() {
        for bad in ["-lead", "_lead", ".lead", "a/b", "../x", "a b", "a;b", "é"] {
            let e = err_of(&with("ADD", &[], &[("CNI_CONTAINERID", bad)]));
            assert_eq!(e.code, Code::INVALID_ENV, "{bad}");
            assert_eq!(e.details, bad);
            assert!(e.msg.contains("CNI_CONTAINERID"));
        }
        for good in ["abc", "A1", "0", "dead-beef_1.2"] {
            assert!(validate_container_id(good).is_ok(), "{good}");
        }
        assert_eq!(
            validate_container_id("").unwrap_err().code,
            Code::UNKNOWN_CONTAINER
        );
        assert!(validate_container_id(&"a".repeat(255)).is_ok());
        let e = validate_container_id(&"a".repeat(300)).unwrap_err();
        assert_eq!(e.code, Code::INVALID_ENV);
        assert!(e.msg.contains("300 bytes"), "{}", e.msg);
    }

    #[test]
    fn network_name_rules() {
        assert_eq!(
            validate_network_name("").unwrap_err().msg,
            "missing network name"
        );
        for bad in ["../etc", "a/b", ".hidden", "a b", "-x"] {
            let e = validate_network_name(bad).unwrap_err();
            assert_eq!(e.code, Code::INVALID_CONFIG);
            assert_eq!(e.details, bad);
        }
        assert!(validate_network_name("podman0.net-1_x").is_ok());
    }

    #[test]
    fn netns_override_values() {
        for (v, want) in [
            ("1", true),
            ("true", true),
            ("TRUE", true),
            ("0", false),
            ("yes", false),
        ] {
            let env = read(&with("ADD", &[], &[("CNI_NETNS_OVERRIDE", v)])).unwrap();
            assert_eq!(env.netns_override, want, "{v}");
        }
    }

    #[test]
    fn non_utf8_is_an_error() {
        let r = Env::read(|k| {
            if k == "CNI_IFNAME" {
                Err(())
            } else {
                Ok(Some("ADD".into()))
            }
        });
        match r {
            Err(EnvError::Invalid(e)) => assert!(e.msg.contains("CNI_IFNAME")),
            other => panic!("{other:?}"),
        }
    }
}
