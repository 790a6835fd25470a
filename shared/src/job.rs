//! The job model: ids, kinds, options, the stored record and its history.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::state::State;

/// Largest serialized `args`, in bytes. With the bounded history this keeps a
/// job item well under DynamoDB's 400 KB item limit (see docs/architecture.md).
pub const MAX_ARGS_BYTES: usize = 128 * 1024;
/// Longest kind name.
pub const MAX_KIND_LEN: usize = 128;
/// The queue used when none is named.
pub const DEFAULT_QUEUE: &str = "default";
/// A job's timeout when none is set: how long a handler may run before it is
/// stopped and counted as failed, and the basis of its lease.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// A job id: a UUIDv7 (time-ordered) for jobs Hangar creates, or a
/// deterministic id derived from a recurring job or an intake message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// A new time-ordered id.
    pub fn generate() -> Self {
        JobId(uuid::Uuid::now_v7().to_string())
    }

    /// Checks and wraps an id: 1 to 200 characters of `[A-Za-z0-9._:-]`.
    pub fn parse(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= 200
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok {
            Ok(JobId(s))
        } else {
            Err(Error::invalid(
                "job id",
                format!("{s:?} (use 1 to 200 characters of A-Z a-z 0-9 . _ : -)"),
            ))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for JobId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        JobId::parse(s)
    }
}

/// Longest queue name. A queue is deployed as the SQS queues
/// `<stack>-<queue>` and `<stack>-<queue>-dlq` (SQS allows 80 characters);
/// the longest stack name the templates can deploy is 54 characters (its
/// functions are named `<stack>-scheduler`, and Lambda allows 64), which
/// leaves 21: a name this library accepts deploys under any stack.
pub const MAX_QUEUE_LEN: usize = 20;

/// Checks a queue name: 1 to [`MAX_QUEUE_LEN`] characters of `[a-z0-9]`.
///
/// The deploy templates enforce the same rule (the SAM template's
/// `AllowedPattern`, the CDK construct at synth time): a queue name is also
/// part of CloudFormation logical ids (`<queue>Queue`, `<queue>QueueUrl`),
/// which allow only letters and digits, and SQS queue names are case
/// sensitive, so `-`, `_` and capitals are refused everywhere instead of
/// deploying a queue no job could be sent to.
pub fn validate_queue(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_QUEUE_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "queue name",
            format!("{name:?} (use 1 to {MAX_QUEUE_LEN} characters of a-z 0-9)"),
        ))
    }
}

/// Checks a kind name: 1 to 128 printable ASCII characters, no spaces.
pub fn validate_kind(kind: &str) -> Result<()> {
    let ok = !kind.is_empty()
        && kind.len() <= MAX_KIND_LEN
        && kind.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "job kind",
            format!("{kind:?} (use 1 to {MAX_KIND_LEN} printable ASCII characters, no spaces)"),
        ))
    }
}

/// A typed job: its arguments are this struct, its kind is [`Job::KIND`].
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct SendEmail { to: String }
///
/// impl hangar::Job for SendEmail {
///     const KIND: &'static str = "send_email";
/// }
/// ```
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The kind name that routes the job to its handler. Keep it stable:
    /// stored jobs refer to it.
    const KIND: &'static str;

    /// Options used when this job is enqueued without explicit ones.
    fn options() -> JobOptions {
        JobOptions::default()
    }
}

/// When a continuation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ContinueOn {
    /// Only when the parent Succeeded; otherwise the continuation is Deleted
    /// (default, as in Hangfire).
    #[default]
    Succeeded,
    /// When the parent reaches any final state (Succeeded or Deleted).
    AnyFinished,
}

impl ContinueOn {
    /// Whether a parent that ended in `parent` satisfies this condition.
    pub fn is_met_by(self, parent: State) -> bool {
        match self {
            ContinueOn::Succeeded => parent == State::Succeeded,
            ContinueOn::AnyFinished => parent.is_final(),
        }
    }
}

/// Per-job options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOptions {
    /// The queue (default `default`).
    pub queue: String,
    /// Retries on failure.
    pub retry: RetryPolicy,
    /// How long one run may take.
    pub timeout: Duration,
    /// How long the job is kept once Succeeded or Deleted; `None` uses the
    /// global retention (`HANGAR_RETENTION_SECONDS`). Failed jobs are kept
    /// until deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Duration>,
    /// Give up if the job has not started this long after it was enqueued
    /// or became due (Hangfire's `LatencyTimeout`): it becomes Deleted with
    /// the reason, and its continuations settle accordingly. Checked when
    /// its first run (since creation or a requeue) is claimed; retries are
    /// not affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_within: Option<Duration>,
    /// At most so many starts per period among the jobs of a key, across
    /// all workers (see [`NewJob::rate`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateLimit>,
    /// At most so many runs at once among the jobs of a key, across all
    /// workers (see [`NewJob::concurrency`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencyLimit>,
    /// Jobs with this key run one at a time, in the order they were
    /// created (see [`NewJob::ordered`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordered: Option<String>,
}

/// A concurrency limit: at most `limit` runs at once among the jobs that
/// name `key` (1: a mutex). A job that finds every slot taken waits, without
/// a worker, until a run of the key ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcurrencyLimit {
    /// The key the jobs share (1 to 128 printable ASCII characters).
    #[serde(rename = "k")]
    pub key: String,
    /// Runs at once (1 to 1,000).
    #[serde(rename = "n")]
    pub limit: u32,
}

/// Checks a concurrency, ordering or rate-limit key: 1 to 128 printable
/// ASCII characters, no spaces.
pub fn validate_limit_key(what: &'static str, key: &str) -> Result<()> {
    let ok =
        !key.is_empty() && key.len() <= MAX_KIND_LEN && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            what,
            format!("{key:?} (use 1 to {MAX_KIND_LEN} printable ASCII characters, no spaces)"),
        ))
    }
}

/// A rate limit: at most `limit` starts per `per_ms` milliseconds among the
/// jobs that name `key`. Jobs over it wait for the next window with room,
/// in the order they asked; none is dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// The key the jobs share (1 to 128 printable ASCII characters).
    #[serde(rename = "k")]
    pub key: String,
    /// Starts per period.
    #[serde(rename = "n")]
    pub limit: u32,
    /// The period, ms (1 s to 1 day).
    #[serde(rename = "per")]
    pub per_ms: u64,
}

impl RateLimit {
    /// The period.
    pub fn per(&self) -> Duration {
        Duration::from_millis(self.per_ms)
    }

    fn validate(&self) -> Result<()> {
        let key_ok = !self.key.is_empty()
            && self.key.len() <= MAX_KIND_LEN
            && self.key.bytes().all(|b| b.is_ascii_graphic());
        if !key_ok {
            return Err(Error::invalid(
                "rate limit key",
                format!(
                    "{:?} (use 1 to {MAX_KIND_LEN} printable ASCII characters, no spaces)",
                    self.key
                ),
            ));
        }
        if self.limit == 0 {
            return Err(Error::invalid("rate limit", "at least 1 start per period"));
        }
        if !(1_000..=86_400_000).contains(&self.per_ms) {
            return Err(Error::invalid(
                "rate limit",
                format!("period of {} ms; use 1 s to 1 day", self.per_ms),
            ));
        }
        Ok(())
    }
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            queue: DEFAULT_QUEUE.to_owned(),
            retry: RetryPolicy::default(),
            timeout: DEFAULT_TIMEOUT,
            retention: None,
            start_within: None,
            rate: None,
            concurrency: None,
            ordered: None,
        }
    }
}

/// A job to create: kind, arguments and options. Built from a typed [`Job`]
/// with [`NewJob::of`] or from a kind name and JSON with [`NewJob::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub(crate) id: Option<JobId>,
    pub(crate) idempotent: bool,
    pub(crate) origin: Option<String>,
    pub(crate) kind: String,
    pub(crate) args: serde_json::Value,
    pub(crate) options: JobOptions,
    pub(crate) params: Params,
}

/// Job parameters: small key/values set on a job by its creator, a filter
/// or its handler, stored with it and shown by the CLI and the dashboard.
pub type Params = BTreeMap<String, String>;

/// Longest timeout of one run (a run longer than Lambda's 15 minutes needs
/// a worker outside Lambda).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 86_400);

/// Most parameters on one job.
pub const MAX_PARAMS: usize = 32;
/// Longest parameter name.
pub const MAX_PARAM_NAME: usize = 64;
/// Longest parameter value, bytes.
pub const MAX_PARAM_VALUE: usize = 256;

/// Checks parameters against [`MAX_PARAMS`], [`MAX_PARAM_NAME`] (names of
/// `A-Za-z0-9._-`) and [`MAX_PARAM_VALUE`].
pub fn validate_params(params: &Params) -> Result<()> {
    if params.len() > MAX_PARAMS {
        return Err(Error::invalid(
            "job parameters",
            format!("{} parameters; at most {MAX_PARAMS}", params.len()),
        ));
    }
    for (name, value) in params {
        let ok = !name.is_empty()
            && name.len() <= MAX_PARAM_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return Err(Error::invalid(
                "job parameter name",
                format!("{name:?} (use 1 to {MAX_PARAM_NAME} characters of A-Z a-z 0-9 . _ -)"),
            ));
        }
        if value.len() > MAX_PARAM_VALUE {
            return Err(Error::invalid(
                "job parameter",
                format!("{name}: {} bytes; at most {MAX_PARAM_VALUE}", value.len()),
            ));
        }
    }
    Ok(())
}

impl NewJob {
    /// An untyped job.
    pub fn new(kind: impl Into<String>, args: serde_json::Value) -> Self {
        NewJob {
            id: None,
            idempotent: false,
            origin: None,
            kind: kind.into(),
            args,
            options: JobOptions::default(),
            params: Params::new(),
        }
    }

    /// A typed job, with the options its type declares.
    pub fn of<J: Job>(job: &J) -> Result<Self> {
        let args = serde_json::to_value(job).map_err(|source| Error::Args {
            kind: J::KIND.to_owned(),
            source,
        })?;
        Ok(NewJob {
            id: None,
            idempotent: false,
            origin: None,
            kind: J::KIND.to_owned(),
            args,
            options: J::options(),
            params: Params::new(),
        })
    }

    /// Uses this id instead of a generated one; creating a second job with the
    /// same id, while the first is kept, fails with [`Error::AlreadyExists`]
    /// (once the first has expired, the id is free again).
    pub fn id(mut self, id: JobId) -> Self {
        self.id = Some(id);
        self.idempotent = false;
        self
    }

    /// Creates the job at most once per `key` (the intake's
    /// `idempotency_key`, BullMQ's `jobId`): its id is `idem-<key>`, and
    /// creating it again while that job is kept (until its retention is
    /// over) creates nothing and returns the same id, whatever the job
    /// asked for. An intake request with the same key names the same job.
    /// A key is 1 to 128 characters of `A-Za-z0-9._:-`.
    pub fn idempotency_key(mut self, key: &str) -> Result<Self> {
        self.id = Some(crate::intake::idempotency_job_id(key)?);
        self.idempotent = true;
        Ok(self)
    }

    /// Notes where the job came from in its first history entry (`origin`).
    pub fn created_from(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Sets a parameter (see [`Params`]).
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// Sets a parameter on a job being built (for client filters, which
    /// get `&mut NewJob`).
    pub fn set_param(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.params.insert(name.into(), value.into());
    }

    /// The arguments.
    pub fn args(&self) -> &serde_json::Value {
        &self.args
    }

    /// The parameters set so far.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The options set so far.
    pub fn job_options(&self) -> &JobOptions {
        &self.options
    }

    /// Sends the job to this queue.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.options.queue = queue.into();
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.options.retry = retry;
        self
    }

    /// Keeps the job this long once it Succeeded or was Deleted, instead of
    /// the global retention.
    pub fn retention(mut self, keep: Duration) -> Self {
        self.options.retention = Some(keep);
        self
    }

    /// Sets the number of retries, keeping the rest of the policy.
    pub fn retries(mut self, attempts: u32) -> Self {
        self.options.retry.attempts = attempts;
        self
    }

    /// Gives up on the job, Deleted with the reason, if it has not started
    /// `latency` after it was enqueued or became due (see
    /// [`JobOptions::start_within`]).
    pub fn start_within(mut self, latency: Duration) -> Self {
        self.options.start_within = Some(latency);
        self
    }

    /// At most `limit` starts of the jobs naming `key` per `per`, across
    /// all workers (Sidekiq's and BullMQ's rate limiters): a job over the
    /// limit waits, without a worker, for the next window with room, in the
    /// order it asked.
    pub fn rate(mut self, key: impl Into<String>, limit: u32, per: Duration) -> Self {
        self.options.rate = Some(RateLimit {
            key: key.into(),
            limit,
            per_ms: per.as_millis() as u64,
        });
        self
    }

    /// At most `limit` runs at once among the jobs naming `key`, across all
    /// workers (Hangfire's `DisableConcurrentExecution` with 1, Sidekiq's
    /// concurrent limiter): a job that finds no free slot waits without a
    /// worker and is woken when a run of the key ends; a slot held by a run
    /// that crashed is freed when its lease passes.
    pub fn concurrency(mut self, key: impl Into<String>, limit: u32) -> Self {
        self.options.concurrency = Some(ConcurrencyLimit {
            key: key.into(),
            limit,
        });
        self
    }

    /// Jobs naming `key` run one at a time, in the order they were created,
    /// across all workers (BullMQ's groups, SQS FIFO's message groups): each
    /// gets the key's next sequence number when it is created (one more
    /// small write), and a job waits, without a worker, until the one before
    /// it has ended (Succeeded, Failed or Deleted; a retry keeps its place).
    /// A job missing from the sequence for longer than the grace period (its
    /// creation cut short, or deleted before it ran) is skipped.
    pub fn ordered(mut self, key: impl Into<String>) -> Self {
        self.options.ordered = Some(key.into());
        self
    }

    /// Sets the timeout of one run.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Replaces all options.
    pub fn options(mut self, options: JobOptions) -> Self {
        self.options = options;
        self
    }

    /// The kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Checks names and sizes; returns the serialized arguments.
    pub(crate) fn validate(&self) -> Result<String> {
        validate_kind(&self.kind)?;
        validate_queue(&self.options.queue)?;
        if self.options.timeout.is_zero() || self.options.timeout > MAX_TIMEOUT {
            return Err(Error::invalid(
                "timeout",
                format!(
                    "{}s; give 1 s to {} days",
                    self.options.timeout.as_secs(),
                    MAX_TIMEOUT.as_secs() / 86_400
                ),
            ));
        }
        validate_limits(&self.options)?;
        validate_params(&self.params)?;
        if self.options.retry.attempts > MAX_RETRY_ATTEMPTS {
            return Err(Error::invalid(
                "retry policy",
                format!(
                    "{} retries; at most {MAX_RETRY_ATTEMPTS} (Hangfire's back-off waits over three years before the 100th)",
                    self.options.retry.attempts
                ),
            ));
        }
        if self.options.retry.delays_secs.len() > MAX_RETRY_DELAYS {
            return Err(Error::invalid(
                "retry policy",
                format!(
                    "{} fixed delays; at most {MAX_RETRY_DELAYS} (the last one repeats)",
                    self.options.retry.delays_secs.len()
                ),
            ));
        }
        let args = serde_json::to_string(&self.args).map_err(|source| Error::Args {
            kind: self.kind.clone(),
            source,
        })?;
        if args.len() > MAX_ARGS_BYTES {
            return Err(Error::PayloadTooLarge {
                size: args.len(),
                limit: MAX_ARGS_BYTES,
            });
        }
        Ok(args)
    }
}

/// Checks a job's rate limit, ordering key and concurrency limit.
pub(crate) fn validate_limits(options: &JobOptions) -> Result<()> {
    if let Some(rate) = &options.rate {
        rate.validate()?;
    }
    if let Some(key) = &options.ordered {
        validate_limit_key("ordering key", key)?;
        if options.concurrency.is_some() {
            return Err(Error::invalid(
                "ordering key",
                "an ordered job runs one at a time already; give ordered or concurrency, not both",
            ));
        }
    }
    if let Some(c) = &options.concurrency {
        validate_limit_key("concurrency key", &c.key)?;
        if !(1..=1000).contains(&c.limit) {
            return Err(Error::invalid(
                "concurrency limit",
                format!("{} runs at once; use 1 to 1000", c.limit),
            ));
        }
    }
    Ok(())
}

/// Anything [`crate::Client`] accepts as a job: a [`NewJob`] or a reference to
/// a typed [`Job`].
pub trait IntoNewJob {
    /// Converts, serializing typed arguments.
    fn into_new_job(self) -> Result<NewJob>;
}

impl IntoNewJob for NewJob {
    fn into_new_job(self) -> Result<NewJob> {
        Ok(self)
    }
}

impl<J: Job> IntoNewJob for &J {
    fn into_new_job(self) -> Result<NewJob> {
        NewJob::of(self)
    }
}

/// One entry of a job's history: a state it entered, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The state entered.
    pub state: State,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, in words ("Retry 2 of 10 in 47s", "Parent 0190… Succeeded").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details: for a failure `error_type`, `error_message`, `error_detail`;
    /// for a claim the `worker`; for a result the `duration_ms`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

impl HistoryEntry {
    /// An entry without data.
    pub fn new(state: State, at: DateTime<Utc>, reason: Option<String>) -> Self {
        HistoryEntry {
            state,
            at,
            reason: reason.map(|r| truncate(&r, MAX_REASON_BYTES)),
            data: BTreeMap::new(),
        }
    }

    /// Records a Scheduled entry's due time (epoch ms, data `due`), from
    /// which a latency timeout counts.
    pub fn due(self, at: DateTime<Utc>) -> Self {
        self.with(DUE_DATA, crate::clock::to_millis(at).to_string())
    }

    /// The due time recorded by [`HistoryEntry::due`].
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        self.data
            .get(DUE_DATA)
            .and_then(|v| v.parse::<i64>().ok())
            .map(crate::clock::from_millis)
    }

    /// Adds a data field, truncated to the limit for its name: error
    /// details and raw bodies [`MAX_DETAIL_BYTES`], error messages
    /// [`MAX_DATA_VALUE_BYTES`], anything else (a type name, a worker, an
    /// origin) [`MAX_SHORT_VALUE_BYTES`].
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        let limit = match key {
            "error_detail" | "raw_body" => MAX_DETAIL_BYTES,
            "error_message" => MAX_DATA_VALUE_BYTES,
            _ => MAX_SHORT_VALUE_BYTES,
        };
        self.data
            .insert(key.to_owned(), truncate(&value.into(), limit));
        self
    }
}

/// Longest history reason, in bytes.
pub const MAX_REASON_BYTES: usize = 512;
/// Longest error message, in history and as a job's last error, in bytes.
pub const MAX_DATA_VALUE_BYTES: usize = 1024;
/// Longest other history data value (error type, worker, origin), in bytes.
pub const MAX_SHORT_VALUE_BYTES: usize = 256;
/// Longest error detail (or raw message body) kept in history, in bytes.
pub const MAX_DETAIL_BYTES: usize = 2048;
/// Most history entries kept on a job; older ones (but the first) are dropped.
pub const MAX_HISTORY: usize = 40;
/// Most continuations waiting on one job. With the other bounds this keeps
/// a job item under DynamoDB's 400 KB item limit (a unit test in `store`
/// computes the worst case).
pub const MAX_CONTINUATIONS: usize = 250;
/// Most fixed retry delays in a [`RetryPolicy`] (the last one repeats).
pub const MAX_RETRY_DELAYS: usize = 50;
/// The most retries a job can have.
pub const MAX_RETRY_ATTEMPTS: u32 = 100;

/// Truncates to at most `limit` bytes on a character boundary, marking the cut.
pub fn truncate(s: &str, limit: usize) -> String {
    if s.len() <= limit {
        return s.to_owned();
    }
    const MARK: &str = "…[truncated]";
    let mut end = limit.saturating_sub(MARK.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &s[..end])
}

/// A continuation's link to its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parent {
    /// The parent job, or the parent batch when `batch` is set.
    pub id: JobId,
    /// When this job runs.
    pub on: ContinueOn,
    /// The parent is a batch (see [`crate::batch`]): the job runs when every
    /// job of the batch Succeeded (`on` Succeeded) or finished.
    #[serde(default)]
    pub batch: bool,
}

/// A continuation waiting on a job, as recorded on the parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuation {
    /// The continuation job.
    pub id: JobId,
    /// When it runs.
    pub on: ContinueOn,
}

/// A flag a write sets on the record it returns, not stored, and left out
/// of comparisons (a record read back equals the one written).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Transient(pub(crate) bool);

impl PartialEq for Transient {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// History data key of a Scheduled entry's due time (epoch ms).
const DUE_DATA: &str = "due";

/// A job as stored: what [`crate::Client::get`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// Its id.
    pub id: JobId,
    /// Its kind.
    pub kind: String,
    /// Its arguments.
    pub args: serde_json::Value,
    /// Queue, retry policy and timeout.
    pub options: JobOptions,
    /// Current state.
    pub state: State,
    /// Incremented by every write; a message names the version it was sent for.
    pub version: u64,
    /// How many times it has been claimed (1 on its first run).
    pub attempt: u32,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// When a Scheduled job is due.
    pub run_at: Option<DateTime<Utc>>,
    /// Whether a Scheduled job's message is already in SQS with a delay.
    pub handed_off: bool,
    /// While Processing: until when the claiming worker holds it.
    pub lease_until: Option<DateTime<Utc>>,
    /// While Processing: the message version that started this run.
    pub claimed_version: Option<u64>,
    /// The parent, for a continuation.
    pub parent: Option<Parent>,
    /// Continuations waiting on this job.
    pub continuations: Vec<Continuation>,
    /// The last error message, if any run failed.
    pub last_error: Option<String>,
    /// When the item expires (final states only).
    pub expires_at: Option<DateTime<Utc>>,
    /// Since when it has been parked because its queue is paused.
    pub parked_at: Option<DateTime<Utc>>,
    /// Its parameters.
    pub params: Params,
    /// The concurrency key whose slot it is waiting for, if it is waiting.
    pub waiting_for: Option<String>,
    /// Its place in its ordering key's sequence (ordered jobs).
    pub sequence: Option<u64>,
    /// The batch it belongs to (see [`crate::batch`]).
    pub batch: Option<JobId>,
    /// Set on the record a write returns when that write finished the
    /// job's batch (its last open job): whoever made it releases the
    /// batch's continuations. Not stored; [`Default`] when building a
    /// record by hand.
    #[doc(hidden)]
    pub completes_batch: Transient,
    /// State changes, oldest first (bounded; see [`MAX_HISTORY`]).
    pub history: Vec<HistoryEntry>,
}

impl JobRecord {
    /// A new job's record: version 1, not yet run, in the state of its one
    /// history entry, created at that entry's time.
    pub(crate) fn new(
        id: JobId,
        kind: String,
        args: serde_json::Value,
        options: JobOptions,
        entry: HistoryEntry,
    ) -> Self {
        JobRecord {
            id,
            kind,
            args,
            options,
            state: entry.state,
            version: 1,
            attempt: 0,
            created_at: entry.at,
            updated_at: entry.at,
            run_at: None,
            handed_off: false,
            lease_until: None,
            claimed_version: None,
            parent: None,
            continuations: Vec::new(),
            last_error: None,
            expires_at: None,
            parked_at: None,
            params: Params::new(),
            waiting_for: None,
            sequence: None,
            batch: None,
            completes_batch: Transient(false),
            history: vec![entry],
        }
    }
}

impl JobRecord {
    /// Deserializes the arguments into a typed job.
    pub fn args_as<J: Job>(&self) -> Result<J> {
        serde_json::from_value(self.args.clone()).map_err(|source| Error::Args {
            kind: self.kind.clone(),
            source,
        })
    }

    /// The most recent history entry.
    pub fn last_entry(&self) -> Option<&HistoryEntry> {
        self.history.last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(JobId::parse("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").is_ok());
        assert!(JobId::parse("rec:nightly:2026-11-24T00:00:00Z").is_ok());
        for bad in ["", "a b", "x/y", &"a".repeat(201)] {
            assert!(
                matches!(
                    JobId::parse(bad),
                    Err(Error::Invalid { what: "job id", .. })
                ),
                "{bad:?}"
            );
        }
        let a = JobId::generate();
        let b = JobId::generate();
        assert!(a < b, "v7 ids sort by creation time");
    }

    #[test]
    fn queue_names() {
        for ok in [
            "default",
            "critical",
            "emailv2",
            "0",
            &"q".repeat(MAX_QUEUE_LEN),
        ] {
            validate_queue(ok).unwrap();
        }
        let too_long = "q".repeat(MAX_QUEUE_LEN + 1);
        for bad in ["", "Default", "a.b", "a b", "a-b", "email_v2", &too_long] {
            let err = validate_queue(bad).unwrap_err();
            assert!(err.to_string().contains("queue name"), "{err}");
        }
    }

    #[test]
    fn oversized_args_are_refused_with_the_sizes() {
        let big = "x".repeat(MAX_ARGS_BYTES);
        let err = NewJob::new("k", serde_json::json!({ "blob": big }))
            .validate()
            .unwrap_err();
        match err {
            Error::PayloadTooLarge { size, limit } => {
                assert!(size > limit);
                assert_eq!(limit, MAX_ARGS_BYTES);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn retry_delays_are_bounded() {
        let with = |n: usize| {
            NewJob::new("k", serde_json::json!({}))
                .retry(RetryPolicy {
                    delays_secs: vec![1; n],
                    ..RetryPolicy::default()
                })
                .validate()
        };
        assert!(with(MAX_RETRY_DELAYS).is_ok());
        let err = with(MAX_RETRY_DELAYS + 1).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Invalid {
                    what: "retry policy",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn truncate_keeps_char_boundaries_and_marks_the_cut() {
        assert_eq!(truncate("short", 10), "short");
        let s = "é".repeat(100); // 200 bytes
        let t = truncate(&s, 50);
        assert!(t.len() <= 50, "{}", t.len());
        assert!(t.ends_with("…[truncated]"));
        assert!(t.starts_with('é'));
    }

    #[test]
    fn history_data_is_bounded() {
        let e = HistoryEntry::new(State::Failed, Utc::now(), Some("r".repeat(5000)))
            .with("error_detail", "d".repeat(100_000))
            .with("error_message", "m".repeat(100_000));
        assert!(e.reason.as_ref().unwrap().len() <= MAX_REASON_BYTES);
        assert!(e.data["error_detail"].len() <= MAX_DETAIL_BYTES);
        assert!(e.data["error_message"].len() <= MAX_DATA_VALUE_BYTES);
        let e = e.with("error_type", "t".repeat(10_000));
        assert!(e.data["error_type"].len() <= MAX_SHORT_VALUE_BYTES);
    }

    #[test]
    fn continuation_conditions() {
        use State::*;
        assert!(ContinueOn::Succeeded.is_met_by(Succeeded));
        assert!(!ContinueOn::Succeeded.is_met_by(Deleted));
        assert!(ContinueOn::AnyFinished.is_met_by(Deleted));
        assert!(ContinueOn::AnyFinished.is_met_by(Succeeded));
        assert!(!ContinueOn::AnyFinished.is_met_by(Failed));
    }
}
