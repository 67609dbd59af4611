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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A directory of fake plugins (shell scripts), removed on drop.
    struct FakePath(PathBuf);

    impl FakePath {
        fn new(tag: &str) -> FakePath {
            let dir =
                std::env::temp_dir().join(format!("cni-delegate-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            FakePath(dir)
        }

        fn plugin(&self, name: &str, script: &str) {
            let p = self.0.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        fn path(&self) -> Vec<PathBuf> {
            vec![PathBuf::from("/nonexistent-dir"), self.0.clone()]
        }
    }

    impl Drop for FakePath {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn add_parses_the_delegate_result() {
        let f = FakePath::new("add");
        f.plugin("ipam", r#"cat >/dev/null; printf '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.0.7/16","gateway":"10.1.0.1"}],"dns":{}}'"#);
        let r = add("ipam", b"{}", &f.path(), Version::V0_4_0).unwrap();
        assert_eq!(r.ips[0].address.to_string(), "10.1.0.7/16");
        assert_eq!(
            r.ips[0].gateway.map(|g| g.to_string()).as_deref(),
            Some("10.1.0.1")
        );
    }

    #[test]
    fn same_stdin_and_environment_with_the_command_replaced() {
        let f = FakePath::new("env");
        let out = f.0.join("seen");
        let script = format!(
            "cat > {0}; echo \" $CNI_COMMAND $HOME\" >> {0}",
            out.display()
        );
        f.plugin("ipam", &script);
        // The child inherits this process's environment (HOME here), with
        // only CNI_COMMAND replaced, and gets the same stdin bytes.
        let home = std::env::var("HOME").unwrap_or_default();
        run("ipam", Command::Del, b"{\"name\":\"n\"}", &f.path()).unwrap();
        let seen = std::fs::read_to_string(&out).unwrap();
        assert_eq!(seen, format!("{{\"name\":\"n\"}} DEL {home}\n"));
    }

    #[test]
    fn errors_pass_through_with_their_code() {
        let f = FakePath::new("err");
        f.plugin("busy", r#"cat >/dev/null; printf '{"code": 11, "msg": "try later", "details": "lock"}'; exit 1"#);
        f.plugin("silent", "exit 3");
        f.plugin("garbled", "echo 'not json'; exit 1");
        f.plugin(
            "bad-result",
            "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"x\"}]}'",
        );
        let e = run("busy", Command::Add, b"{}", &f.path()).unwrap_err();
        assert_eq!(
            e,
            CniError::new(Code::TRY_AGAIN_LATER, "try later").with_details("lock")
        );
        let e = run("silent", Command::Check, b"{}", &f.path()).unwrap_err();
        assert_eq!(e.code, Code::INTERNAL);
        assert!(e.msg.contains("failed with no error message"), "{}", e.msg);
        let e = run("garbled", Command::Del, b"{}", &f.path()).unwrap_err();
        assert!(e.msg.contains("could not be parsed"), "{}", e.msg);
        let e = add("bad-result", b"{}", &f.path(), Version::V1_0_0).unwrap_err();
        assert_eq!(e.code, Code::DECODING_FAILURE);
        assert!(e.msg.contains("bad-result"), "{}", e.msg);
    }

    #[test]
    fn lookup_errors() {
        let f = FakePath::new("lookup");
        f.plugin("there", "exit 0");
        assert!(find_in_path("there", &f.path()).is_ok());
        let cases = [
            ("", Code::INVALID_CONFIG, "no plugin name"),
            ("../there", Code::INVALID_CONFIG, "invalid plugin name"),
            (
                "absent",
                Code::INVALID_CONFIG,
                "failed to find plugin \"absent\"",
            ),
        ];
        for (name, code, needle) in cases {
            let e = find_in_path(name, &f.path()).unwrap_err();
            assert_eq!(e.code, code, "{name}");
            assert!(e.msg.contains(needle), "{name}: {}", e.msg);
        }
        assert_eq!(
            find_in_path("there", &[]).unwrap_err().code,
            Code::INVALID_ENV
        );
        // A directory of that name is not a plugin.
        std::fs::create_dir(f.0.join("dir")).unwrap();
        assert!(find_in_path("dir", &f.path()).is_err());
    }
}
