//! Metrics without a write on the job's path: the timer rolls the jobs that
//! reached Succeeded or Failed since its last roll-up into one item per
//! hour (per minute counts, and per kind: runs, failures and a histogram of
//! durations) and one per day (per hour counts). It reads them off the
//! index (`kind`, `runs` and `duration_ms` are projected, written once when
//! the job enters its bucket), so the roll-up costs index reads, not a
//! write per job, and a dashboard reads a handful of items whatever the
//! number of jobs.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::expr::Expr;
use super::item::{Item, get_n, get_s, ms, n, s, to_av};
use super::schema::{Bucket, attr};
use super::{SERVICE, Store, is_transaction_conflict, send_through_conflicts};
use crate::clock::from_millis;
use crate::error::{Error, Result};
use crate::metrics::{KindTally, Tally};

/// How long after a job finished the roll-up counts it (the index is
/// eventually consistent).
pub const SETTLE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
/// Index entries one roll-up reads per shard at most; the rest waits for
/// the next tick.
const ROLLUP_PAGE: i32 = 1000;
/// Hour items are kept this long, day items five times as long.
const KEEP_HOURS: i64 = 8 * 24;

const WATERMARK: &str = "metrics#watermark";

/// An hour's roll-up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourRollup {
    /// Per minute of the hour ("0" to "59").
    pub minutes: BTreeMap<String, Tally>,
    /// Per kind.
    pub kinds: BTreeMap<String, KindTally>,
}

/// A day's roll-up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayRollup {
    /// Per hour of the day ("0" to "23").
    pub hours: BTreeMap<String, Tally>,
}

/// A job that reached Succeeded or Failed, as the index shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// When.
    pub at: DateTime<Utc>,
    pub kind: String,
    /// Succeeded (else Failed).
    pub succeeded: bool,
    /// Runs it took.
    pub runs: u32,
    /// Its last run's duration.
    pub duration_ms: Option<u64>,
}

/// The key of an hour's item.
pub fn hour_key(t: DateTime<Utc>) -> String {
    format!("metrics#hour#{}", t.format("%Y%m%dT%H"))
}

/// The key of a day's item.
pub fn day_key(t: DateTime<Utc>) -> String {
    format!("metrics#day#{}", t.format("%Y%m%d"))
}

/// What a roll-up did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rolled {
    /// Jobs counted.
    pub jobs: usize,
    /// Index queries made.
    pub queries: usize,
}

impl Store {
    /// Rolls the jobs that reached Succeeded or Failed since the last
    /// roll-up (up to `now` − [`SETTLE`]) into the hour and day items, in
    /// one transaction with the watermark (conditional on the one read, so
    /// an overlapping roll-up counts nothing twice).
    pub async fn roll_up(&self, now: DateTime<Utc>) -> Result<Rolled> {
        let (watermark, version) = match self.get_item(WATERMARK.to_owned()).await? {
            Some(item) => (
                get_n::<i64>(&item, attr::BUCKET_AT).map(from_millis),
                get_n::<u64>(&item, attr::VERSION),
            ),
            None => (None, None),
        };
        let to = now - SETTLE;
        // A first roll-up looks back an hour.
        let from = watermark.unwrap_or(to - chrono::TimeDelta::hours(1));
        if to <= from {
            return Ok(Rolled::default());
        }
        let mut outcomes = Vec::new();
        let mut upto = to;
        let mut queries = 0;
        for (bucket, succeeded) in [(Bucket::Succeeded, true), (Bucket::Failed, false)] {
            for shard in 0..self.shards {
                let out = self
                    .bucket_query(bucket, shard)
                    .key_condition_expression("#b = :b AND #at BETWEEN :from AND :to")
                    .expression_attribute_names("#at", attr::BUCKET_AT)
                    // `from` was counted by the last roll-up.
                    .expression_attribute_values(":from", n(crate::clock::to_millis(from) + 1))
                    .expression_attribute_values(":to", ms(to))
                    .limit(ROLLUP_PAGE)
                    .send()
                    .await
                    .map_err(|e| Error::aws(SERVICE, "Query", e))?;
                queries += 1;
                let items = out.items();
                if out.last_evaluated_key.is_some()
                    && let Some(last) = items.last().and_then(|i| get_n::<i64>(i, attr::BUCKET_AT))
                {
                    // This shard has more: count up to where it was read.
                    upto = upto.min(from_millis(last));
                }
                outcomes.extend(items.iter().filter_map(|i| outcome(i, succeeded)));
            }
        }
        outcomes.retain(|o| o.at <= upto);
        if outcomes.is_empty() {
            // Nothing new: the watermark stays (the next roll-up reads the
            // same empty range), and nothing is written.
            return Ok(Rolled { jobs: 0, queries });
        }
        let mut hours: BTreeMap<String, HourRollup> = BTreeMap::new();
        let mut days: BTreeMap<String, DayRollup> = BTreeMap::new();
        let mut keys: Vec<String> = outcomes
            .iter()
            .flat_map(|o| [hour_key(o.at), day_key(o.at)])
            .collect();
        keys.sort();
        keys.dedup();
        let mut versions: BTreeMap<String, u64> = BTreeMap::new();
        for item in self.get_items(&keys, true).await? {
            let pk = get_s(&item, attr::PK).unwrap_or_default().to_owned();
            versions.insert(pk.clone(), get_n(&item, attr::VERSION).unwrap_or(0));
            if let Some(data) = item.get(attr::DATA) {
                if pk.starts_with("metrics#hour#") {
                    hours.insert(
                        pk,
                        serde_dynamo::from_attribute_value(data.clone()).unwrap_or_default(),
                    );
                } else {
                    days.insert(
                        pk,
                        serde_dynamo::from_attribute_value(data.clone()).unwrap_or_default(),
                    );
                }
            }
        }
        for o in &outcomes {
            let hour = hours.entry(hour_key(o.at)).or_default();
            let t = hour.minutes.entry(o.at.minute().to_string()).or_default();
            let d = days.entry(day_key(o.at)).or_default();
            let h = d.hours.entry(o.at.hour().to_string()).or_default();
            for t in [t, h] {
                if o.succeeded {
                    t.s += 1;
                } else {
                    t.f += 1;
                }
            }
            hour.kinds
                .entry(o.kind.clone())
                .or_default()
                .add(o.succeeded, o.runs, o.duration_ms);
        }
        let mut writes = Vec::new();
        let keep = |days: i64| n((now + chrono::TimeDelta::hours(KEEP_HOURS * days)).timestamp());
        let items = hours
            .iter()
            .map(|(k, v)| (k, to_av(v), 1))
            .chain(days.iter().map(|(k, v)| (k, to_av(v), 5)));
        for (pk, data, lifetime) in items {
            let version = versions.get(pk).copied();
            let item = Item::from([
                (attr::PK.to_owned(), s(pk)),
                (attr::DATA.to_owned(), data),
                (attr::VERSION.to_owned(), n(version.unwrap_or(0) + 1)),
                (attr::TTL.to_owned(), keep(lifetime)),
            ]);
            writes.push(versioned_put(&self.table, item, version)?);
        }
        let mark = Item::from([
            (attr::PK.to_owned(), s(WATERMARK)),
            (attr::BUCKET_AT.to_owned(), ms(upto)),
            (attr::VERSION.to_owned(), n(version.unwrap_or(0) + 1)),
        ]);
        writes.push(versioned_put(&self.table, mark, version)?);
        // A transaction holds at most 100 items: an hour of roll-ups touches
        // two or three.
        let request = self
            .ddb
            .transact_write_items()
            .set_transact_items(Some(writes));
        send_through_conflicts(|| request.clone().send(), is_transaction_conflict)
            .await
            .map_err(|e| Error::aws(SERVICE, "TransactWriteItems", e))?;
        Ok(Rolled {
            jobs: outcomes.len(),
            queries,
        })
    }

    /// The hour items for these hours and the day items for these days
    /// (one `BatchGetItem`); missing ones are empty.
    pub async fn rollups(
        &self,
        hours: &[DateTime<Utc>],
        days: &[DateTime<Utc>],
    ) -> Result<(Vec<HourRollup>, Vec<DayRollup>)> {
        let keys: Vec<String> = hours
            .iter()
            .map(|t| hour_key(*t))
            .chain(days.iter().map(|t| day_key(*t)))
            .collect();
        let mut found: BTreeMap<String, Item> = BTreeMap::new();
        for item in self.get_items(&keys, false).await? {
            if let Some(pk) = get_s(&item, attr::PK) {
                found.insert(pk.to_owned(), item);
            }
        }
        let data = |k: &str| found.get(k).and_then(|i| i.get(attr::DATA)).cloned();
        let hours = hours
            .iter()
            .map(|t| {
                data(&hour_key(*t))
                    .and_then(|d| serde_dynamo::from_attribute_value(d).ok())
                    .unwrap_or_default()
            })
            .collect();
        let days = days
            .iter()
            .map(|t| {
                data(&day_key(*t))
                    .and_then(|d| serde_dynamo::from_attribute_value(d).ok())
                    .unwrap_or_default()
            })
            .collect();
        Ok((hours, days))
    }
}

fn outcome(item: &Item, succeeded: bool) -> Option<Outcome> {
    Some(Outcome {
        at: from_millis(get_n(item, attr::BUCKET_AT)?),
        kind: get_s(item, attr::KIND)?.to_owned(),
        succeeded,
        runs: get_n(item, attr::RUNS).unwrap_or(1),
        duration_ms: get_n(item, attr::DURATION),
    })
}

/// A put on the condition that the item is at `version` (None: absent).
fn versioned_put(table: &str, item: Item, version: Option<u64>) -> Result<TransactWriteItem> {
    let mut cond = Expr::default();
    cond.cond_version(version);
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(cond.condition_expression())
        .set_expression_attribute_names(cond.names())
        .set_expression_attribute_values(cond.values());
    Ok(TransactWriteItem::builder()
        .put(
            put.build()
                .map_err(|e| Error::aws(SERVICE, "TransactWriteItems", e))?,
        )
        .build())
}
