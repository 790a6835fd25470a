//! The job model: ids and names and their rules (here), the options a
//! job is created with (`options`, `new`), and the stored record with its
//! history (`record`).

pub(crate) mod id;
mod new;
mod options;
mod record;
mod tags;
#[cfg(test)]
mod tests;
pub mod unique;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::state::State;

pub use id::JobId;
pub use new::{IntoNewJob, NewJob};
pub(crate) use options::validate_limits;
pub use options::{
    ConcurrencyLimit, JobOptions, MAX_PARAM_NAME, MAX_PARAM_VALUE, MAX_PARAMS, MAX_TIMEOUT, Params,
    RateLimit, validate_limit_key, validate_params,
};
pub use record::{
    Continuation, HistoryEntry, JobRecord, MAX_PROGRESS_MESSAGE, Parent, Progress, Transient,
};
pub use tags::{MAX_TAG_LEN, MAX_TAGS, validate_tag, validate_tags};
pub use unique::UniqueUntil;

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

impl JobId {
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
}

impl std::str::FromStr for JobId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        JobId::parse(s)
    }
}

/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;

/// The job id an idempotency key names, `idem-<key>`, once the key is
/// checked.
pub fn idempotency_job_id(key: &str) -> Result<JobId> {
    check_idempotency_key(key)?;
    JobId::parse(format!("idem-{key}"))
}

/// Checks an idempotency key: 1 to [`MAX_IDEMPOTENCY_KEY`] characters of
/// `A-Za-z0-9._:-`.
pub(crate) fn check_idempotency_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(crate::Error::invalid(
            "idempotency_key",
            format!("{key:?} (use 1 to {MAX_IDEMPOTENCY_KEY} characters of A-Z a-z 0-9 . _ : -)"),
        ))
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

/// Largest result a handler may return, as JSON, in bytes: it is kept on
/// the job's item (written by the finishing write, at no extra request),
/// and with every other field at its limit the item stays under
/// DynamoDB's 400 KB. A larger result fails the run, without retries;
/// keep large outputs elsewhere (S3) and return their key.
pub const MAX_RESULT_BYTES: usize = 8 * 1024;

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

/// Most fixed retry delays in a [`RetryPolicy`](crate::retry::RetryPolicy) (the last one repeats).
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
