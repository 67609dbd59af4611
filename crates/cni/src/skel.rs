//! The verb dispatcher: what the reference's `skel` package does, checked
//! before anything is touched. A plugin implements [`Plugin`] and calls
//! [`run`]; this module reads the environment and stdin, validates them,
//! gates verbs by version, decodes the config, calls the plugin, and prints
//! the result (converted to the config's version) or the error.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::env::{Env, EnvError, validate_network_name};
use crate::{CniArgs, CniError, Code, Command, NetConf, Semver, Success, Version, delegate};

/// The largest stdin accepted: configs are a few KiB; this leaves room for
/// large prevResults and port-mapping lists while bounding memory.
pub const MAX_STDIN: u64 = 4 << 20;

/// A CNI plugin: one method per verb, each given typed arguments.
pub trait Plugin {
    /// The plugin's own view of the config, decoded from the whole stdin
    /// object with Go's rules (see [`crate::json`]).
    type Config: DeserializeOwned;

    /// The plugin's type name, for the about text.
    fn name(&self) -> &str;

    /// The plugin's release, for the about text.
    fn release(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn supported_versions(&self) -> &[Version] {
        &Version::ALL
    }

    fn add(&self, req: &Request<Self::Config>, at: &Attachment) -> Result<Success, CniError>;

    /// DEL must succeed when what it would remove is already gone; `at.netns`
    /// is `None` when the runtime sent no CNI_NETNS.
    fn del(
        &self,
        req: &Request<Self::Config>,
        at: &Attachment<Option<PathBuf>>,
    ) -> Result<(), CniError>;

    fn check(&self, req: &Request<Self::Config>, at: &Attachment) -> Result<(), CniError>;

    fn status(&self, _req: &Request<Self::Config>) -> Result<(), CniError> {
        Ok(())
    }

    fn gc(&self, _req: &Request<Self::Config>) -> Result<(), CniError> {
        Ok(())
    }
}

/// One invocation's config and context.
#[derive(Debug)]
pub struct Request<C> {
    pub command: Command,
    /// The config's `cniVersion`, known to be one the plugin supports.
    pub version: Version,
    /// The fields every plugin shares.
    pub conf: NetConf,
    /// The plugin's own fields.
    pub config: C,
    /// `prevResult`, parsed. On DEL, GC and STATUS an unparsable prevResult
    /// is reported on stderr and treated as absent (it is only a hint there).
    pub prev_result: Option<Success>,
    pub args: CniArgs,
    pub path: Vec<PathBuf>,
    /// The stdin bytes, as received, for delegation.
    pub stdin: Vec<u8>,
    /// The stdin object.
    pub raw: Value,
}

/// The attachment an ADD, CHECK or DEL acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment<N = PathBuf> {
    pub container_id: String,
    pub ifname: String,
    pub netns: N,
}

impl<C> Request<C> {
    /// Delegate ADD to `plugin` (found in CNI_PATH) with this request's stdin.
    pub fn delegate_add(&self, plugin: &str) -> Result<Success, CniError> {
        delegate::add(plugin, &self.stdin, &self.path, self.version)
    }

    /// Delegate DEL, CHECK, STATUS or GC to `plugin`.
    pub fn delegate(&self, command: Command, plugin: &str) -> Result<(), CniError> {
        delegate::run(plugin, command, &self.stdin, &self.path)
    }

    /// Delegate DEL, CHECK, STATUS or GC to the config's IPAM plugin; with
    /// no IPAM plugin configured there is nothing to do.
    pub fn delegate_ipam(&self, command: Command) -> Result<(), CniError> {
        match self.conf.ipam_type() {
            Some(t) => self.delegate(command, t),
            None => Ok(()),
        }
    }
}

/// A failed invocation: the error and the version to print it in.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    pub error: CniError,
    pub version: Version,
}

impl From<CniError> for Failure {
    fn from(error: CniError) -> Failure {
        Failure {
            error,
            version: Version::CURRENT,
        }
    }
}

/// The version errors are printed in, for the panic hook.
static ERROR_VERSION: AtomicUsize = AtomicUsize::new(Version::ALL.len() - 1);

fn error_version() -> Version {
    Version::ALL
        .get(ERROR_VERSION.load(Ordering::Relaxed))
        .copied()
        .unwrap_or(Version::CURRENT)
}

/// Run `plugin` as this process: read the environment and stdin, dispatch,
/// print, and return the exit status. Never panics outward: a bug becomes a
/// CNI error (code 999) on stdout like any other failure.
pub fn run<P: Plugin + std::panic::RefUnwindSafe>(plugin: P) -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let e = CniError::internal(format!("internal error: {what}{at}"));
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(e.to_json(error_version()).as_bytes());
        let _ = out.flush();
    }));
    let outcome = std::panic::catch_unwind(|| {
        let mut stdin = std::io::stdin().lock();
        let mut stdout = std::io::stdout().lock();
        let mut stderr = std::io::stderr().lock();
        let r = dispatch(
            &plugin,
            Env::from_process(),
            &mut stdin,
            &mut stdout,
            &mut stderr,
        );
        match r {
            Ok(()) => stdout.flush().is_ok(),
            Err(f) => {
                let _ = stdout.write_all(f.error.to_json(f.version).as_bytes());
                let _ = stdout.flush();
                false
            }
        }
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// Everything [`run`] does, against explicit streams (for tests).
pub fn dispatch<P: Plugin>(
    plugin: &P,
    env: Result<Env, EnvError>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Failure> {
    let supported = plugin.supported_versions();
    let list = supported.iter().map(|v| v.as_str()).collect::<Vec<_>>();
    let env = match env {
        Ok(env) => env,
        Err(EnvError::NoCommand) => {
            let _ = writeln!(stderr, "CNI {} plugin v{}", plugin.name(), plugin.release());
            let _ = writeln!(
                stderr,
                "CNI protocol versions supported: {}",
                list.join(", ")
            );
            return Ok(());
        }
        Err(EnvError::Invalid(e)) => return Err(e.into()),
    };

    if env.command == Command::Version {
        let body = serde_json::json!({"cniVersion": Version::CURRENT, "supportedVersions": list});
        return writeln!(stdout, "{body}")
            .map_err(|e| CniError::new(Code::IO_FAILURE, format!("write stdout: {e}")).into());
    }

    let mut bytes = Vec::new();
    stdin
        .take(MAX_STDIN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CniError::new(Code::IO_FAILURE, format!("error reading from stdin: {e}")))?;
    if bytes.len() as u64 > MAX_STDIN {
        return Err(CniError::new(
            Code::IO_FAILURE,
            format!(
                "error reading from stdin: the network config is larger than {MAX_STDIN} bytes"
            ),
        )
        .into());
    }
    let raw: Value = serde_json::from_slice(&bytes)
        .map_err(|e| CniError::decoding(format!("error unmarshalling network config: {e}")))?;
    if !raw.is_object() {
        return Err(CniError::decoding(
            "error unmarshalling network config: it is not a JSON object",
        )
        .into());
    }
    let conf: NetConf = crate::json::from_value(&raw)
        .map_err(|e| CniError::decoding(format!("invalid network config: {e}")))?;
    validate_network_name(&conf.name)?;

    let version = check_version(env.command, &conf.cni_version, supported)?;
    ERROR_VERSION.store(
        Version::ALL.iter().position(|v| *v == version).unwrap_or(0),
        Ordering::Relaxed,
    );
    let in_version = |error: CniError| Failure { error, version };

    let config: P::Config = crate::json::from_value(&raw)
        .map_err(|e| in_version(CniError::decoding(format!("invalid network config: {e}"))))?;

    let prev_result = match &conf.prev_result {
        None => None,
        Some(v) => match Success::from_value(v, version) {
            Ok(r) => Some(r),
            Err(e) if matches!(env.command, Command::Add | Command::Check) => {
                return Err(in_version(e.context("failed to parse prevResult")));
            }
            Err(e) => {
                let _ = writeln!(stderr, "{}: ignoring prevResult: {}", plugin.name(), e.msg);
                None
            }
        },
    };

    if !env.netns_override
        && let Some(netns) = &env.netns
        && is_own_netns(netns)
    {
        return Err(in_version(
            CniError::new(
                Code::INVALID_NETNS,
                "plugin's netns and netns from CNI_NETNS should not be the same",
            )
            .with_details(netns.display().to_string()),
        ));
    }

    let req = Request {
        command: env.command,
        version,
        conf,
        config,
        prev_result,
        args: env.args,
        path: env.path,
        stdin: bytes,
        raw,
    };
    let at = Attachment {
        container_id: env.container_id,
        ifname: env.ifname,
        netns: env.netns,
    };
    match req.command {
        Command::Add => {
            let netns = at.netns.clone().unwrap_or_default();
            let add_at = Attachment {
                container_id: at.container_id.clone(),
                ifname: at.ifname.clone(),
                netns,
            };
            let result = plugin.add(&req, &add_at).map_err(in_version)?;
            let text = match result.to_json(version) {
                Ok(t) => t,
                Err(e) => {
                    // The work is done but cannot be reported: undo it, so a
                    // failed ADD leaves nothing behind.
                    if let Err(undo) = plugin.del(&req, &at) {
                        let _ =
                            writeln!(stderr, "{}: undo after failed ADD: {undo}", plugin.name());
                    }
                    return Err(in_version(e));
                }
            };
            stdout.write_all(text.as_bytes()).map_err(|e| {
                in_version(CniError::new(
                    Code::IO_FAILURE,
                    format!("write stdout: {e}"),
                ))
            })
        }
        Command::Del => plugin.del(&req, &at).map_err(in_version),
        Command::Check => {
            let netns = at.netns.unwrap_or_default();
            plugin
                .check(
                    &req,
                    &Attachment {
                        container_id: at.container_id,
                        ifname: at.ifname,
                        netns,
                    },
                )
                .map_err(in_version)
        }
        Command::Status => plugin.status(&req).map_err(in_version),
        Command::Gc => plugin.gc(&req).map_err(in_version),
        Command::Version => Ok(()),
    }
}

/// The reference's version gates. CHECK needs 0.4.0 or later, STATUS and GC
/// need 1.1.0 or later (code 1 below that; code 6 if the version is not a
/// version), and then the config's version must be one the plugin lists,
/// exactly.
fn check_version(command: Command, cfg: &str, supported: &[Version]) -> Result<Version, Failure> {
    let shown = if cfg.is_empty() { "0.1.0" } else { cfg };
    let floor = match command {
        Command::Check => Some(Version::V0_4_0),
        Command::Status | Command::Gc => Some(Version::V1_1_0),
        _ => None,
    };
    if let Some(floor) = floor {
        let v = Semver::parse(shown).map_err(CniError::decoding)?;
        if v < Semver::from(floor) {
            return Err(CniError::new(
                Code::INCOMPATIBLE_VERSION,
                format!("config version does not allow {}", command.as_str()),
            )
            .with_details(format!(
                "cniVersion is {shown:?}; {} needs {floor} or later",
                command.as_str()
            ))
            .into());
        }
        if !supported.iter().any(|s| Semver::from(*s) >= v) {
            return Err(CniError::new(
                Code::INCOMPATIBLE_VERSION,
                format!("plugin version does not allow {}", command.as_str()),
            )
            .into());
        }
    }
    match Version::from_config(cfg) {
        Some(v) if supported.contains(&v) => Ok(v),
        _ => {
            let list: Vec<String> = supported
                .iter()
                .map(|v| format!("{:?}", v.as_str()))
                .collect();
            Err(
                CniError::new(Code::INCOMPATIBLE_VERSION, "incompatible CNI versions")
                    .with_details(format!(
                        "config is {shown:?}, plugin supports [{}]",
                        list.join(" ")
                    ))
                    .into(),
            )
        }
    }
}

/// Whether `path` is the network namespace this thread is in (the reference's
/// safety check against a runtime handing the plugin its own namespace).
fn is_own_netns(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::metadata(path),
        std::fs::metadata("/proc/thread-self/ns/net"),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
