//! BatchGetItem and BatchWriteItem.
//!
//! "BatchGetItem" (API_BatchGetItem.html): up to 100 keys, no duplicates;
//! a key not read (its partition throttled, or the answer past 16 MB) is
//! returned in `UnprocessedKeys`; "If none of the items can be processed
//! due to insufficient provisioned throughput", the call answers
//! `ProvisionedThroughputExceededException`. Each item read is charged as
//! a read of its own ("BatchGetItem—reads up to 100 items ... processes
//! each item in the batch as an individual GetItem request").
//! "BatchWriteItem" (API_BatchWriteItem.html): up to 25 puts or deletes,
//! unconditional, no item twice; throttled ones come back in
//! `UnprocessedItems`, all of them throttled answers the throttling error.
//! A write to an item a transaction holds is returned unprocessed too.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use crate::json::{Json, Object};

use super::DynamoDb;
use super::capacity::{Demand, read_units};
use super::eval::project;
use super::request::{self, check_size, item_key, placeholders, projection, v, write_demands};
use super::value::{item_from_json, item_size, write_item, write_str};
use crate::api::{Answer, ApiError, Reply};

const MAX_GET_KEYS: usize = 100;
const MAX_WRITES: usize = 25;
/// "BatchGetItem": "A single operation can retrieve up to 16 MB of data".
const MAX_GET_BYTES: usize = 16 * 1024 * 1024;

fn request_items(body: &Json) -> Result<&Object, ApiError> {
    body.get("RequestItems")
        .and_then(Json::as_object)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| v("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null".into()))
}

impl DynamoDb {
    pub(super) fn batch_get(&mut self, body: &Json, now_ms: i64, rng: &mut StdRng) -> Reply {
        let requests = request_items(body)?;
        let total: usize = requests
            .values()
            .map(|r| r.get("Keys").and_then(Json::as_array).map_or(0, Vec::len))
            .sum();
        if total > MAX_GET_KEYS {
            return Err(v(
                "Too many items requested for the BatchGetItem call".into()
            ));
        }
        // The answer's text, `Responses` first: a table's items are written
        // as they are read (the tables in name order, the order of a
        // `serde_json` map).
        let mut out = String::from("{\"Responses\":{");
        let mut unprocessed = Map::new();
        let (mut bytes, mut read_any, mut throttle) = (0usize, false, None);
        for (t, (name, req)) in requests.iter().enumerate() {
            let table = self.table(name)?;
            let mut ph = placeholders(req)?;
            let proj = projection(req, &mut ph)?;
            ph.check_unused().map_err(v)?;
            let strong = req
                .get("ConsistentRead")
                .and_then(Json::as_bool)
                .unwrap_or(false);
            let keys = req
                .get("Keys")
                .and_then(Json::as_array)
                .map_or(&[][..], Vec::as_slice);
            let mut pks = Vec::with_capacity(keys.len());
            let mut seen = BTreeSet::new();
            for k in keys {
                let pk = request::key(table, Some(k))?;
                if !seen.insert(pk.clone()) {
                    return Err(v("Provided list of item keys contains duplicates".into()));
                }
                pks.push(pk);
            }
            if t > 0 {
                out.push(',');
            }
            write_str(&mut out, name);
            out.push_str(":[");
            let mut found = 0;
            let mut left = Vec::new();
            for (pk, raw) in pks.into_iter().zip(keys) {
                let table = self.table(name)?;
                if bytes >= MAX_GET_BYTES {
                    left.push(raw.clone());
                    continue;
                }
                let item = table.read(&pk, strong, now_ms, self.staleness(), rng);
                let size = item.map_or(0, item_size);
                let demand = Demand {
                    table: name.clone(),
                    index: None,
                    partition: pk.0.label(),
                    read: read_units(size, strong),
                    write: 0.0,
                };
                // The item is written while it is at hand (admitting the
                // read changes the model), and taken back if the read is
                // not admitted.
                let (mark, shown) = (out.len(), item.is_some());
                if let Some(i) = item {
                    if found > 0 {
                        out.push(',');
                    }
                    match &proj {
                        Some(p) => write_item(&mut out, &project(i, p)),
                        None => write_item(&mut out, i),
                    }
                }
                if let Err(e) = self.admit(now_ms, std::slice::from_ref(&demand)) {
                    out.truncate(mark);
                    throttle = Some(e);
                    left.push(raw.clone());
                    continue;
                }
                self.bill(&[demand]);
                read_any = true;
                bytes += size;
                found += usize::from(shown);
            }
            out.push(']');
            if !left.is_empty() {
                let mut again = req.as_object().cloned().unwrap_or_default();
                again.insert("Keys".into(), Json::Array(left));
                unprocessed.insert(name.clone(), Json::Object(again).to_value());
            }
        }
        if let (false, Some(e)) = (read_any, throttle) {
            return Err(e);
        }
        out.push_str("},\"UnprocessedKeys\":");
        out.push_str(&Value::Object(unprocessed).to_string());
        out.push('}');
        Ok(out)
    }

    pub(super) fn batch_write(&mut self, body: &Json, now_ms: i64, rng: &mut StdRng) -> Answer {
        let requests = request_items(body)?;
        let total: usize = requests
            .values()
            .map(|r| r.as_array().map_or(0, Vec::len))
            .sum();
        if total > MAX_WRITES {
            return Err(v(format!(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to {MAX_WRITES}, Member must have length greater than or equal to 1]"
            )));
        }
        // Validate everything first: a malformed request writes nothing.
        let mut writes = Vec::new();
        let mut seen = BTreeSet::new();
        for (name, list) in requests {
            let table = self.table(name)?;
            for w in list
                .as_array()
                .ok_or_else(|| v("RequestItems values must be lists".into()))?
            {
                let (pk, new) = if let Some(p) = w.get("PutRequest") {
                    let item = item_from_json(p.get("Item").unwrap_or(&Json::Null)).map_err(v)?;
                    check_size(&item, false)?;
                    (item_key(table, &item)?, Some(item))
                } else if let Some(d) = w.get("DeleteRequest") {
                    (request::key(table, d.get("Key"))?, None)
                } else {
                    return Err(v(
                        "A WriteRequest must have a PutRequest or a DeleteRequest".into(),
                    ));
                };
                if !seen.insert((name.clone(), pk.clone())) {
                    return Err(v("Provided list of item keys contains duplicates".into()));
                }
                writes.push((name.clone(), pk, new, w));
            }
        }
        let mut unprocessed: Map<String, Value> = Map::new();
        let (mut wrote_any, mut throttle) = (false, None);
        let lags = self.lags();
        for (name, pk, new, raw) in writes {
            let table = self.table(&name)?;
            let old = table.get(&pk).cloned();
            let demands = write_demands(table, &pk, old.as_ref(), new.as_ref(), 1.0);
            let held = self.is_busy(&name, &pk, now_ms);
            let admitted = if held {
                Ok(())
            } else {
                self.admit(now_ms, &demands)
            };
            if held || admitted.is_err() {
                if let Err(e) = admitted {
                    throttle = Some(e);
                }
                let list = unprocessed.entry(name.clone()).or_insert_with(|| json!([]));
                list.as_array_mut().expect("a list").push(raw.to_value());
                continue;
            }
            self.bill(&demands);
            wrote_any = true;
            let t = self.tables.get_mut(&name).expect("validated");
            t.commit(pk, new, now_ms, &lags, rng);
        }
        if let (false, Some(e)) = (wrote_any, throttle) {
            return Err(e);
        }
        Ok(json!({ "UnprocessedItems": unprocessed }))
    }
}
