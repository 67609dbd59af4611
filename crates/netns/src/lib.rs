//! Network namespaces for a short-lived, single-threaded plugin.
//!
//! `setns(2)` moves only the calling thread, so the rule is: the process sits
//! in its own (host) namespace except inside [`NetNs::run`] or while a
//! [`Guard`] lives, and every way out of those returns to the namespace the
//! thread was in. The guard is `!Send`, so it cannot restore the wrong thread,
//! and if restoring ever fails the process reports a CNI error and aborts
//! rather than go on configuring the wrong namespace.
//!
//! Netlink sockets belong to the namespace they were opened in; open one in
//! the container with `ns.run(Socket::new)` and use it from the host.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub mod sysctl;

use cni::{CniError, Code};
use nix::sched::{CloneFlags, setns};
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};

/// Why a namespace could not be opened or entered.
#[derive(Debug)]
pub enum Error {
    /// Nothing at that path: the namespace (the container) is gone.
    NotFound(PathBuf),
    /// Something is at that path, but it is not a network namespace (for
    /// example the empty file left behind once a bind mount is gone).
    NotNetns(PathBuf, String),
    Io {
        what: String,
        path: PathBuf,
        source: io::Error,
    },
}

impl Error {
    /// True when the namespace no longer exists in any usable form: DEL
    /// treats both as "nothing left to undo".
    pub fn is_gone(&self) -> bool {
        matches!(self, Error::NotFound(_) | Error::NotNetns(..))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound(p) => write!(f, "network namespace {:?} does not exist", p.display()),
            Error::NotNetns(p, why) => {
                write!(f, "{:?} is not a network namespace: {why}", p.display())
            }
            Error::Io { what, path, source } => write!(f, "{what} {:?}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for CniError {
    fn from(e: Error) -> CniError {
        let code = match e {
            Error::NotFound(_) => Code::UNKNOWN_CONTAINER,
            Error::NotNetns(..) => Code::INVALID_ENV,
            Error::Io { .. } => Code::INTERNAL,
        };
        CniError::new(code, e.to_string())
    }
}

/// An open network namespace. Holding it keeps the namespace alive.
#[derive(Debug)]
pub struct NetNs {
    file: File,
    path: PathBuf,
}

// NS_GET_NSTYPE: what kind of namespace an nsfs file descriptor refers to.
nix::ioctl_none!(ns_get_nstype, 0xb7, 0x3);

impl NetNs {
    /// Open the namespace at `path` (`/run/netns/<name>`, `/proc/<pid>/ns/net`)
    /// and check that it is a network namespace.
    pub fn open(path: impl AsRef<Path>) -> Result<NetNs, Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => Error::NotFound(path.to_owned()),
            _ => Error::Io {
                what: "open network namespace".into(),
                path: path.to_owned(),
                source,
            },
        })?;
        let fs = fstatfs(&file).map_err(|e| Error::Io {
            what: "statfs".into(),
            path: path.to_owned(),
            source: e.into(),
        })?;
        // Opening /proc/<pid>/ns/net follows the magic link to the nsfs
        // inode, so every namespace file, wherever it is mounted, is on nsfs
        // once open.
        if fs.filesystem_type() != NSFS_MAGIC {
            return Err(Error::NotNetns(
                path.to_owned(),
                "not a namespace file (not on nsfs)".into(),
            ));
        }
        // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd.
        match unsafe { ns_get_nstype(file.as_raw_fd()) } {
            Ok(t) if t == CloneFlags::CLONE_NEWNET.bits() => {}
            Ok(_) => {
                return Err(Error::NotNetns(
                    path.to_owned(),
                    "a namespace of another type".into(),
                ));
            }
            // Kernels before 4.11 lack the ioctl; setns will check the type.
            Err(nix::errno::Errno::ENOTTY) | Err(nix::errno::Errno::EINVAL) => {}
            Err(e) => {
                return Err(Error::NotNetns(path.to_owned(), e.desc().into()));
            }
        }
        Ok(NetNs {
            file,
            path: path.to_owned(),
        })
    }

    /// The namespace the calling thread is in.
    pub fn current() -> Result<NetNs, Error> {
        NetNs::open("/proc/thread-self/ns/net")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether two handles name the same namespace.
    pub fn same_as(&self, other: &NetNs) -> bool {
        match (self.file.metadata(), other.file.metadata()) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }

    /// Move the calling thread into this namespace until the guard drops.
    pub fn enter(&self) -> Result<Guard, Error> {
        let back = NetNs::current()?;
        setns(self.file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| Error::Io {
            what: "enter network namespace".into(),
            path: self.path.clone(),
            source: e.into(),
        })?;
        Ok(Guard {
            back,
            _not_send: PhantomData,
        })
    }

    /// Run `f` inside this namespace on the calling thread, and come back
    /// (also when `f` panics).
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> Result<T, Error> {
        let _guard = self.enter()?;
        Ok(f())
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// For netlink attributes that name a namespace by descriptor
/// (`IFLA_NET_NS_FD`); valid while the `NetNs` lives.
impl AsRawFd for NetNs {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
    }
}

/// While alive, the thread is in another namespace; dropping it returns the
/// thread to where it was.
#[must_use = "the thread leaves the namespace when the guard drops"]
pub struct Guard {
    back: NetNs,
    // A raw pointer makes the guard !Send and !Sync.
    _not_send: PhantomData<*const ()>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = setns(self.back.file.as_fd(), CloneFlags::CLONE_NEWNET) {
            // Going on would configure the wrong namespace. Report and stop.
            let err = CniError::internal(format!(
                "cannot return to network namespace {:?}: {e}",
                self.back.path.display()
            ));
            let mut out = io::stdout().lock();
            let _ = out.write_all(err.to_json(cni::Version::CURRENT).as_bytes());
            let _ = out.flush();
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command, Stdio};

    use super::*;

    /// A network namespace held by a sleeping child process.
    struct Holder(Child);

    impl Holder {
        fn new() -> Holder {
            let child = Command::new("unshare")
                .args(["--net", "sleep", "600"])
                .stdin(Stdio::null())
                .spawn()
                .unwrap();
            let h = Holder(child);
            // Wait until the child has unshared.
            let me = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
            for _ in 0..500 {
                if let Ok(m) = std::fs::metadata(h.path())
                    && m.ino() != me
                {
                    return h;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            panic!("unshare did not create a namespace");
        }

        fn path(&self) -> PathBuf {
            PathBuf::from(format!("/proc/{}/ns/net", self.0.id()))
        }
    }

    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn thread_ns_ino() -> u64 {
        std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
    }

    #[test]
    fn enter_and_return() {
        let h = Holder::new();
        let target = NetNs::open(h.path()).unwrap();
        let host = NetNs::current().unwrap();
        assert!(!host.same_as(&target));
        let before = thread_ns_ino();
        let inside = target.run(thread_ns_ino).unwrap();
        assert_eq!(inside, std::fs::metadata(h.path()).unwrap().ino());
        assert_eq!(thread_ns_ino(), before);
    }

    #[test]
    fn returns_on_panic() {
        let h = Holder::new();
        let target = NetNs::open(h.path()).unwrap();
        let before = thread_ns_ino();
        let r = std::panic::catch_unwind(|| target.run(|| panic!("boom")));
        assert!(r.is_err());
        assert_eq!(thread_ns_ino(), before);
    }

    #[test]
    fn missing_and_wrong_paths() {
        let e = NetNs::open("/run/netns/surely-not-here-xyz").unwrap_err();
        assert!(matches!(e, Error::NotFound(_)) && e.is_gone());
        assert_eq!(CniError::from(e).code, Code::UNKNOWN_CONTAINER);
        let e = NetNs::open("/proc/cpuinfo").unwrap_err();
        assert!(matches!(e, Error::NotNetns(..)), "{e}");
        let e = NetNs::open("/etc/hostname").unwrap_err();
        assert!(matches!(e, Error::NotNetns(..)) && e.is_gone(), "{e}");
        assert_eq!(CniError::from(e).code, Code::INVALID_ENV);
        // A namespace, but not a network one.
        let e = NetNs::open("/proc/self/ns/uts").unwrap_err();
        assert!(matches!(e, Error::NotNetns(..)), "{e}");
    }

    #[test]
    fn same_namespace_two_paths() {
        let a = NetNs::open("/proc/thread-self/ns/net").unwrap();
        let b = NetNs::current().unwrap();
        assert!(a.same_as(&b));
    }
}
