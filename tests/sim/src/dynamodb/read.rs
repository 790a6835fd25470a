//! GetItem and Query.
//!
//! "Query" (API_Query.html, and "Querying tables in DynamoDB",
//! Query.html): the key condition names the partition key with `=` and
//! may narrow the sort key (`=`, `<`, `<=`, `>`, `>=`, `BETWEEN`,
//! `begins_with`); a page reads up to `Limit` items or 1 MB, then applies
//! the filter (so `Limit` counts items before the filter, `ScannedCount`
//! too), and `LastEvaluatedKey` says where the next page starts (on an
//! index: the index key and the table key). Units: the total size of the
//! items read in the page, rounded up to 4 KB ("Read request units": "For
//! Query, all items returned are treated as a single read operation").
//! Index queries are eventually consistent only ("Using Global Secondary
//! Indexes": "Queries on global secondary indexes support eventual
//! consistency only").

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt::Write;

use crate::json::Json;
use rand::rngs::StdRng;

use super::DynamoDb;
use super::capacity::{Demand, read_units};
use super::eval::{check, project};
use super::expr::{Cmp, Cond, Operand, Step, parse_condition};
use super::request::{self, opt_str, placeholders, projection, str_field, v};
use super::table::{KeyDef, KeyPart, Pk, Projection};
use super::value::{Av, Item, item_from_json, item_size, with_item, write_item, write_list};
use crate::api::Reply;

/// "Query": "A single Query operation will read up to ... a maximum of
/// 1 MB of data".
const PAGE_BYTES: usize = 1024 * 1024;

fn consistent(body: &Json) -> bool {
    body.get("ConsistentRead")
        .and_then(Json::as_bool)
        .unwrap_or(false)
}

impl DynamoDb {
    pub(super) fn get_item(&mut self, body: &Json, now_ms: i64, rng: &mut StdRng) -> Reply {
        let table = self.table(str_field(body, "TableName")?)?;
        let pk = request::key(table, body.get("Key"))?;
        let mut ph = placeholders(body)?;
        let proj = projection(body, &mut ph)?;
        ph.check_unused().map_err(v)?;
        let strong = consistent(body);
        let item = table.read(&pk, strong, now_ms, self.staleness(), rng);
        let units = read_units(item.map_or(0, item_size), strong);
        let demand = Demand {
            table: table.name.clone(),
            index: None,
            partition: pk.0.label(),
            read: units,
            write: 0.0,
        };
        // The answer is written while the item is at hand: admitting the
        // read changes the model.
        let answer = match (item, &proj) {
            (Some(i), Some(p)) => with_item("Item", &project(i, p)),
            (Some(i), None) => with_item("Item", i),
            (None, _) => "{}".to_owned(),
        };
        self.admit(now_ms, std::slice::from_ref(&demand))?;
        self.bill(&[demand]);
        Ok(answer)
    }

    pub(super) fn query(&mut self, body: &Json, now_ms: i64, rng: &mut StdRng) -> Reply {
        let table = self.table(str_field(body, "TableName")?)?;
        let index = match opt_str(body, "IndexName") {
            Some(name) => Some(table.gsi(name).ok_or_else(|| {
                v(format!(
                    "The table does not have the specified index: {name}"
                ))
            })?),
            None => None,
        };
        let strong = consistent(body);
        if index.is_some() && strong {
            return Err(v(
                "Consistent reads are not supported on global secondary indexes".into(),
            ));
        }
        let (key, gsi_projection) = match index {
            Some(i) => (&table.gsis[i].key, Some(&table.gsis[i].projection)),
            None => (&table.key, None),
        };
        let mut ph = placeholders(body)?;
        let kc = parse_condition(
            "KeyConditionExpression",
            str_field(body, "KeyConditionExpression")?,
            &mut ph,
        )
        .map_err(v)?;
        let (hash, sort) = key_condition(key, &kc)?;
        let filter = match opt_str(body, "FilterExpression") {
            Some(f) => {
                let c = parse_condition("FilterExpression", f, &mut ph).map_err(v)?;
                if let Some(k) = key.names().into_iter().find(|k| mentions(&c, k)) {
                    return Err(v(format!(
                        "Filter Expression can only contain non-primary key attributes: Primary key attribute: {k}"
                    )));
                }
                Some(c)
            }
            None => None,
        };
        let proj = projection(body, &mut ph)?;
        ph.check_unused().map_err(v)?;
        let select = opt_str(body, "Select").unwrap_or(if proj.is_some() {
            "SPECIFIC_ATTRIBUTES"
        } else if index.is_some() {
            "ALL_PROJECTED_ATTRIBUTES"
        } else {
            "ALL_ATTRIBUTES"
        });
        match select {
            "SPECIFIC_ATTRIBUTES" if proj.is_none() => {
                return Err(v(
                    "ProjectionExpression must be given with Select SPECIFIC_ATTRIBUTES".into(),
                ));
            }
            "COUNT" | "ALL_ATTRIBUTES" | "ALL_PROJECTED_ATTRIBUTES" if proj.is_some() => {
                return Err(v(format!(
                    "Cannot specify the ProjectionExpression when choosing to get {select}"
                )));
            }
            "ALL_PROJECTED_ATTRIBUTES" if index.is_none() => {
                return Err(v(
                    "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
                        .into(),
                ));
            }
            "ALL_ATTRIBUTES" if gsi_projection.is_some_and(|p| !matches!(p, Projection::All)) => {
                return Err(v(format!(
                    "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
                    opt_str(body, "IndexName").unwrap_or_default()
                )));
            }
            "SPECIFIC_ATTRIBUTES" | "COUNT" | "ALL_ATTRIBUTES" | "ALL_PROJECTED_ATTRIBUTES" => {}
            other => return Err(v(format!("Select set to invalid value: {other}"))),
        }
        let limit = match body.get("Limit") {
            Some(l) => match l.as_i64() {
                Some(n) if n >= 1 => Some(n as usize),
                _ => return Err(v("1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1".into())),
            },
            None => None,
        };
        let forward = body
            .get("ScanIndexForward")
            .and_then(Json::as_bool)
            .unwrap_or(true);
        let start = match body.get("ExclusiveStartKey") {
            Some(k) => Some(item_from_json(k).map_err(v)?),
            None => None,
        };

        // The partition's entries in sort key order: (sort key, table key,
        // item), each as this read sees it.
        let mut rows: Vec<(&Option<KeyPart>, &Pk, &Item)> = match index {
            Some(i) => {
                let g = &table.gsis[i];
                let from = (hash.clone(), None, (KeyPart::S(String::new()), None));
                g.entries
                    .range(from..)
                    .take_while(|(k, _)| k.0 == hash)
                    .map(|(k, item)| (&k.1, &k.2, item))
                    .collect()
            }
            None => {
                let stale = self.staleness();
                table
                    .items
                    .range((hash.clone(), None)..)
                    .take_while(|(k, _)| k.0 == hash)
                    .filter_map(|(k, _)| {
                        let item = table.read(k, strong, now_ms, stale, rng)?;
                        Some((&k.1, k, item))
                    })
                    .collect()
            }
        };
        if let Some(s) = &sort {
            rows.retain(|(sk, _, _)| sk.as_ref().is_some_and(|sk| s.matches(sk)));
        }
        if !forward {
            rows.reverse();
        }
        if let Some(start) = &start {
            let pos = start_position(&table.key, index.map(|i| &table.gsis[i].key), start)?;
            rows.retain(|(sk, pk, _)| {
                let o = (*sk, *pk).cmp(&(&pos.0, &pos.1));
                if forward {
                    o == Ordering::Greater
                } else {
                    o == Ordering::Less
                }
            });
        }

        // The items returned, borrowed from the table unless projected.
        let mut items: Vec<Cow<Item>> = Vec::new();
        let (mut scanned, mut bytes, mut last) = (0usize, 0usize, None);
        let total = rows.len();
        for (sk, pk, item) in rows {
            scanned += 1;
            bytes += item_size(item);
            let stop = limit.is_some_and(|l| scanned >= l) || bytes >= PAGE_BYTES;
            if stop && (scanned < total || limit.is_some_and(|l| scanned >= l)) {
                let mut k = table.key.item_of(pk);
                if let Some(i) = index {
                    k.extend(table.gsis[i].key.item_of(&(hash.clone(), sk.clone())));
                }
                last = Some(k);
            }
            if filter
                .as_ref()
                .is_none_or(|f| check(item, f).unwrap_or(false))
            {
                items.push(match &proj {
                    Some(p) => Cow::Owned(project(item, p)),
                    None => Cow::Borrowed(item),
                });
            }
            if stop {
                break;
            }
        }
        let units = read_units(bytes, strong);
        let demand = Demand {
            table: table.name.clone(),
            index: index.map(|i| table.gsis[i].name.clone()),
            partition: hash.label(),
            read: units,
            write: 0.0,
        };
        // The answer, its fields in name order (as a `serde_json` map
        // writes them), written while the items are at hand: admitting the
        // read changes the model.
        let mut out = format!("{{\"Count\":{}", items.len());
        if select != "COUNT" {
            out.push_str(",\"Items\":");
            write_list(&mut out, &items, |out, i| write_item(out, i));
        }
        if let Some(k) = last {
            out.push_str(",\"LastEvaluatedKey\":");
            write_item(&mut out, &k);
        }
        write!(out, ",\"ScannedCount\":{scanned}}}").expect("a String takes any text");
        self.admit(now_ms, std::slice::from_ref(&demand))?;
        self.bill(&[demand]);
        Ok(out)
    }
}

/// The sort key part of a key condition.
pub enum SortCond {
    Cmp(Cmp, Av),
    Between(Av, Av),
    BeginsWith(Av),
}

impl SortCond {
    /// Whether a sort key value meets the condition, compared as
    /// [`Av::compare`] compares (without making an `Av` of the key).
    fn matches(&self, v: &KeyPart) -> bool {
        let compare = |x: &Av| match (v, x) {
            (KeyPart::S(a), Av::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (KeyPart::N(a), Av::N(b)) => Some(a.cmp(b)),
            (KeyPart::B(a), Av::B(b)) => Some(a.cmp(b)),
            _ => None,
        };
        match self {
            SortCond::Cmp(op, x) => compare(x).is_some_and(|o| match op {
                Cmp::Eq => o == Ordering::Equal,
                Cmp::Lt => o == Ordering::Less,
                Cmp::Le => o != Ordering::Greater,
                Cmp::Gt => o == Ordering::Greater,
                Cmp::Ge => o != Ordering::Less,
                Cmp::Ne => false,
            }),
            SortCond::Between(lo, hi) => {
                compare(lo).is_some_and(|o| o != Ordering::Less)
                    && compare(hi).is_some_and(|o| o != Ordering::Greater)
            }
            SortCond::BeginsWith(p) => match (v, p) {
                (KeyPart::S(a), Av::S(b)) => a.starts_with(b.as_str()),
                (KeyPart::B(a), Av::B(b)) => a.starts_with(b),
                _ => false,
            },
        }
    }
}

fn key_err(m: &str) -> crate::api::ApiError {
    v(format!("Query key condition not supported{m}"))
}

/// Splits a key condition into the partition key's value and the sort
/// key's condition, checked against the key schema.
fn key_condition(
    key: &KeyDef,
    c: &Cond,
) -> Result<(KeyPart, Option<SortCond>), crate::api::ApiError> {
    let mut parts = Vec::new();
    match c {
        Cond::And(a, b) => {
            parts.push(a.as_ref());
            parts.push(b.as_ref());
        }
        other => parts.push(other),
    }
    let attr_of = |o: &Operand| match o {
        Operand::Path(p) if p.len() == 1 => match &p[0] {
            Step::Key(k) => Some(k.clone()),
            Step::Index(_) => None,
        },
        _ => None,
    };
    let value_of = |o: &Operand| match o {
        Operand::Value(v) => Some(v.clone()),
        _ => None,
    };
    let typed = |name: &str, v: Av| -> Result<Av, crate::api::ApiError> {
        let ty = if key.hash.0 == name {
            &key.hash.1
        } else {
            &key.range.as_ref().expect("checked").1
        };
        if v.type_name() == ty {
            Ok(v)
        } else {
            Err(crate::api::ApiError::validation(
                "One or more parameter values were invalid: Condition parameter type does not match schema type",
            ))
        }
    };
    let (mut hash, mut sort) = (None, None);
    let range_name = key.range.as_ref().map(|r| r.0.clone());
    for p in parts {
        let (attr, cond) = match p {
            Cond::Cmp(a, op, b) => {
                let (attr, val) = match (attr_of(a), value_of(b)) {
                    (Some(n), Some(v)) => (n, v),
                    _ => return Err(key_err("")),
                };
                if *op == Cmp::Ne {
                    return Err(v("Unsupported operator on KeyConditionExpression: operator: <>".into()));
                }
                let val = typed_or(&attr, key, val, &typed)?;
                (attr, SortCond::Cmp(*op, val))
            }
            Cond::Between(a, lo, hi) => {
                let attr = attr_of(a).ok_or_else(|| key_err(""))?;
                let (lo, hi) = (value_of(lo).ok_or_else(|| key_err(""))?, value_of(hi).ok_or_else(|| key_err(""))?);
                let (lo, hi) = (typed_or(&attr, key, lo, &typed)?, typed_or(&attr, key, hi, &typed)?);
                if lo.compare(&hi) == Some(Ordering::Greater) {
                    return Err(v("Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound".into()));
                }
                (attr, SortCond::Between(lo, hi))
            }
            Cond::BeginsWith(a, b) => {
                let attr = attr_of(a).ok_or_else(|| key_err(""))?;
                let val = typed_or(&attr, key, value_of(b).ok_or_else(|| key_err(""))?, &typed)?;
                (attr, SortCond::BeginsWith(val))
            }
            _ => return Err(v("Invalid operator used in KeyConditionExpression: OR, NOT or a function other than begins_with".into())),
        };
        if attr == key.hash.0 {
            match cond {
                SortCond::Cmp(Cmp::Eq, val) if hash.is_none() => hash = Some(val),
                _ => return Err(key_err(": the partition key needs an equality condition")),
            }
        } else if Some(&attr) == range_name.as_ref() && sort.is_none() {
            sort = Some(cond);
        } else {
            return Err(key_err(""));
        }
    }
    let hash = hash.ok_or_else(|| {
        v(format!(
            "Query condition missed key schema element: {}",
            key.hash.0
        ))
    })?;
    let hash = match hash {
        Av::S(s) => KeyPart::S(s),
        Av::N(n) => KeyPart::N(n),
        Av::B(b) => KeyPart::B(b),
        _ => return Err(key_err("")),
    };
    Ok((hash, sort))
}

fn typed_or(
    attr: &str,
    key: &KeyDef,
    val: Av,
    typed: &dyn Fn(&str, Av) -> Result<Av, crate::api::ApiError>,
) -> Result<Av, crate::api::ApiError> {
    if key.names().contains(&attr) {
        typed(attr, val)
    } else {
        Err(key_err(""))
    }
}

/// Whether a condition reads attribute `name` at its top level.
fn mentions(c: &Cond, name: &str) -> bool {
    let op = |o: &Operand| match o {
        Operand::Path(p) | Operand::Size(p) => matches!(p.first(), Some(Step::Key(k)) if k == name),
        Operand::Value(_) => false,
    };
    let path = |p: &super::expr::Path| matches!(p.first(), Some(Step::Key(k)) if k == name);
    match c {
        Cond::Cmp(a, _, b) | Cond::BeginsWith(a, b) | Cond::Contains(a, b) => op(a) || op(b),
        Cond::Between(a, b, d) => op(a) || op(b) || op(d),
        Cond::In(a, l) => op(a) || l.iter().any(op),
        Cond::Exists(p) | Cond::NotExists(p) | Cond::Type(p, _) => path(p),
        Cond::And(a, b) | Cond::Or(a, b) => mentions(a, name) || mentions(b, name),
        Cond::Not(a) => mentions(a, name),
    }
}

/// Where an `ExclusiveStartKey` points: (sort key in the queried key
/// schema, table key). It must hold the table key and, on an index, the
/// index key ("The provided starting key is invalid").
fn start_position(
    table_key: &KeyDef,
    index_key: Option<&KeyDef>,
    start: &Item,
) -> Result<(Option<KeyPart>, Pk), crate::api::ApiError> {
    let invalid = || {
        v("The provided starting key is invalid: The provided key element does not match the schema".into())
    };
    let mut names: BTreeSet<&str> = table_key.names().into_iter().collect();
    if let Some(k) = index_key {
        names.extend(k.names());
    }
    if start.keys().any(|k| !names.contains(k.as_str())) {
        return Err(invalid());
    }
    let pk = table_key.key_of(start).ok().flatten().ok_or_else(invalid)?;
    let sk = match index_key {
        Some(k) => k.key_of(start).ok().flatten().ok_or_else(invalid)?.1,
        None => pk.1.clone(),
    };
    Ok((sk, pk))
}
