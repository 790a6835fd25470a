//! Jobs by state, newest first, a bounded number of queries per page; and
//! counts per state at a cost that does not grow with the table.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::item::{Item, get_n, get_s, is_expired, ms, parse_job, s};
use super::schema::{Bucket, attr};
use super::{SERVICE, Store};
use crate::error::{Error, Result};
use crate::job::JobRecord;
use crate::state::State;

/// Index entries counted exactly per shard; a longer shard's count is
/// extrapolated from the time span the counted entries cover.
pub const COUNT_PAGE: i32 = 250;
/// Most jobs read to split the Active bucket into Enqueued, Processing and
/// handed-off Scheduled (the index does not know which is which: the claim
/// must not write an index entry); a larger bucket is split by the queues'
/// message counts (see [`BucketCounts::per_state`]).
pub const ACTIVE_SAMPLE: usize = 50;

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    /// The state.
    pub state: State,
    /// Only jobs of this queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Only jobs of this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Only jobs whose index time (when they entered a final state; the
    /// due time of a Scheduled job) is at or after this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// ... and at or before this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl ListQuery {
    /// Every job in a state.
    pub fn state(state: State) -> Self {
        ListQuery {
            state,
            queue: None,
            kind: None,
            since: None,
            until: None,
        }
    }
}

/// Where a listing goes on: per lane (bucket and shard), the last entry
/// taken. Serializable, so a caller can hand it out (signed) and take it
/// back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    lanes: Vec<Lane>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Lane {
    Start,
    After { at: i64, pk: String },
    Done,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The jobs, newest first. Fewer than asked for when entries on the page
    /// turned out to be in another state (Enqueued and Processing share a
    /// bucket) or changed since the index saw them.
    pub jobs: Vec<JobRecord>,
    /// Where the next page starts; None at the end.
    pub next: Option<Cursor>,
    /// Queries made for this page.
    pub queries: usize,
}

/// A count of jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Count {
    /// How many.
    pub n: u64,
    /// False for an estimate (a large state, or a share of a large Active
    /// bucket).
    pub exact: bool,
}

struct Entry {
    at: i64,
    pk: String,
    lane: usize,
}

impl Store {
    fn lanes(&self, state: State) -> Vec<(Bucket, u32)> {
        Bucket::holding(state)
            .iter()
            .flat_map(|b| (0..self.shards).map(move |shard| (*b, shard)))
            .collect()
    }

    /// One page of jobs in a state, newest first (by index time), at most
    /// `size` of them: one query per lane (bucket and shard, all at once),
    /// then one `BatchGetItem`. Processing jobs come oldest first: they sit
    /// at the old end of the Active bucket they share with Enqueued jobs
    /// (claims are roughly first in, first out), so a page finds them behind
    /// any backlog, the longest-running first.
    pub async fn list_page(
        &self,
        query: &ListQuery,
        size: usize,
        cursor: Option<&Cursor>,
        now: DateTime<Utc>,
    ) -> Result<Page> {
        let size = size.clamp(1, 1000);
        let ascending = query.state == State::Processing;
        let lanes = self.lanes(query.state);
        let mut positions = match cursor {
            Some(c) if c.lanes.len() == lanes.len() => c.lanes.clone(),
            Some(_) => {
                return Err(Error::invalid(
                    "cursor",
                    "it belongs to another listing (the shard count changed?)",
                ));
            }
            None => vec![Lane::Start; lanes.len()],
        };
        let mut set = tokio::task::JoinSet::new();
        for (i, (bucket, shard)) in lanes.iter().enumerate() {
            let start = match &positions[i] {
                Lane::Done => continue,
                Lane::Start => None,
                Lane::After { at, pk } => Some(std::collections::HashMap::from([
                    (attr::BUCKET.to_owned(), s(bucket.key(*shard))),
                    (
                        attr::BUCKET_AT.to_owned(),
                        AttributeValue::N(at.to_string()),
                    ),
                    (attr::PK.to_owned(), s(pk)),
                ])),
            };
            let mut q = self
                .bucket_query(*bucket, *shard)
                .scan_index_forward(ascending)
                .limit(size as i32)
                .set_exclusive_start_key(start);
            q = match (query.since, query.until) {
                (None, None) => q,
                (since, until) => q
                    .key_condition_expression("#b = :b AND #at BETWEEN :since AND :until")
                    .expression_attribute_names("#at", attr::BUCKET_AT)
                    .expression_attribute_values(
                        ":since",
                        ms(since.unwrap_or(DateTime::<Utc>::MIN_UTC)),
                    )
                    .expression_attribute_values(
                        ":until",
                        ms(until.unwrap_or(DateTime::<Utc>::MAX_UTC)),
                    ),
            };
            let mut filters = Vec::new();
            if let Some(queue) = &query.queue {
                filters.push("#queue = :queue");
                q = q
                    .expression_attribute_names("#queue", attr::QUEUE)
                    .expression_attribute_values(":queue", s(queue));
            }
            if let Some(kind) = &query.kind {
                filters.push("#kind = :kind");
                q = q
                    .expression_attribute_names("#kind", attr::KIND)
                    .expression_attribute_values(":kind", s(kind));
            }
            if !filters.is_empty() {
                q = q.filter_expression(filters.join(" AND "));
            }
            set.spawn(async move { (i, q.send().await) });
        }
        let mut queries = 0;
        let mut entries = Vec::new();
        let mut last_keys: BTreeMap<usize, Option<Item>> = BTreeMap::new();
        while let Some(joined) = set.join_next().await {
            let (lane, res) = joined.expect("query task does not panic");
            let out = res.map_err(|e| Error::aws(SERVICE, "Query", e))?;
            queries += 1;
            for item in out.items() {
                if let (Some(at), Some(pk)) =
                    (get_n::<i64>(item, attr::BUCKET_AT), get_s(item, attr::PK))
                {
                    entries.push(Entry {
                        at,
                        pk: pk.to_owned(),
                        lane,
                    });
                }
            }
            last_keys.insert(lane, out.last_evaluated_key);
        }
        entries.sort_by(|a, b| (b.at, &b.pk).cmp(&(a.at, &a.pk)));
        if ascending {
            entries.reverse();
        }
        let taken: Vec<Entry> = entries.drain(..entries.len().min(size)).collect();
        // Each lane goes on after the last entry taken from it; a lane all
        // of whose entries were taken goes on where its query stopped.
        for (lane, last_key) in last_keys {
            let left_over = entries.iter().any(|e| e.lane == lane);
            let last_taken = taken.iter().rev().find(|e| e.lane == lane);
            positions[lane] = match (left_over, last_taken, last_key) {
                (true, Some(e), _) => Lane::After {
                    at: e.at,
                    pk: e.pk.clone(),
                },
                (true, None, _) => positions[lane].clone(),
                (false, _, None) => Lane::Done,
                (false, _, Some(key)) => Lane::After {
                    at: get_n(&key, attr::BUCKET_AT).unwrap_or(0),
                    pk: get_s(&key, attr::PK).unwrap_or_default().to_owned(),
                },
            };
        }
        let pks: Vec<String> = taken.iter().map(|e| e.pk.clone()).collect();
        let mut found: std::collections::HashMap<String, JobRecord> = Default::default();
        for item in self.get_items(&pks, false).await? {
            if let Some(pk) = get_s(&item, attr::PK).map(str::to_owned) {
                found.insert(pk, parse_job(&item)?);
            }
        }
        // The index is eventually consistent and a bucket can hold several
        // states: keep the jobs that are in the state asked for.
        let jobs = pks
            .iter()
            .filter_map(|pk| found.remove(pk))
            .filter(|j| j.state == query.state && !is_expired(j, now))
            .collect();
        let next =
            (!positions.iter().all(|l| *l == Lane::Done)).then_some(Cursor { lanes: positions });
        Ok(Page {
            jobs,
            next,
            queries,
        })
    }

    /// How many entries one bucket holds, exactly up to [`COUNT_PAGE`] per
    /// shard; a fuller shard is extrapolated from the time span its newest
    /// entries cover (two queries for that shard). With an exact count come
    /// the entries' keys. All shards at once.
    async fn count_bucket(&self, bucket: Bucket) -> Result<(Count, Vec<String>)> {
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

    async fn count_shard(&self, bucket: Bucket, shard: u32) -> Result<(Count, Vec<String>)> {
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

    /// Entries per bucket (see [`COUNT_PAGE`]), and the Active bucket's
    /// jobs by state when it holds no more than [`ACTIVE_SAMPLE`] (read
    /// with one `BatchGetItem`).
    pub async fn bucket_counts(&self, now: DateTime<Utc>) -> Result<BucketCounts> {
        // Every bucket's shards at once: one round of queries.
        let (scheduled, active, awaiting, succeeded, failed, deleted, parked) = tokio::join!(
            self.count_bucket(Bucket::Scheduled),
            self.count_bucket(Bucket::Active),
            self.count_bucket(Bucket::Awaiting),
            self.count_bucket(Bucket::Succeeded),
            self.count_bucket(Bucket::Failed),
            self.count_bucket(Bucket::Deleted),
            self.count_bucket(Bucket::Parked),
        );
        let (active, active_keys) = active?;
        let mut split = None;
        if active.exact && active.n as usize <= ACTIVE_SAMPLE {
            let mut by_state = BTreeMap::new();
            for item in self.get_items(&active_keys, false).await? {
                let job = parse_job(&item)?;
                if !is_expired(&job, now) {
                    *by_state.entry(job.state).or_default() += 1;
                }
            }
            split = Some(by_state);
        }
        Ok(BucketCounts {
            scheduled: scheduled?.0,
            active,
            awaiting: awaiting?.0,
            succeeded: succeeded?.0,
            failed: failed?.0,
            deleted: deleted?.0,
            parked: parked?.0,
            active_split: split,
        })
    }
}

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
    /// Succeeded jobs.
    pub succeeded: Count,
    /// Failed jobs.
    pub failed: Count,
    /// Deleted jobs.
    pub deleted: Count,
    /// Jobs parked while their queue is paused (counted as Enqueued).
    pub parked: Count,
    /// The Active bucket's jobs by state, when it was small enough to read.
    pub active_split: Option<BTreeMap<State, u64>>,
}

impl BucketCounts {
    /// Jobs per state, every state listed. A large Active bucket (not read)
    /// is split by the stack's queues, `in_sqs` = (messages in flight,
    /// messages delayed): a running job holds its message in flight, a
    /// handed-off Scheduled job's message is delayed, the rest wait.
    pub fn per_state(&self, in_sqs: (u64, u64)) -> Vec<(State, Count)> {
        let active = self.active.n;
        let (split, exact) = match &self.active_split {
            Some(split) => (split.clone(), true),
            None => {
                let processing = in_sqs.0.min(active);
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
                            n: e.n + self.parked.n,
                            exact: e.exact && self.parked.exact,
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
