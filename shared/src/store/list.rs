//! Jobs by state, newest first, a bounded number of queries per page,
//! the jobs waiting for a key among the Enqueued ones.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::item::{Item, get_n, get_s, is_expired, ms, parse_job, s};
use super::schema::{Bucket, NEVER_MS, attr};
use super::{SERVICE, Store};
use crate::error::{Error, Result};
use crate::job::JobRecord;
use crate::state::State;

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
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
    /// Only jobs whose arguments, parameters or last error contain this
    /// text, in any case (see [`crate::store::MAX_SEARCHED`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Only retries: jobs waiting for another run after a failed one (a
    /// Scheduled job with a last error), read like a search.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retries: bool,
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
            search: None,
            retries: false,
        }
    }

    /// Whether the listing keeps only some of the jobs it reads (a search,
    /// or retries only): read a bounded number at a time.
    pub fn filtered(&self) -> bool {
        self.search.is_some() || self.retries
    }
}

/// Most concurrency and ordering keys whose waiting jobs a listing of
/// Enqueued (or Scheduled) jobs reads, one query per key on its first page
/// (and on later pages, for a key with more waiting jobs than a page).
/// A listing that leaves keys out says so ([`Page::keys_left_out`]); each
/// key's own listing ([`Store::waiting_page`]) has them all.
pub const MAX_WAIT_KEYS: usize = 25;

/// Where a listing goes on: per lane (a bucket's shard, or a key's waiting
/// jobs), the last entry taken. Serializable, so a caller can hand it out
/// (signed) and take it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    lanes: Vec<Lane>,
    /// The keys whose waiting jobs are the lanes after the shards'.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    keys: Vec<String>,
    /// More keys had waiting jobs than the listing reads.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    cut: bool,
}

/// Where a lane's entries come from.
#[derive(Debug, Clone)]
enum Source {
    /// A shard of a bucket, in index time.
    Shard(Bucket, u32),
    /// A key's waiting jobs (`wait#<key>`), merged in by creation time.
    Key(String),
}

impl Source {
    fn partition(&self) -> String {
        match self {
            Source::Shard(bucket, shard) => bucket.key(*shard),
            Source::Key(key) => waiting_partition(key),
        }
    }
}

/// Where a query of index partition `partition` goes on after the entry
/// at (`at`, `pk`).
fn start_key(partition: &str, at: i64, pk: &str) -> Item {
    Item::from([
        (attr::BUCKET.to_owned(), s(partition)),
        (
            attr::BUCKET_AT.to_owned(),
            AttributeValue::N(at.to_string()),
        ),
        (attr::PK.to_owned(), s(pk)),
    ])
}

/// The index partition of a key's waiting jobs.
pub(crate) fn waiting_partition(key: &str) -> String {
    format!("{}#{key}", Bucket::Waiting.as_str())
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
    /// Jobs waiting for more than `MAX_WAIT_KEYS` keys: those of the
    /// keys left out are not in this listing.
    pub keys_left_out: bool,
    /// Jobs read for this page; for a search, those it looked at (more
    /// than it lists; a page that filled may have read a few past its last
    /// job, which the next page reads again).
    pub read: usize,
    /// The index time (when it entered its state; a Scheduled job's due
    /// time) of the last job read: how far a search got.
    pub searched_to: Option<DateTime<Utc>>,
}

/// What a page of a filtered listing keeps: the jobs `matches` says
/// yes to, at most `most`.
pub(super) struct Keep<'a> {
    pub matches: &'a (dyn Fn(&JobRecord) -> bool + Sync),
    pub most: usize,
}

/// Where an entry sorts in a listing's merge: its time (index time, or a
/// waiting job's creation), job key, and place after an entry of its lane
/// with that time and key.
type MergeKey = (i64, String, i64);

struct Entry {
    /// Where it sorts in the merge.
    at: MergeKey,
    /// Its index time, where its lane goes on after it.
    key_at: i64,
    pk: String,
    lane: usize,
}

impl Store {
    fn lanes(&self, state: State, keys: &[String]) -> Vec<Source> {
        Bucket::holding(state)
            .iter()
            .flat_map(|b| (0..self.shards).map(move |shard| Source::Shard(*b, shard)))
            .chain(keys.iter().cloned().map(Source::Key))
            .collect()
    }

    /// The concurrency and ordering keys with jobs waiting (their look by
    /// the timer is not "never"), at most `max` (by key), and whether there
    /// were more: one query per shard of the Limits bucket.
    pub(crate) async fn waiting_keys(&self, max: usize) -> Result<(Vec<String>, bool)> {
        let (pks, more) = self
            .shard_keys(Bucket::Limits, max + 1, |q| {
                q.key_condition_expression("#b = :b AND #at < :never")
                    .expression_attribute_names("#at", attr::BUCKET_AT)
                    .expression_attribute_values(":never", AttributeValue::N(NEVER_MS.to_string()))
            })
            .await?;
        let mut keys: Vec<String> = pks
            .iter()
            .filter_map(|pk| pk.strip_prefix("conc#"))
            .map(str::to_owned)
            .collect();
        keys.sort_unstable();
        let more = more || keys.len() > max;
        keys.truncate(max);
        Ok((keys, more))
    }

    /// The keys of up to `limit` entries of each shard of `bucket` (oldest
    /// first; `narrow` may add a key condition), all shards at once, and
    /// whether a shard had more.
    pub(super) async fn shard_keys(
        &self,
        bucket: Bucket,
        limit: usize,
        narrow: impl Fn(QueryFluentBuilder) -> QueryFluentBuilder,
    ) -> Result<(Vec<String>, bool)> {
        let mut set = tokio::task::JoinSet::new();
        for shard in 0..self.shards {
            let q = narrow(self.bucket_query(bucket, shard))
                .projection_expression("#pk")
                .expression_attribute_names("#pk", attr::PK)
                .limit(limit as i32);
            set.spawn(async move { q.send().await });
        }
        let mut keys = Vec::new();
        let mut more = false;
        while let Some(joined) = set.join_next().await {
            let out = joined
                .expect("query task does not panic")
                .map_err(|e| Error::aws(SERVICE, "Query", e))?;
            more |= out.last_evaluated_key.is_some();
            keys.extend(super::item::keys_of(out.items()));
        }
        Ok((keys, more))
    }

    /// One page of jobs in a state, newest first (by index time), at most
    /// `size` of them: one query per lane (bucket and shard, all at once),
    /// then one `BatchGetItem`. Processing jobs come oldest first: they sit
    /// at the old end of the Active bucket they share with Enqueued jobs
    /// (claims are roughly first in, first out), so a page finds them behind
    /// any backlog, the longest-running first.
    /// With a search or retries only ([`ListQuery::filtered`]), a page of
    /// the jobs that match (`store/search.rs`).
    pub async fn list_page(
        &self,
        query: &ListQuery,
        size: usize,
        cursor: Option<&Cursor>,
        now: DateTime<Utc>,
    ) -> Result<Page> {
        if query.filtered() {
            self.search_page(query, size, cursor, now).await
        } else {
            self.plain_page(query, size, cursor, now).await
        }
    }

    /// A page of the listing, its search and retries filter not looked at.
    pub(super) async fn plain_page(
        &self,
        query: &ListQuery,
        size: usize,
        cursor: Option<&Cursor>,
        now: DateTime<Utc>,
    ) -> Result<Page> {
        let (page, _) = self.page_keeping(query, size, cursor, now, None).await?;
        Ok(page)
    }

    /// A page of the listing that reads `size` entries and, with `keep`,
    /// lists only the jobs it matches, at most `keep.most`: when that many
    /// matched, the page ends at the last of them and its cursor goes on
    /// after it (the entries read past it are read again by the next page).
    /// Also returns how many entries the page searched (up to that end);
    /// the page's `read` is what it read.
    pub(super) async fn page_keeping(
        &self,
        query: &ListQuery,
        size: usize,
        cursor: Option<&Cursor>,
        now: DateTime<Utc>,
        keep: Option<Keep<'_>>,
    ) -> Result<(Page, usize)> {
        let size = size.clamp(1, 1000);
        let ascending = query.state == State::Processing;
        // Jobs waiting for a key's slot are Enqueued (or due Scheduled)
        // jobs in their key's own partition.
        let waits = matches!(query.state, State::Enqueued | State::Scheduled);
        let (keys, cut) = match cursor {
            Some(c) => (c.keys.clone(), c.cut),
            None if waits => self.waiting_keys(MAX_WAIT_KEYS).await?,
            None => (Vec::new(), false),
        };
        let lanes = self.lanes(query.state, &keys);
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
        for (i, source) in lanes.iter().enumerate() {
            let partition = source.partition();
            let start = match &positions[i] {
                Lane::Done => continue,
                Lane::Start => None,
                Lane::After { at, pk } => Some(start_key(&partition, *at, pk)),
            };
            let mut q = self
                .partition_query(partition)
                .scan_index_forward(ascending)
                .limit(size as i32)
                .set_exclusive_start_key(start);
            let mut filters = Vec::new();
            let window = (query.since.is_some() || query.until.is_some()).then(|| {
                (
                    ms(query.since.unwrap_or(DateTime::<Utc>::MIN_UTC)),
                    ms(query.until.unwrap_or(DateTime::<Utc>::MAX_UTC)),
                )
            });
            if let Some((since, until)) = window {
                q = q
                    .expression_attribute_values(":since", since)
                    .expression_attribute_values(":until", until);
                q = match source {
                    Source::Shard(..) => q
                        .key_condition_expression("#b = :b AND #at BETWEEN :since AND :until")
                        .expression_attribute_names("#at", attr::BUCKET_AT),
                    // A waiting job's index time is when it started waiting
                    // (or its number): its creation is what the window means.
                    Source::Key(_) => {
                        filters.push("#created BETWEEN :since AND :until");
                        q.expression_attribute_names("#created", attr::CREATED)
                    }
                };
            }
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
            let by_creation = matches!(lanes[lane], Source::Key(_));
            // The merge takes a prefix of each lane, so a lane's merge keys
            // must keep its order: an entry that would sort before the one
            // above it in its lane (a waiting job listed after a newer one
            // in its key's order; a tie in index time that the index broke
            // otherwise than by job id) sorts just after that one.
            let mut bound: Option<MergeKey> = None;
            for item in out.items() {
                let (Some(key_at), Some(pk)) =
                    (get_n::<i64>(item, attr::BUCKET_AT), get_s(item, attr::PK))
                else {
                    continue;
                };
                let own_at = if by_creation {
                    get_n::<i64>(item, attr::CREATED).unwrap_or(key_at)
                } else {
                    key_at
                };
                let own = (own_at, pk.to_owned(), 0);
                let at = match bound {
                    Some((at, pk, sub)) if ascending && own <= (at, pk.clone(), sub) => {
                        (at, pk, sub + 1)
                    }
                    Some((at, pk, sub)) if !ascending && own >= (at, pk.clone(), sub) => {
                        (at, pk, sub - 1)
                    }
                    _ => own,
                };
                bound = Some(at.clone());
                entries.push(Entry {
                    at,
                    key_at,
                    pk: pk.to_owned(),
                    lane,
                });
            }
            last_keys.insert(lane, out.last_evaluated_key);
        }
        entries.sort_by(|a, b| b.at.cmp(&a.at));
        if ascending {
            entries.reverse();
        }
        let mut taken: Vec<Entry> = entries.drain(..entries.len().min(size)).collect();
        let pks: Vec<String> = taken.iter().map(|e| e.pk.clone()).collect();
        let mut found: std::collections::HashMap<String, JobRecord> = Default::default();
        for item in self.get_items(&pks, false).await? {
            if let Some(pk) = get_s(&item, attr::PK).map(str::to_owned) {
                found.insert(pk, parse_job(&item)?);
            }
        }
        // The index is eventually consistent and a bucket can hold several
        // states: keep the jobs that are in the state asked for (and, with
        // `keep`, that it matches, up to its most).
        let mut jobs = Vec::new();
        let mut searched = pks.len();
        for (i, pk) in pks.iter().enumerate() {
            let Some(job) = found.remove(pk) else {
                continue;
            };
            if job.state != query.state || is_expired(&job, now) {
                continue;
            }
            if keep.as_ref().is_some_and(|k| !(k.matches)(&job)) {
                continue;
            }
            jobs.push(job);
            if keep.as_ref().is_some_and(|k| jobs.len() >= k.most) {
                searched = i + 1;
                break;
            }
        }
        // The entries read past the page's end are left over, like those
        // never taken.
        let past_end = taken.split_off(searched);
        entries.splice(0..0, past_end);
        // Each lane goes on after the last entry taken from it; a lane all
        // of whose entries were taken goes on where its query stopped.
        for (lane, last_key) in last_keys {
            let left_over = entries.iter().any(|e| e.lane == lane);
            let last_taken = taken.iter().rev().find(|e| e.lane == lane);
            positions[lane] = match (left_over, last_taken, last_key) {
                (true, Some(e), _) => Lane::After {
                    at: e.key_at,
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
        let next = (!positions.iter().all(|l| *l == Lane::Done)).then_some(Cursor {
            lanes: positions,
            keys,
            cut,
        });
        let page = Page {
            jobs,
            next,
            queries,
            keys_left_out: cut,
            read: pks.len(),
            searched_to: taken.last().map(|e| crate::clock::from_millis(e.at.0)),
        };
        Ok((page, searched))
    }

    /// One page of the jobs waiting for a slot of `key`, oldest (or, for an
    /// ordering key, lowest number) first: one query and one
    /// `BatchGetItem`. Jobs that stopped waiting since the index saw them
    /// are left out.
    pub async fn waiting_page(
        &self,
        key: &str,
        size: usize,
        cursor: Option<&Cursor>,
        now: DateTime<Utc>,
    ) -> Result<Page> {
        let (entries, next) = self
            .partition_page(waiting_partition(key), true, size, cursor)
            .await?;
        let pks = super::item::keys_of(&entries);
        let jobs = self
            .jobs_at(&pks)
            .await?
            .into_iter()
            .filter(|j| j.waiting_for.as_deref() == Some(key) && !is_expired(j, now))
            .collect();
        Ok(Page {
            jobs,
            next,
            queries: 1,
            keys_left_out: false,
            read: pks.len(),
            searched_to: None,
        })
    }

    /// One query of one index partition, oldest first when `forward`,
    /// going on from `cursor` (which must be of this partition): its
    /// entries and where the next page starts.
    pub(super) async fn partition_page(
        &self,
        partition: String,
        forward: bool,
        size: usize,
        cursor: Option<&Cursor>,
    ) -> Result<(Vec<Item>, Option<Cursor>)> {
        let start = match cursor.map(|c| (c.lanes.as_slice(), c.keys.as_slice())) {
            None => None,
            Some(([Lane::After { at, pk }], [k])) if *k == partition => {
                Some(start_key(&partition, *at, pk))
            }
            Some(_) => return Err(Error::invalid("cursor", "it belongs to another listing")),
        };
        let out = self
            .partition_query(partition.clone())
            .scan_index_forward(forward)
            .limit(size.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "Query", e))?;
        let next = out.last_evaluated_key.map(|k| Cursor {
            lanes: vec![Lane::After {
                at: get_n(&k, attr::BUCKET_AT).unwrap_or(0),
                pk: get_s(&k, attr::PK).unwrap_or_default().to_owned(),
            }],
            keys: vec![partition],
            cut: false,
        });
        Ok((out.items.unwrap_or_default(), next))
    }

    /// The jobs under `pks` (eventually consistent), in that order, those
    /// found.
    pub(super) async fn jobs_at(&self, pks: &[String]) -> Result<Vec<JobRecord>> {
        let mut found: std::collections::HashMap<String, JobRecord> = Default::default();
        for item in self.get_items(pks, false).await? {
            let job = parse_job(&item)?;
            found.insert(super::schema::job_key(&job.id), job);
        }
        Ok(pks.iter().filter_map(|pk| found.remove(pk)).collect())
    }
}
