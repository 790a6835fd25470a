//! The cost meter: what DynamoDB and SQS would bill for what a test did.
//!
//! Write units come from the table's stream (NEW_AND_OLD_IMAGES), by
//! DynamoDB's rules: a write costs ceil(max(old size, new size) / 1 KB),
//! twice that inside a transaction; for each global secondary index, an
//! item that enters or leaves it costs one write of its projected size, an
//! item whose index key changes costs two (delete + put), an item whose
//! projected non-key attributes change costs one. A conditional write whose
//! condition failed still costs a unit (two per item of a transaction).
//! Read units come from the responses: ceil(size / 4 KB) per item read,
//! half for eventually consistent reads (every index query is), at least
//! one per request. SQS requests are counted by operation. The emulator
//! reports no index capacity at all, hence this.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use serde_json::Value;

/// On-demand prices in us-east-1 (unchanged since the DynamoDB price cut of
/// 1 November 2024): dollars per million write request units, read request
/// units and SQS standard requests.
pub const PRICE_WRU: f64 = 0.625;
/// Dollars per million read request units.
pub const PRICE_RRU: f64 = 0.125;
/// Dollars per million SQS requests (standard queue, beyond the free tier).
pub const PRICE_SQS: f64 = 0.40;

/// Records every request made through the clients it is installed on.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Mutex<Vec<Call>>>);

#[derive(Debug, Clone)]
struct Call {
    op: String,
    request: Value,
    ok: bool,
    error: String,
    response: Value,
}

#[derive(Debug, Clone)]
struct Sent(Value);

impl aws_smithy_types::config_bag::Storable for Sent {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

fn operation(cfg: &ConfigBag) -> (String, String) {
    cfg.load::<Metadata>()
        .map(|m| (m.service().to_owned(), m.name().to_owned()))
        .unwrap_or_default()
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "CostMeter"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let body = ctx.request().body().bytes().unwrap_or_default();
        let json = serde_json::from_slice(body).unwrap_or(Value::Null);
        cfg.interceptor_state().store_put(Sent(json));
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let (service, op) = operation(cfg);
        let request = cfg
            .load::<Sent>()
            .map(|s| s.0.clone())
            .unwrap_or(Value::Null);
        let response = ctx.response();
        let body: Value = response
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let ok = response.status().is_success();
        let error = body["__type"]
            .as_str()
            .unwrap_or_default()
            .rsplit('#')
            .next()
            .unwrap_or_default()
            .to_owned();
        self.0.lock().unwrap().push(Call {
            op: format!("{}{op}", if service.contains("SQS") { "sqs:" } else { "" }),
            request,
            ok,
            error,
            response: body,
        });
        Ok(())
    }
}

/// What a stretch of work cost.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Bill {
    /// Write units of the table's own writes (transactions counted twice).
    pub table_wru: f64,
    /// Write units of index entries written and deleted.
    pub index_wru: f64,
    /// Write units of writes whose condition failed.
    pub failed_wru: f64,
    /// Read request units of item reads (GetItem, BatchGetItem).
    pub rru: f64,
    /// Read request units of queries (the timer's are a cost per tick, not
    /// per job).
    pub query_rru: f64,
    /// Messages received from SQS (deliveries).
    pub delivered: usize,
    /// SQS requests by operation.
    pub sqs: BTreeMap<String, usize>,
    /// DynamoDB requests by operation.
    pub dynamodb: BTreeMap<String, usize>,
    /// Stream records that no recorded write explains (should be none).
    pub unmatched: usize,
}

impl Bill {
    /// All write units.
    pub fn wru(&self) -> f64 {
        self.table_wru + self.index_wru + self.failed_wru
    }

    /// SQS requests of the given operations.
    pub fn sqs_requests(&self, ops: &[&str]) -> usize {
        ops.iter()
            .map(|op| self.sqs.get(*op).copied().unwrap_or(0))
            .sum()
    }

    /// This bill divided among `n` jobs.
    pub fn per(&self, n: usize) -> Bill {
        let n = n as f64;
        Bill {
            table_wru: self.table_wru / n,
            index_wru: self.index_wru / n,
            failed_wru: self.failed_wru / n,
            rru: self.rru / n,
            query_rru: self.query_rru / n,
            delivered: self.delivered,
            sqs: self.sqs.clone(),
            dynamodb: self.dynamodb.clone(),
            unmatched: self.unmatched,
        }
    }
}

/// A global secondary index as the table describes it.
#[derive(Debug, Clone)]
pub struct IndexDef {
    /// Its key attributes: an item lacking one has no entry in it.
    pub keys: Vec<String>,
    /// Projected non-key attributes (None: all).
    pub projected: Option<Vec<String>>,
}

impl Meter {
    /// A meter holding a copy of what this one recorded so far (later calls
    /// are not added to it).
    pub fn snapshot(&self) -> Meter {
        Meter(Arc::new(Mutex::new(self.0.lock().unwrap().clone())))
    }

    /// The calls recorded: operation (`sqs:` before SQS ones), the request
    /// and the response as sent and received (JSON).
    pub fn calls(&self) -> Vec<(String, Value, Value)> {
        let calls = self.0.lock().unwrap();
        calls
            .iter()
            .map(|c| (c.op.clone(), c.request.clone(), c.response.clone()))
            .collect()
    }

    /// Forgets what was recorded ([`crate::TestEnv::meter_start`] starts
    /// with this).
    pub fn reset(&self) {
        self.0.lock().unwrap().clear();
    }

    /// Bills the requests recorded since the last reset against `records`,
    /// the table's stream records written meanwhile (from
    /// [`crate::TestEnv::stream_records`]), for a table with primary key
    /// `table_keys` and these indexes.
    pub fn bill(&self, records: &[Value], table_keys: &[String], indexes: &[IndexDef]) -> Bill {
        let calls = self.0.lock().unwrap().clone();
        let mut bill = Bill::default();
        // Successful writes per item key, in order, and whether each was in
        // a transaction.
        let mut writes: HashMap<String, VecDeque<bool>> = HashMap::new();
        for c in &calls {
            if let Some(sqs) = c.op.strip_prefix("sqs:") {
                *bill.sqs.entry(sqs.to_owned()).or_default() += 1;
                if sqs == "ReceiveMessage" {
                    bill.delivered += c.response["Messages"].as_array().map_or(0, Vec::len);
                }
                continue;
            }
            *bill.dynamodb.entry(c.op.clone()).or_default() += 1;
            let req = &c.request;
            match (c.op.as_str(), c.ok) {
                ("PutItem", true) => note(&mut writes, key_of(&req["Item"], table_keys), false),
                ("UpdateItem" | "DeleteItem", true) => {
                    note(&mut writes, key_of(&req["Key"], table_keys), false)
                }
                ("TransactWriteItems", true) => {
                    for item in req["TransactItems"].as_array().into_iter().flatten() {
                        if let Some(put) = item.get("Put") {
                            note(&mut writes, key_of(&put["Item"], table_keys), true);
                        }
                        for kind in ["Update", "Delete"] {
                            if let Some(w) = item.get(kind) {
                                note(&mut writes, key_of(&w["Key"], table_keys), true);
                            }
                        }
                    }
                }
                ("BatchWriteItem", true) => {
                    for requests in req["RequestItems"]
                        .as_object()
                        .into_iter()
                        .flat_map(|m| m.values())
                    {
                        for r in requests.as_array().into_iter().flatten() {
                            if let Some(put) = r.get("PutRequest") {
                                note(&mut writes, key_of(&put["Item"], table_keys), false);
                            }
                            if let Some(del) = r.get("DeleteRequest") {
                                note(&mut writes, key_of(&del["Key"], table_keys), false);
                            }
                        }
                    }
                }
                ("PutItem" | "UpdateItem" | "DeleteItem", false)
                    if c.error == "ConditionalCheckFailedException" =>
                {
                    bill.failed_wru += 1.0
                }
                ("TransactWriteItems", false) if c.error == "TransactionCanceledException" => {
                    let items = req["TransactItems"].as_array().map_or(0, Vec::len);
                    bill.failed_wru += 2.0 * items as f64;
                }
                ("GetItem", true) => {
                    let size = c.response.get("Item").map_or(0, item_size);
                    bill.rru += read_units(size, consistent(req));
                }
                ("BatchGetItem", true) => {
                    let consistent_tables: HashMap<&str, bool> = req["RequestItems"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(t, v)| (t.as_str(), consistent(v)))
                        .collect();
                    for (table, items) in c.response["Responses"].as_object().into_iter().flatten()
                    {
                        let strong = consistent_tables
                            .get(table.as_str())
                            .copied()
                            .unwrap_or(false);
                        for item in items.as_array().into_iter().flatten() {
                            bill.rru += read_units(item_size(item), strong);
                        }
                    }
                }
                ("Query" | "Scan", true) => {
                    let size: usize = c.response["Items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(item_size)
                        .sum();
                    bill.query_rru += read_units(size, consistent(req));
                }
                _ => {}
            }
        }
        for r in records {
            let key = key_of(&r["Keys"], table_keys);
            let (old, new) = (&r["OldImage"], &r["NewImage"]);
            let transactional = match writes.get_mut(&key).and_then(VecDeque::pop_front) {
                Some(t) => t,
                None => {
                    bill.unmatched += 1;
                    false
                }
            };
            let size = item_size(old).max(item_size(new));
            let units = write_units(size) as f64;
            bill.table_wru += if transactional { 2.0 * units } else { units };
            for index in indexes {
                bill.index_wru += index_write_units(old, new, table_keys, index) as f64;
            }
        }
        bill
    }
}

fn note(writes: &mut HashMap<String, VecDeque<bool>>, key: String, transactional: bool) {
    writes.entry(key).or_default().push_back(transactional);
}

fn consistent(req: &Value) -> bool {
    req["ConsistentRead"].as_bool().unwrap_or(false)
}

/// The primary key of an item or key map, as text.
fn key_of(item: &Value, keys: &[String]) -> String {
    keys.iter()
        .map(|k| item[k].to_string())
        .collect::<Vec<_>>()
        .join("|")
}

/// Write units for an item of `size` bytes (at least one).
pub fn write_units(size: usize) -> u64 {
    size.div_ceil(1024).max(1) as u64
}

/// Read units for `size` bytes read, half for an eventually consistent read.
pub fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

/// An item's size by DynamoDB's rules: attribute names plus values, numbers
/// 1 byte per two significant digits plus 1, lists and maps 3 bytes plus 1
/// per element. `item` is in DynamoDB's JSON form; null is no item (0).
pub fn item_size(item: &Value) -> usize {
    item.as_object()
        .map(|m| m.iter().map(|(k, v)| k.len() + value_size(v)).sum())
        .unwrap_or(0)
}

fn value_size(v: &Value) -> usize {
    let Some((t, v)) = v.as_object().and_then(|m| m.iter().next()) else {
        return 0;
    };
    match t.as_str() {
        "S" => v.as_str().map_or(0, str::len),
        "N" => number_size(v.as_str().unwrap_or("0")),
        "B" => v.as_str().map_or(0, |b| b.len() * 3 / 4),
        "BOOL" | "NULL" => 1,
        "SS" => v.as_array().map_or(0, |a| {
            a.iter().map(|s| s.as_str().map_or(0, str::len)).sum()
        }),
        "NS" => v.as_array().map_or(0, |a| {
            a.iter()
                .map(|s| number_size(s.as_str().unwrap_or("0")))
                .sum()
        }),
        "L" => {
            3 + v
                .as_array()
                .map_or(0, |a| a.iter().map(|e| 1 + value_size(e)).sum())
        }
        "M" => {
            3 + v.as_object().map_or(0, |m| {
                m.iter().map(|(k, e)| 1 + k.len() + value_size(e)).sum()
            })
        }
        _ => 0,
    }
}

fn number_size(n: &str) -> usize {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    significant.len().max(1).div_ceil(2) + 1
}

/// The entry an item has in an index, if it is in it: the table's key,
/// the index keys and the projected attributes.
fn index_entry(
    item: &Value,
    table_keys: &[String],
    index: &IndexDef,
) -> Option<serde_json::Map<String, Value>> {
    let m = item.as_object()?;
    if !index.keys.iter().all(|k| m.contains_key(k)) {
        return None;
    }
    Some(
        m.iter()
            .filter(|(k, _)| {
                table_keys.contains(k)
                    || index.keys.contains(k)
                    || index.projected.as_ref().is_none_or(|p| p.contains(k))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// Index write units for one change of an item, by the rules above.
fn index_write_units(old: &Value, new: &Value, table_keys: &[String], index: &IndexDef) -> u64 {
    let size = |e: &serde_json::Map<String, Value>| item_size(&Value::Object(e.clone()));
    match (
        index_entry(old, table_keys, index),
        index_entry(new, table_keys, index),
    ) {
        (None, None) => 0,
        (None, Some(n)) => write_units(size(&n)),
        (Some(o), None) => write_units(size(&o)),
        (Some(o), Some(n)) => {
            let moved = index.keys.iter().any(|k| o.get(k) != n.get(k));
            if moved {
                write_units(size(&o)) + write_units(size(&n))
            } else if o != n {
                write_units(size(&o).max(size(&n)))
            } else {
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_follow_dynamodb_rules() {
        // "pk" (2) + "abc" (3) = 5; "n" (1) + 12345 (3 digits pairs -> 3, +1) = 5.
        assert_eq!(item_size(&json!({"pk": {"S": "abc"}})), 5);
        assert_eq!(item_size(&json!({"n": {"N": "12345"}})), 1 + 4);
        assert_eq!(item_size(&json!({"n": {"N": "1000"}})), 1 + 2);
        // A list of two strings: 3 + (1 + 1) + (1 + 2).
        assert_eq!(
            item_size(&json!({"l": {"L": [{"S": "a"}, {"S": "bc"}]}})),
            1 + 8
        );
        // A map {a: true}: 3 + 1 + 1 + 1.
        assert_eq!(
            item_size(&json!({"m": {"M": {"a": {"BOOL": true}}}})),
            1 + 6
        );
    }

    #[test]
    fn index_rules() {
        let idx = IndexDef {
            keys: vec!["b".into(), "at".into()],
            projected: Some(vec!["kind".into()]),
        };
        let keys = vec!["pk".to_owned()];
        let base = json!({"pk": {"S": "x"}, "kind": {"S": "k"}, "state": {"S": "E"}});
        let mut a = base.clone();
        a["b"] = json!({"S": "active#1"});
        a["at"] = json!({"N": "5"});
        // Enters, and leaves.
        assert_eq!(index_write_units(&base, &a, &keys, &idx), 1);
        assert_eq!(index_write_units(&a, &base, &keys, &idx), 1);
        // A change outside the projection costs nothing.
        let mut claimed = a.clone();
        claimed["state"] = json!({"S": "P"});
        assert_eq!(index_write_units(&a, &claimed, &keys, &idx), 0);
        // A projected attribute that changes costs one.
        let mut kind = a.clone();
        kind["kind"] = json!({"S": "other"});
        assert_eq!(index_write_units(&a, &kind, &keys, &idx), 1);
        // A key that moves costs two.
        let mut moved = a.clone();
        moved["b"] = json!({"S": "succeeded#1"});
        assert_eq!(index_write_units(&a, &moved, &keys, &idx), 2);
    }
}
