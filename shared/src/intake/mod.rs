//! Job requests from outside Rust: the intake format, and the envelopes AWS
//! services wrap it in.
//!
//! Any Hangar queue accepts, besides the worker's own wake-up messages
//! ([`crate::message`]), a request to create a job (format version 1,
//! schema in `docs/intake.schema.json`):
//!
//! ```json
//! {"hangar_intake": 1, "kind": "send_email", "args": {"to": "a@example.com"},
//!  "queue": "default", "delay_seconds": 30, "idempotency_key": "order-42-mail",
//!  "retries": 3}
//! ```
//!
//! It may arrive as the body itself, as the `detail` of an EventBridge event
//! a rule delivered to the queue, inside an SNS notification (raw delivery
//! or not), or as any body with the job kind in the `hangar-kind` message
//! attribute (the body, parsed as JSON if it is JSON, becomes the args).
//! Envelopes are read leniently (only the fields Hangar needs must be
//! there); Hangar's own fields strictly (unknown fields, a missing kind, an
//! unknown version are errors).

mod parse;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::error::Result;
pub use crate::job::MAX_IDEMPOTENCY_KEY;
use crate::job::{JobId, check_idempotency_key, validate_kind, validate_queue};
use crate::message::{Body, WakeUp, parse_body};

pub use parse::parse_message;

/// The intake format version this worker reads.
pub const INTAKE_FORMAT: u32 = 1;
/// The SQS message attribute naming the kind of a raw body.
pub const KIND_ATTRIBUTE: &str = "hangar-kind";

/// A request to create a job.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intake {
    /// Format version; must be [`INTAKE_FORMAT`].
    pub hangar_intake: u32,
    pub kind: String,
    /// The job's arguments (default `{}`).
    #[serde(default = "empty_object")]
    pub args: Value,
    /// The queue the job runs on (default: the queue the request came in on).
    #[serde(default)]
    pub queue: Option<String>,
    /// Run this many seconds after the request is read.
    #[serde(default)]
    pub delay_seconds: Option<u64>,
    /// Run at this instant (RFC 3339).
    #[serde(default)]
    pub run_at: Option<DateTime<Utc>>,
    /// Requests with the same key make one job (see [`Intake::job_id`]).
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Retries after the first failure (default 10).
    #[serde(default)]
    pub retries: Option<u32>,
    /// How long one run may take, seconds (default 300; at most 7 days).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Give up (Deleted, with the reason) if the job has not started this
    /// many seconds after it was created or became due.
    #[serde(default)]
    pub start_within_seconds: Option<u64>,
    /// At most `limit` runs at once among the jobs naming `key`.
    #[serde(default)]
    pub concurrency: Option<IntakeConcurrency>,
    /// The jobs naming this key run one at a time, in creation order.
    #[serde(default)]
    pub ordered: Option<String>,
    /// At most `limit` starts per `per_seconds` among the jobs naming `key`.
    #[serde(default)]
    pub rate: Option<IntakeRate>,
    /// Job parameters (names of A-Z a-z 0-9 . _ -, string values).
    #[serde(default)]
    pub params: Option<std::collections::BTreeMap<String, String>>,
    /// Tags the job is found by (see [`crate::NewJob::tag`]).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// The W3C trace context the job's runs link to (see
    /// [`crate::tracecontext`]); a malformed one is refused.
    #[serde(default)]
    pub traceparent: Option<crate::tracecontext::TraceParent>,
    /// At most one pending job per key (see [`crate::NewJob::unique`]).
    #[serde(default)]
    pub unique: Option<IntakeUnique>,
    /// One run once a burst of requests is over (see
    /// [`crate::NewJob::debounce`]).
    #[serde(default)]
    pub debounce: Option<IntakeDebounce>,
}

/// A request's concurrency limit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConcurrency {
    pub key: String,
    /// Runs at once (1 to 1000).
    pub limit: u32,
}

/// A request's unique key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeUnique {
    pub key: String,
    /// `started` (default: while the job waits to run) or `finished`.
    #[serde(default)]
    pub until: Option<String>,
}

/// A request's debounce.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeDebounce {
    pub key: String,
    /// The job runs this many seconds after the latest request with the key...
    pub wait_seconds: u64,
    /// ...but no later than this many after the first.
    pub max_wait_seconds: u64,
}

impl IntakeDebounce {
    fn to_debounce(&self) -> crate::job::unique::Debounce {
        crate::job::unique::Debounce {
            key: self.key.clone(),
            wait: std::time::Duration::from_secs(self.wait_seconds),
            max_wait: std::time::Duration::from_secs(self.max_wait_seconds),
        }
    }
}

/// A request's rate limit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeRate {
    pub key: String,
    /// Starts per period.
    pub limit: u32,
    /// The period, seconds (1 to 86400).
    pub per_seconds: u64,
}

impl Intake {
    /// The job this request asks for (its id aside): kind, arguments,
    /// queue (`default_queue` unless it names one), limits, parameters and
    /// retries.
    pub fn new_job(&self, default_queue: &str) -> crate::job::NewJob {
        let queue = self.queue.as_deref().unwrap_or(default_queue);
        let mut job = crate::job::NewJob::new(&self.kind, self.args.clone()).queue(queue);
        if let Some(s) = self.start_within_seconds {
            job = job.start_within(std::time::Duration::from_secs(s));
        }
        let limits = self.limits();
        job.options.concurrency = limits.concurrency;
        job.options.ordered = limits.ordered;
        job.options.rate = limits.rate;
        for (name, value) in self.params.iter().flatten() {
            job.set_param(name.clone(), value.clone());
        }
        for tag in self.tags.iter().flatten() {
            job = job.tag(tag.clone());
        }
        if let Some(r) = self.retries {
            job = job.retries(r);
        }
        if let Some(s) = self.timeout_seconds {
            job = job.timeout(std::time::Duration::from_secs(s));
        }
        if let Some(u) = &self.unique {
            // Checked by `validate`.
            let until = (u.until.as_deref())
                .and_then(|s| crate::job::unique::UniqueUntil::parse(s).ok())
                .unwrap_or_default();
            job = job.unique(u.key.clone(), until);
        }
        if let Some(d) = &self.debounce {
            job.debounce = Some(d.to_debounce());
        }
        job
    }

    /// The request's options as a job's (queue aside): limits and keys.
    pub fn limits(&self) -> crate::job::JobOptions {
        crate::job::JobOptions {
            concurrency: self
                .concurrency
                .as_ref()
                .map(|c| crate::job::ConcurrencyLimit {
                    key: c.key.clone(),
                    limit: c.limit,
                }),
            ordered: self.ordered.clone(),
            rate: self.rate.as_ref().map(|r| crate::job::RateLimit {
                key: r.key.clone(),
                limit: r.limit,
                per_ms: r.per_seconds.saturating_mul(1000),
            }),
            ..Default::default()
        }
    }
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// Where an intake request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// The body was the request.
    Body,
    /// The `detail` of an EventBridge event.
    EventBridge,
    /// An SNS notification's `Message` (not raw delivery).
    Sns,
    /// A raw body, the kind from the `hangar-kind` attribute or the
    /// queue's kind (`HANGAR_QUEUE_KINDS`).
    KindAttribute,
}

impl Envelope {
    /// Name used in history entries and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Envelope::Body => "sqs",
            Envelope::EventBridge => "eventbridge",
            Envelope::Sns => "sns",
            Envelope::KindAttribute => "raw body",
        }
    }
}

/// A request to create a batch (format version 1):
///
/// ```json
/// {"hangar_batch": 1, "description": "nightly export",
///  "idempotency_key": "export-2026-11-26",
///  "jobs": [{"kind": "export", "args": {"part": 1}}, {"kind": "export", "args": {"part": 2}}],
///  "continuations": [{"kind": "notify", "on": "succeeded"}]}
/// ```
///
/// Each job and continuation takes the fields of a job request except
/// `hangar_intake` and `idempotency_key` (its id comes from the batch's);
/// a continuation also takes `on`: `succeeded` (default: runs if every job
/// Succeeded) or `any_finished`.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeBatch {
    /// What the batch is for.
    pub description: Option<String>,
    /// Requests with the same key make one batch (id `idem-<key>`).
    pub idempotency_key: Option<String>,
    /// Its jobs (at least one).
    pub jobs: Vec<Intake>,
    /// Its continuations, each with its condition.
    pub continuations: Vec<(Intake, crate::job::ContinueOn)>,
}

impl IntakeBatch {
    /// The batch's id: from the idempotency key, else from the SQS message
    /// id (a redelivery of the same message makes the same batch).
    pub fn batch_id(&self, sqs_message_id: &str) -> JobId {
        request_id(self.idempotency_key.as_deref(), sqs_message_id)
    }
}

impl IntakeBatch {
    /// The batch this request asks for, with id `id`: each job on
    /// `default_queue` unless it names its own, and `origin` (where the
    /// request came from) recorded on each.
    pub fn to_batch(
        &self,
        id: JobId,
        default_queue: &str,
        origin: Option<&str>,
    ) -> Result<crate::batch::Batch> {
        let job = |intake: &Intake| {
            let job = intake.new_job(default_queue);
            match origin {
                Some(o) => job.created_from(o),
                None => job,
            }
        };
        let mut batch = crate::batch::Batch::new().id(id);
        if let Some(text) = &self.description {
            batch = batch.description(text);
        }
        for intake in &self.jobs {
            batch = match (intake.delay_seconds, intake.run_at) {
                (Some(s), _) => batch.schedule(job(intake), std::time::Duration::from_secs(s))?,
                (None, Some(at)) => batch.schedule(job(intake), at)?,
                (None, None) => batch.enqueue(job(intake))?,
            };
        }
        for (intake, on) in &self.continuations {
            batch = batch.continue_with(job(intake), *on)?;
        }
        Ok(batch)
    }
}

/// `idem-<key>`, else `msg-<SQS message id>`.
fn request_id(idempotency_key: Option<&str>, sqs_message_id: &str) -> JobId {
    let id = match idempotency_key {
        Some(key) => format!("idem-{key}"),
        None => format!("msg-{sqs_message_id}"),
    };
    JobId::parse(id).unwrap_or_else(|_| JobId::generate())
}

/// The batch request format version this worker reads.
pub const BATCH_FORMAT: u32 = 1;

/// What a message is.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A wake-up call for an existing job.
    WakeUp(WakeUp),
    /// A request to create a job.
    Intake(Box<Intake>, Envelope),
    /// A request to create a batch.
    Batch(Box<IntakeBatch>, Envelope),
    /// Neither; the reason says exactly what is wrong.
    Invalid(String),
}

impl Intake {
    /// Checks the fields serde cannot: names, key syntax, one of delay and
    /// run_at.
    pub fn validate(&self) -> Result<()> {
        validate_kind(&self.kind)?;
        if let Some(q) = &self.queue {
            validate_queue(q)?;
        }
        if self.delay_seconds.is_some() && self.run_at.is_some() {
            return Err(crate::error::Error::invalid(
                "job request",
                "give delay_seconds or run_at, not both",
            ));
        }
        if let Some(key) = &self.idempotency_key {
            check_idempotency_key(key)?;
        }
        if let Some(r) = self.retries
            && r > crate::job::MAX_RETRY_ATTEMPTS
        {
            return Err(crate::error::Error::invalid(
                "retries",
                format!("{r}; give 0 to {}", crate::job::MAX_RETRY_ATTEMPTS),
            ));
        }
        if let Some(s) = self.timeout_seconds
            && (s == 0 || s > crate::job::MAX_TIMEOUT.as_secs())
        {
            return Err(crate::error::Error::invalid(
                "timeout_seconds",
                format!(
                    "{s}; give 1 to {} (7 days)",
                    crate::job::MAX_TIMEOUT.as_secs()
                ),
            ));
        }
        crate::job::validate_limits(&self.limits())?;
        if let Some(params) = &self.params {
            crate::job::validate_params(params)?;
        }
        if let Some(tags) = &self.tags {
            crate::job::validate_tags(tags)?;
        }
        if let Some(u) = &self.unique {
            crate::job::validate_limit_key("unique key", &u.key)?;
            if let Some(until) = &u.until {
                crate::job::unique::UniqueUntil::parse(until)?;
            }
        }
        if let Some(d) = &self.debounce {
            d.to_debounce().validate()?;
            if self.delay_seconds.is_some() || self.run_at.is_some() || self.unique.is_some() {
                return Err(crate::error::Error::invalid(
                    "debounce",
                    "a debounced request sets its own start: give no delay_seconds, run_at or unique",
                ));
            }
        }
        Ok(())
    }

    /// The job's id: `idem-<key>` with an idempotency key, else
    /// `msg-<SQS message id>`, so a redelivered message is the same job.
    pub fn job_id(&self, sqs_message_id: &str) -> JobId {
        request_id(self.idempotency_key.as_deref(), sqs_message_id)
    }
}
