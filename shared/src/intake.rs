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

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::error::Result;
pub use crate::job::MAX_IDEMPOTENCY_KEY;
use crate::job::{JobId, check_idempotency_key, validate_kind, validate_queue};
use crate::message::{Body, WakeUp, parse_body};

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
    /// The job kind.
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
}

/// A request's concurrency limit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConcurrency {
    /// The key.
    pub key: String,
    /// Runs at once (1 to 1000).
    pub limit: u32,
}

/// A request's rate limit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeRate {
    /// The key.
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
        if let Some(r) = self.retries {
            job = job.retries(r);
        }
        if let Some(s) = self.timeout_seconds {
            job = job.timeout(std::time::Duration::from_secs(s));
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

/// Reads a message body (and its `hangar-kind` attribute, if any).
pub fn parse_message(body: &str, kind_attribute: Option<&str>) -> Message {
    if let Some(kind) = kind_attribute {
        let args = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
        let intake = Intake {
            hangar_intake: INTAKE_FORMAT,
            kind: kind.to_owned(),
            args,
            queue: None,
            delay_seconds: None,
            run_at: None,
            idempotency_key: None,
            retries: None,
            timeout_seconds: None,
            start_within_seconds: None,
            concurrency: None,
            ordered: None,
            rate: None,
            params: None,
        };
        return match intake.validate() {
            Ok(()) => Message::Intake(Box::new(intake), Envelope::KindAttribute),
            Err(e) => Message::Invalid(format!("{KIND_ATTRIBUTE} attribute: {e}")),
        };
    }
    let value: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Message::Invalid(format!("message body is not JSON: {e}")),
    };
    from_value(value, Envelope::Body, 0)
}

fn from_value(value: Value, envelope: Envelope, depth: u8) -> Message {
    let Some(obj) = value.as_object() else {
        return Message::Invalid(format!("{} is JSON but not an object", what(envelope)));
    };
    if obj.contains_key("hangar") && envelope == Envelope::Body {
        return match parse_body(&value.to_string()) {
            Body::WakeUp(w) => Message::WakeUp(w),
            Body::Invalid(reason) => Message::Invalid(reason),
        };
    }
    if obj.contains_key("hangar_intake") {
        return intake(value, envelope);
    }
    if obj.contains_key("hangar_batch") {
        return batch(value, envelope);
    }
    // SNS notification (not raw delivery): the payload is the `Message`
    // string. Only `Type` and `Message` are required.
    if depth == 0 && obj.get("Type").and_then(Value::as_str) == Some("Notification") {
        let Some(message) = obj.get("Message").and_then(Value::as_str) else {
            return Message::Invalid(
                "SNS notification without a string \"Message\" field".to_owned(),
            );
        };
        return match serde_json::from_str(message) {
            Ok(inner) => from_value(inner, Envelope::Sns, depth + 1),
            Err(e) => Message::Invalid(format!("SNS notification's Message is not JSON: {e}")),
        };
    }
    // EventBridge event: `detail` plus `detail-type` or `source`; `account`,
    // `region`, `time`, `id` may be missing.
    if obj.contains_key("detail") && (obj.contains_key("detail-type") || obj.contains_key("source"))
    {
        let detail = obj["detail"].clone();
        if !detail.is_object() {
            return Message::Invalid("EventBridge event's detail is not an object".to_owned());
        }
        if detail.get("hangar_batch").is_some() {
            return batch(detail, Envelope::EventBridge);
        }
        if detail.get("hangar_intake").is_none() {
            return Message::Invalid(
                "EventBridge event's detail has no \"hangar_intake\" field; shape it with an input transformer (see docs/intake.md)"
                    .to_owned(),
            );
        }
        return intake(detail, Envelope::EventBridge);
    }
    Message::Invalid(format!(
        "{} has neither \"hangar\" (a wake-up) nor \"hangar_intake\" (a job request) nor \"hangar_batch\" (a batch request, see docs/intake.md)",
        what(envelope)
    ))
}

fn what(envelope: Envelope) -> &'static str {
    match envelope {
        Envelope::Sns => "SNS notification's Message",
        Envelope::EventBridge => "EventBridge event's detail",
        _ => "message body",
    }
}

/// A refusal of a request found inside an envelope names the envelope.
fn refused(envelope: Envelope, reason: String) -> Message {
    Message::Invalid(match envelope {
        Envelope::Sns | Envelope::EventBridge => format!("{}: {reason}", what(envelope)),
        _ => reason,
    })
}

fn intake(value: Value, envelope: Envelope) -> Message {
    let refused = |reason| refused(envelope, reason);
    match value.get("hangar_intake") {
        Some(Value::Number(n)) if n.as_u64() == Some(u64::from(INTAKE_FORMAT)) => {}
        Some(other) => {
            return refused(format!(
                "unknown intake format version {other} (this worker reads version {INTAKE_FORMAT})"
            ));
        }
        None => unreachable!("checked by the caller"),
    }
    if let Some(reason) = field_type_error(&value) {
        return refused(format!("job request: {reason}"));
    }
    let intake: Intake = match serde_json::from_value(value) {
        Ok(i) => i,
        Err(e) => return refused(format!("job request: {e}")),
    };
    match intake.validate() {
        Ok(()) => Message::Intake(Box::new(intake), envelope),
        Err(e) => refused(format!("job request: {e}")),
    }
}

fn batch(value: Value, envelope: Envelope) -> Message {
    match parse_batch(value) {
        Ok(b) => Message::Batch(Box::new(b), envelope),
        Err(reason) => refused(envelope, format!("batch request: {reason}")),
    }
}

fn parse_batch(value: Value) -> std::result::Result<IntakeBatch, String> {
    let Value::Object(mut obj) = value else {
        unreachable!("checked by the caller")
    };
    match obj.remove("hangar_batch") {
        Some(Value::Number(n)) if n.as_u64() == Some(u64::from(BATCH_FORMAT)) => {}
        Some(other) => {
            return Err(format!(
                "unknown batch format version {other} (this worker reads version {BATCH_FORMAT})"
            ));
        }
        None => unreachable!("checked by the caller"),
    }
    let string = |obj: &mut serde_json::Map<String, Value>, field: &str| match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("{field} must be a string, not {other}")),
    };
    let description = string(&mut obj, "description")?;
    if let Some(d) = description
        .as_ref()
        .filter(|d| d.len() > crate::batch::MAX_DESCRIPTION)
    {
        return Err(format!(
            "description is {} bytes; at most {}",
            d.len(),
            crate::batch::MAX_DESCRIPTION
        ));
    }
    let idempotency_key = string(&mut obj, "idempotency_key")?;
    if let Some(key) = &idempotency_key {
        check_idempotency_key(key).map_err(|e| e.to_string())?;
    }
    let list = |obj: &mut serde_json::Map<String, Value>, field: &str| match obj.remove(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(format!("{field} must be an array, not {other}")),
    };
    let jobs = list(&mut obj, "jobs")?;
    let continuations = list(&mut obj, "continuations")?;
    if let Some(field) = obj.keys().next() {
        return Err(format!(
            "unknown field `{field}`, expected one of `hangar_batch`, `description`, `idempotency_key`, `jobs`, `continuations`"
        ));
    }
    if jobs.is_empty() || jobs.len() > crate::batch::MAX_BATCH_JOBS {
        return Err(format!(
            "{} jobs; a batch has 1 to {}",
            jobs.len(),
            crate::batch::MAX_BATCH_JOBS
        ));
    }
    let member = |i: usize, what: &str, value: Value| -> std::result::Result<Intake, String> {
        let Value::Object(mut fields) = value else {
            return Err(format!("{what} {i} is not an object"));
        };
        for own in ["hangar_intake", "idempotency_key"] {
            if fields.contains_key(own) {
                return Err(format!(
                    "{what} {i}: `{own}` belongs to the batch, not its jobs"
                ));
            }
        }
        fields.insert("hangar_intake".to_owned(), Value::from(INTAKE_FORMAT));
        match intake(Value::Object(fields), Envelope::Body) {
            Message::Intake(job, _) => Ok(*job),
            Message::Invalid(reason) => Err(format!(
                "{what} {i}: {}",
                reason.trim_start_matches("job request: ")
            )),
            _ => unreachable!("a request parses as a request"),
        }
    };
    let jobs = jobs
        .into_iter()
        .enumerate()
        .map(|(i, v)| member(i + 1, "job", v))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let continuations = continuations
        .into_iter()
        .enumerate()
        .map(|(i, mut v)| {
            let on = match v.as_object_mut().and_then(|o| o.remove("on")) {
                None | Some(Value::Null) => crate::job::ContinueOn::Succeeded,
                Some(Value::String(s)) if s == "succeeded" => crate::job::ContinueOn::Succeeded,
                Some(Value::String(s)) if s == "any_finished" => {
                    crate::job::ContinueOn::AnyFinished
                }
                Some(other) => {
                    return Err(format!(
                        "continuation {}: on must be \"succeeded\" or \"any_finished\", not {other}",
                        i + 1
                    ));
                }
            };
            let job = member(i + 1, "continuation", v)?;
            if job.ordered.is_some() {
                return Err(format!(
                    "continuation {}: a continuation cannot be ordered",
                    i + 1
                ));
            }
            Ok((job, on))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(IntakeBatch {
        description,
        idempotency_key,
        jobs,
        continuations,
    })
}

/// Names the field whose JSON type is wrong (serde's message does not).
fn field_type_error(value: &Value) -> Option<String> {
    let obj = value.as_object()?;
    for (field, v) in obj {
        let problem = match field.as_str() {
            "kind" | "queue" | "idempotency_key" if !v.is_string() && !v.is_null() => {
                "must be a string"
            }
            "delay_seconds" | "start_within_seconds" | "timeout_seconds"
                if !v.is_u64() && !v.is_null() =>
            {
                "must be a whole number of seconds, 0 or more"
            }
            "retries" if v.as_u64().is_none_or(|n| n > u64::from(u32::MAX)) && !v.is_null() => {
                "must be a whole number, 0 or more"
            }
            "run_at"
                if !v.is_null()
                    && v.as_str()
                        .is_none_or(|t| DateTime::parse_from_rfc3339(t).is_err()) =>
            {
                "must be an RFC 3339 time such as 2026-01-01T09:00:00Z"
            }
            _ => continue,
        };
        return Some(format!("{field} {problem}, not {v}"));
    }
    None
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
        Ok(())
    }

    /// The job's id: `idem-<key>` with an idempotency key, else
    /// `msg-<SQS message id>`, so a redelivered message is the same job.
    pub fn job_id(&self, sqs_message_id: &str) -> JobId {
        request_id(self.idempotency_key.as_deref(), sqs_message_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intake_of(body: &str) -> (Intake, Envelope) {
        match parse_message(body, None) {
            Message::Intake(i, e) => (*i, e),
            other => panic!("{body}: {other:?}"),
        }
    }

    fn invalid(body: &str) -> String {
        match parse_message(body, None) {
            Message::Invalid(r) => r,
            other => panic!("{body}: {other:?}"),
        }
    }

    const REQUEST: &str = r#"{"hangar_intake":1,"kind":"hello","args":{"name":"x"}}"#;

    #[test]
    fn plain_request() {
        let (i, e) = intake_of(REQUEST);
        assert_eq!(e, Envelope::Body);
        assert_eq!(i.kind, "hello");
        assert_eq!(i.args["name"], "x");
        let (i, _) = intake_of(r#"{"hangar_intake":1,"kind":"hello"}"#);
        assert_eq!(i.args, serde_json::json!({}));
    }

    #[test]
    fn eventbridge_event_full_and_sparse() {
        let full = format!(
            r#"{{"version":"0","id":"e1","detail-type":"Order placed","source":"shop","account":"123456789012","time":"2026-01-01T00:00:00Z","region":"eu-west-1","resources":[],"detail":{REQUEST}}}"#
        );
        assert_eq!(intake_of(&full).1, Envelope::EventBridge);
        let sparse = format!(r#"{{"detail-type":"x","detail":{REQUEST}}}"#);
        assert_eq!(intake_of(&sparse).1, Envelope::EventBridge);
        assert!(
            invalid(r#"{"source":"shop","detail":{"orderId":1}}"#).contains("input transformer")
        );
    }

    #[test]
    fn sns_notification_wrapping_a_request_or_an_event() {
        let sns = serde_json::json!({
            "Type": "Notification",
            "MessageId": "m",
            "TopicArn": "arn:aws:sns:us-east-1:1:t",
            "Message": REQUEST,
        })
        .to_string();
        assert_eq!(intake_of(&sns).1, Envelope::Sns);
        let minimal = serde_json::json!({"Type": "Notification", "Message": REQUEST}).to_string();
        assert_eq!(intake_of(&minimal).0.kind, "hello");
        let bad = serde_json::json!({"Type": "Notification", "Message": "plain text"}).to_string();
        assert!(invalid(&bad).contains("not JSON"));
    }

    #[test]
    fn kind_attribute_takes_any_body() {
        match parse_message(r#"{"Records":[{"s3":{}}]}"#, Some("thumbnail")) {
            Message::Intake(i, Envelope::KindAttribute) => {
                assert_eq!(i.kind, "thumbnail");
                assert!(i.args["Records"].is_array());
            }
            other => panic!("{other:?}"),
        }
        match parse_message("plain text", Some("log")) {
            Message::Intake(i, _) => assert_eq!(i.args, Value::String("plain text".into())),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_message("{}", Some("bad kind!")),
            Message::Invalid(r) if r.contains("hangar-kind")
        ));
    }

    #[test]
    fn hangar_fields_are_strict() {
        for (body, want) in [
            ("nope", "not JSON"),
            ("[]", "not an object"),
            (r#"{"kind":"hello"}"#, "neither"),
            (
                r#"{"hangar_intake":2,"kind":"hello"}"#,
                "unknown intake format version 2",
            ),
            (
                r#"{"hangar_intake":"1","kind":"hello"}"#,
                "unknown intake format version \"1\"",
            ),
            (r#"{"hangar_intake":1}"#, "missing field `kind`"),
            (
                r#"{"hangar_intake":1,"kind":"hello","delay":5}"#,
                "unknown field `delay`",
            ),
            (
                r#"{"hangar_intake":1,"kind":"hello","args":{},"delay_seconds":-1}"#,
                "delay_seconds",
            ),
            (
                r#"{"hangar_intake":1,"kind":"hello","delay_seconds":1,"run_at":"2030-01-01T00:00:00Z"}"#,
                "not both",
            ),
            (
                r#"{"hangar_intake":1,"kind":"hello","run_at":"tomorrow"}"#,
                "run_at",
            ),
            (
                r#"{"hangar_intake":1,"kind":"hello","queue":"Bad Q"}"#,
                "queue",
            ),
            (
                r#"{"hangar_intake":1,"kind":"hello","idempotency_key":"a b"}"#,
                "idempotency_key",
            ),
            (r#"{"hangar_intake":1,"kind":""}"#, "kind"),
        ] {
            let reason = invalid(body);
            assert!(reason.contains(want), "{body}: {reason}");
        }
    }

    #[test]
    fn ids_come_from_the_key_or_the_message() {
        let (i, _) =
            intake_of(r#"{"hangar_intake":1,"kind":"hello","idempotency_key":"order-42"}"#);
        assert_eq!(i.job_id("m1").as_str(), "idem-order-42");
        assert_eq!(i.job_id("m2").as_str(), "idem-order-42");
        let (i, _) = intake_of(REQUEST);
        assert_eq!(i.job_id("m1").as_str(), "msg-m1");
    }

    #[test]
    fn wake_ups_still_parse() {
        let w = WakeUp::new(JobId::generate(), 3, crate::State::Enqueued);
        assert_eq!(parse_message(&w.to_body(), None), Message::WakeUp(w));
    }
}
