//! `/proc/sys` settings. `/proc/sys/net` shows the network namespace of the
//! thread that opens the file, so for a container's settings call these
//! inside [`crate::NetNs::run`].

use std::path::{Component, Path, PathBuf};

use cni::CniError;

/// The file of a sysctl named with slashes (`net/ipv6/conf/eth0/accept_ra`,
/// the form that allows dots in interface names). Names that would leave
/// `/proc/sys/net` are refused.
pub fn net_path(name: &str) -> Result<PathBuf, CniError> {
    let rel = Path::new(name.trim_start_matches('/'));
    let clean = rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !clean || !rel.starts_with("net") || rel.components().count() < 2 || name.contains('\0') {
        return Err(CniError::invalid_config(format!(
            "invalid net sysctl key {name:?}"
        )));
    }
    Ok(Path::new("/proc/sys").join(rel))
}

pub fn read(name: &str) -> Result<String, CniError> {
    let path = net_path(name)?;
    std::fs::read_to_string(&path)
        .map(|s| s.trim_end_matches('\n').to_string())
        .map_err(|e| CniError::internal(format!("read sysctl {name}: {e}")))
}

pub fn write(name: &str, value: &str) -> Result<(), CniError> {
    let path = net_path(name)?;
    std::fs::write(&path, value)
        .map_err(|e| CniError::internal(format!("set sysctl {name}={value}: {e}")))
}

/// Write unless it already has that value (saves a write, and works where
/// the file is read-only but already right).
pub fn ensure(name: &str, value: &str) -> Result<(), CniError> {
    if read(name).is_ok_and(|v| v == value) {
        return Ok(());
    }
    write(name, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            net_path("net/ipv4/ip_forward").unwrap(),
            Path::new("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            net_path("/net/ipv6/conf/eth0.100/accept_ra").unwrap(),
            Path::new("/proc/sys/net/ipv6/conf/eth0.100/accept_ra")
        );
        for bad in [
            "kernel/hostname",
            "net/../kernel/x",
            "net",
            "../net/x",
            "net/ipv4/\0",
        ] {
            assert!(net_path(bad).is_err(), "{bad}");
        }
    }

    /// The thread's namespace is the one written: the host's file, opened
    /// before unsharing, keeps its value.
    #[test]
    fn writes_the_threads_namespace() {
        use std::io::{Read, Seek};
        let mut host = std::fs::File::open("/proc/sys/net/ipv4/ip_forward").unwrap();
        let mut before = String::new();
        host.read_to_string(&mut before).unwrap();
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let flipped = if before.trim() == "1" { "0" } else { "1" };
        write("net/ipv4/ip_forward", flipped).unwrap();
        assert_eq!(read("net/ipv4/ip_forward").unwrap(), flipped);
        ensure("net/ipv4/ip_forward", flipped).unwrap();
        let mut after = String::new();
        host.rewind().unwrap();
        host.read_to_string(&mut after).unwrap();
        assert_eq!(after, before, "the host's setting changed");
    }
}
