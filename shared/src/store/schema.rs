//! The table's layout: attribute names, the one index and its buckets, key
//! formats, and the table definition [`crate::setup`] creates.
//!
//! One table, partition key `pk`: `job#<id>` for a job, `recurring#<id>` for
//! a recurring job. One global secondary index, `by-bucket`, keyed by
//! `bucket` (`<bucket>#<shard>`) and `bucket_at` (epoch ms), projecting only
//! attributes that never change (`kind`, `queue`, `created`). Why this shape
//! (a job's claim touches no index, so a fire-and-forget job costs 6 write
//! units) is in docs/architecture.md.

use chrono::{DateTime, Utc};

use crate::state::State;

/// Attribute names.
pub(crate) mod attr {
    /// Partition key: `job#<id>` or `recurring#<id>`.
    pub const PK: &str = "pk";
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
    /// Continuation: the parent is a batch.
    pub const PARENT_BATCH: &str = "parent_batch";
    /// Job: the batch it belongs to.
    pub const BATCH: &str = "batch";
    /// Batch: jobs in it.
    pub const TOTAL: &str = "total";
    /// Batch: jobs not in a final state (Failed counts: it is not final).
    pub const OPEN: &str = "open";
    /// Batch: jobs in Succeeded.
    pub const N_SUCCEEDED: &str = "n_succeeded";
    /// Batch: jobs in Failed.
    pub const N_FAILED: &str = "n_failed";
    /// Batch: jobs in Deleted.
    pub const N_DELETED: &str = "n_deleted";
    /// Batch: when its last open job finished, epoch ms.
    pub const COMPLETED: &str = "completed";
    /// Batch: whether every job Succeeded when it completed.
    pub const ALL_SUCCEEDED: &str = "all_succeeded";
    /// Batch: what it is for, in words.
    pub const DESCRIPTION: &str = "description";
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
    /// Latency timeout in seconds: give up if not started this long after
    /// being enqueued or due.
    pub const START_WITHIN: &str = "start_within";
    /// History entries.
    pub const HISTORY: &str = "history";
    /// Retry policy (map).
    pub const RETRY: &str = "retry";
    /// Timeout, seconds.
    pub const TIMEOUT: &str = "timeout";
    /// Succeeded or Failed: runs the job took (its attempt when it got
    /// there), for the metrics roll-up (projected; written once, in the
    /// write that moves the job to its bucket anyway).
    pub const RUNS: &str = "runs";
    /// Succeeded or Failed: how long its last run took, ms (projected, as
    /// `runs`).
    pub const DURATION: &str = "duration_ms";
    /// A metrics item's data.
    pub const DATA: &str = "data";
    /// Index partition: `<bucket>#<shard>`.
    pub const BUCKET: &str = "bucket";
    /// Index sort key, epoch ms: when the timer must look at the item, or
    /// when a job entered its state (see [`super::Bucket`]).
    pub const BUCKET_AT: &str = "bucket_at";
    /// Recurring: cron expression.
    pub const CRON: &str = "cron";
    /// Recurring: IANA time zone.
    pub const TZ: &str = "tz";
    /// Recurring: misfire policy.
    pub const MISFIRE: &str = "misfire";
    /// Recurring: whether it fires.
    pub const ENABLED: &str = "enabled";
    /// Recurring: the next occurrence not yet fired, epoch ms.
    pub const NEXT_RUN: &str = "next_run";
    /// Recurring: the last occurrence fired (or trigger), epoch ms.
    pub const LAST_RUN: &str = "last_run";
    /// Recurring: the job created last.
    pub const LAST_JOB: &str = "last_job";
    /// Job: its ordering key.
    pub const ORDERED: &str = "ord";
    /// Job: its place in its ordering key's sequence.
    pub const SEQUENCE: &str = "seq";
    /// Unique or debounce key item: the job that holds the key.
    pub const KEY_JOB: &str = "job";
    /// Unique or debounce key item: since when, epoch ms.
    pub const KEY_SINCE: &str = "since";
    /// Ordering key item: the last sequence number given out.
    pub const SEQ_LAST: &str = "seq_last";
    /// Ordering key item: the sequence number allowed to start.
    pub const SEQ_NEXT: &str = "next";
    /// Ordering key item: since when `next` has been what it is, epoch ms.
    pub const SEQ_SINCE: &str = "next_since";
    /// Job: the concurrency key it waits on for a slot.
    pub const WAITS: &str = "waits";
    /// Job: its concurrency limit, `{k, n}`.
    pub const CONCURRENCY: &str = "conc";
    /// Concurrency key item: the runs holding a slot, `<job id>@<lease ms>`.
    pub const HOLDERS: &str = "holders";
    /// Concurrency key item: jobs waiting (approximate; corrected when the
    /// waiting list is read).
    pub const WAITING: &str = "waiting";
    /// Concurrency key item: the limit, as the last acquiring job gave it.
    pub const LIMIT: &str = "lim";
    /// Job: its parameters (map of strings).
    pub const PARAMS: &str = "params";
    /// Job: its tags (list of strings; each also has a pointer item, see
    /// `store/tags.rs`).
    pub const TAGS: &str = "tags";
    /// Job: the W3C trace context it was created in.
    pub const TRACE: &str = "tp";
    /// Job: what its last successful run returned, as JSON text.
    pub const RESULT: &str = "res";
    /// Job: how far its run got, `{fraction, message, at}`.
    pub const PROGRESS: &str = "prog";
    /// Job: its rate limit, `{k, n, per}` (key, starts, period in ms).
    pub const RATE: &str = "rate";
    /// Rate limit item: the newest window with reservations (index).
    pub const RATE_WINDOW: &str = "win";
    /// Rate limit item: reservations in that window.
    pub const RATE_COUNT: &str = "count";
    /// Job: parked while its queue is paused, since (epoch ms).
    pub const PARKED: &str = "parked";
    /// Queue control: paused.
    pub const PAUSED: &str = "paused";
    /// Queue control: last paused, epoch ms.
    pub const PAUSED_AT: &str = "paused_at";
    /// Queue control: last resumed, epoch ms.
    pub const RESUMED_AT: &str = "resumed_at";
    /// Queue control: resumed, parked jobs still being woken.
    pub const DRAINING: &str = "draining";
}

/// The one index: items by bucket, sharded, ordered by `bucket_at`.
pub const INDEX: &str = "by-bucket";

/// Attributes the index projects besides its keys and `pk`. Only attributes
/// that never change while a job stays in a bucket: a projected attribute
/// that changed would cost an index write on every transition. `runs` and
/// `duration_ms` are written only when a job enters Succeeded or Failed,
/// in the write that moves its index entry anyway.
pub(crate) const PROJECTED: [&str; 5] = [
    attr::KIND,
    attr::QUEUE,
    attr::CREATED,
    attr::RUNS,
    attr::DURATION,
];

/// `bucket_at` of an item the timer never needs to look at (a disabled
/// recurring job): 9999-12-31T23:59:59Z.
pub(crate) const NEVER_MS: i64 = 253_402_300_799_000;

/// Where an item sits on the index. Jobs move between buckets only when
/// their state changes the bucket, never on the claim: Enqueued and
/// Processing share `Active`, so claiming a job writes no index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Scheduled jobs not yet handed to SQS; `bucket_at` is when the timer
    /// hands them off (due time − 14 min).
    Scheduled,
    /// Jobs the timer watches until they finish: Enqueued, Processing,
    /// handed-off Scheduled, and Succeeded or Deleted jobs whose
    /// continuations are being released. `bucket_at` is when the timer
    /// checks on the job (expected start + grace, lease + grace, ...).
    Active,
    /// Continuations waiting for their parent; `bucket_at` is creation.
    Awaiting,
    /// Succeeded jobs; `bucket_at` is when they succeeded.
    Succeeded,
    /// Failed jobs; `bucket_at` is when they failed.
    Failed,
    /// Deleted jobs; `bucket_at` is when they were deleted.
    Deleted,
    /// Recurring jobs; `bucket_at` is when the timer fires the next
    /// occurrence (occurrence − 2 min), or never when disabled.
    Recurring,
    /// Enqueued (or due Scheduled) jobs whose wake-up arrived while their
    /// queue was paused; `bucket_at` is when they were parked. Not watched:
    /// resuming the queue wakes them.
    Parked,
    /// Jobs waiting for a slot under a concurrency key; one partition per
    /// key (`wait#<key>`, not sharded, so the oldest comes first), and
    /// `bucket_at` is when they started waiting.
    Waiting,
    /// Concurrency keys with waiting jobs; `bucket_at` is when the timer
    /// looks at the key again (a safety net behind the wake-ups a finishing
    /// job sends), or never.
    Limits,
    /// Batches at rest (started, or completed with their continuations
    /// released); one partition (`batches#0`), `bucket_at` is creation, so
    /// the newest batches list first.
    Batches,
    /// Batches the timer looks at when `bucket_at` comes: one being created
    /// (its creation cut short if still so a grace period later), or one
    /// completed whose continuations are being released. One partition
    /// (`batchwatch#0`): one query a tick.
    BatchWatch,
    /// Tag pointers (see `store/tags.rs`); one partition per tag
    /// (`tag#<tag>`, not sharded), `bucket_at` is the job's creation, so
    /// the newest jobs list first.
    Tagged,
}

impl Bucket {
    /// Every bucket.
    pub const ALL: [Bucket; 13] = [
        Bucket::Scheduled,
        Bucket::Active,
        Bucket::Awaiting,
        Bucket::Succeeded,
        Bucket::Failed,
        Bucket::Deleted,
        Bucket::Recurring,
        Bucket::Parked,
        Bucket::Waiting,
        Bucket::Limits,
        Bucket::Batches,
        Bucket::BatchWatch,
        Bucket::Tagged,
    ];

    /// Buckets the timer reads every tick (items whose `bucket_at` passed).
    pub const WATCHED: [Bucket; 3] = [Bucket::Scheduled, Bucket::Active, Bucket::Recurring];

    /// The bucket's name in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Scheduled => "scheduled",
            Bucket::Active => "active",
            Bucket::Awaiting => "awaiting",
            Bucket::Succeeded => "succeeded",
            Bucket::Failed => "failed",
            Bucket::Deleted => "deleted",
            Bucket::Recurring => "recurring",
            Bucket::Parked => "parked",
            Bucket::Waiting => "wait",
            Bucket::Limits => "limits",
            Bucket::Batches => "batches",
            Bucket::BatchWatch => "batchwatch",
            Bucket::Tagged => "tag",
        }
    }

    /// The index partition of one shard.
    pub(crate) fn key(self, shard: u32) -> String {
        format!("{}#{shard}", self.as_str())
    }

    /// Reads a partition key back.
    pub(crate) fn parse_key(key: &str) -> Option<Bucket> {
        let name = key.split('#').next()?;
        Bucket::ALL.into_iter().find(|b| b.as_str() == name)
    }

    /// The bucket of a job that rests in `state` (a final job with
    /// continuations to release sits in [`Bucket::Active`] instead).
    pub(crate) fn resting(state: State) -> Bucket {
        match state {
            State::Scheduled => Bucket::Scheduled,
            State::Enqueued | State::Processing => Bucket::Active,
            State::Awaiting => Bucket::Awaiting,
            State::Succeeded => Bucket::Succeeded,
            State::Failed => Bucket::Failed,
            State::Deleted => Bucket::Deleted,
        }
    }

    /// The buckets that hold jobs in `state`.
    pub(crate) fn holding(state: State) -> &'static [Bucket] {
        match state {
            State::Scheduled => &[Bucket::Scheduled, Bucket::Active, Bucket::Parked],
            State::Enqueued => &[Bucket::Active, Bucket::Parked],
            State::Processing => &[Bucket::Active],
            State::Awaiting => &[Bucket::Awaiting],
            State::Succeeded => &[Bucket::Succeeded],
            State::Failed => &[Bucket::Failed],
            State::Deleted => &[Bucket::Deleted],
        }
    }
}

/// An item's place on the index.
pub(crate) type Place = (Bucket, DateTime<Utc>);

pub(crate) fn job_key(id: &crate::job::JobId) -> String {
    format!("job#{id}")
}

pub(crate) fn batch_key(id: &crate::job::JobId) -> String {
    format!("batch#{id}")
}

pub(crate) fn recurring_key(id: &str) -> String {
    format!("recurring#{id}")
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
