//! `CNI_ARGS`: `K=V;K2=V2`, parsed the way the reference's `types.LoadArgs`
//! does. Parsing is lazy: a plugin that does not read CNI_ARGS never fails
//! on a malformed one, exactly as with the reference.

use crate::{CniError, Code};

/// The raw `CNI_ARGS` value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CniArgs {
    raw: String,
}

/// The pairs of `CNI_ARGS` whose keys the plugin knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownArgs {
    pairs: Vec<(String, String)>,
}

impl CniArgs {
    pub fn new(raw: impl Into<String>) -> CniArgs {
        CniArgs { raw: raw.into() }
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Parse against the keys the plugin understands (matched exactly,
    /// case-sensitively, like the reference's struct field names).
    /// `IgnoreUnknown` is always known; unless it is `1`/`true` (any case), an
    /// unknown key is an error. Later pairs override earlier ones.
    pub fn load(&self, known: &[&str]) -> Result<KnownArgs, CniError> {
        let mut out = KnownArgs::default();
        if self.raw.is_empty() {
            return Ok(out);
        }
        let mut unknown = Vec::new();
        let mut ignore_unknown = false;
        for pair in self.raw.split(';') {
            let mut kv = pair.split('=');
            let (Some(k), Some(v), None) = (kv.next(), kv.next(), kv.next()) else {
                return Err(invalid(format!("invalid pair {pair:?}")));
            };
            if k == "IgnoreUnknown" {
                ignore_unknown = match v.to_ascii_lowercase().as_str() {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => {
                        return Err(invalid(format!(
                            "error parsing value of pair {pair:?}: boolean unmarshal error: invalid input {}",
                            v.to_ascii_lowercase()
                        )));
                    }
                };
            } else if known.contains(&k) {
                out.pairs.retain(|(key, _)| key != k);
                out.pairs.push((k.to_string(), v.to_string()));
            } else {
                unknown.push(pair);
            }
        }
        if !unknown.is_empty() && !ignore_unknown {
            let list: Vec<String> = unknown.iter().map(|p| format!("{p:?}")).collect();
            return Err(
                invalid(format!("unknown args [{}]", list.join(" "))).with_details(
                    "add IgnoreUnknown=1 to CNI_ARGS to ignore keys this plugin does not use",
                ),
            );
        }
        Ok(out)
    }
}

fn invalid(msg: String) -> CniError {
    CniError::new(Code::INVALID_ENV, format!("CNI_ARGS: {msg}"))
}

impl KnownArgs {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(raw: &str, known: &[&str]) -> Result<KnownArgs, CniError> {
        CniArgs::new(raw).load(known)
    }

    #[test]
    fn table() {
        struct Case {
            raw: &'static str,
            known: &'static [&'static str],
            want: Result<&'static [(&'static str, &'static str)], &'static str>,
        }
        let cases = [
            Case {
                raw: "",
                known: &["IP"],
                want: Ok(&[]),
            },
            Case {
                raw: "IP=10.0.0.5",
                known: &["IP"],
                want: Ok(&[("IP", "10.0.0.5")]),
            },
            Case {
                raw: "IP=1.1.1.1;IP=2.2.2.2",
                known: &["IP"],
                want: Ok(&[("IP", "2.2.2.2")]),
            },
            Case {
                raw: "ip=10.0.0.5",
                known: &["IP"],
                want: Err("unknown args [\"ip=10.0.0.5\"]"),
            },
            Case {
                raw: "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.0.0.5",
                known: &["IP"],
                want: Ok(&[("IP", "10.0.0.5")]),
            },
            Case {
                raw: "K8S_POD_NAME=x;IgnoreUnknown=TRUE",
                known: &[],
                want: Ok(&[]),
            },
            Case {
                raw: "K8S_POD_NAME=x;IgnoreUnknown=false",
                known: &[],
                want: Err("unknown args"),
            },
            Case {
                raw: "IgnoreUnknown=maybe",
                known: &[],
                want: Err("boolean unmarshal error"),
            },
            Case {
                raw: "IP",
                known: &["IP"],
                want: Err("invalid pair \"IP\""),
            },
            Case {
                raw: "IP=a=b",
                known: &["IP"],
                want: Err("invalid pair \"IP=a=b\""),
            },
            Case {
                raw: "IP=1.2.3.4;",
                known: &["IP"],
                want: Err("invalid pair \"\""),
            },
            Case {
                raw: "MAC=",
                known: &["MAC"],
                want: Ok(&[("MAC", "")]),
            },
        ];
        for c in cases {
            match (load(c.raw, c.known), c.want) {
                (Ok(got), Ok(want)) => {
                    for (k, v) in want {
                        assert_eq!(got.get(k), Some(*v), "{}", c.raw);
                    }
                    assert_eq!(got.pairs.len(), want.len(), "{}", c.raw);
                }
                (Err(e), Err(want)) => {
                    assert_eq!(e.code, Code::INVALID_ENV, "{}", c.raw);
                    assert!(e.msg.starts_with("CNI_ARGS: "), "{}", e.msg);
                    assert!(e.msg.contains(want), "{}: {}", c.raw, e.msg);
                }
                (got, want) => panic!("{}: got {got:?}, want {want:?}", c.raw),
            }
        }
    }
}
