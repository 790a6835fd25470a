//! A message as SQS stores it, and the checks a sent message passes:
//! body characters, message attributes, size.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::json::Json;

use super::digest::{base64_decode, md5_hex};
use crate::api::ApiError;

/// A message attribute: its data type and its value, a string or bytes
/// (kept as the base64 text the request carried, returned as it came).
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub data_type: String,
    pub string: Option<String>,
    pub binary: Option<(String, Vec<u8>)>,
}

impl Attribute {
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("DataType".into(), json!(self.data_type));
        if let Some(s) = &self.string {
            out.insert("StringValue".into(), json!(s));
        }
        if let Some((b64, _)) = &self.binary {
            out.insert("BinaryValue".into(), json!(b64));
        }
        Value::Object(out)
    }

    /// Bytes this attribute counts toward the message size: name, data
    /// type and value ("Amazon SQS message attributes", developer guide:
    /// "message attributes ... count toward the maximum message size").
    fn size(&self, name: &str) -> usize {
        name.len()
            + self.data_type.len()
            + self.string.as_ref().map_or(0, String::len)
            + self.binary.as_ref().map_or(0, |(_, b)| b.len())
    }
}

/// A stored message.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub body: String,
    pub attributes: BTreeMap<String, Attribute>,
    /// Epoch ms it was sent: retention counts from here, also in a
    /// dead-letter queue ("the expiration of a message is always based on
    /// its original enqueue timestamp", developer guide, dead-letter queues).
    pub sent_ms: i64,
    /// Visible from this time on: the end of its delay, or of the
    /// visibility timeout of its latest receive.
    pub visible_at_ms: i64,
    pub receive_count: u32,
    pub first_receive_ms: Option<i64>,
    /// When the latest receive made it in flight.
    pub received_ms: Option<i64>,
    /// The receipt handle of the latest receive: the one that deletes it.
    pub handle: Option<String>,
}

impl Message {
    /// Received and its visibility timeout not over.
    pub fn in_flight(&self, now_ms: i64) -> bool {
        self.received_ms.is_some() && self.visible_at_ms > now_ms
    }

    pub fn md5_of_body(&self) -> String {
        md5_hex(self.body.as_bytes())
    }

    /// The message as ReceiveMessage returns it, with the system
    /// attributes and message attributes asked for.
    pub fn to_json(&self, handle: &str, system: &[String], wanted: &[String]) -> Value {
        let mut out = Map::new();
        out.insert("MessageId".into(), json!(self.id));
        out.insert("ReceiptHandle".into(), json!(handle));
        out.insert("MD5OfBody".into(), json!(self.md5_of_body()));
        out.insert("Body".into(), json!(self.body));
        let attrs = self.system_attributes(system);
        if !attrs.is_empty() {
            out.insert("Attributes".into(), Value::Object(attrs));
        }
        let chosen: BTreeMap<String, Attribute> = self
            .attributes
            .iter()
            .filter(|(name, _)| wanted.iter().any(|w| name_matches(w, name)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !chosen.is_empty() {
            out.insert(
                "MD5OfMessageAttributes".into(),
                json!(md5_of_attributes(&chosen)),
            );
            let map = chosen.iter().map(|(k, v)| (k.clone(), v.to_json()));
            out.insert("MessageAttributes".into(), Value::Object(map.collect()));
        }
        Value::Object(out)
    }

    /// System attributes by name ("All" for every one), as
    /// ReceiveMessage's `MessageSystemAttributeNames` lists them (API
    /// reference, ReceiveMessage). Timestamps are epoch milliseconds.
    fn system_attributes(&self, names: &[String]) -> Map<String, Value> {
        let all = names.iter().any(|n| n == "All");
        let want = |n: &str| all || names.iter().any(|x| x == n);
        let mut out = Map::new();
        let mut put = |name: &str, value: String| {
            if want(name) {
                out.insert(name.to_owned(), json!(value));
            }
        };
        put("ApproximateReceiveCount", self.receive_count.to_string());
        if let Some(first) = self.first_receive_ms {
            put("ApproximateFirstReceiveTimestamp", first.to_string());
        }
        put("SentTimestamp", self.sent_ms.to_string());
        put("SenderId", super::ACCOUNT.to_owned());
        out
    }
}

/// `MessageAttributeNames` entries: `All` or `.*` for every attribute,
/// `prefix.*` for those starting with `prefix.`, else an exact name (API
/// reference, ReceiveMessage).
fn name_matches(wanted: &str, name: &str) -> bool {
    if wanted == "All" || wanted == ".*" {
        return true;
    }
    match wanted.strip_suffix(".*") {
        Some(prefix) => name.starts_with(prefix) && name[prefix.len()..].starts_with('.'),
        None => wanted == name,
    }
}

/// The MD5 of message attributes as SQS computes it (developer guide,
/// "Calculating the MD5 message digest for message attributes"): sorted by
/// name, each as name, data type, transport type (1 string, 2 binary) and
/// value, lengths as 4-byte big-endian integers.
pub fn md5_of_attributes(attrs: &BTreeMap<String, Attribute>) -> String {
    fn put(buf: &mut Vec<u8>, bytes: &[u8]) {
        buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        buf.extend_from_slice(bytes);
    }
    let mut buf = Vec::new();
    for (name, attr) in attrs {
        put(&mut buf, name.as_bytes());
        put(&mut buf, attr.data_type.as_bytes());
        match (&attr.binary, &attr.string) {
            (Some((_, bytes)), _) => {
                buf.push(2);
                put(&mut buf, bytes);
            }
            (None, string) => {
                buf.push(1);
                put(&mut buf, string.as_deref().unwrap_or("").as_bytes());
            }
        }
    }
    md5_hex(&buf)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidParameterValue", message)
}

/// Message attributes of a send, checked as the API reference's
/// `MessageAttributeValue` and the developer guide's "Amazon SQS message
/// attributes" say: at most 10; names up to 256 characters of
/// `A-Za-z0-9_-.`, not starting with `AWS.`/`Amazon.` nor with a period,
/// no two periods in a row, not ending in a period; a data type `String`,
/// `Number` or `Binary`, optionally with a `.custom` suffix; a value
/// matching it.
pub fn parse_attributes(value: Option<&Json>) -> Result<BTreeMap<String, Attribute>, ApiError> {
    let mut out = BTreeMap::new();
    let Some(map) = value.and_then(Json::as_object) else {
        return Ok(out);
    };
    if map.len() > 10 {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [10].",
            map.len()
        )));
    }
    for (name, v) in map {
        let bad_name = name.is_empty()
            || name.len() > 256
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            || name.starts_with('.')
            || name.ends_with('.')
            || name.contains("..")
            || name.to_ascii_lowercase().starts_with("aws.")
            || name.to_ascii_lowercase().starts_with("amazon.");
        if bad_name {
            return Err(invalid(format!(
                "Message attribute name '{name}' is invalid."
            )));
        }
        let data_type = v.get("DataType").and_then(Json::as_str).unwrap_or("");
        let base = data_type.split('.').next().unwrap_or("");
        let string = v
            .get("StringValue")
            .and_then(Json::as_str)
            .map(str::to_owned);
        let binary = match v.get("BinaryValue").and_then(Json::as_str) {
            Some(b64) => Some((
                b64.to_owned(),
                base64_decode(b64)
                    .ok_or_else(|| invalid(format!("Message attribute '{name}' is not base64.")))?,
            )),
            None => None,
        };
        let ok = match base {
            "String" => string.as_ref().is_some_and(|s| valid_text(s)) && binary.is_none(),
            "Number" => {
                string
                    .as_ref()
                    .is_some_and(|s| s.trim().parse::<f64>().is_ok())
                    && binary.is_none()
            }
            "Binary" => binary.is_some() && string.is_none(),
            _ => false,
        };
        if !ok {
            return Err(invalid(format!(
                "Message attribute '{name}' with type '{data_type}' has a missing or invalid value."
            )));
        }
        let attr = Attribute {
            data_type: data_type.to_owned(),
            string,
            binary,
        };
        out.insert(name.clone(), attr);
    }
    Ok(out)
}

/// Characters a body or string attribute may hold (API reference,
/// SendMessage, `MessageBody`): #x9, #xA, #xD, #x20 to #xD7FF, #xE000 to
/// #xFFFD, #x10000 to #x10FFFF. A Rust string has no surrogates, so only
/// the low controls and U+FFFE/U+FFFF are left to refuse.
pub fn valid_text(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    })
}

/// The size a message counts toward `MaximumMessageSize`: the body's
/// UTF-8 bytes and every attribute's name, type and value.
pub fn message_size(body: &str, attrs: &BTreeMap<String, Attribute>) -> usize {
    body.len() + attrs.iter().map(|(n, a)| a.size(n)).sum::<usize>()
}
