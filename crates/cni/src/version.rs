//! CNI specification versions.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A released CNI specification version. Configs name a version by its exact
/// string; anything else is not a version a plugin can speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V0_1_0,
    V0_2_0,
    V0_3_0,
    V0_3_1,
    V0_4_0,
    V1_0_0,
    V1_1_0,
}

/// The three result shapes the specification has had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// 0.1.0 and 0.2.0: `ip4` / `ip6`.
    V02,
    /// 0.3.0, 0.3.1 and 0.4.0: `interfaces` / `ips` (with `version`) / `routes`.
    V04,
    /// 1.0.0 and 1.1.0.
    V1,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 7] = [
        Version::V0_1_0,
        Version::V0_2_0,
        Version::V0_3_0,
        Version::V0_3_1,
        Version::V0_4_0,
        Version::V1_0_0,
        Version::V1_1_0,
    ];

    /// The version this library implements (what VERSION reports).
    pub const CURRENT: Version = Version::V1_1_0;

    pub const fn as_str(self) -> &'static str {
        match self {
            Version::V0_1_0 => "0.1.0",
            Version::V0_2_0 => "0.2.0",
            Version::V0_3_0 => "0.3.0",
            Version::V0_3_1 => "0.3.1",
            Version::V0_4_0 => "0.4.0",
            Version::V1_0_0 => "1.0.0",
            Version::V1_1_0 => "1.1.0",
        }
    }

    /// Exact-string lookup, as the reference reconciles versions. An empty
    /// string is *not* accepted here; see [`Version::from_config`].
    pub fn parse(s: &str) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The version a config's `cniVersion` names: empty means 0.1.0.
    pub fn from_config(s: &str) -> Option<Version> {
        if s.is_empty() {
            Some(Version::V0_1_0)
        } else {
            Version::parse(s)
        }
    }

    pub const fn family(self) -> Family {
        match self {
            Version::V0_1_0 | Version::V0_2_0 => Family::V02,
            Version::V0_3_0 | Version::V0_3_1 | Version::V0_4_0 => Family::V04,
            Version::V1_0_0 | Version::V1_1_0 => Family::V1,
        }
    }

    /// Every version from `self` on, for plugins that need a minimum.
    pub fn and_later(self) -> &'static [Version] {
        let i = Version::ALL.iter().position(|v| *v == self).unwrap_or(0);
        &Version::ALL[i..]
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Version::from_config(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown CNI version {s:?}")))
    }
}

/// A version string parsed as `major.minor.patch` numbers, for the ordering
/// gates (CHECK needs >= 0.4.0, GC and STATUS >= 1.1.0) that the reference
/// applies before it looks for an exact match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Semver(pub u64, pub u64, pub u64);

impl Semver {
    pub fn parse(s: &str) -> Result<Semver, String> {
        let mut parts = s.split('.');
        let mut next = || -> Result<u64, String> {
            let p = parts
                .next()
                .ok_or_else(|| format!("unable to parse version {s:?}"))?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("unable to parse version {s:?}"));
            }
            p.parse::<u64>()
                .map_err(|_| format!("unable to parse version {s:?}"))
        };
        let v = Semver(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(format!("unable to parse version {s:?}"));
        }
        Ok(v)
    }
}

impl From<Version> for Semver {
    fn from(v: Version) -> Semver {
        match v {
            Version::V0_1_0 => Semver(0, 1, 0),
            Version::V0_2_0 => Semver(0, 2, 0),
            Version::V0_3_0 => Semver(0, 3, 0),
            Version::V0_3_1 => Semver(0, 3, 1),
            Version::V0_4_0 => Semver(0, 4, 0),
            Version::V1_0_0 => Semver(1, 0, 0),
            Version::V1_1_0 => Semver(1, 1, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_strings_only() {
        assert_eq!(Version::parse("0.3.1"), Some(Version::V0_3_1));
        assert_eq!(Version::parse("1.1"), None);
        assert_eq!(Version::parse("v1.0.0"), None);
        assert_eq!(Version::parse(""), None);
        assert_eq!(Version::from_config(""), Some(Version::V0_1_0));
        for v in Version::ALL {
            assert_eq!(Version::parse(v.as_str()), Some(v));
            assert_eq!(Semver::parse(v.as_str()), Ok(Semver::from(v)));
        }
    }

    #[test]
    fn ordering_and_families() {
        assert!(Version::V0_4_0 < Version::V1_0_0);
        assert_eq!(Version::V0_2_0.family(), Family::V02);
        assert_eq!(Version::V0_3_0.family(), Family::V04);
        assert_eq!(Version::V1_1_0.family(), Family::V1);
        assert_eq!(Version::V0_3_1.and_later().len(), 4);
    }

    #[test]
    fn semver() {
        assert!(Semver::parse("0.5.0").unwrap() > Semver::from(Version::V0_4_0));
        assert!(Semver::parse("abc").is_err());
        assert!(Semver::parse("1.0").is_err());
        assert!(Semver::parse("1.0.0.0").is_err());
        assert!(Semver::parse("1.-1.0").is_err());
    }
}
