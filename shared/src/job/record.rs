//! A job as stored: its record and its history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;

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

/// How far a run has got, as its handler reports it
/// ([`crate::JobContext::progress`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Done so far, 0 to 1.
    pub fraction: f64,
    /// What it is doing (at most [`MAX_PROGRESS_MESSAGE`] bytes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When the handler reported it.
    pub at: DateTime<Utc>,
}

/// Longest progress message, in bytes.
pub const MAX_PROGRESS_MESSAGE: usize = 256;

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
    pub id: JobId,
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
    /// Its tags (see [`crate::NewJob::tag`]).
    pub tags: Vec<String>,
    /// The trace context it was created in (see [`crate::tracecontext`]).
    pub trace: Option<crate::tracecontext::TraceParent>,
    /// What its last successful run returned (see
    /// [`crate::Registry::job_with_result`]), as JSON.
    pub result: Option<serde_json::Value>,
    /// How far its current (or last) run got, as its handler reported it.
    pub progress: Option<Progress>,
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
            tags: Vec::new(),
            trace: None,
            result: None,
            progress: None,
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
