//! The DynamoDB store: one item per job, every state change one conditional
//! `UpdateItem` that also appends the history entry (design invariant 1).
//!
//! The table design (keys, indexes, sharding, TTL, size bounds) is described
//! in docs/architecture.md; the attribute names are the constants in [`attr`].

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update as TxUpdate, WriteRequest,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::{from_millis, to_millis};
use crate::error::{Error, Result};
use crate::job::{
    Continuation, ContinueOn, HistoryEntry, JobId, JobOptions, JobRecord, MAX_CONTINUATIONS,
    MAX_HISTORY, Parent,
};
use crate::retry::RetryPolicy;
use crate::state::{State, can_transition};

/// Attribute names of a job item.
pub mod attr {
    /// Partition key: `job#<id>`.
    pub const PK: &str = "pk";
    /// Job kind.
    pub const KIND: &str = "kind";
    /// Arguments, as a JSON string (exact, whatever the numbers).
    pub const ARGS: &str = "args";
    /// Queue name.
    pub const QUEUE: &str = "queue";
    /// State name.
    pub const STATE: &str = "state";
    /// Version, incremented by every state change.
    pub const VERSION: &str = "v";
    /// Runs so far (claims).
    pub const ATTEMPT: &str = "attempt";
    /// Creation time, epoch ms.
    pub const CREATED: &str = "created";
    /// Last change, epoch ms.
    pub const UPDATED: &str = "updated";
    /// Scheduled: due time, epoch ms.
    pub const RUN_AT: &str = "run_at";
    /// Scheduled: the message is already in SQS with a delay.
    pub const HANDED_OFF: &str = "handed_off";
    /// Processing: lease deadline, epoch ms.
    pub const LEASE: &str = "lease";
    /// Processing: version of the message that started the run.
    pub const CLAIMED_V: &str = "claimed_v";
    /// Continuation: parent id.
    pub const PARENT: &str = "parent";
    /// Continuation: condition.
    pub const PARENT_ON: &str = "parent_on";
    /// Continuations waiting on this job: list of `{id, on}`.
    pub const CONTS: &str = "conts";
    /// Last error message.
    pub const LAST_ERROR: &str = "last_error";
    /// DynamoDB TTL, epoch seconds (final states only).
    pub const TTL: &str = "ttl";
    /// Wake-ups the timer re-sent since the job's last state change (for the
    /// repair back-off).
    pub const RESENDS: &str = "resends";
    /// Per-job retention in seconds (absent: the global retention).
    pub const KEEP: &str = "keep";
    /// History entries.
    pub const HISTORY: &str = "history";
    /// Retry policy (map).
    pub const RETRY: &str = "retry";
    /// Timeout, seconds.
    pub const TIMEOUT: &str = "timeout";
    /// `by-state` index partition: `<State>#<shard>`.
    pub const STATE_KEY: &str = "state_key";
    /// `by-state` index sort: last change, epoch ms.
    pub const STATE_AT: &str = "state_at";
    /// `by-due` index partition: `due#<shard>`; present only while the timer
    /// must look at the job.
    pub const DUE_KEY: &str = "due_key";
    /// `by-due` index sort: when the timer must look, epoch ms.
    pub const DUE_AT: &str = "due_at";
}

/// Index of jobs by state, sharded, newest last.
pub const INDEX_BY_STATE: &str = "by-state";
/// Sparse index of jobs the timer must look at, sharded, by due time.
pub const INDEX_BY_DUE: &str = "by-due";

const SERVICE: &str = "DynamoDB";

/// How often [`Store::apply`] writes again when continuations are being added
/// to a job while it is being finished.
const CONFLICT_ROUNDS: usize = 4;

/// How often a write DynamoDB rejected because a transaction on the same
/// item was in progress (`TransactionConflict`) is made again. The SDK does
/// not retry these; a transaction takes milliseconds, so a short pause
/// suffices.
const CONFLICT_RETRIES: u32 = 5;

/// Sends a request, and again up to [`CONFLICT_RETRIES`] times while its
/// result is a transaction conflict, pausing 10, 20, 40, 80, 160 ms, each
/// with up to half again at random so that two conflicting writers do not
/// collide again.
async fn send_through_conflicts<R, Fut>(
    send: impl Fn() -> Fut,
    is_conflict: impl Fn(&R) -> bool,
) -> R
where
    Fut: std::future::Future<Output = R>,
{
    let mut round = 0;
    loop {
        let res = send().await;
        if !is_conflict(&res) || round == CONFLICT_RETRIES {
            return res;
        }
        let base = 10u64 << round;
        let jitter = rand::random_range(0..=base / 2);
        tokio::time::sleep(Duration::from_millis(base + jitter)).await;
        round += 1;
    }
}

/// The job table.
#[derive(Debug, Clone)]
pub struct Store {
    ddb: DynamoClient,
    table: String,
    shards: u32,
    retention: Duration,
    /// How long after a job with continuations reached a final state the
    /// timer checks that they were released.
    grace: Duration,
}

/// What a state change writes besides the state itself.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub to: State,
    pub entries: Vec<HistoryEntry>,
    /// Scheduled: due time and whether the message is already in SQS.
    pub run_at: Option<(DateTime<Utc>, bool)>,
    /// Processing: lease deadline and the claiming message's version.
    pub lease: Option<(DateTime<Utc>, u64)>,
    /// When the timer should look at the job next (`by-due` index).
    pub due_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub attempt: AttemptChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptChange {
    Keep,
    Increment,
    Reset,
}

impl Change {
    pub fn new(to: State, entry: HistoryEntry) -> Self {
        Change {
            to,
            entries: vec![entry],
            run_at: None,
            lease: None,
            due_at: None,
            last_error: None,
            attempt: AttemptChange::Keep,
        }
    }
}

/// What a write expects to find.
#[derive(Debug, Clone)]
pub(crate) struct Expect {
    /// Exact version, if known.
    pub version: Option<u64>,
    /// One of these states.
    pub states: Vec<State>,
    /// A further condition.
    pub extra: Extra,
    /// The history length the writer saw, if it read the item; lets the write
    /// compact the history instead of appending past [`MAX_HISTORY`].
    pub history: Option<Vec<HistoryEntry>>,
    /// How many continuations the writer saw on the job, if it read the item.
    /// A write to a final state is conditional on this count (see
    /// [`Store::apply`]).
    pub conts: Option<usize>,
}

impl Expect {
    pub fn at(job: &JobRecord) -> Self {
        Expect {
            version: Some(job.version),
            states: vec![job.state],
            extra: Extra::None,
            history: Some(job.history.clone()),
            conts: Some(job.continuations.len()),
        }
    }
}

/// A condition beyond state and version.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Extra {
    None,
    /// Processing, started by message version `claimed_v`, lease over by `now`.
    LeaseExpired {
        claimed_v: u64,
        now: DateTime<Utc>,
    },
    /// Scheduled and due by this instant.
    DueBy(DateTime<Utc>),
}

/// Why a conditional write did not happen.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The condition failed; the item as it was (None if missing).
    Condition(Option<Box<JobRecord>>),
    Other(Error),
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        WriteError::Other(e)
    }
}

/// An update expression under construction; every attribute name is aliased
/// (`state`, `ttl` and others are reserved words).
#[derive(Default)]
struct Expr {
    sets: Vec<String>,
    removes: Vec<String>,
    conds: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn n(&mut self, attr: &str) -> String {
        let alias = format!("#{attr}");
        self.names.insert(alias.clone(), attr.to_owned());
        alias
    }
    fn v(&mut self, name: &str, value: AttributeValue) -> String {
        let key = format!(":{name}");
        self.values.insert(key.clone(), value);
        key
    }
    fn set(&mut self, attr: &str, value: AttributeValue) {
        let n = self.n(attr);
        let v = self.v(attr, value);
        self.sets.push(format!("{n} = {v}"));
    }
    fn set_or_remove(&mut self, attr: &str, value: Option<AttributeValue>) {
        match value {
            Some(v) => self.set(attr, v),
            None => {
                let n = self.n(attr);
                self.removes.push(n);
            }
        }
    }
    fn cond(&mut self, c: String) {
        self.conds.push(c);
    }
    fn update_expression(&self) -> String {
        let mut out = format!("SET {}", self.sets.join(", "));
        if !self.removes.is_empty() {
            out.push_str(" REMOVE ");
            out.push_str(&self.removes.join(", "));
        }
        out
    }
    fn condition_expression(&self) -> Option<String> {
        (!self.conds.is_empty()).then(|| self.conds.join(" AND "))
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn ms(t: DateTime<Utc>) -> AttributeValue {
    n(to_millis(t))
}

pub(crate) fn job_key(id: &JobId) -> String {
    format!("job#{id}")
}

/// FNV-1a: a stable hash for shard assignment (std's hasher is not
/// guaranteed stable across releases).
pub(crate) fn shard_of(id: &str, shards: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % shards.max(1)
}

fn to_av<T: Serialize>(value: &T) -> AttributeValue {
    serde_dynamo::to_attribute_value(value).expect("plain data serializes")
}

/// Keeps the first entry (creation) and the newest ones.
pub(crate) fn compact_history(mut history: Vec<HistoryEntry>) -> Vec<HistoryEntry> {
    if history.len() <= MAX_HISTORY {
        return history;
    }
    let dropped = history.len() - MAX_HISTORY;
    let tail = history.split_off(dropped + 1);
    let mut first = history.swap_remove(0);
    first = first.with(
        "history_truncated",
        format!("{dropped} older entries dropped"),
    );
    let mut out = Vec::with_capacity(MAX_HISTORY);
    out.push(first);
    out.extend(tail);
    out
}

impl Store {
    /// A store over a table.
    pub fn new(
        ddb: DynamoClient,
        table: impl Into<String>,
        shards: u32,
        retention: Duration,
    ) -> Self {
        Store {
            ddb,
            table: table.into(),
            shards: shards.max(1),
            retention,
            grace: crate::config::DEFAULT_GRACE,
        }
    }

    /// Sets the repair grace period: how long after a job with
    /// continuations reached a final state the timer makes sure they were
    /// released (default [`crate::config::DEFAULT_GRACE`]).
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The DynamoDB client.
    pub fn dynamodb(&self) -> &DynamoClient {
        &self.ddb
    }

    /// Number of index shards.
    pub fn shards(&self) -> u32 {
        self.shards
    }

    fn ttl_for(
        &self,
        state: State,
        keep: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Option<AttributeValue> {
        let keep = keep.unwrap_or(self.retention);
        state
            .expires()
            .then(|| n(now.timestamp() + keep.as_secs() as i64))
    }

    /// The full item of a new job.
    pub(crate) fn new_item(
        &self,
        job: &JobRecord,
        due_at: Option<DateTime<Utc>>,
    ) -> HashMap<String, AttributeValue> {
        let shard = shard_of(job.id.as_str(), self.shards);
        let mut item = HashMap::from([
            (attr::PK.to_owned(), s(job_key(&job.id))),
            (attr::KIND.to_owned(), s(&job.kind)),
            (attr::ARGS.to_owned(), s(job.args.to_string())),
            (attr::QUEUE.to_owned(), s(&job.options.queue)),
            (attr::STATE.to_owned(), s(job.state.as_str())),
            (attr::VERSION.to_owned(), n(job.version)),
            (attr::ATTEMPT.to_owned(), n(job.attempt)),
            (attr::CREATED.to_owned(), ms(job.created_at)),
            (attr::UPDATED.to_owned(), ms(job.updated_at)),
            (attr::HISTORY.to_owned(), to_av(&job.history)),
            (attr::RETRY.to_owned(), to_av(&job.options.retry)),
            (attr::TIMEOUT.to_owned(), n(job.options.timeout.as_secs())),
            (
                attr::STATE_KEY.to_owned(),
                s(format!("{}#{shard}", job.state)),
            ),
            (attr::STATE_AT.to_owned(), ms(job.updated_at)),
        ]);
        if let Some(at) = job.run_at {
            item.insert(attr::RUN_AT.to_owned(), ms(at));
            if job.handed_off {
                item.insert(attr::HANDED_OFF.to_owned(), AttributeValue::Bool(true));
            }
        }
        if let Some(p) = &job.parent {
            item.insert(attr::PARENT.to_owned(), s(p.id.as_str()));
            item.insert(attr::PARENT_ON.to_owned(), to_av(&p.on));
        }
        if let Some(e) = &job.last_error {
            item.insert(attr::LAST_ERROR.to_owned(), s(e));
        }
        if let Some(keep) = job.options.retention {
            item.insert(attr::KEEP.to_owned(), n(keep.as_secs()));
        }
        if let Some(ttl) = self.ttl_for(job.state, job.options.retention, job.updated_at) {
            item.insert(attr::TTL.to_owned(), ttl);
        }
        if let Some(due) = due_at {
            item.insert(attr::DUE_KEY.to_owned(), s(format!("due#{shard}")));
            item.insert(attr::DUE_AT.to_owned(), ms(due));
        }
        item
    }

    /// Creates a job; fails with [`Error::AlreadyExists`] if the id is taken.
    pub(crate) async fn insert(
        &self,
        job: &JobRecord,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let res = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.new_item(job, due_at)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(Error::AlreadyExists { id: job.id.clone() })
            }
            Err(e) => Err(Error::aws(SERVICE, "PutItem", e)),
        }
    }

    /// Creates many jobs with `BatchWriteItem` (25 per call), retrying
    /// unprocessed items. Ids must be fresh: batch writes cannot be conditional.
    pub(crate) async fn insert_many(
        &self,
        items: Vec<HashMap<String, AttributeValue>>,
    ) -> Result<()> {
        for chunk in items.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    WriteRequest::builder()
                        .put_request(
                            aws_sdk_dynamodb::types::PutRequest::builder()
                                .set_item(Some(item.clone()))
                                .build()
                                .expect("item set"),
                        )
                        .build()
                })
                .collect();
            let mut backoff = Duration::from_millis(50);
            for round in 0.. {
                let out = self
                    .ddb
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| Error::aws(SERVICE, "BatchWriteItem", e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if round >= 8 {
                    return Err(Error::aws(
                        SERVICE,
                        "BatchWriteItem",
                        std::io::Error::other(format!(
                            "{} items still unprocessed after {round} rounds",
                            requests.len()
                        )),
                    ));
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Ok(())
    }

    /// Reads a job (strongly consistent). An item past its expiry counts as
    /// gone even before DynamoDB's TTL sweep removes it.
    pub async fn get(&self, id: &JobId, now: DateTime<Utc>) -> Result<Option<JobRecord>> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, s(job_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "GetItem", e))?;
        match out.item {
            Some(item) => {
                let job = parse_item(&item)?;
                Ok((!is_expired(&job, now)).then_some(job))
            }
            None => Ok(None),
        }
    }

    /// Takes a job off the `by-due` index if it is still at `version`: its
    /// continuations are released. Returns false if it has changed.
    pub(crate) async fn clear_due(&self, id: &JobId, version: u64) -> Result<bool> {
        let res = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(job_key(id)))
            .update_expression("REMOVE #due_key, #due_at, #resends")
            .condition_expression("#v = :v")
            .expression_attribute_names("#due_key", attr::DUE_KEY)
            .expression_attribute_names("#due_at", attr::DUE_AT)
            .expression_attribute_names("#resends", attr::RESENDS)
            .expression_attribute_names("#v", attr::VERSION)
            .expression_attribute_values(":v", n(version))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(Error::aws(SERVICE, "UpdateItem", e)),
        }
    }

    /// Applies a state change with one conditional `UpdateItem`, returning the
    /// job as written. The transition is checked against
    /// [`can_transition`] for every expected state first.
    ///
    /// A write to a final state also decides, in the same write, whether the
    /// timer must later make sure the job's continuations were released: it
    /// is conditional on the number of continuations the writer knows of
    /// and, when there are any, keeps the job on the `by-due` index a grace
    /// period ahead. The releaser clears that entry when it is done; if it
    /// crashed first, the timer releases them (design invariant 4). A
    /// continuation added since the writer read the job fails the condition
    /// without a version change, and the write is made again with the count
    /// the failed write returned (no read).
    pub(crate) async fn apply(
        &self,
        id: &JobId,
        expect: &Expect,
        change: Change,
        now: DateTime<Utc>,
    ) -> Result<JobRecord, WriteError> {
        let mut conts = expect.conts.unwrap_or(0);
        for _ in 0..CONFLICT_ROUNDS {
            match self
                .apply_once(id, expect, change.clone(), conts, now)
                .await
            {
                Err(WriteError::Condition(Some(old)))
                    if change.to.is_final()
                        && old.continuations.len() != conts
                        && expect.version.is_none_or(|v| v == old.version)
                        && expect.states.contains(&old.state) =>
                {
                    conts = old.continuations.len();
                }
                other => return other,
            }
        }
        Err(WriteError::Other(Error::Conflict { id: id.clone() }))
    }

    async fn apply_once(
        &self,
        id: &JobId,
        expect: &Expect,
        change: Change,
        conts: usize,
        now: DateTime<Utc>,
    ) -> Result<JobRecord, WriteError> {
        // Each expected state must reach the target through the entries
        // recorded (a due Scheduled job is claimed as Scheduled → Enqueued →
        // Processing in one write).
        debug_assert_eq!(change.entries.last().map(|e| e.state), Some(change.to));
        for from in &expect.states {
            let mut at = *from;
            for entry in &change.entries {
                debug_assert!(
                    can_transition(at, entry.state),
                    "refused transition {at} -> {} reached the store",
                    entry.state
                );
                at = entry.state;
            }
        }
        let mut e = Expr::default();
        let shard = shard_of(id.as_str(), self.shards);

        // Conditions.
        let pk = e.n(attr::PK);
        e.cond(format!("attribute_exists({pk})"));
        if let Some(v) = expect.version {
            let name = e.n(attr::VERSION);
            let val = e.v("expected_v", n(v));
            e.cond(format!("{name} = {val}"));
        }
        let state_name = e.n(attr::STATE);
        let states: Vec<String> = expect
            .states
            .iter()
            .enumerate()
            .map(|(i, st)| e.v(&format!("from{i}"), s(st.as_str())))
            .collect();
        e.cond(format!("{state_name} IN ({})", states.join(", ")));
        match expect.extra {
            Extra::None => {}
            Extra::LeaseExpired { claimed_v, now } => {
                let lease = e.n(attr::LEASE);
                let now = e.v("now_ms", ms(now));
                let cv_name = e.n(attr::CLAIMED_V);
                let cv = e.v("claimed_v", n(claimed_v));
                e.cond(format!("{lease} < {now} AND {cv_name} = {cv}"));
            }
            Extra::DueBy(by) => {
                let run_at = e.n(attr::RUN_AT);
                let by = e.v("due_by", ms(by));
                e.cond(format!("{run_at} <= {by}"));
            }
        }
        // Never revive an item that has expired but not yet been swept.
        let ttl = e.n(attr::TTL);
        let now_s = e.v("now_s", n(now.timestamp()));
        e.cond(format!("(attribute_not_exists({ttl}) OR {ttl} > {now_s})"));
        // A final job with continuations stays due for their release.
        let due_at = if change.to.is_final() {
            let c = e.n(attr::CONTS);
            let k = e.v("conts_n", n(conts));
            e.cond(format!("(attribute_not_exists({c}) OR size({c}) = {k})"));
            (conts > 0).then(|| now + crate::timing::chrono_dur(self.grace))
        } else {
            change.due_at
        };

        // State and derived index keys.
        e.set(attr::STATE, s(change.to.as_str()));
        e.set(attr::UPDATED, ms(now));
        e.set(attr::STATE_KEY, s(format!("{}#{shard}", change.to)));
        e.set(attr::STATE_AT, ms(now));
        let v_name = e.n(attr::VERSION);
        let one = e.v("one", n(1));
        e.sets.push(format!("{v_name} = {v_name} + {one}"));
        match change.attempt {
            AttemptChange::Keep => {}
            AttemptChange::Increment => {
                let a = e.n(attr::ATTEMPT);
                e.sets.push(format!("{a} = {a} + {one}"));
            }
            AttemptChange::Reset => e.set(attr::ATTEMPT, n(0)),
        }

        // History: rewrite when the writer knows it and it would overflow,
        // otherwise append.
        match &expect.history {
            Some(old) if old.len() + change.entries.len() > MAX_HISTORY => {
                let mut all = old.clone();
                all.extend(change.entries.iter().cloned());
                e.set(attr::HISTORY, to_av(&compact_history(all)));
            }
            _ => {
                let h = e.n(attr::HISTORY);
                let entries = e.v("entries", to_av(&change.entries));
                e.sets.push(format!("{h} = list_append({h}, {entries})"));
            }
        }

        if change.to.expires() {
            // The job's own retention if it has one, read in the write
            // itself: `ttl = if_not_exists(keep, <global>) + now`.
            let (ttl, keep) = (e.n(attr::TTL), e.n(attr::KEEP));
            let global = e.v("retention", n(self.retention.as_secs()));
            let now_s = e.v("ttl_now", n(now.timestamp()));
            e.sets
                .push(format!("{ttl} = if_not_exists({keep}, {global}) + {now_s}"));
        } else {
            e.set_or_remove(attr::TTL, None);
        }
        e.set_or_remove(attr::RESENDS, None);
        e.set_or_remove(attr::RUN_AT, change.run_at.map(|(at, _)| ms(at)));
        e.set_or_remove(
            attr::HANDED_OFF,
            change
                .run_at
                .filter(|(_, handed)| *handed)
                .map(|_| AttributeValue::Bool(true)),
        );
        e.set_or_remove(attr::LEASE, change.lease.map(|(until, _)| ms(until)));
        e.set_or_remove(attr::CLAIMED_V, change.lease.map(|(_, v)| n(v)));
        e.set_or_remove(attr::DUE_KEY, due_at.map(|_| s(format!("due#{shard}"))));
        e.set_or_remove(attr::DUE_AT, due_at.map(ms));
        if let Some(err) = &change.last_error {
            e.set(attr::LAST_ERROR, s(err));
        }

        let request = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(job_key(id)))
            .update_expression(e.update_expression())
            .set_condition_expression(e.condition_expression())
            .set_expression_attribute_names(Some(e.names))
            .set_expression_attribute_values(Some(e.values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let res = send_through_conflicts(
            || request.clone().send(),
            |res| matches!(res, Err(SdkError::ServiceError(e)) if e.err().is_transaction_conflict_exception()),
        )
        .await;
        match res {
            Ok(out) => {
                let item = out.attributes.ok_or_else(|| Error::Corrupt {
                    key: job_key(id),
                    message: "UpdateItem returned no attributes".to_owned(),
                })?;
                Ok(parse_item(&item)?)
            }
            Err(SdkError::ServiceError(err))
                if err.err().is_conditional_check_failed_exception() =>
            {
                let item = match err.into_err() {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                let old = match item {
                    Some(item) => {
                        let job = parse_item(&item)?;
                        (!is_expired(&job, now)).then(|| Box::new(job))
                    }
                    None => None,
                };
                Err(WriteError::Condition(old))
            }
            Err(e) => Err(WriteError::Other(Error::aws(SERVICE, "UpdateItem", e))),
        }
    }

    /// Creates a continuation in Awaiting and records it on its parent, in one
    /// transaction; the parent must exist, not be final, and have fewer than
    /// [`MAX_CONTINUATIONS`]. Returns the parent as it was when the condition
    /// failed (None: it does not exist), or [`Error::Invalid`] when it has
    /// as many continuations as a job can hold.
    pub(crate) async fn insert_continuation(
        &self,
        child: &JobRecord,
        now: DateTime<Utc>,
    ) -> Result<(), WriteError> {
        let parent = child.parent.as_ref().expect("continuation has a parent");
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.new_item(child, None)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .build()
            .map_err(|e| Error::aws(SERVICE, "TransactWriteItems", e))?;
        let cont = Continuation {
            id: child.id.clone(),
            on: parent.on,
        };
        let update = TxUpdate::builder()
            .table_name(&self.table)
            .key(attr::PK, s(job_key(&parent.id)))
            .update_expression("SET #conts = list_append(if_not_exists(#conts, :empty), :c)")
            .condition_expression(
                "attribute_exists(#pk) AND NOT (#state IN (:succeeded, :deleted)) \
                 AND (attribute_not_exists(#ttl) OR #ttl > :now_s) \
                 AND (attribute_not_exists(#conts) OR size(#conts) < :max_conts)",
            )
            .expression_attribute_names("#conts", attr::CONTS)
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#state", attr::STATE)
            .expression_attribute_names("#ttl", attr::TTL)
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .expression_attribute_values(":c", AttributeValue::L(vec![to_av(&cont)]))
            .expression_attribute_values(":succeeded", s(State::Succeeded.as_str()))
            .expression_attribute_values(":deleted", s(State::Deleted.as_str()))
            .expression_attribute_values(":now_s", n(now.timestamp()))
            .expression_attribute_values(":max_conts", n(MAX_CONTINUATIONS))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| Error::aws(SERVICE, "TransactWriteItems", e))?;
        let request = self
            .ddb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build());
        let res = send_through_conflicts(|| request.clone().send(), is_transaction_conflict).await;
        match res {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(err)) => {
                let err = err.into_err();
                if let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc) = &err {
                    let reasons = tc.cancellation_reasons();
                    let failed = |i: usize| {
                        reasons
                            .get(i)
                            .and_then(|r| r.code())
                            .is_some_and(|c| c == "ConditionalCheckFailed")
                    };
                    if failed(0) {
                        return Err(WriteError::Other(Error::AlreadyExists {
                            id: child.id.clone(),
                        }));
                    }
                    if failed(1) {
                        let parent_item = reasons.get(1).and_then(|r| r.item());
                        let old = match parent_item {
                            Some(item) => {
                                let job = parse_item(item)?;
                                (!is_expired(&job, now)).then(|| Box::new(job))
                            }
                            None => None,
                        };
                        if let Some(p) = old.as_ref().filter(|p| {
                            !p.state.is_final() && p.continuations.len() >= MAX_CONTINUATIONS
                        }) {
                            return Err(WriteError::Other(Error::invalid(
                                "continuation",
                                format!(
                                    "job {} already has {} continuations, the most a job can have; \
                                     chain them (a continuation of a continuation) or fan out from one job",
                                    p.id,
                                    p.continuations.len()
                                ),
                            )));
                        }
                        return Err(WriteError::Condition(old));
                    }
                }
                Err(WriteError::Other(Error::aws(
                    SERVICE,
                    "TransactWriteItems",
                    err,
                )))
            }
            Err(e) => Err(WriteError::Other(Error::aws(
                SERVICE,
                "TransactWriteItems",
                e,
            ))),
        }
    }

    /// A query of one shard of the `by-state` index for one state.
    fn state_query(
        &self,
        state: State,
        shard: u32,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.ddb
            .query()
            .table_name(&self.table)
            .index_name(INDEX_BY_STATE)
            .key_condition_expression("#k = :k")
            .expression_attribute_names("#k", attr::STATE_KEY)
            .expression_attribute_values(":k", s(format!("{state}#{shard}")))
    }

    /// How many jobs are in a state (all shards; a `Select=COUNT` query per
    /// shard, paginated). Expired final jobs TTL has not removed yet count.
    pub async fn count_by_state(&self, state: State) -> Result<u64> {
        let mut total = 0u64;
        for shard in 0..self.shards {
            let mut start = None;
            loop {
                let out = self
                    .state_query(state, shard)
                    .select(aws_sdk_dynamodb::types::Select::Count)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| Error::aws(SERVICE, "Query", e))?;
                total += out.count.max(0) as u64;
                start = out.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// Jobs in a state, newest first, up to `limit`, across all shards.
    pub async fn list_by_state(
        &self,
        state: State,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<JobRecord>> {
        self.list(state, None, limit, now).await
    }

    /// Jobs in a state, optionally only those of one queue, newest first, up
    /// to `limit`, across all shards.
    pub async fn list(
        &self,
        state: State,
        queue: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<JobRecord>> {
        let mut keys = Vec::new();
        for shard in 0..self.shards {
            let mut start = None;
            loop {
                let out = self
                    .state_query(state, shard)
                    .scan_index_forward(false)
                    .limit(limit.min(1000) as i32)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| Error::aws(SERVICE, "Query", e))?;
                for item in out.items() {
                    let at = item
                        .get(attr::STATE_AT)
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse::<i64>().ok())
                        .unwrap_or(0);
                    if queue.is_some_and(|q| get_s(item, attr::QUEUE) != Some(q)) {
                        continue;
                    }
                    if let Some(AttributeValue::S(pk)) = item.get(attr::PK) {
                        keys.push((at, pk.clone()));
                    }
                }
                start = out.last_evaluated_key;
                if start.is_none() || keys.len() >= limit * (shard as usize + 1) {
                    break;
                }
            }
        }
        keys.sort_by(|a, b| b.cmp(a));
        keys.truncate(limit);
        let pks: Vec<String> = keys.into_iter().map(|(_, pk)| pk).collect();
        // The index is eventually consistent: keep only jobs still in the
        // state asked for.
        Ok(self
            .get_many(&pks, now)
            .await?
            .into_iter()
            .filter(|j| j.state == state)
            .collect())
    }

    /// Reads items by key with `BatchGetItem` (100 keys a call, unprocessed
    /// keys retried), in the order given; missing and expired jobs are left
    /// out.
    async fn get_many(&self, pks: &[String], now: DateTime<Utc>) -> Result<Vec<JobRecord>> {
        let mut found: HashMap<String, JobRecord> = HashMap::with_capacity(pks.len());
        for chunk in pks.chunks(100) {
            let keys = chunk
                .iter()
                .map(|pk| HashMap::from([(attr::PK.to_owned(), s(pk))]))
                .collect();
            let mut request = Some(
                aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .build()
                    .map_err(|e| Error::aws(SERVICE, "BatchGetItem", e))?,
            );
            let mut rounds = 0;
            while let Some(req) = request.take() {
                rounds += 1;
                let out = self
                    .ddb
                    .batch_get_item()
                    .request_items(&self.table, req)
                    .send()
                    .await
                    .map_err(|e| Error::aws(SERVICE, "BatchGetItem", e))?;
                for item in out
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    let job = parse_item(&item)?;
                    if !is_expired(&job, now) {
                        found.insert(job_key(&job.id), job);
                    }
                }
                request = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
                if request.is_some() {
                    if rounds >= 8 {
                        return Err(Error::aws(
                            SERVICE,
                            "BatchGetItem",
                            std::io::Error::other(
                                "keys still unprocessed after 8 rounds (throttled)",
                            ),
                        ));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50 << rounds)).await;
                }
            }
        }
        Ok(pks.iter().filter_map(|pk| found.remove(pk)).collect())
    }
}

/// Whether a transaction was cancelled only because another transaction or
/// write on one of its items was in progress (no condition failed).
pub(crate) fn is_transaction_conflict<O, R>(
    res: &std::result::Result<
        O,
        SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
    >,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    let Err(SdkError::ServiceError(e)) = res else {
        return false;
    };
    match e.err() {
        E::TransactionCanceledException(tc) => {
            let codes: Vec<&str> = tc
                .cancellation_reasons()
                .iter()
                .filter_map(|r| r.code())
                .collect();
            codes.contains(&"TransactionConflict") && !codes.contains(&"ConditionalCheckFailed")
        }
        _ => false,
    }
}

fn is_expired(job: &JobRecord, now: DateTime<Utc>) -> bool {
    job.expires_at.is_some_and(|at| at <= now)
}

fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn get_n<T: std::str::FromStr>(item: &HashMap<String, AttributeValue>, key: &str) -> Option<T> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Reads a job item.
pub(crate) fn parse_item(item: &HashMap<String, AttributeValue>) -> Result<JobRecord> {
    let key = get_s(item, attr::PK).unwrap_or("?").to_owned();
    let corrupt = |message: String| Error::Corrupt {
        key: key.clone(),
        message,
    };
    let id = key
        .strip_prefix("job#")
        .ok_or_else(|| corrupt("key is not job#<id>".into()))
        .and_then(|id| JobId::parse(id).map_err(|e| corrupt(e.to_string())))?;
    let req_s = |k: &str| get_s(item, k).ok_or_else(|| corrupt(format!("missing {k}")));
    let req_ms = |k: &str| {
        get_n::<i64>(item, k)
            .map(from_millis)
            .ok_or_else(|| corrupt(format!("missing {k}")))
    };
    let state: State = req_s(attr::STATE)?
        .parse()
        .map_err(|e: crate::state::UnknownState| corrupt(e.to_string()))?;
    let args: serde_json::Value = serde_json::from_str(req_s(attr::ARGS)?)
        .map_err(|e| corrupt(format!("args are not JSON: {e}")))?;
    let from_av = |k: &str| -> Result<Option<serde_json::Value>> {
        item.get(k)
            .map(|v| {
                serde_dynamo::from_attribute_value(v.clone())
                    .map_err(|e| corrupt(format!("{k}: {e}")))
            })
            .transpose()
    };
    let history: Vec<HistoryEntry> = match from_av(attr::HISTORY)? {
        Some(v) => serde_json::from_value(v).map_err(|e| corrupt(format!("history: {e}")))?,
        None => Vec::new(),
    };
    let retry: RetryPolicy = match from_av(attr::RETRY)? {
        Some(v) => serde_json::from_value(v).map_err(|e| corrupt(format!("retry: {e}")))?,
        None => RetryPolicy::default(),
    };
    let conts: Vec<Continuation> = match from_av(attr::CONTS)? {
        Some(v) => serde_json::from_value(v).map_err(|e| corrupt(format!("conts: {e}")))?,
        None => Vec::new(),
    };
    let parent = match get_s(item, attr::PARENT) {
        Some(p) => {
            let on: ContinueOn = match from_av(attr::PARENT_ON)? {
                Some(v) => {
                    serde_json::from_value(v).map_err(|e| corrupt(format!("parent_on: {e}")))?
                }
                None => ContinueOn::default(),
            };
            Some(Parent {
                id: JobId::parse(p).map_err(|e| corrupt(e.to_string()))?,
                on,
            })
        }
        None => None,
    };
    Ok(JobRecord {
        id,
        kind: req_s(attr::KIND)?.to_owned(),
        args,
        options: JobOptions {
            queue: req_s(attr::QUEUE)?.to_owned(),
            retry,
            timeout: Duration::from_secs(
                get_n(item, attr::TIMEOUT).unwrap_or(crate::job::DEFAULT_TIMEOUT.as_secs()),
            ),
            retention: get_n(item, attr::KEEP).map(Duration::from_secs),
        },
        state,
        version: get_n(item, attr::VERSION).ok_or_else(|| corrupt("missing v".into()))?,
        attempt: get_n(item, attr::ATTEMPT).unwrap_or(0),
        created_at: req_ms(attr::CREATED)?,
        updated_at: req_ms(attr::UPDATED)?,
        run_at: get_n::<i64>(item, attr::RUN_AT).map(from_millis),
        handed_off: matches!(item.get(attr::HANDED_OFF), Some(AttributeValue::Bool(true))),
        lease_until: get_n::<i64>(item, attr::LEASE).map(from_millis),
        claimed_version: get_n(item, attr::CLAIMED_V),
        parent,
        continuations: conts,
        last_error: get_s(item, attr::LAST_ERROR).map(str::to_owned),
        expires_at: get_n::<i64>(item, attr::TTL).and_then(|s| DateTime::from_timestamp(s, 0)),
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("abc", 8), shard_of("abc", 8));
        let mut counts = [0u32; 8];
        for _ in 0..8000 {
            counts[shard_of(JobId::generate().as_str(), 8) as usize] += 1;
        }
        for c in counts {
            assert!((700..1300).contains(&c), "{counts:?}");
        }
        assert_eq!(shard_of("anything", 1), 0);
    }

    /// An item's size by DynamoDB's rules: names and values in UTF-8 bytes,
    /// numbers at their 21-byte maximum, 1 byte per boolean, and 3 bytes plus
    /// 1 per element for lists and maps.
    fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
        fn value(v: &AttributeValue) -> usize {
            match v {
                AttributeValue::S(s) => s.len(),
                AttributeValue::N(_) => 21,
                AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
                AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value(v)).sum::<usize>(),
                AttributeValue::M(m) => {
                    3 + m.iter().map(|(k, v)| 1 + k.len() + value(v)).sum::<usize>()
                }
                other => panic!("unexpected attribute {other:?}"),
            }
        }
        item.iter().map(|(k, v)| k.len() + value(v)).sum()
    }

    /// The largest job item the bounds allow (longest id, kind, queue and
    /// arguments, a full history of failures at every length limit, the
    /// most continuations with the longest ids, every optional attribute)
    /// fits in DynamoDB's 400 KB with room to spare. Writes that did not
    /// read the item (a claim: Enqueued and Processing) append without
    /// compacting, so the history can hold two entries beyond
    /// [`MAX_HISTORY`] until the next write that read it compacts it.
    #[test]
    fn worst_case_item_fits_in_400_kb() {
        use crate::job::{MAX_ARGS_BYTES, MAX_KIND_LEN, MAX_RETRY_DELAYS};
        let long = |c: char| c.to_string().repeat(100_000);
        let id = |c: char| JobId::parse(c.to_string().repeat(200)).unwrap();
        let now = Utc::now();
        let failure = |i: usize| {
            HistoryEntry::new(State::Scheduled, now, Some(long('r')))
                .with("error_type", long('t'))
                .with("error_message", long('m'))
                .with("error_detail", long('d'))
                .with("duration_ms", long('9'))
                .with("worker", format!("{i}{}", long('w')))
        };
        let mut history = vec![
            failure(0)
                .with("origin", long('o'))
                .with("parent", long('p'))
                .with("history_truncated", long('h')),
        ];
        history.extend((1..MAX_HISTORY + 2).map(failure));
        let args = serde_json::Value::String("a".repeat(MAX_ARGS_BYTES - 2));
        assert_eq!(args.to_string().len(), MAX_ARGS_BYTES);
        let mut job = JobRecord::new(
            id('j'),
            "k".repeat(MAX_KIND_LEN),
            args,
            JobOptions {
                queue: "q".repeat(64),
                retry: RetryPolicy {
                    attempts: u32::MAX,
                    delays_secs: vec![u32::MAX; MAX_RETRY_DELAYS],
                    on_exhausted: crate::retry::OnExhausted::Delete,
                },
                timeout: Duration::from_secs(u64::MAX / 2),
                retention: Some(Duration::from_secs(u64::MAX / 2)),
            },
            history.remove(0),
        );
        job.history.extend(history);
        job.run_at = Some(now);
        job.handed_off = true;
        job.parent = Some(Parent {
            id: id('p'),
            on: ContinueOn::AnyFinished,
        });
        job.last_error = Some(crate::job::truncate(
            &long('e'),
            crate::job::MAX_DATA_VALUE_BYTES,
        ));
        let conts: Vec<Continuation> = (0..MAX_CONTINUATIONS)
            .map(|_| Continuation {
                id: id('c'),
                on: ContinueOn::AnyFinished,
            })
            .collect();
        let ddb = DynamoClient::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .build(),
        );
        let store = Store::new(ddb, "t", 8, Duration::from_secs(1));
        let mut item = store.new_item(&job, Some(now));
        for a in [attr::LEASE, attr::CLAIMED_V, attr::RESENDS, attr::TTL] {
            item.insert(a.to_owned(), n(u64::MAX));
        }
        item.insert(attr::CONTS.to_owned(), to_av(&conts));
        assert_eq!(job.history.len(), MAX_HISTORY + 2);

        let size = item_size(&item);
        let history = item_size(&HashMap::from([(
            attr::HISTORY.to_owned(),
            item[attr::HISTORY].clone(),
        )]));
        println!("worst-case item: {size} bytes, history {history} bytes");
        assert!(size < 380 * 1024, "{size} bytes");
    }

    #[test]
    fn history_compaction_keeps_the_first_and_the_newest() {
        let t0 = Utc::now();
        let entries: Vec<_> = (0..MAX_HISTORY + 5)
            .map(|i| HistoryEntry::new(State::Scheduled, t0, Some(format!("e{i}"))))
            .collect();
        let out = compact_history(entries);
        assert_eq!(out.len(), MAX_HISTORY);
        assert_eq!(out[0].reason.as_deref(), Some("e0"));
        assert!(out[0].data["history_truncated"].starts_with("5 older"));
        assert_eq!(out[1].reason.as_deref(), Some("e6"));
        assert_eq!(
            out.last().unwrap().reason.as_deref(),
            Some(&*format!("e{}", MAX_HISTORY + 4))
        );
    }
}
