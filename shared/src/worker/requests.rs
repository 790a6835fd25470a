//! Job and batch requests from outside Rust (see [`crate::intake`]): each
//! becomes a job or a batch once per message or idempotency key, and a body
//! that is not a Hangar message becomes a visible Failed job.

use std::time::Duration;

use super::{Delivery, Outcome, Worker};
use crate::client::Client;
use crate::error::{Error, error_chain};
use crate::intake::{Envelope, Intake};
use crate::job::{HistoryEntry, JobId, JobOptions, JobRecord, NewJob, truncate};
use crate::retry::RetryPolicy;
use crate::state::State;
use crate::tracecontext::{AWS_TRACE_HEADER, TRACEPARENT_ATTRIBUTE, TraceParent};

/// Kind of the Failed job that records a message Hangar could not read.
pub const INVALID_MESSAGE_KIND: &str = "hangar.invalid_message";
/// Largest raw body kept in the arguments of an invalid-message job.
pub const MAX_RAW_BODY_BYTES: usize = 64 * 1024;

impl Worker {
    /// A job request from outside Rust: creates the job (once per message,
    /// or once per idempotency key) and sends its wake-up like any client;
    /// the job then runs from that wake-up. A request that cannot become a
    /// job (arguments too large, say) is recorded as a Failed job instead.
    pub(super) async fn intake(
        &self,
        d: &Delivery,
        intake: &Intake,
        envelope: Envelope,
    ) -> Outcome {
        let id = intake.job_id(&d.message_id);
        let job = requested_job(d, intake, envelope).id(id.clone());
        let client = Client::from_core(self.core.clone());
        let res = match (intake.delay_seconds, intake.run_at) {
            (Some(s), _) => client.schedule(job, Duration::from_secs(s)).await,
            (None, Some(at)) => client.schedule(job, at).await,
            (None, None) => client.enqueue(job).await,
        };
        match res {
            Ok(id) => {
                tracing::info!(job = %id, kind = %intake.kind, envelope = envelope.as_str(), "job created from a request");
                Outcome::Created(id)
            }
            Err(e) => self.not_created(d, "job request", e).await,
        }
    }

    /// A batch request: creates the batch (once per message, or once per
    /// idempotency key), as [`Client::start_batch`] does.
    pub(super) async fn intake_batch(
        &self,
        d: &Delivery,
        request: &crate::intake::IntakeBatch,
        envelope: Envelope,
    ) -> Outcome {
        let id = request.batch_id(&d.message_id);
        let res = match request.to_batch(id.clone(), &d.queue, Some(&origin(d, envelope))) {
            Ok(batch) => {
                Client::from_core(self.core.clone())
                    .start_batch(batch)
                    .await
            }
            Err(e) => Err(e),
        };
        match res {
            Ok(id) => {
                tracing::info!(batch = %id, jobs = request.jobs.len(), envelope = envelope.as_str(), "batch created from a request");
                Outcome::Created(id)
            }
            Err(e @ Error::BatchCutShort { .. }) => {
                tracing::warn!(batch = %id, error = %e, "batch request cut short");
                Outcome::Dropped(e.to_string())
            }
            Err(e) => self.not_created(d, "batch request", e).await,
        }
    }

    /// A request whose job or batch was not created: already there (a
    /// duplicate), refused (a visible Failed job), or to be retried.
    async fn not_created(&self, d: &Delivery, what: &str, e: Error) -> Outcome {
        match e {
            Error::AlreadyExists { id } => {
                // A redelivery, or a key used again while its job is kept:
                // the request is the job already there.
                tracing::info!(message_id = %d.message_id, job = %id, "{what} names a job or batch that exists; nothing created");
                Outcome::Dropped(format!("{id} already exists for this request"))
            }
            e @ (Error::Invalid { .. } | Error::PayloadTooLarge { .. } | Error::Args { .. }) => {
                self.record_invalid(d, &format!("{what}: {e}")).await
            }
            e => Outcome::Retry(error_chain(&e)),
        }
    }

    /// A body that is not a Hangar message becomes a Failed job, so it is
    /// neither lost nor retried; its id comes from the SQS message id, so a
    /// redelivery finds the same record.
    pub(super) async fn record_invalid(&self, d: &Delivery, reason: &str) -> Outcome {
        let id = match JobId::parse(format!("msg-{}", d.message_id)) {
            Ok(id) => id,
            Err(_) => JobId::generate(),
        };
        // The reason can quote the body (a field's value), which may hold
        // personal data: it is stored with the job, and logged only at debug.
        tracing::warn!(message_id = %d.message_id, job = %id, "message is not a Hangar message; recording it as a Failed job (the job says why)");
        tracing::debug!(message_id = %d.message_id, reason, "why the message is not a Hangar message");
        let now = self.core.now();
        let entry = HistoryEntry::new(State::Failed, now, Some(reason.to_owned()))
            .with("error_type", "hangar::InvalidMessage")
            .with("error_message", reason)
            .with("raw_body", d.body.as_str())
            .with("sqs_message_id", d.message_id.as_str());
        let queue = if crate::job::validate_queue(&d.queue).is_ok() {
            d.queue.clone()
        } else {
            crate::job::DEFAULT_QUEUE.to_owned()
        };
        let mut record = JobRecord::new(
            id.clone(),
            INVALID_MESSAGE_KIND.to_owned(),
            serde_json::json!({ "raw_body": truncate(&d.body, MAX_RAW_BODY_BYTES) }),
            JobOptions {
                queue,
                retry: RetryPolicy::none(),
                ..JobOptions::default()
            },
            entry,
        );
        record.last_error = Some(truncate(reason, crate::job::MAX_DATA_VALUE_BYTES));
        match self.core.store.insert(&record).await {
            Ok(()) | Err(Error::AlreadyExists { .. }) => Outcome::RecordedInvalid(id),
            // Not recorded: SQS delivers it again and, after the queue's
            // maxReceiveCount, moves it to the dead-letter queue.
            Err(e) => Outcome::Retry(error_chain(&e)),
        }
    }
}

/// The job a request asks for (its id aside), on the queue it arrived on
/// unless it names one, recording where it came from.
/// Its trace context is the request's `traceparent`, else the message's
/// `traceparent` attribute, else the X-Ray header SQS adds for a traced
/// sender (`AWSTraceHeader`).
fn requested_job(d: &Delivery, intake: &Intake, envelope: Envelope) -> NewJob {
    let job = intake.new_job(&d.queue).created_from(origin(d, envelope));
    let attribute = || {
        let w3c = d.attributes.get(TRACEPARENT_ATTRIBUTE);
        let w3c = w3c.and_then(|t| TraceParent::parse(t).ok());
        w3c.or_else(|| TraceParent::from_xray(d.attributes.get(AWS_TRACE_HEADER)?))
    };
    match intake.traceparent.clone().or_else(attribute) {
        Some(trace) => job.traceparent(trace),
        None => job,
    }
}

fn origin(d: &Delivery, envelope: Envelope) -> String {
    format!(
        "Created from SQS message {} ({})",
        d.message_id,
        envelope.as_str()
    )
}
