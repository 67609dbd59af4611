use std::fmt;
use std::io;

use cni::CniError;
use nix::errno::Errno;

/// A failed netlink operation, with what was being done.
#[derive(Debug)]
pub enum Error {
    /// The kernel refused the request.
    Kernel {
        what: String,
        errno: Errno,
        message: Option<String>,
    },
    /// The socket failed.
    Io { what: String, source: io::Error },
    /// The kernel's reply made no sense to us.
    Protocol { what: String, detail: String },
    /// Switching namespace to open the socket failed.
    Netns(netns::Error),
}

impl Error {
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// The object is not there (no such device, address or route).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.errno(),
            Some(Errno::ENODEV | Errno::ENOENT | Errno::ESRCH | Errno::EADDRNOTAVAIL)
        )
    }

    pub fn is_exists(&self) -> bool {
        self.errno() == Some(Errno::EEXIST)
    }

    pub fn io(what: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub fn protocol(what: impl Into<String>, detail: impl Into<String>) -> Error {
        Error::Protocol {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// The same error, described as part of something larger.
    pub fn context(self, outer: impl fmt::Display) -> Error {
        let wrap = |what: String| format!("{outer}: {what}");
        match self {
            Error::Kernel {
                what,
                errno,
                message,
            } => Error::Kernel {
                what: wrap(what),
                errno,
                message,
            },
            Error::Io { what, source } => Error::Io {
                what: wrap(what),
                source,
            },
            Error::Protocol { what, detail } => Error::Protocol {
                what: wrap(what),
                detail,
            },
            Error::Netns(e) => Error::Netns(e),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kernel {
                what,
                errno,
                message: Some(m),
            } => write!(f, "{what}: {} ({m})", errno.desc()),
            Error::Kernel {
                what,
                errno,
                message: None,
            } => write!(f, "{what}: {}", errno.desc()),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Protocol { what, detail } => {
                write!(f, "{what}: unexpected netlink reply: {detail}")
            }
            Error::Netns(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<netns::Error> for Error {
    fn from(e: netns::Error) -> Error {
        Error::Netns(e)
    }
}

impl From<Error> for CniError {
    fn from(e: Error) -> CniError {
        match e {
            Error::Netns(e) => e.into(),
            other => CniError::internal(other.to_string()),
        }
    }
}
