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

/// Upper bounds of the duration histogram, ms (the last bucket is above).
pub const DURATION_BOUNDS_MS: [u64; 19] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000,
    200_000, 500_000, 1_000_000,
];
/// How long after a job finished the roll-up counts it (the index is
/// eventually consistent).
pub const SETTLE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
/// Index entries one roll-up reads per shard at most; the rest waits for
/// the next tick.
const ROLLUP_PAGE: i32 = 1000;
/// Hour items are kept this long, day items five times as long.
const KEEP_HOURS: i64 = 8 * 24;

const WATERMARK: &str = "metrics#watermark";

/// Succeeded and Failed jobs in one minute or hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Jobs that Succeeded.
    pub s: u64,
    /// Jobs that Failed.
    pub f: u64,
}

/// One kind's outcomes in an hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindTally {
    /// Jobs that finished.
    pub jobs: u64,
    /// Runs they took (a retry is a run).
    pub runs: u64,
    /// Runs that failed (every run of a Failed job, every run but the last
    /// of a Succeeded one).
    pub failures: u64,
    /// Durations of the jobs' last runs: counts per [`DURATION_BOUNDS_MS`]
    /// bucket, and one above.
    pub hist: Vec<u64>,
}

impl KindTally {
    fn add(&mut self, o: &Outcome) {
        self.jobs += 1;
        self.runs += u64::from(o.runs);
        self.failures += u64::from(if o.succeeded {
            o.runs.saturating_sub(1)
        } else {
            o.runs
        });
        if self.hist.len() != DURATION_BOUNDS_MS.len() + 1 {
            self.hist = vec![0; DURATION_BOUNDS_MS.len() + 1];
        }
        if let Some(d) = o.duration_ms {
            let i = DURATION_BOUNDS_MS
                .iter()
                .position(|b| d <= *b)
                .unwrap_or(DURATION_BOUNDS_MS.len());
            self.hist[i] += 1;
        }
    }

    /// Adds another tally (another hour) to this one.
    pub fn merge(&mut self, other: &KindTally) {
        self.jobs += other.jobs;
        self.runs += other.runs;
        self.failures += other.failures;
        if self.hist.len() < other.hist.len() {
            self.hist.resize(other.hist.len(), 0);
        }
        for (a, b) in self.hist.iter_mut().zip(&other.hist) {
            *a += b;
        }
    }

    /// The duration under which a share `q` (0.5, 0.95) of the timed runs
    /// fell: the upper bound of its histogram bucket, ms (None: no run was
    /// timed; `u64::MAX`: above the last bound).
    pub fn quantile_ms(&self, q: f64) -> Option<u64> {
        let total: u64 = self.hist.iter().sum();
        if total == 0 {
            return None;
        }
        let target = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.hist.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Some(DURATION_BOUNDS_MS.get(i).copied().unwrap_or(u64::MAX));
            }
        }
        None
    }
}

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
    /// Its kind.
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
            hour.kinds.entry(o.kind.clone()).or_default().add(o);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(succeeded: bool, runs: u32, ms: u64) -> Outcome {
        Outcome {
            at: Utc::now(),
            kind: "k".into(),
            succeeded,
            runs,
            duration_ms: Some(ms),
        }
    }

    #[test]
    fn kind_tallies_count_runs_failures_and_quantiles() {
        let mut t = KindTally::default();
        for ms in [3, 4, 4, 40, 40, 40, 40, 40, 40, 900] {
            t.add(&outcome(true, 1, ms));
        }
        t.add(&outcome(true, 3, 15));
        t.add(&outcome(false, 11, 1_500));
        assert_eq!((t.jobs, t.runs, t.failures), (12, 24, 13));
        assert_eq!(
            t.quantile_ms(0.5),
            Some(50),
            "the median run took 40 ms: bucket 20-50"
        );
        assert_eq!(t.quantile_ms(0.95), Some(2_000));
        let mut other = KindTally::default();
        other.add(&outcome(true, 1, 10_000_000));
        t.merge(&other);
        assert_eq!(t.jobs, 13);
        assert_eq!(t.quantile_ms(1.0), Some(u64::MAX), "above the last bound");
        assert_eq!(KindTally::default().quantile_ms(0.5), None);
    }
}
