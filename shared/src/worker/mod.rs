//! The worker runtime: a registry of handlers by kind, and the processing of
//! SQS batches as the Lambda event source mapping delivers them (or as
//! [`Poller`] does outside Lambda).
//!
//! For each message the worker decides from DynamoDB, never from the message
//! (design invariants 2 and 3): it claims the job with one conditional write
//! that sets a lease, runs the handler, and records the result with one more
//! conditional write on the version it claimed.

mod claim;
mod finish;
mod pause;
mod poller;
mod requests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};

use crate::client::Client;
use crate::core::Core;
use crate::emf::{Emf, JobTally};
use crate::error::error_chain;
use crate::filter::WorkerFilter;
use crate::handler::Registry;
use crate::intake::{KIND_ATTRIBUTE, Message, parse_message};
use crate::job::{JobId, JobRecord};
use crate::limits::rate::{self, RateStart};
use crate::limits::slots::{self, SlotNeed};
use crate::message::WakeUp;
use crate::state::State;
use crate::tracecontext::AWS_TRACE_HEADER;

pub use pause::{PAUSE_CHECK, PAUSED_TRUST};
pub use poller::Poller;
pub use requests::{INVALID_MESSAGE_KIND, MAX_RAW_BODY_BYTES};

/// Added to a lease beyond the job's own deadline, so a slow final write is
/// not mistaken for a crash.
pub const LEASE_MARGIN: Duration = Duration::from_secs(10);
/// Time kept back from a Lambda invocation's deadline to record the result.
pub const FINISH_RESERVE: Duration = Duration::from_secs(3);

/// One SQS message as the worker sees it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The SQS message id.
    pub message_id: String,
    pub body: String,
    /// The Hangar queue it arrived on.
    pub queue: String,
    /// String message attributes (e.g. `hangar-kind`), and the
    /// `AWSTraceHeader` system attribute when SQS set it.
    pub attributes: BTreeMap<String, String>,
}

impl Delivery {
    /// From a Lambda SQS event record; the queue is read from the source ARN
    /// (`…:{stack}-{queue}`).
    pub fn from_lambda(msg: &SqsMessage, stack: &str) -> Self {
        let queue = msg
            .event_source_arn
            .as_deref()
            .and_then(|arn| arn.rsplit(':').next())
            .and_then(|name| name.strip_prefix(stack))
            .and_then(|rest| rest.strip_prefix('-'))
            .unwrap_or(crate::job::DEFAULT_QUEUE)
            .to_owned();
        Delivery {
            message_id: msg.message_id.clone().unwrap_or_default(),
            body: msg.body.clone().unwrap_or_default(),
            queue,
            attributes: msg
                .message_attributes
                .iter()
                .filter_map(|(k, v)| {
                    let binary = v.binary_value.as_ref().map(|b| b.0.as_slice());
                    let text = crate::queue::attribute_text(v.string_value.clone(), binary)?;
                    Some((k.clone(), text))
                })
                .chain(
                    (msg.attributes.get(AWS_TRACE_HEADER))
                        .map(|h| (AWS_TRACE_HEADER.to_owned(), h.clone())),
                )
                .collect(),
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job ran; its result is recorded.
    Ran(State),
    /// Another run holds a live lease, or the message came early; a delayed
    /// copy was sent for later.
    PutBack(Duration),
    /// The message was stale or its job gone; acknowledged, nothing to do.
    Dropped(String),
    /// A job request; the job was created (and its wake-up sent).
    Created(JobId),
    /// The body was not a Hangar message; recorded as a Failed job.
    RecordedInvalid(JobId),
    /// Could not be handled now (an AWS error); SQS will deliver it again.
    Retry(String),
    /// Its queue is paused: the job was parked, to be woken on resume.
    Parked,
    /// Every slot of its concurrency key is taken: the job waits on the
    /// key's list, to be woken when a run of the key ends.
    Waiting,
}

impl Outcome {
    /// Whether SQS should deliver the message again.
    pub fn is_retry(&self) -> bool {
        matches!(self, Outcome::Retry(_))
    }
}

/// Runs jobs from SQS messages.
#[derive(Debug, Clone)]
pub struct Worker {
    core: Arc<Core>,
    registry: Arc<Registry>,
    name: String,
    /// Queue → (when read, paused), trusted for [`PAUSE_CHECK`] when
    /// running, [`PAUSED_TRUST`] when paused.
    pauses: Arc<tokio::sync::Mutex<pause::PauseCache>>,
    /// Embedded-metric lines (see [`crate::emf`]).
    emf: Arc<Emf>,
    /// What the jobs did since the last batch ended, by (queue, kind).
    tally: Arc<std::sync::Mutex<Tallies>>,
    /// Hooks around runs and state changes (see [`crate::filter`]).
    filters: Arc<Vec<Arc<dyn WorkerFilter>>>,
}

impl std::fmt::Debug for dyn WorkerFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkerFilter")
    }
}

type Tallies = BTreeMap<(String, String), JobTally>;

impl Worker {
    /// A worker sharing a client's clients, clock and configuration.
    pub fn new(client: &Client, registry: Registry) -> Self {
        let name = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| format!("pid-{}", std::process::id()));
        Worker {
            core: client.core.clone(),
            registry: Arc::new(registry),
            name,
            pauses: Default::default(),
            emf: Arc::new(Emf::from_env(&client.core.config.stack)),
            tally: Default::default(),
            filters: Arc::default(),
        }
    }

    /// Names this worker in the history entries of the runs it claims
    /// (by default the Lambda log stream, the host name or the process id).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// A worker that runs `filter` around each run and on each state it
    /// writes, inside the filters registered before it (see
    /// [`crate::filter::WorkerFilter`]).
    pub fn with_filter(mut self, filter: impl WorkerFilter) -> Self {
        Arc::make_mut(&mut self.filters).push(Arc::new(filter));
        self
    }

    /// Tells the filters about a state just written.
    async fn notify(&self, job: &JobRecord, from: State) {
        for filter in self.filters.iter() {
            filter.on_state(job, from).await;
        }
    }

    /// Writes metrics through `emf` instead of as the environment says
    /// (see [`crate::emf`]).
    pub fn with_metrics(mut self, emf: Emf) -> Self {
        self.emf = Arc::new(emf);
        self
    }

    /// Counts what a job did, for the batch's metric lines.
    fn count(&self, job: &JobRecord, f: impl FnOnce(&mut JobTally)) {
        if self.emf.enabled() {
            let mut tallies = self.tally.lock().expect("not poisoned");
            f(tallies
                .entry((job.options.queue.clone(), job.kind.clone()))
                .or_default());
        }
    }

    /// Writes the metric lines of what was counted since the last flush.
    fn flush_metrics(&self) {
        if !self.emf.enabled() {
            return;
        }
        let tallies = std::mem::take(&mut *self.tally.lock().expect("not poisoned"));
        self.emf
            .write(self.emf.job_lines(&tallies, self.core.now()));
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Lambda entry point: handles an SQS event and reports the messages
    /// to deliver again (`ReportBatchItemFailures`).
    pub async fn handle_lambda(
        &self,
        event: lambda_runtime::LambdaEvent<SqsEvent>,
    ) -> std::result::Result<SqsBatchResponse, lambda_runtime::Error> {
        let deadline = DateTime::from_timestamp_millis(event.context.deadline as i64);
        let deliveries = event
            .payload
            .records
            .iter()
            .map(|m| Delivery::from_lambda(m, &self.core.config.stack))
            .collect();
        let failed = self.handle_batch(deliveries, deadline).await;
        let mut resp = SqsBatchResponse::default();
        resp.batch_item_failures = failed
            .into_iter()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                f
            })
            .collect();
        Ok(resp)
    }

    /// Handles a batch concurrently; returns the ids of the messages SQS
    /// should deliver again.
    pub async fn handle_batch(
        &self,
        batch: Vec<Delivery>,
        deadline: Option<DateTime<Utc>>,
    ) -> Vec<String> {
        let mut set = tokio::task::JoinSet::new();
        let mut message_ids = HashMap::new();
        for d in batch {
            let (worker, message_id) = (self.clone(), d.message_id.clone());
            // Boxed before it is spawned: a message's future is some 16 KB,
            // and spawning it by value copies it on its way into the task.
            let task = set.spawn(Box::pin(async move { worker.handle(&d, deadline).await }));
            message_ids.insert(task.id(), message_id);
        }
        let mut failed = Vec::new();
        while let Some(res) = set.join_next_with_id().await {
            let task = match res {
                Ok((task, outcome)) if outcome.is_retry() => task,
                Ok(_) => continue,
                // handle() does not panic (handlers run in their own task),
                // but if it did, its message is delivered again.
                Err(e) => {
                    tracing::error!(error = %e, "message task failed; it will be delivered again");
                    e.id()
                }
            };
            failed.extend(message_ids.remove(&task));
        }
        self.flush_metrics();
        failed
    }

    /// Handles one message.
    pub async fn handle(&self, d: &Delivery, deadline: Option<DateTime<Utc>>) -> Outcome {
        let kind = d.attributes.get(KIND_ATTRIBUTE).map(String::as_str);
        let mut message = parse_message(&d.body, kind);
        // On a queue routed to a kind, any body that is not a Hangar message
        // is a request for that kind.
        if let (Message::Invalid(_), None, Some(kind)) =
            (&message, kind, self.core.config.queue_kinds.get(&d.queue))
        {
            message = parse_message(&d.body, Some(kind));
        }
        let outcome = match message {
            Message::WakeUp(w) if self.paused(&d.queue).await => self.park(&w).await,
            Message::WakeUp(w) => self.wake_up(&w, &d.queue, deadline).await,
            Message::Intake(intake, envelope) => self.intake(d, &intake, envelope).await,
            Message::Batch(batch, envelope) => self.intake_batch(d, &batch, envelope).await,
            Message::Invalid(reason) => self.record_invalid(d, &reason).await,
        };
        match &outcome {
            Outcome::Retry(why) => {
                tracing::warn!(message_id = %d.message_id, why, "message will be delivered again")
            }
            Outcome::Dropped(why) => {
                tracing::debug!(message_id = %d.message_id, why, "message dropped")
            }
            _ => {}
        }
        outcome
    }

    async fn wake_up(&self, w: &WakeUp, queue: &str, deadline: Option<DateTime<Utc>>) -> Outcome {
        let now = self.core.now();
        match rate::start(&self.core, w, now).await {
            Ok(RateStart::Now) => {}
            Ok(RateStart::Wait { message, after }) => {
                return match self.core.queues.send(queue, &message, after).await {
                    Ok(()) => Outcome::PutBack(after),
                    Err(e) => Outcome::Retry(error_chain(&e)),
                };
            }
            Err(e) => return Outcome::Retry(error_chain(&e)),
        }
        // A start under a concurrency or ordering key needs a slot first;
        // the claim's lease is the slot's.
        let need = SlotNeed::of(w);
        let mut held = None;
        if let Some(need) = &need {
            let hinted = w
                .timeout_s
                .map(Duration::from_secs)
                .unwrap_or(crate::job::DEFAULT_TIMEOUT);
            let lease = self.lease(hinted, now, deadline);
            let holder = format!("{}@{}", w.job, crate::clock::to_millis(lease));
            match slots::take(&self.core, w, need, &holder, now).await {
                Ok(true) => held = Some(holder),
                Ok(false) => return Outcome::Waiting,
                Err(e) => return Outcome::Retry(error_chain(&e)),
            }
        }
        let outcome = self.claim_and_run(w, now, deadline).await;
        if let (Some(need), Some(holder)) = (&need, held) {
            let ended = matches!(
                outcome,
                Outcome::Ran(State::Succeeded | State::Failed | State::Deleted)
            );
            slots::give_back(&self.core, need, &holder, ended).await;
        }
        outcome
    }
}
