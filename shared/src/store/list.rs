//! Jobs by state, newest first, a bounded number of queries per page; and
//! counts per state at a cost that does not grow with the table.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::item::{Item, get_n, get_s, is_expired, ms, parse_job, s};
use super::schema::{Bucket, INDEX, attr};
use super::{SERVICE, Store};
use crate::error::{Error, Result};
use crate::job::JobRecord;
use crate::state::State;

/// Index entries counted exactly per shard; a longer shard's count is
/// extrapolated from the time span the counted entries cover.
pub const COUNT_PAGE: i32 = 250;
/// Jobs read to split the Active bucket into Enqueued, Processing and
/// handed-off Scheduled (the index does not know which is which: the claim
/// must not write an index entry). All of them when there are no more.
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
    /// False for an estimate (a large state, or the share of the Active
    /// bucket that a sample found in this state).
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
    /// then one `BatchGetItem`.
    pub async fn list_page(
        &self,
        query: &ListQuery,
        size: usize,
        cursor: Option<&Cursor>,
        now: DateTime<Utc>,
    ) -> Result<Page> {
        let size = size.clamp(1, 1000);
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
                .ddb
                .query()
                .table_name(&self.table)
                .index_name(INDEX)
                .scan_index_forward(false)
                .limit(size as i32)
                .set_exclusive_start_key(start)
                .expression_attribute_names("#b", attr::BUCKET)
                .expression_attribute_values(":b", s(bucket.key(*shard)));
            q = match (query.since, query.until) {
                (None, None) => q.key_condition_expression("#b = :b"),
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
    /// entries cover (two queries for that shard).
    async fn count_bucket(&self, bucket: Bucket) -> Result<Count> {
        let mut set = tokio::task::JoinSet::new();
        for shard in 0..self.shards {
            let this = self.clone();
            set.spawn(async move { this.count_shard(bucket, shard).await });
        }
        let mut total = Count { n: 0, exact: true };
        while let Some(joined) = set.join_next().await {
            let c = joined.expect("count task does not panic")?;
            total.n += c.n;
            total.exact &= c.exact;
        }
        Ok(total)
    }

    async fn count_shard(&self, bucket: Bucket, shard: u32) -> Result<Count> {
        let query = |forward: bool, limit: i32| {
            self.ddb
                .query()
                .table_name(&self.table)
                .index_name(INDEX)
                .key_condition_expression("#b = :b")
                .expression_attribute_names("#b", attr::BUCKET)
                .expression_attribute_values(":b", s(bucket.key(shard)))
                .projection_expression("#at")
                .expression_attribute_names("#at", attr::BUCKET_AT)
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
            return Ok(Count {
                n: counted,
                exact: true,
            });
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
        let (newest, last) = (times.first().copied(), times.last().copied());
        let first = oldest
            .items()
            .first()
            .and_then(|i| get_n::<i64>(i, attr::BUCKET_AT));
        let n = match (newest, last, first) {
            (Some(newest), Some(last), Some(first)) if newest > last => {
                let covered = (newest - last) as f64;
                let span = (newest - first) as f64;
                (counted as f64 * span / covered).round() as u64
            }
            // Every counted entry has the same time: at least this many.
            _ => counted,
        };
        Ok(Count {
            n: n.max(counted + 1),
            exact: false,
        })
    }

    /// Jobs per state, every state listed. Buckets are counted (see
    /// [`COUNT_PAGE`]); the Active bucket is split by reading up to
    /// [`ACTIVE_SAMPLE`] of its jobs, exact when it holds no more.
    pub async fn counts(&self, now: DateTime<Utc>) -> Result<Vec<(State, Count)>> {
        let mut buckets = BTreeMap::new();
        for b in [
            Bucket::Scheduled,
            Bucket::Active,
            Bucket::Awaiting,
            Bucket::Succeeded,
            Bucket::Failed,
            Bucket::Deleted,
        ] {
            buckets.insert(b.as_str(), self.count_bucket(b).await?);
        }
        let active = buckets["active"];
        let mut split: BTreeMap<State, u64> = BTreeMap::new();
        let mut sampled = 0u64;
        if active.n > 0 {
            let per_shard = ACTIVE_SAMPLE.div_ceil(self.shards as usize);
            let mut pks = Vec::new();
            for shard in 0..self.shards {
                let out = self
                    .ddb
                    .query()
                    .table_name(&self.table)
                    .index_name(INDEX)
                    .key_condition_expression("#b = :b")
                    .expression_attribute_names("#b", attr::BUCKET)
                    .expression_attribute_values(":b", s(Bucket::Active.key(shard)))
                    .limit(per_shard as i32)
                    .send()
                    .await
                    .map_err(|e| Error::aws(SERVICE, "Query", e))?;
                pks.extend(
                    out.items()
                        .iter()
                        .filter_map(|i| get_s(i, attr::PK))
                        .map(str::to_owned),
                );
            }
            for item in self.get_items(&pks, false).await? {
                let job = parse_job(&item)?;
                if is_expired(&job, now) {
                    continue;
                }
                sampled += 1;
                *split.entry(job.state).or_default() += 1;
            }
        }
        let exact_split = active.exact && sampled == active.n;
        let share = |state: State| -> Count {
            let k = split.get(&state).copied().unwrap_or(0);
            if exact_split || sampled == 0 {
                Count {
                    n: k,
                    exact: exact_split,
                }
            } else {
                Count {
                    n: (k as f64 * active.n as f64 / sampled as f64).round() as u64,
                    exact: false,
                }
            }
        };
        let plus = |a: Count, b: Count| Count {
            n: a.n + b.n,
            exact: a.exact && b.exact,
        };
        Ok(State::ALL
            .iter()
            .map(|&state| {
                let c = match state {
                    State::Scheduled => plus(buckets["scheduled"], share(State::Scheduled)),
                    State::Enqueued | State::Processing => share(state),
                    State::Awaiting => buckets["awaiting"],
                    // Finished jobs whose continuations are being released
                    // are counted where they rest, a moment later.
                    State::Succeeded => buckets["succeeded"],
                    State::Failed => buckets["failed"],
                    State::Deleted => buckets["deleted"],
                };
                (state, c)
            })
            .collect())
    }
}
