//! Attribute values as DynamoDB JSON carries them (`{"S": ..}`, `{"N": ..}`,
//! `{"B": base64}`, `{"BOOL": ..}`, `{"NULL": true}`, `{"L": [..]}`,
//! `{"M": {..}}`, `{"SS"|"NS"|"BS": [..]}`), their order and their size.
//!
//! Data types: "Supported data types and naming rules in Amazon DynamoDB"
//! (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html).
//! Sizes: "DynamoDB item sizes and formats"
//! (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::json::Json;

pub use super::num::Num;

/// An item, or a map value: attribute name to value, kept sorted by name
/// (answers are stable) in one vector; a run of a million jobs holds
/// every one of them.
pub type Item = crate::sorted::Sorted<Av>;

/// One attribute value. Sets keep their first-seen order, without
/// duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Av {
    S(String),
    N(Num),
    B(Vec<u8>),
    Bool(bool),
    Null,
    L(Vec<Av>),
    M(Item),
    Ss(Vec<String>),
    Ns(Vec<Num>),
    Bs(Vec<Vec<u8>>),
}

fn invalid(m: impl std::fmt::Display) -> String {
    format!("One or more parameter values were invalid: {m}")
}

impl Av {
    /// The type's descriptor (`S`, `N`, ..., as `attribute_type` names it).
    pub fn type_name(&self) -> &'static str {
        match self {
            Av::S(_) => "S",
            Av::N(_) => "N",
            Av::B(_) => "B",
            Av::Bool(_) => "BOOL",
            Av::Null => "NULL",
            Av::L(_) => "L",
            Av::M(_) => "M",
            Av::Ss(_) => "SS",
            Av::Ns(_) => "NS",
            Av::Bs(_) => "BS",
        }
    }

    pub fn from_json(v: &Json) -> Result<Av, String> {
        let obj = v
            .as_object()
            .filter(|o| o.len() == 1)
            .ok_or_else(|| {
                invalid("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
            })?;
        let (t, x) = obj.iter().next().expect("one entry");
        let text_of = |x| Json::as_str(x).ok_or_else(|| invalid(format!("{t} is not a string")));
        let str_of = |x| text_of(x).map(str::to_owned);
        let list_of = |x| Json::as_array(x).ok_or_else(|| invalid(format!("{t} is not a list")));
        let av = match t.as_str() {
            "S" => Av::S(str_of(x)?),
            "N" => Av::N(Num::parse(text_of(x)?)?),
            "B" => Av::B(base64_decode(text_of(x)?)?),
            "BOOL" => Av::Bool(
                x.as_bool()
                    .ok_or_else(|| invalid("BOOL is not a boolean"))?,
            ),
            "NULL" => match x.as_bool() {
                Some(true) => Av::Null,
                _ => {
                    return Err(invalid(
                        "Null attribute value types must have the value of true",
                    ));
                }
            },
            "L" => Av::L(
                list_of(x)?
                    .iter()
                    .map(Av::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            "M" => Av::M(item_from_json(x)?),
            "SS" => Av::Ss(set_of(
                list_of(x)?.iter().map(str_of).collect::<Result<_, _>>()?,
                "string",
            )?),
            "NS" => Av::Ns(set_of(
                list_of(x)?
                    .iter()
                    .map(|n| Num::parse(text_of(n)?))
                    .collect::<Result<_, _>>()?,
                "number",
            )?),
            "BS" => Av::Bs(set_of(
                list_of(x)?
                    .iter()
                    .map(|b| base64_decode(text_of(b)?))
                    .collect::<Result<_, _>>()?,
                "binary",
            )?),
            other => return Err(invalid(format!("unknown attribute value type {other}"))),
        };
        Ok(av)
    }

    /// The value as DynamoDB JSON, a `serde_json::Value` (for the answers
    /// that carry one, error fields; [`Av::write_json`] writes the text).
    pub fn to_json(&self) -> Value {
        let inner = match self {
            Av::S(s) => Value::from(s.as_str()),
            Av::N(n) => Value::from(n.text()),
            Av::B(b) => Value::from(base64_encode(b)),
            Av::Bool(b) => Value::from(*b),
            Av::Null => Value::from(true),
            Av::L(l) => Value::Array(l.iter().map(Av::to_json).collect()),
            Av::M(m) => item_to_json(m),
            Av::Ss(s) => Value::Array(s.iter().map(|x| Value::from(x.as_str())).collect()),
            Av::Ns(s) => Value::Array(s.iter().map(|n| Value::from(n.text())).collect()),
            Av::Bs(s) => Value::Array(s.iter().map(|b| Value::from(base64_encode(b))).collect()),
        };
        let mut m = Map::new();
        m.insert(self.type_name().to_owned(), inner);
        Value::Object(m)
    }

    /// Appends the value as DynamoDB JSON to `out`: byte for byte the text
    /// `serde_json` writes for [`Av::to_json`] (no spaces, strings escaped
    /// as it escapes them, a map's names in order as its `Map` keeps
    /// them), without building the `Value`.
    pub fn write_json(&self, out: &mut String) {
        out.push_str("{\"");
        out.push_str(self.type_name());
        out.push_str("\":");
        match self {
            Av::S(s) => write_str(out, s),
            Av::N(n) => write_num(out, n),
            Av::B(b) => write_str(out, &base64_encode(b)),
            Av::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Av::Null => out.push_str("true"),
            Av::L(l) => write_list(out, l, |out, v| v.write_json(out)),
            Av::M(m) => write_item(out, m),
            Av::Ss(s) => write_list(out, s, |out, x| write_str(out, x)),
            Av::Ns(s) => write_list(out, s, write_num),
            Av::Bs(s) => write_list(out, s, |out, b| write_str(out, &base64_encode(b))),
        }
        out.push('}');
    }

    /// Order for `<`, `<=`, `>`, `>=`, `BETWEEN` and sort keys: numbers by
    /// value, strings and binaries by their bytes (UTF-8 for strings,
    /// unsigned for binaries), as "Comparison operator and function
    /// reference" says; None between other types (the comparison is false).
    pub fn compare(&self, other: &Av) -> Option<Ordering> {
        match (self, other) {
            (Av::S(a), Av::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (Av::N(a), Av::N(b)) => Some(a.cmp(b)),
            (Av::B(a), Av::B(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// Equality as `=` sees it: sets equal whatever their order.
    pub fn same(&self, other: &Av) -> bool {
        fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
            a.len() == b.len() && a.iter().all(|x| b.contains(x))
        }
        match (self, other) {
            (Av::Ss(a), Av::Ss(b)) => same_set(a, b),
            (Av::Ns(a), Av::Ns(b)) => same_set(a, b),
            (Av::Bs(a), Av::Bs(b)) => same_set(a, b),
            (Av::L(a), Av::L(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y)),
            (Av::M(a), Av::M(b)) => {
                a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| x.same(y)))
            }
            _ => self == other,
        }
    }

    /// The value's size in bytes, without its name ("DynamoDB item sizes
    /// and formats": a number is 1 byte per two significant digits plus 1;
    /// a list or map is 3 bytes plus its elements, each element 1 byte
    /// more; null and Boolean 1 byte).
    pub fn size(&self) -> usize {
        match self {
            Av::S(s) => s.len(),
            Av::N(n) => n.significant_digits().div_ceil(2) + 1,
            Av::B(b) => b.len(),
            Av::Bool(_) | Av::Null => 1,
            Av::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            Av::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            Av::Ss(s) => s.iter().map(String::len).sum(),
            Av::Ns(s) => s
                .iter()
                .map(|n| n.significant_digits().div_ceil(2) + 1)
                .sum(),
            Av::Bs(s) => s.iter().map(Vec::len).sum(),
        }
    }
}

/// Sets may not be empty nor hold duplicates ("Supported data types":
/// "Each value within a set must be unique", "Empty sets are not
/// supported").
fn set_of<T: PartialEq>(items: Vec<T>, what: &str) -> Result<Vec<T>, String> {
    if items.is_empty() {
        return Err(invalid(format!("An {what} set  may not be empty")));
    }
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for i in items {
        if out.contains(&i) {
            return Err(invalid(format!(
                "Input collection contains duplicates for {what} set"
            )));
        }
        out.push(i);
    }
    Ok(out)
}

pub fn item_from_json(v: &Json) -> Result<Item, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid("an item or map must be an object"))?;
    obj.iter()
        .map(|(k, v)| Ok((k.clone(), Av::from_json(v)?)))
        .collect()
}

pub fn item_to_json(item: &Item) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect::<Map<String, Value>>(),
    )
}

/// Appends an item (or a map) as DynamoDB JSON to `out`, the text
/// `serde_json` writes for [`item_to_json`]: the attributes in name order,
/// which is the order of its `Map` too.
pub fn write_item(out: &mut String, item: &Item) {
    out.push('{');
    for (i, (k, v)) in item.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        v.write_json(out);
    }
    out.push('}');
}

/// The JSON text of an answer that carries one item: `{"<field>":<item>}`.
pub fn with_item(field: &str, item: &Item) -> String {
    let mut out = String::from("{");
    write_str(&mut out, field);
    out.push(':');
    write_item(&mut out, item);
    out.push('}');
    out
}

/// `[a,b,..]`, each element written by `write`.
pub fn write_list<T>(out: &mut String, list: &[T], write: impl Fn(&mut String, &T)) {
    out.push('[');
    for (i, x) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(out, x);
    }
    out.push(']');
}

fn write_num(out: &mut String, n: &Num) {
    out.push('"');
    n.write_text(out);
    out.push('"');
}

/// Appends `s` as a JSON string, escaped as `serde_json` escapes it: `"`
/// and `\`, the control characters (`\b \t \n \f \r`, the others as
/// `\u00XX` in lower case hex); everything else as it is.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'\n' => 'n',
            b'\r' => 'r',
            b'\t' => 't',
            0x08 => 'b',
            0x0c => 'f',
            0..=0x1f => 'u',
            _ => continue,
        };
        // An ASCII byte: `i` is a character boundary.
        out.push_str(&s[from..i]);
        out.push('\\');
        out.push(short);
        if short == 'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        from = i + 1;
    }
    out.push_str(&s[from..]);
    out.push('"');
}

/// An item's size: its attribute names and values ("DynamoDB item sizes and
/// formats": "The total size of an item is the sum of the lengths of its
/// attribute names and values").
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = B64
            .iter()
            .position(|x| *x == c)
            .ok_or_else(|| invalid("Invalid Base64 binary value"))?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}
