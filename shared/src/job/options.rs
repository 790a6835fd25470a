//! The options a job runs under: queue, retries, timeout, limits and
//! parameters, with their bounds.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{DEFAULT_QUEUE, DEFAULT_TIMEOUT, MAX_KIND_LEN};
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

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
    /// all workers (see [`NewJob::rate`](super::NewJob::rate)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateLimit>,
    /// At most so many runs at once among the jobs of a key, across all
    /// workers (see [`NewJob::concurrency`](super::NewJob::concurrency)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencyLimit>,
    /// Jobs with this key run one at a time, in the order they were
    /// created (see [`NewJob::ordered`](super::NewJob::ordered)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordered: Option<String>,
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
