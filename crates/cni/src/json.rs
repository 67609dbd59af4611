//! Decoding JSON the way Go's `encoding/json` decodes it for the reference
//! plugins, so that every config that works with them works here:
//!
//! * struct keys match case-insensitively, an exact match winning
//!   (`"isgateway"` sets `isGateway`);
//! * `null` for a struct field leaves the field at its default;
//! * unknown keys are ignored.
//!
//! Errors name the path of the value at fault (`ipam.ranges[0][1].subnet: ...`).
//! Types decoded here should use `#[serde(default)]` the way Go fields have
//! zero values, and should not use `flatten` or `untagged` (serde routes those
//! through its own buffering, which bypasses this decoder's key matching).

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected,
    Visitor,
};
use serde_json::{Map, Value};

/// A value that did not decode, and where it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    path: Vec<Segment>,
    msg: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl DecodeError {
    fn at(mut self, seg: Segment) -> DecodeError {
        self.path.insert(0, seg);
        self
    }

    /// The JSON path of the offending value (`""` for the top level).
    pub fn path(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            match seg {
                Segment::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    pub fn message(&self) -> &str {
        &self.msg
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.msg)
        } else {
            write!(f, "{}: {}", self.path(), self.msg)
        }
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError {
            path: Vec::new(),
            msg: msg.to_string(),
        }
    }
}

fn from_json_err(e: serde_json::Error) -> DecodeError {
    de::Error::custom(e)
}

/// Decode `T` from a JSON value with Go's rules.
pub fn from_value<T: DeserializeOwned>(v: &Value) -> Result<T, DecodeError> {
    T::deserialize(GoValue(v))
}

/// Decode `T` from JSON text with Go's rules.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let v: Value = serde_json::from_slice(bytes).map_err(from_json_err)?;
    from_value(&v)
}

fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Unexpected::Unsigned(u),
            (_, Some(i), _) => Unexpected::Signed(i),
            (_, _, Some(f)) => Unexpected::Float(f),
            _ => Unexpected::Other("number"),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// A borrowed JSON value, deserialised with Go's rules.
#[derive(Clone, Copy)]
pub struct GoValue<'a>(pub &'a Value);

macro_rules! forward_to_serde_json {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
                self.0.$method(visitor).map_err(from_json_err)
            }
        )*
    };
}

impl<'de> Deserializer<'de> for GoValue<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Array(a) => visitor.visit_seq(Seq::new(a)),
            Value::Object(m) => visitor.visit_map(Fields::plain(m)),
            other => other.deserialize_any(visitor).map_err(from_json_err),
        }
    }

    forward_to_serde_json! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_identifier
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Array(a) => visitor.visit_seq(Seq::new(a)),
            // Go: null into a slice leaves it nil.
            Value::Null => visitor.visit_seq(Seq::new(&[])),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Object(m) => visitor.visit_map(Fields::plain(m)),
            Value::Null => visitor.visit_map(Fields::empty()),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Object(m) => visitor.visit_map(Fields::for_struct(m, fields)),
            Value::Null => visitor.visit_map(Fields::empty()),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.0
            .deserialize_enum(name, variants, visitor)
            .map_err(from_json_err)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }
}

struct Seq<'de> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    len: usize,
}

impl<'de> Seq<'de> {
    fn new(items: &'de [Value]) -> Seq<'de> {
        Seq {
            items: items.iter().enumerate(),
            len: items.len(),
        }
    }
}

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, v)) => {
                self.len -= 1;
                seed.deserialize(GoValue(v))
                    .map(Some)
                    .map_err(|e| e.at(Segment::Index(i)))
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len)
    }
}

/// The entries of an object: (key as written, key as matched, value).
struct Fields<'de> {
    entries: std::vec::IntoIter<(&'de str, &'de str, &'de Value)>,
    current: Option<(&'de str, &'de Value)>,
}

impl<'de> Fields<'de> {
    fn empty() -> Fields<'de> {
        Fields {
            entries: Vec::new().into_iter(),
            current: None,
        }
    }

    fn plain(m: &'de Map<String, Value>) -> Fields<'de> {
        let entries: Vec<_> = m.iter().map(|(k, v)| (k.as_str(), k.as_str(), v)).collect();
        Fields {
            entries: entries.into_iter(),
            current: None,
        }
    }

    fn for_struct(m: &'de Map<String, Value>, fields: &'static [&'static str]) -> Fields<'de> {
        let mut taken: Vec<&str> = Vec::new();
        let mut entries = Vec::with_capacity(m.len());
        for (k, v) in m {
            if v.is_null() {
                continue;
            }
            let name: &'de str = if fields.contains(&k.as_str()) {
                k
            } else if let Some(f) = fields.iter().find(|f| f.eq_ignore_ascii_case(k))
                && !m.contains_key(*f)
                && !taken.contains(f)
            {
                taken.push(f);
                f
            } else {
                k
            };
            entries.push((k.as_str(), name, v));
        }
        Fields {
            entries: entries.into_iter(),
            current: None,
        }
    }
}

impl<'de> MapAccess<'de> for Fields<'de> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        match self.entries.next() {
            None => Ok(None),
            Some((written, name, v)) => {
                self.current = Some((written, v));
                seed.deserialize(BorrowedStrDeserializer::<DecodeError>::new(name))
                    .map(Some)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let Some((written, v)) = self.current.take() else {
            return Err(de::Error::custom("value requested before key"));
        };
        seed.deserialize(GoValue(v))
            .map_err(|e| e.at(Segment::Key(written.to_string())))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Deserialize, Debug, Default, PartialEq)]
    #[serde(default, rename_all = "camelCase")]
    struct Conf {
        is_gateway: bool,
        mtu: u32,
        bridge: String,
        ipam: Option<Ipam>,
        list: Vec<Inner>,
    }

    #[derive(Deserialize, Debug, Default, PartialEq)]
    #[serde(default)]
    struct Ipam {
        #[serde(rename = "type")]
        kind: String,
        #[serde(rename = "dataDir")]
        data_dir: String,
    }

    #[derive(Deserialize, Debug, Default, PartialEq)]
    #[serde(default)]
    struct Inner {
        id: u16,
    }

    #[test]
    fn keys_match_case_insensitively() {
        let c: Conf = from_value(&json!({"IsGateway": true, "MTU": 1400, "ipam": {"Type": "host-local", "datadir": "/x"}})).unwrap();
        assert!(c.is_gateway);
        assert_eq!(c.mtu, 1400);
        assert_eq!(
            c.ipam,
            Some(Ipam {
                kind: "host-local".into(),
                data_dir: "/x".into()
            })
        );
    }

    #[test]
    fn exact_match_wins() {
        let c: Conf = from_value(&json!({"mtu": 1, "MTU": 2})).unwrap();
        assert_eq!(c.mtu, 1);
        let c: Conf = from_value(&json!({"Mtu": 1, "MTU": 2})).unwrap();
        assert!(c.mtu == 1 || c.mtu == 2);
    }

    #[test]
    fn null_leaves_default_and_unknown_keys_ignored() {
        let c: Conf = from_value(
            &json!({"mtu": null, "bridge": null, "ipam": null, "list": null, "whatever": {"x": 1}}),
        )
        .unwrap();
        assert_eq!(c, Conf::default());
        let c: Conf = from_value(&json!(null)).unwrap();
        assert_eq!(c, Conf::default());
    }

    #[test]
    fn errors_name_the_path() {
        let e = from_value::<Conf>(&json!({"list": [{"id": 1}, {"id": 70000}]})).unwrap_err();
        assert_eq!(e.path(), "list[1].id");
        assert!(
            e.to_string().starts_with("list[1].id: invalid value"),
            "{e}"
        );
        let e = from_value::<Conf>(&json!({"ipam": {"type": 5}})).unwrap_err();
        assert_eq!(e.path(), "ipam.type");
        let e = from_value::<Conf>(&json!({"isGateway": "yes"})).unwrap_err();
        assert_eq!(e.path(), "isGateway");
        let e = from_value::<Conf>(&json!([1, 2])).unwrap_err();
        assert_eq!(e.path(), "");
    }

    #[test]
    fn maps_and_values_pass_through() {
        let m: std::collections::BTreeMap<String, Value> =
            from_value(&json!({"A": 1, "b": null})).unwrap();
        assert_eq!(m.len(), 2);
        let v: Value = from_value(&json!({"x": [1, {"y": null}]})).unwrap();
        assert_eq!(v, json!({"x": [1, {"y": null}]}));
    }
}
