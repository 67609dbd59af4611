//! The CNI error result and its well-known codes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Version;

/// A CNI error code. The spec reserves 0-99; 999 is the reference library's
/// catch-all for errors that carry no code of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Code(pub u32);

impl Code {
    pub const UNKNOWN: Code = Code(0);
    /// The config's cniVersion is not one the plugin speaks (or the verb is
    /// not allowed at that version).
    pub const INCOMPATIBLE_VERSION: Code = Code(1);
    /// A config field has a value the plugin does not support.
    pub const UNSUPPORTED_FIELD: Code = Code(2);
    /// The container (its network namespace) does not exist.
    pub const UNKNOWN_CONTAINER: Code = Code(3);
    /// A `CNI_*` environment variable is missing or invalid.
    pub const INVALID_ENV: Code = Code(4);
    pub const IO_FAILURE: Code = Code(5);
    /// Content (stdin JSON, a version string, a delegate's output) did not decode.
    pub const DECODING_FAILURE: Code = Code(6);
    pub const INVALID_CONFIG: Code = Code(7);
    /// CNI_NETNS is the plugin's own network namespace (reference library only).
    pub const INVALID_NETNS: Code = Code(8);
    /// Transient: the runtime should retry later.
    pub const TRY_AGAIN_LATER: Code = Code(11);
    /// STATUS: the plugin cannot service ADD now.
    pub const NOT_AVAILABLE: Code = Code(50);
    /// STATUS: not available, and existing containers may have limited connectivity.
    pub const LIMITED_CONNECTIVITY: Code = Code(51);
    pub const INTERNAL: Code = Code(999);
}

/// A CNI error: what a plugin prints on stdout (with exit status 1) when a
/// verb fails. Libraries in this workspace return it (or an error that
/// converts into it) so that every failure reaches the runtime with its code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CniError {
    pub code: Code,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub fn new(code: Code, msg: impl Into<String>) -> CniError {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> CniError {
        self.details = details.into();
        self
    }

    pub fn invalid_config(msg: impl Into<String>) -> CniError {
        CniError::new(Code::INVALID_CONFIG, msg)
    }

    pub fn invalid_env(msg: impl Into<String>) -> CniError {
        CniError::new(Code::INVALID_ENV, msg)
    }

    pub fn decoding(msg: impl Into<String>) -> CniError {
        CniError::new(Code::DECODING_FAILURE, msg)
    }

    pub fn internal(msg: impl Into<String>) -> CniError {
        CniError::new(Code::INTERNAL, msg)
    }

    /// Prefix the message with what was being done: `"set lo up: <msg>"`.
    pub fn context(mut self, what: impl fmt::Display) -> CniError {
        self.msg = format!("{what}: {}", self.msg);
        self
    }

    /// The error as the spec's JSON object, 4-space indented like the
    /// reference, no trailing newline. `cniVersion` is the config's version
    /// when it was known and valid.
    pub fn to_json(&self, version: Version) -> String {
        let wire = Wire {
            cni_version: version.as_str(),
            code: self.code.0,
            msg: &self.msg,
            details: &self.details,
        };
        crate::result::to_pretty_json(&wire).unwrap_or_else(|_| {
            // Serialising three strings and an integer cannot fail; keep a
            // hand-made fallback anyway so that an error is never lost.
            format!("{{\"code\": {}, \"msg\": \"internal error\"}}", self.code.0)
        })
    }

    /// Parse an error printed by another plugin (a delegate).
    pub fn from_json(bytes: &[u8]) -> Option<CniError> {
        let w: WireIn = serde_json::from_slice(bytes).ok()?;
        Some(CniError {
            code: Code(w.code?),
            msg: w.msg,
            details: w.details,
        })
    }
}

#[derive(Serialize)]
struct Wire<'a> {
    #[serde(rename = "cniVersion")]
    cni_version: &'a str,
    code: u32,
    msg: &'a str,
    details: &'a str,
}

#[derive(Deserialize)]
struct WireIn {
    code: Option<u32>,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.details.is_empty() {
            f.write_str(&self.msg)
        } else {
            write!(f, "{}; {}", self.msg, self.details)
        }
    }
}

impl std::error::Error for CniError {}

/// `.context("doing what")` on any result whose error converts into a
/// [`CniError`], in the style of netavark's `.wrap()`.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T, CniError>;
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T, CniError>;
}

impl<T, E: Into<CniError>> Context<T> for Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T, CniError> {
        self.map_err(|e| e.into().context(what))
    }

    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T, CniError> {
        self.map_err(|e| e.into().context(what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let e = CniError::new(Code::INVALID_CONFIG, "bad").with_details("why");
        assert_eq!(
            e.to_json(Version::V1_0_0),
            "{\n    \"cniVersion\": \"1.0.0\",\n    \"code\": 7,\n    \"msg\": \"bad\",\n    \"details\": \"why\"\n}"
        );
        let back = CniError::from_json(e.to_json(Version::V0_4_0).as_bytes()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn parses_reference_errors_without_version_or_details() {
        let e = CniError::from_json(br#"{"code": 11, "msg": "busy"}"#).unwrap();
        assert_eq!(e.code, Code::TRY_AGAIN_LATER);
        assert_eq!(e.details, "");
        assert!(CniError::from_json(b"{\"msg\": \"no code\"}").is_none());
        assert!(CniError::from_json(b"not json").is_none());
    }

    #[test]
    fn context_prefixes() {
        let r: Result<(), CniError> = Err(CniError::internal("EPERM"));
        let e = r.context("set lo up").unwrap_err();
        assert_eq!(e.msg, "set lo up: EPERM");
        assert_eq!(e.to_string(), "set lo up: EPERM");
    }
}
