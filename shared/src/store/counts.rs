//! Counts per state at a cost that does not grow with the table: exact
//! up to a page of index entries per shard, extrapolated beyond it; the
//! Active bucket's share of Enqueued and Processing from its oldest
//! entries; jobs waiting for a key from the keys' own counts.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::Select;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::item::{get_n, is_expired, parse_job};
use super::schema::{Bucket, attr};
use super::{SERVICE, Store};
use crate::error::{Error, Result};
use crate::state::State;

/// Index entries counted exactly per shard; a longer shard's count is
/// extrapolated from the time span the counted entries cover.
pub const COUNT_PAGE: i32 = 250;

/// Most jobs read to split the Active bucket into Enqueued, Processing and
/// handed-off Scheduled (the index does not know which is which: the claim
/// must not write an index entry); a larger bucket is split by the queues'
/// message counts (see [`BucketCounts::per_state`]).
pub const ACTIVE_SAMPLE: usize = 50;

/// A count of jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Count {
    /// How many.
    pub n: u64,
    /// False for an estimate (a large state, or a share of a large Active
    /// bucket).
    pub exact: bool,
}

/// Most keys whose waiting jobs a count reads (one `BatchGetItem`).
pub const MAX_COUNTED_KEYS: usize = 100;

/// The entries of a shard of which `counted`, the newest, span `newest`
/// down to `last`, and whose oldest is at `first`: as many again per span
/// of time (more than counted, whatever the times).
fn extrapolate(counted: u64, newest: Option<i64>, last: Option<i64>, first: Option<i64>) -> u64 {
    let n = match (newest, last, first) {
        (Some(newest), Some(last), Some(first)) if newest > last && last >= first => {
            let covered = (newest - last) as f64;
            let span = (newest - first) as f64;
            (counted as f64 * span / covered).round() as u64
        }
        // Every counted entry has the same time: at least this many.
        _ => counted,
    };
    n.max(counted + 1)
}

/// Entries per bucket, as [`Store::bucket_counts`] found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketCounts {
    /// Scheduled jobs not handed off.
    pub scheduled: Count,
    /// Enqueued, Processing and handed-off Scheduled jobs (and finished
    /// jobs whose continuations are being released).
    pub active: Count,
    /// Awaiting continuations.
    pub awaiting: Count,
    pub succeeded: Count,
    pub failed: Count,
    pub deleted: Count,
    /// Jobs parked while their queue is paused (counted as Enqueued).
    pub parked: Count,
    /// Jobs waiting for a key's slot (counted as Enqueued).
    pub waiting: Count,
    /// The Active bucket's jobs by state, when it was small enough to read.
    pub active_split: Option<BTreeMap<State, u64>>,
    /// Otherwise: how many of its oldest entries were read, and their jobs
    /// by state.
    pub oldest_active: Option<(u64, BTreeMap<State, u64>)>,
}

impl BucketCounts {
    /// Jobs per state, every state listed. A large Active bucket (not read
    /// in full) is split by what its oldest entries hold and by the stack's
    /// queues, `in_sqs` = (messages in flight, messages delayed). Running
    /// jobs sit at the old end of the bucket (claims are roughly first in,
    /// first out, and a claim does not move an entry), so the oldest
    /// entries read hold them all unless every one of those is running;
    /// only then is the count of messages in flight used, which is higher
    /// (it counts every message of a batch a worker received). A
    /// handed-off Scheduled job's message is delayed; the rest wait.
    pub fn per_state(&self, in_sqs: (u64, u64)) -> Vec<(State, Count)> {
        let active = self.active.n;
        let (split, exact) = match &self.active_split {
            Some(split) => (split.clone(), true),
            None => {
                let running = match &self.oldest_active {
                    Some((read, states)) => {
                        let seen = states.get(&State::Processing).copied().unwrap_or(0);
                        if seen < *read {
                            seen
                        } else {
                            seen.max(in_sqs.0)
                        }
                    }
                    None => in_sqs.0,
                };
                let processing = running.min(active);
                let handed_off = in_sqs.1.min(active - processing);
                let split = BTreeMap::from([
                    (State::Processing, processing),
                    (State::Scheduled, handed_off),
                    (State::Enqueued, active - processing - handed_off),
                ]);
                (split, false)
            }
        };
        let share = |state: State| Count {
            n: split.get(&state).copied().unwrap_or(0),
            exact,
        };
        State::ALL
            .iter()
            .map(|&state| {
                let c = match state {
                    State::Scheduled => {
                        let h = share(State::Scheduled);
                        Count {
                            n: self.scheduled.n + h.n,
                            exact: self.scheduled.exact && h.exact,
                        }
                    }
                    State::Enqueued => {
                        let e = share(state);
                        Count {
                            n: e.n + self.parked.n + self.waiting.n,
                            exact: e.exact && self.parked.exact && self.waiting.exact,
                        }
                    }
                    State::Processing => share(state),
                    State::Awaiting => self.awaiting,
                    // Finished jobs whose continuations are being released
                    // are counted where they rest, a moment later.
                    State::Succeeded => self.succeeded,
                    State::Failed => self.failed,
                    State::Deleted => self.deleted,
                };
                (state, c)
            })
            .collect()
    }
}

impl Store {
    /// How many entries one bucket holds, exactly up to [`COUNT_PAGE`] per
    /// shard; a fuller shard is extrapolated from the time span its newest
    /// entries cover (two queries for that shard). With an exact count come
    /// the entries' keys. All shards at once.
    pub(super) async fn count_bucket(&self, bucket: Bucket) -> Result<(Count, Vec<String>)> {
        let mut set = tokio::task::JoinSet::new();
        for shard in 0..self.shards {
            let this = self.clone();
            set.spawn(async move { this.count_shard(bucket, shard).await });
        }
        let mut total = Count { n: 0, exact: true };
        let mut keys = Vec::new();
        while let Some(joined) = set.join_next().await {
            let (c, k) = joined.expect("count task does not panic")?;
            total.n += c.n;
            total.exact &= c.exact;
            keys.extend(k);
        }
        if !total.exact {
            keys.clear();
        }
        Ok((total, keys))
    }

    pub(super) async fn count_shard(
        &self,
        bucket: Bucket,
        shard: u32,
    ) -> Result<(Count, Vec<String>)> {
        let query = |forward: bool, limit: i32| {
            self.bucket_query(bucket, shard)
                .projection_expression("#at, #pk")
                .expression_attribute_names("#at", attr::BUCKET_AT)
                .expression_attribute_names("#pk", attr::PK)
                .select(Select::SpecificAttributes)
                .scan_index_forward(forward)
                .limit(limit)
        };
        let out = query(false, COUNT_PAGE)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "Query", e))?;
        let counted = out.items().len() as u64;
        if out.last_evaluated_key.is_none() {
            let keys = super::item::keys_of(out.items());
            let exact = Count {
                n: counted,
                exact: true,
            };
            return Ok((exact, keys));
        }
        let times: Vec<i64> = out
            .items()
            .iter()
            .filter_map(|i| get_n(i, attr::BUCKET_AT))
            .collect();
        let oldest = query(true, 1)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "Query", e))?;
        let first = oldest
            .items()
            .first()
            .and_then(|i| get_n::<i64>(i, attr::BUCKET_AT));
        let estimate = Count {
            n: extrapolate(
                counted,
                times.first().copied(),
                times.last().copied(),
                first,
            ),
            exact: false,
        };
        Ok((estimate, Vec::new()))
    }

    /// The keys of every item in a bucket, all shards at once (for buckets
    /// known to be small: recurring jobs).
    pub(super) async fn bucket_keys(&self, bucket: Bucket) -> Result<Vec<String>> {
        let mut set = tokio::task::JoinSet::new();
        for shard in 0..self.shards {
            let this = self.clone();
            set.spawn(async move {
                let mut pks = Vec::new();
                let mut start = None;
                loop {
                    let out = this
                        .bucket_query(bucket, shard)
                        .set_exclusive_start_key(start)
                        .send()
                        .await
                        .map_err(|e| Error::aws(SERVICE, "Query", e))?;
                    pks.extend(super::item::keys_of(out.items()));
                    start = out.last_evaluated_key;
                    if start.is_none() {
                        return Ok::<_, Error>(pks);
                    }
                }
            });
        }
        let mut pks = Vec::new();
        while let Some(joined) = set.join_next().await {
            pks.extend(joined.expect("query task does not panic")?);
        }
        Ok(pks)
    }

    /// Entries per bucket (see `COUNT_PAGE`), the jobs waiting for a
    /// key's slot (see `Store::count_waiting`), and the Active bucket's
    /// jobs by state: all of them when it holds no more than
    /// `ACTIVE_SAMPLE`, else its oldest `ACTIVE_SAMPLE` (where running
    /// jobs sit), each read with one `BatchGetItem`.
    pub async fn bucket_counts(&self, now: DateTime<Utc>) -> Result<BucketCounts> {
        // Every bucket's shards at once: one round of queries.
        let (scheduled, active, awaiting, succeeded, failed, deleted, parked, waiting) = tokio::join!(
            self.count_bucket(Bucket::Scheduled),
            self.count_bucket(Bucket::Active),
            self.count_bucket(Bucket::Awaiting),
            self.count_bucket(Bucket::Succeeded),
            self.count_bucket(Bucket::Failed),
            self.count_bucket(Bucket::Deleted),
            self.count_bucket(Bucket::Parked),
            self.count_waiting(),
        );
        let (active, active_keys) = active?;
        let small = active.exact && active.n as usize <= ACTIVE_SAMPLE;
        let keys = if small {
            active_keys
        } else {
            self.oldest_active().await?
        };
        let mut by_state = BTreeMap::new();
        for item in self.get_items(&keys, false).await? {
            let job = parse_job(&item)?;
            if !is_expired(&job, now) {
                *by_state.entry(job.state).or_default() += 1;
            }
        }
        let (active_split, oldest_active) = if small {
            (Some(by_state), None)
        } else {
            (None, Some((keys.len() as u64, by_state)))
        };
        Ok(BucketCounts {
            scheduled: scheduled?.0,
            active,
            awaiting: awaiting?.0,
            succeeded: succeeded?.0,
            failed: failed?.0,
            deleted: deleted?.0,
            parked: parked?.0,
            waiting: waiting?,
            active_split,
            oldest_active,
        })
    }

    /// The keys of the oldest [`ACTIVE_SAMPLE`] entries of the Active
    /// bucket: as many of each shard's oldest, all shards at once.
    pub(super) async fn oldest_active(&self) -> Result<Vec<String>> {
        let per_shard = ACTIVE_SAMPLE.div_ceil(self.shards.max(1) as usize);
        let (mut keys, _) = self.shard_keys(Bucket::Active, per_shard, |q| q).await?;
        keys.truncate(ACTIVE_SAMPLE);
        Ok(keys)
    }

    /// Jobs waiting for a concurrency or ordering key's slot, from the
    /// keys' own counts: one query per shard of the Limits bucket and one
    /// `BatchGetItem` of up to [`MAX_COUNTED_KEYS`] keys, however many jobs
    /// wait. An estimate past that many keys. (A key's count is a hint
    /// that a lost answer can push up until the timer sets it again from
    /// the key's list.)
    pub(crate) async fn count_waiting(&self) -> Result<Count> {
        let (keys, more) = self.waiting_keys(MAX_COUNTED_KEYS).await?;
        let pks: Vec<String> = keys.iter().map(|k| super::slots::conc_key(k)).collect();
        let n = self
            .get_items(&pks, false)
            .await?
            .iter()
            .map(|item| get_n::<i64>(item, attr::WAITING).unwrap_or(0).max(0) as u64)
            .sum();
        Ok(Count { n, exact: !more })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(n: u64) -> Count {
        Count { n, exact: true }
    }

    fn counts(active: Count, split: Option<BTreeMap<State, u64>>) -> BucketCounts {
        BucketCounts {
            scheduled: exact(3),
            parked: exact(0),
            waiting: exact(0),
            oldest_active: None,
            active,
            awaiting: exact(0),
            succeeded: Count {
                n: 90_000,
                exact: false,
            },
            failed: exact(7),
            deleted: exact(1),
            active_split: split,
        }
    }

    #[test]
    fn a_full_shard_is_extrapolated_over_its_time_span() {
        // 250 entries over the newest 10 s of a shard spanning 100 s.
        assert_eq!(
            extrapolate(250, Some(100_000), Some(90_000), Some(0)),
            2_500
        );
        // All at one instant: at least one more than counted.
        assert_eq!(extrapolate(250, Some(5), Some(5), Some(0)), 251);
        assert_eq!(extrapolate(250, None, None, None), 251);
    }

    #[test]
    fn a_small_active_bucket_is_split_exactly() {
        let split = BTreeMap::from([
            (State::Enqueued, 4),
            (State::Processing, 2),
            (State::Scheduled, 1),
        ]);
        let per: BTreeMap<State, Count> = counts(exact(7), Some(split))
            .per_state((99, 99))
            .into_iter()
            .collect();
        assert_eq!(per[&State::Enqueued], exact(4));
        assert_eq!(per[&State::Processing], exact(2));
        assert_eq!(
            per[&State::Scheduled],
            exact(4),
            "3 waiting for the timer, 1 handed off"
        );
        assert_eq!(
            per[&State::Succeeded],
            Count {
                n: 90_000,
                exact: false
            }
        );
    }

    #[test]
    fn jobs_waiting_for_a_key_count_as_enqueued() {
        let mut c = counts(exact(2), Some(BTreeMap::from([(State::Enqueued, 2)])));
        c.waiting = exact(3);
        let per: BTreeMap<State, Count> = c.per_state((0, 0)).into_iter().collect();
        assert_eq!(per[&State::Enqueued], exact(5));
    }

    /// Four jobs running during a burst of 10,000: the oldest entries show
    /// four, although 40 messages are in flight (received in batches).
    #[test]
    fn running_jobs_are_counted_at_the_old_end_of_a_large_bucket() {
        let mut c = counts(exact(10_000), None);
        c.oldest_active = Some((
            50,
            BTreeMap::from([(State::Processing, 4), (State::Enqueued, 46)]),
        ));
        let per: BTreeMap<State, Count> = c.per_state((40, 0)).into_iter().collect();
        assert_eq!(per[&State::Processing].n, 4);
        assert!(!per[&State::Processing].exact);
        // Every entry read is running: more may be, as many as in flight.
        c.oldest_active = Some((50, BTreeMap::from([(State::Processing, 50)])));
        let per: BTreeMap<State, Count> = c.per_state((400, 0)).into_iter().collect();
        assert_eq!(per[&State::Processing].n, 400);
    }

    #[test]
    fn a_large_active_bucket_is_split_by_the_queues() {
        let per: BTreeMap<State, Count> = counts(exact(10_000), None)
            .per_state((40, 100))
            .into_iter()
            .collect();
        assert_eq!(
            per[&State::Processing],
            Count {
                n: 40,
                exact: false
            }
        );
        assert_eq!(
            per[&State::Scheduled],
            Count {
                n: 103,
                exact: false
            }
        );
        assert_eq!(
            per[&State::Enqueued],
            Count {
                n: 9_860,
                exact: false
            }
        );
        // More messages than jobs (duplicates, stale wake-ups): capped.
        let per: BTreeMap<State, Count> = counts(exact(100), None)
            .per_state((500, 500))
            .into_iter()
            .collect();
        assert_eq!(per[&State::Processing].n, 100);
        assert_eq!(per[&State::Enqueued].n, 0);
    }
}
