//! A job to create: [`NewJob`], built from a typed [`Job`](super::Job) or
//! a kind and JSON arguments, and its builder methods.

use std::time::Duration;

use super::*;
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

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
    pub(crate) tags: Vec<String>,
    pub(crate) trace: Option<crate::tracecontext::TraceParent>,
    pub(crate) unique: Option<super::unique::Unique>,
    pub(crate) debounce: Option<super::unique::Debounce>,
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
            tags: Vec::new(),
            trace: None,
            unique: None,
            debounce: None,
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
            tags: Vec::new(),
            trace: None,
            unique: None,
            debounce: None,
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
        self.id = Some(super::idempotency_job_id(key)?);
        self.idempotent = true;
        Ok(self)
    }

    /// At most one pending job per `key` (Sidekiq's unique jobs, BullMQ's
    /// deduplication): while a job created with the key waits to run
    /// ([`UniqueUntil::Started`](super::unique::UniqueUntil)) or until it
    /// finishes ([`UniqueUntil::Finished`](super::unique::UniqueUntil)),
    /// `enqueue` and `schedule` of another create nothing and return that
    /// job's id. Nothing holds the key but the job's own state, so a
    /// crash leaks no lock (see [`crate::unique`]). A key is 1 to 128
    /// printable ASCII characters.
    pub fn unique(mut self, key: impl Into<String>, until: super::unique::UniqueUntil) -> Self {
        self.unique = Some(super::unique::Unique {
            key: key.into(),
            until,
        });
        self
    }

    /// Runs once a burst of creations with `key` is over: `enqueue`
    /// schedules the job `wait` from now; another `enqueue` with the key
    /// before it starts replaces its arguments and parameters (the latest
    /// win) and pushes its start to `wait` from then, but never later than
    /// `max_wait` after the first. Returns the pending job's id.
    pub fn debounce(mut self, key: impl Into<String>, wait: Duration, max_wait: Duration) -> Self {
        self.debounce = Some(super::unique::Debounce {
            key: key.into(),
            wait,
            max_wait,
        });
        self
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

    /// Tags the job: it is found by this exact tag (`hangar jobs --tag`,
    /// [`crate::Client::tagged`]), whatever its state, at two write units
    /// a tag when it is created. At most [`MAX_TAGS`] different tags.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        let tag = tag.into();
        if !self.tags.contains(&tag) {
            self.tags.push(tag);
        }
        self
    }

    /// The trace context its runs link to (a W3C `traceparent`); without
    /// one, the creating span's, with the `otel` feature (see
    /// [`crate::tracecontext`]).
    pub fn traceparent(mut self, trace: crate::tracecontext::TraceParent) -> Self {
        self.trace = Some(trace);
        self
    }

    /// The tags set so far.
    pub fn tags(&self) -> &[String] {
        &self.tags
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
        super::tags::validate_tags(&self.tags)?;
        super::unique::validate(self)?;
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
