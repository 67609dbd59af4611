//! Running a delegated plugin (IPAM): find `type` in CNI_PATH, run it with our
//! environment and stdin (only CNI_COMMAND changes), and read back its result
//! or its error, code included. As `pkg/invoke` does in the reference.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use crate::{CniError, Code, Command, Success, Version};

/// Find plugin `name` in the CNI_PATH directories.
pub fn find_in_path(name: &str, path: &[PathBuf]) -> Result<PathBuf, CniError> {
    if name.is_empty() {
        return Err(CniError::invalid_config("no plugin name provided"));
    }
    if name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
        return Err(CniError::invalid_config(format!(
            "invalid plugin name {name:?}: it must be a file name"
        )));
    }
    if path.is_empty() {
        return Err(CniError::invalid_env(format!(
            "no paths provided in CNI_PATH to look for plugin {name:?}"
        )));
    }
    path.iter()
        .map(|dir| dir.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file()))
        .ok_or_else(|| {
            let dirs: Vec<String> = path.iter().map(|p| p.display().to_string()).collect();
            CniError::invalid_config(format!(
                "failed to find plugin {name:?} in path [{}]",
                dirs.join(" ")
            ))
        })
}

/// Run `binary` for `command`; its stdout on success, its CNI error otherwise.
pub fn exec(binary: &Path, command: Command, stdin: &[u8]) -> Result<Vec<u8>, CniError> {
    let name = binary.file_name().map_or_else(
        || binary.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut attempts = 0;
    let mut child = loop {
        let spawned = Process::new(binary)
            .env("CNI_COMMAND", command.as_str())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        match spawned {
            // A binary being replaced (an upgrade in progress): the reference
            // retries five times a second apart.
            Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && attempts < 5 => {
                attempts += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => return Err(CniError::internal(format!("run plugin {name:?}: {e}"))),
            Ok(c) => break c,
        }
    };
    if let Some(mut input) = child.stdin.take() {
        // A plugin that exits without reading its stdin closes the pipe; its
        // exit status tells what happened.
        if let Err(e) = input.write_all(stdin)
            && e.kind() != ErrorKind::BrokenPipe
        {
            return Err(CniError::internal(format!(
                "write stdin of plugin {name:?}: {e}"
            )));
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| CniError::internal(format!("wait for plugin {name:?}: {e}")))?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Err(CniError::internal(format!(
            "plugin {name:?} failed with no error message: {}",
            out.status
        )));
    }
    Err(CniError::from_json(&out.stdout).unwrap_or_else(|| {
        CniError::internal(format!(
            "plugin {name:?} failed ({}) but its error could not be parsed: {:?}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        ))
    }))
}

/// Delegate ADD and read the result (in `version` unless it names its own).
pub fn add(
    name: &str,
    stdin: &[u8],
    path: &[PathBuf],
    version: Version,
) -> Result<Success, CniError> {
    let out = exec(&find_in_path(name, path)?, Command::Add, stdin)?;
    Success::from_json(&out, version).map_err(|e| {
        CniError::new(
            Code::DECODING_FAILURE,
            format!("result of plugin {name:?}: {}", e.msg),
        )
    })
}

/// Delegate DEL, CHECK, STATUS or GC.
pub fn run(name: &str, command: Command, stdin: &[u8], path: &[PathBuf]) -> Result<(), CniError> {
    exec(&find_in_path(name, path)?, command, stdin).map(drop)
}
