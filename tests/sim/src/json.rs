//! A request's JSON as the models read it: a tree whose objects are
//! vectors sorted by key, not `serde_json::Value`'s B-tree maps.
//!
//! Every attribute value in a DynamoDB request is an object of one key
//! (`{"S": "..."}`); as a `Value` each is a B-tree node of some 600
//! bytes, allocated, filled and freed again on every request. Here it is
//! one small vector ([`Sorted`], as the models' items are). The reading
//! API is `Value`'s (`get`, `as_str`, `as_object`, `["key"]`...), and
//! objects iterate in their keys' order as `Value`'s do, so whatever folds
//! or prints a request sees the same thing: the order in which the SDK
//! wrote a map (from a `HashMap`, different in every process) never shows.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Number;

use crate::sorted::Sorted;

/// A JSON value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Json {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Object),
}

/// A JSON object: its members sorted by key, each key once (the last of
/// a repeated key wins, as in `serde_json`).
pub type Object = Sorted<Json>;

static NULL: Json = Json::Null;

impl Json {
    /// Parses a JSON text.
    pub fn parse(bytes: &[u8]) -> serde_json::Result<Json> {
        serde_json::from_slice(bytes)
    }

    /// The member `key` of an object; `None` for anything else.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(o) => o.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Object> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Json>> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// This value as a `serde_json::Value`, to put in an answer.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("JSON is JSON")
    }
}

/// `json["key"]`: the member, or null when there is none (as `Value`).
impl std::ops::Index<&str> for Json {
    type Output = Json;

    fn index(&self, key: &str) -> &Json {
        self.get(key).unwrap_or(&NULL)
    }
}

impl From<serde_json::Value> for Json {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(b),
            serde_json::Value::Number(n) => Json::Number(n),
            serde_json::Value::String(s) => Json::String(s),
            serde_json::Value::Array(a) => Json::Array(a.into_iter().map(Json::from).collect()),
            // Sorted again: a `Value`'s map keeps insertion order when
            // serde_json's `preserve_order` is on.
            serde_json::Value::Object(m) => {
                Json::Object(m.into_iter().map(|(k, v)| (k, v.into())).collect())
            }
        }
    }
}

impl From<&serde_json::Value> for Json {
    fn from(v: &serde_json::Value) -> Self {
        Json::from(v.clone())
    }
}

/// Compact JSON, keys in order: what `Value` prints for the same text.
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(v) => s.serialize_str(v),
            Json::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Json::Object(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json, E> {
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            members.push((k, v));
        }
        Ok(Json::Object(members.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Json;

    /// Parsed, a text reads and prints as `serde_json::Value` reads and
    /// prints it: keys sorted, the last of a repeated key kept.
    #[test]
    fn a_text_reads_and_prints_as_serde_json_reads_it() {
        for text in [
            r#"{"b":[1,-2,3.5,"x",null,true],"a":{"S":"v"},"c":{}}"#,
            r#"{"k":1,"a":2,"k":3}"#,
            r#"[{"z":{"y":{"x":[]}}},"\u00e9\n"]"#,
            r#"{"m":{"k9":1,"k1":2,"k5":3,"k3":4,"k7":5,"k2":6,"k8":7,"k4":8,"k6":9,"k0":0}}"#,
            "12345678901234567890",
        ] {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            let json = Json::parse(text.as_bytes()).unwrap();
            assert_eq!(json.to_string(), value.to_string(), "{text}");
            assert_eq!(json, Json::from(value.clone()), "{text}");
            assert_eq!(json.to_value(), value, "{text}");
        }
        let j = Json::parse(br#"{"k":1,"a":2,"k":3,"m":{"k3":4,"k1":2}}"#).unwrap();
        assert_eq!(j["k"].as_i64(), Some(3));
        assert_eq!(j["m"]["k1"].as_u64(), Some(2));
        assert!(j["missing"]["deeper"].is_null());
        let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "k", "m"]);
        let big = Json::from(
            json!({"k9": 1, "k1": 2, "k5": 3, "k3": 4, "k7": 5, "k2": 6, "k8": 7, "k4": 8, "k6": 9, "k0": 0}),
        );
        assert_eq!(big["k0"].as_i64(), Some(0));
        assert_eq!(big["k9"].as_i64(), Some(1));
        assert!(big.get("k10").is_none());
    }
}
