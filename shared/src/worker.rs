//! The worker runtime: a registry of handlers by kind, and the processing of
//! SQS batches as the Lambda event source mapping delivers them (or as
//! [`Poller`] does outside Lambda).
//!
//! For each message the worker decides from DynamoDB, never from the message
//! (design invariants 2 and 3): it claims the job with one conditional write
//! that sets a lease, runs the handler, and records the result with one more
//! conditional write on the version it claimed.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};

use crate::client::{Client, fmt_time};
use crate::core::Core;
use crate::emf::{Emf, JobTally};
use crate::error::{Error, Result, error_chain};
use crate::handler::{JobContext, JobFailure, Registry};
use crate::filter::{AutomaticRetry, Election, WorkerFilter};
use crate::intake::{Envelope, Intake, KIND_ATTRIBUTE, Message, parse_message};
use crate::job::{HistoryEntry, JobId, JobOptions, JobRecord, NewJob, Params, truncate};
use crate::message::WakeUp;
use crate::queue::{MAX_SQS_DELAY, Received};
use crate::retry::RetryPolicy;
use crate::state::State;
use crate::store::{AttemptChange, Change, Expect, Extra, WriteError};
use crate::timing::{self, chrono_dur};

/// Added to a lease beyond the job's own deadline, so a slow final write is
/// not mistaken for a crash.
pub const LEASE_MARGIN: Duration = Duration::from_secs(10);
/// Time kept back from a Lambda invocation's deadline to record the result.
pub const FINISH_RESERVE: Duration = Duration::from_secs(3);
/// How early a delayed message may arrive and still start its job (SQS
/// delays are whole seconds).
pub const EARLY_TOLERANCE: Duration = Duration::from_secs(1);
/// Kind of the Failed job that records a message Hangar could not read.
pub const INVALID_MESSAGE_KIND: &str = "hangar.invalid_message";
/// Largest raw body kept in the arguments of an invalid-message job.
pub const MAX_RAW_BODY_BYTES: usize = 64 * 1024;

/// One SQS message as the worker sees it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The SQS message id.
    pub message_id: String,
    /// The body.
    pub body: String,
    /// The Hangar queue it arrived on.
    pub queue: String,
    /// String message attributes (e.g. `hangar-kind`).
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

enum Claim {
    Claimed(Box<JobRecord>),
    /// Send a copy to this queue after this long, for this reason.
    PutBack {
        after: Duration,
        queue: String,
        why: String,
    },
    Dropped(String),
}

/// What a wake-up's job may be found at when it is held without a worker
/// (parked, or waiting for a slot): the hinted state first, then the other,
/// as the claim tries them; a Scheduled job must be due.
fn held_as(w: &WakeUp, now: DateTime<Utc>) -> [crate::store::Held; 2] {
    let hinted = w.state.unwrap_or(State::Enqueued);
    let other = if hinted == State::Scheduled {
        State::Enqueued
    } else {
        State::Scheduled
    };
    [hinted, other].map(|state| crate::store::Held {
        version: w.v,
        state,
        due_by: now + chrono_dur(EARLY_TOLERANCE),
    })
}

/// The slot a wake-up must hold before its claim: of a concurrency key, or
/// of an ordering key (one at a time, in sequence).
struct SlotNeed {
    key: String,
    limit: u32,
    seq: Option<u64>,
}

impl SlotNeed {
    fn of(w: &WakeUp) -> Option<Self> {
        if let Some(c) = &w.concurrency {
            return Some(SlotNeed {
                key: c.key.clone(),
                limit: c.limit,
                seq: None,
            });
        }
        w.order.as_ref().map(|o| SlotNeed {
            key: o.key.clone(),
            limit: 1,
            seq: Some(o.seq),
        })
    }
}

/// How often the timer looks at a concurrency key that has waiting jobs,
/// behind the wake-ups each ending run sends.
pub const SLOT_RECHECK: Duration = Duration::from_secs(60);

/// The part of a rate-limit window (at most this, or a tenth of the
/// period) left unused at its end, so that a start claimed in a window also
/// begins in it.
pub const RATE_MARGIN: Duration = Duration::from_millis(500);

/// How long a worker trusts what it last read of a queue's control: a
/// paused queue starts no job more than this long after the pause.
pub const PAUSE_CHECK: Duration = Duration::from_secs(5);

/// Queue → (when read, paused).
type PauseCache = HashMap<String, (DateTime<Utc>, bool)>;

/// Runs jobs from SQS messages.
#[derive(Debug, Clone)]
pub struct Worker {
    core: Arc<Core>,
    registry: Arc<Registry>,
    name: String,
    /// Queue → (when read, paused), trusted for [`PAUSE_CHECK`].
    pauses: Arc<tokio::sync::Mutex<PauseCache>>,
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

    /// Whether `queue` is paused, as last read (at most [`PAUSE_CHECK`]
    /// ago; one eventually consistent read per queue per interval). If the
    /// control cannot be read the queue is taken as running: the claim that
    /// follows is conditional like any other, and a job never waits on a
    /// read error.
    async fn paused(&self, queue: &str) -> bool {
        let now = self.core.now();
        // Held across the read, so that the messages of a batch, handled at
        // once, make one read between them rather than one each.
        let mut cache = self.pauses.lock().await;
        if let Some((at, paused)) = cache.get(queue)
            && now - *at < chrono_dur(PAUSE_CHECK)
        {
            return *paused;
        }
        let paused = match self.core.store.queue_controls(&[queue.to_owned()]).await {
            Ok(controls) => controls.first().is_some_and(|c| c.paused),
            Err(e) => {
                tracing::warn!(queue, error = %error_chain(&e), "queue control not read; taken as running");
                false
            }
        };
        cache.insert(queue.to_owned(), (now, paused));
        paused
    }

    /// Parks the job of a wake-up that arrived while its queue is paused.
    async fn park(&self, w: &WakeUp) -> Outcome {
        let now = self.core.now();
        for held in held_as(w, now) {
            match self.core.store.park(&w.job, held, now).await {
                Ok(true) => {
                    tracing::info!(job = %w.job, "queue paused; job parked until it is resumed");
                    return Outcome::Parked;
                }
                Ok(false) => {}
                Err(e) => return Outcome::Retry(error_chain(&e)),
            }
        }
        Outcome::Dropped("queue paused, and the job is no longer waiting at this version".into())
    }

    /// The registry.
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
            let task = set.spawn(async move { worker.handle(&d, deadline).await });
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
        if let Some(rate) = &w.rate {
            // A start under a rate limit needs a slot first: reserved now,
            // or carried by a message put back to wait for its window.
            // A start counts in the window it happens in, so a slot is
            // used only while its window has a margin left; a message that
            // came too late for its window reserves again.
            let per = chrono_dur(rate.per());
            let margin = chrono_dur((rate.per() / 10).min(RATE_MARGIN));
            let reserved = w
                .slot
                .map(crate::clock::from_millis)
                .filter(|&start| now + margin < start + per);
            let slot = match reserved {
                Some(start) => start,
                None => match self
                    .core
                    .store
                    .reserve_rate_slot(&w.job, &rate.key, rate.limit, rate.per(), now + margin)
                    .await
                {
                    Ok(start) => start,
                    Err(e) => return Outcome::Retry(error_chain(&e)),
                },
            };
            if slot > now {
                let wait = (slot - now).to_std().unwrap_or(Duration::ZERO);
                let held = WakeUp {
                    slot: Some(crate::clock::to_millis(slot)),
                    ..w.clone()
                };
                let after = wait.min(MAX_SQS_DELAY);
                tracing::debug!(job = %w.job, key = rate.key, wait_s = wait.as_secs(), "rate limit: waiting for its slot");
                return match self.core.queues.send(queue, &held, after).await {
                    Ok(()) => Outcome::PutBack(after),
                    Err(e) => Outcome::Retry(error_chain(&e)),
                };
            }
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
            match self
                .core
                .store
                .acquire_slot(&need.key, need.limit, &holder, need.seq, now)
                .await
            {
                Ok(true) => held = Some(holder),
                Ok(false) => match self.wait_for_slot(w, need, &holder, now).await {
                    Ok(true) => held = Some(holder),
                    Ok(false) => return Outcome::Waiting,
                    Err(e) => return Outcome::Retry(error_chain(&e)),
                },
                Err(e) => return Outcome::Retry(error_chain(&e)),
            }
        }
        let outcome = self.claim_and_run(w, now, deadline).await;
        if let (Some(need), Some(holder)) = (&need, held) {
            self.release_slot(need, &holder, &outcome).await;
        }
        outcome
    }

    /// A wake-up that found its key's slots taken (or, ordered, the jobs
    /// before it not done): the job goes on the key's waiting list (no
    /// worker waits) and the key counts it. A run that ended in between may
    /// have missed it, so the slot is asked for once more; true if it was
    /// taken then.
    async fn wait_for_slot(
        &self,
        w: &WakeUp,
        need: &SlotNeed,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let order_at = match need.seq {
            Some(seq) => seq as i64,
            None => crate::clock::to_millis(now),
        };
        // Counted before it is listed: a job listed is always counted (or
        // over-counted), so the key stays under the timer's eye; a count
        // without a listed job is cleared by the timer.
        let next = now + chrono_dur(SLOT_RECHECK);
        self.core.store.adjust_waiting(&need.key, 1, next).await?;
        let mut listed = false;
        for held in held_as(w, now) {
            if self
                .core
                .store
                .wait_for_slot(&w.job, held, &need.key, order_at, now)
                .await?
            {
                listed = true;
                break;
            }
        }
        if !listed {
            // Stale: the job moved on; nothing to wait for (the count it
            // added goes when the timer finds the list empty).
            return Ok(false);
        }
        if self
            .core
            .store
            .acquire_slot(&need.key, need.limit, holder, need.seq, now)
            .await?
        {
            if self.core.store.stop_waiting(&w.job, now).await?.is_some() {
                self.core.store.adjust_waiting(&need.key, -1, next).await?;
            }
            return Ok(true);
        }
        tracing::debug!(job = %w.job, key = need.key, "no slot free; job waits for one");
        Ok(false)
    }

    /// Gives back a run's slot (an ordered job that ended also lets the next
    /// one start) and wakes the waiting jobs that can start now. A failure
    /// is logged: the slot frees itself when its lease passes, and the timer
    /// looks at keys with waiting jobs.
    async fn release_slot(&self, need: &SlotNeed, holder: &str, outcome: &Outcome) {
        let now = self.core.now();
        let res = async {
            let state = match need.seq {
                Some(seq) => {
                    let ended = matches!(
                        outcome,
                        Outcome::Ran(State::Succeeded | State::Failed | State::Deleted)
                    );
                    self.core
                        .store
                        .release_ordered(&need.key, holder, seq, ended, now)
                        .await?
                }
                None => self.core.store.release_slot(&need.key, holder, now).await?,
            };
            self.core.wake_waiters(&need.key, &state).await
        }
        .await;
        if let Err(e) = res {
            tracing::warn!(key = need.key, error = %error_chain(&e), "slot not released; it frees itself when its lease passes");
        }
    }

    async fn claim_and_run(
        &self,
        w: &WakeUp,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> Outcome {
        let claim = match self.claim(w, now, deadline).await {
            Ok(c) => c,
            Err(e) => return Outcome::Retry(error_chain(&e)),
        };
        match claim {
            Claim::Claimed(job) if late_by(&job, now).is_some() => {
                self.count(&job, |t| t.given_up += 1);
                match self.give_up_late(*job, now).await {
                    Ok(state) => Outcome::Ran(state),
                    Err(e) => Outcome::Retry(error_chain(&e)),
                }
            }
            Claim::Claimed(job) => match self.run(*job, deadline).await {
                Ok(state) => Outcome::Ran(state),
                Err(e) => Outcome::Retry(error_chain(&e)),
            },
            Claim::PutBack { after, queue, why } => {
                tracing::info!(job = %w.job, why, after_s = after.as_secs(), "putting message back");
                match self.core.queues.send(&queue, w, after).await {
                    Ok(()) => Outcome::PutBack(after),
                    Err(e) => Outcome::Retry(error_chain(&e)),
                }
            }
            Claim::Dropped(why) => Outcome::Dropped(why),
        }
    }

    /// The lease for a run starting now.
    fn lease(
        &self,
        job_timeout: Duration,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> DateTime<Utc> {
        let by_timeout = now + chrono_dur(job_timeout);
        let end = match deadline {
            Some(d) if d < by_timeout => d,
            _ => by_timeout,
        };
        end + chrono_dur(LEASE_MARGIN)
    }

    async fn claim(
        &self,
        w: &WakeUp,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Claim> {
        let mut assume = w.state.unwrap_or(State::Enqueued);
        // Marks this claim's history entry as this claim's alone: if the
        // write happened but its answer was lost, the SDK's retry is refused
        // by the condition, and `Store::apply` knows its own entries in the
        // item returned (two deliveries of one message claiming at the same
        // instant still write different entries).
        let token = format!("{:016x}", rand::random::<u64>());
        // At most: the hinted claim, the other claim, a reclaim.
        for _ in 0..3 {
            let (expect, entries) = if assume == State::Scheduled {
                (
                    Expect {
                        version: Some(w.v),
                        states: vec![State::Scheduled],
                        extra: Extra::DueBy(now + chrono_dur(EARLY_TOLERANCE)),
                        seen: None,
                        conts: None,
                    },
                    vec![
                        HistoryEntry::new(State::Enqueued, now, Some("Due".to_owned())),
                        self.processing_entry(now, None).with(CLAIM_DATA, &token),
                    ],
                )
            } else {
                (
                    Expect {
                        version: Some(w.v),
                        states: vec![State::Enqueued],
                        extra: Extra::None,
                        seen: None,
                        conts: None,
                    },
                    vec![self.processing_entry(now, None).with(CLAIM_DATA, &token)],
                )
            };
            // The message carries the job's timeout; if it is missing or
            // too short, fit_lease corrects the lease before the run.
            let hinted = w
                .timeout_s
                .map(Duration::from_secs)
                .unwrap_or(crate::job::DEFAULT_TIMEOUT);
            let lease = self.lease(hinted, now, deadline);
            let change = self.claim_change(entries, lease, w.v);
            match self.core.store.apply(&w.job, &expect, change, now).await {
                Ok(job) => return self.fit_lease(job, now, deadline).await,
                Err(WriteError::Other(e)) => return Err(e),
                Err(WriteError::Condition(None)) => {
                    return Ok(Claim::Dropped("job not found".to_owned()));
                }
                Err(WriteError::Condition(Some(old))) => {
                    let fresh = old.version == w.v;
                    match old.state {
                        State::Scheduled if fresh && assume != State::Scheduled => {
                            assume = State::Scheduled;
                        }
                        State::Enqueued if fresh && assume != State::Enqueued => {
                            assume = State::Enqueued;
                        }
                        State::Scheduled if fresh => {
                            let run_at = old.run_at.unwrap_or(now);
                            let wait = (run_at - now).to_std().unwrap_or(Duration::ZERO);
                            if wait > MAX_SQS_DELAY {
                                return Ok(Claim::Dropped(format!(
                                    "early by {}s; the timer hands it off later",
                                    wait.as_secs()
                                )));
                            }
                            return Ok(Claim::PutBack {
                                after: wait,
                                queue: old.options.queue,
                                why: "message arrived before the job is due".into(),
                            });
                        }
                        State::Processing if old.claimed_version == Some(w.v) => {
                            let until = old.lease_until.unwrap_or(now);
                            if until > now {
                                let wait = (until - now).to_std().unwrap_or(Duration::ZERO);
                                return Ok(Claim::PutBack {
                                    after: wait.min(MAX_SQS_DELAY),
                                    queue: old.options.queue,
                                    why: format!(
                                        "another run holds the lease until {}",
                                        fmt_time(until)
                                    ),
                                });
                            }
                            return self.reclaim(&old, w, now, deadline).await;
                        }
                        state => {
                            return Ok(Claim::Dropped(format!(
                                "stale: job is {state} at version {}, message was for version {}",
                                old.version, w.v
                            )));
                        }
                    }
                }
            }
        }
        Ok(Claim::Dropped("job kept changing".to_owned()))
    }

    fn processing_entry(&self, now: DateTime<Utc>, reason: Option<String>) -> HistoryEntry {
        HistoryEntry::new(State::Processing, now, reason).with("worker", self.name.as_str())
    }

    fn claim_change(
        &self,
        entries: Vec<HistoryEntry>,
        lease: DateTime<Utc>,
        claimed_v: u64,
    ) -> Change {
        Change {
            to: State::Processing,
            entries,
            run_at: None,
            lease: Some((lease, claimed_v)),
            // Enqueued and Processing share the timer's Active bucket: the
            // claim writes no index entry. If this run is lost, the timer
            // finds the job when its time there comes and re-sends it once
            // the lease has expired (design invariant 4).
            keep_place: true,
            last_error: None,
            attempt: AttemptChange::Increment,
            params: None,
        }
    }

    /// A lease from a missing or wrong timeout hint is extended to the job's
    /// real timeout here, before its handler starts (a longer one is left:
    /// harmless, the run is stopped at its own deadline).
    async fn fit_lease(
        &self,
        job: JobRecord,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Claim> {
        let lease = self.lease(job.options.timeout, now, deadline);
        // Stored times are whole milliseconds; a lease within a second of
        // the right one is right.
        if job
            .lease_until
            .is_some_and(|l| l + chrono::Duration::seconds(1) >= lease)
        {
            return Ok(Claim::Claimed(Box::new(job)));
        }
        if self.core.store.extend_lease(&job, lease, now).await? {
            Ok(Claim::Claimed(Box::new(JobRecord {
                lease_until: Some(lease),
                ..job
            })))
        } else {
            Ok(Claim::Dropped(
                "job changed right after its claim".to_owned(),
            ))
        }
    }

    async fn reclaim(
        &self,
        old: &JobRecord,
        w: &WakeUp,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Claim> {
        let lost_at = old.lease_until.map(fmt_time).unwrap_or_default();
        let expect = Expect {
            version: Some(old.version),
            states: vec![State::Processing],
            extra: Extra::LeaseExpired {
                claimed_v: w.v,
                now,
            },
            seen: Some(old),
            conts: Some(old.continuations.len()),
        };
        // A job whose runs keep vanishing (a worker crash, an out-of-memory
        // kill) must not be reclaimed forever: the lost runs count against
        // its retries.
        if !old.options.retry.has_retry_after(old.attempt) {
            let change = Change {
                last_error: Some(format!("run {} lost its worker", old.attempt)),
                ..Change::new(
                    State::Failed,
                    HistoryEntry::new(
                        State::Failed,
                        now,
                        Some(format!(
                            "Run {} lost its worker (lease expired at {lost_at}) and no retries are left",
                            old.attempt
                        )),
                    )
                    .with("error_type", "hangar::LeaseExpired"),
                )
            };
            return match self.core.store.apply(&old.id, &expect, change, now).await {
                Ok(_) => Ok(Claim::Dropped(
                    "lease expired with no retries left; job Failed".to_owned(),
                )),
                Err(WriteError::Condition(_)) => {
                    Ok(Claim::Dropped("reclaimed by another worker".to_owned()))
                }
                Err(WriteError::Other(e)) => Err(e),
            };
        }
        let entry = self.processing_entry(
            now,
            Some(format!(
                "Lease of run {} expired at {lost_at}; run presumed lost",
                old.attempt
            )),
        );
        let lease = self.lease(old.options.timeout, now, deadline);
        let change = self.claim_change(vec![entry], lease, w.v);
        match self.core.store.apply(&old.id, &expect, change, now).await {
            Ok(job) => Ok(Claim::Claimed(Box::new(job))),
            Err(WriteError::Condition(_)) => {
                Ok(Claim::Dropped("reclaimed by another worker".to_owned()))
            }
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    /// Deletes a job claimed past its latency timeout instead of running
    /// it, and settles its continuations.
    async fn give_up_late(&self, job: JobRecord, now: DateTime<Utc>) -> Result<State> {
        let (waited, within) = late_by(&job, now).expect("checked by the caller");
        let change = Change::new(
            State::Deleted,
            HistoryEntry::new(
                State::Deleted,
                now,
                Some(format!(
                    "Not started within {}s (waited {}s); given up (latency timeout)",
                    within.as_secs(),
                    waited.as_secs()
                )),
            )
            .with("error_type", "hangar::LatencyTimeout"),
        );
        match self
            .core
            .store
            .apply(&job.id, &Expect::at(&job), change, now)
            .await
        {
            Ok(done) => {
                tracing::info!(job = %job.id, waited_s = waited.as_secs(), "latency timeout: job deleted unstarted");
                self.core.release(&done).await;
                self.notify(&done, State::Processing).await;
                Ok(State::Deleted)
            }
            Err(WriteError::Condition(now_is)) => {
                Ok(self.discarded(&job, now_is.as_deref(), "Deleted"))
            }
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    /// Runs a claimed job and records the result. Returns the state written.
    async fn run(&self, job: JobRecord, deadline: Option<DateTime<Utc>>) -> Result<State> {
        let started = Instant::now();
        let now = self.core.now();
        let mut run_until = now + chrono_dur(job.options.timeout);
        if let Some(d) = deadline {
            let reserve = d - chrono_dur(FINISH_RESERVE);
            if reserve < run_until {
                run_until = reserve;
            }
        }
        let params = Arc::new(std::sync::Mutex::new((job.params.clone(), false)));
        let result = match self.registry.handler(&job.kind) {
            None => Err(JobFailure::typed(
                "hangar::UnknownKind",
                format!(
                    "no handler for kind {:?} on this worker (it handles: {})",
                    job.kind,
                    self.registry.kinds().join(", ")
                ),
            )
            .into_permanent()),
            Some(handler) => {
                let ctx = JobContext {
                    id: job.id.clone(),
                    kind: job.kind.clone(),
                    queue: job.options.queue.clone(),
                    attempt: job.attempt,
                    version: job.version,
                    deadline: run_until,
                    core: self.core.clone(),
                    params: params.clone(),
                };
                let limit = (run_until - now).to_std().unwrap_or(Duration::ZERO);
                // The filters wrap the handler, the first registered outermost.
                let mut fut: crate::filter::Run = handler(job.args.clone(), ctx.clone());
                for filter in self.filters.iter().rev() {
                    fut = filter.around(&ctx, fut);
                }
                // Its own task, so that a panic is caught and the timeout can
                // drop it.
                let task = tokio::spawn(tokio::time::timeout(limit, fut));
                match task.await {
                    Ok(Ok(res)) => res,
                    Ok(Err(_elapsed)) => Err(JobFailure::typed(
                        "hangar::Timeout",
                        format!("timed out after {}s", limit.as_secs_f32()),
                    )),
                    Err(join) => Err(JobFailure::typed("panic", panic_message(join))),
                }
            }
        };
        let elapsed = started.elapsed();
        let (set, changed) = params.lock().expect("not poisoned").clone();
        let params = changed.then_some(set);
        let written = match result {
            Ok(()) => self.succeed(&job, elapsed, params).await,
            Err(failure) => self.fail(&job, failure, elapsed, params).await,
        };
        if let Ok(state) = &written {
            let latency =
                startable_since(&job).map(|since| (now - since).num_milliseconds().max(0));
            self.count(&job, |t| {
                t.started += 1;
                t.durations_ms.push(elapsed.as_secs_f64() * 1000.0);
                t.latencies_ms.extend(latency.map(|ms| ms as f64));
                match state {
                    State::Succeeded => t.succeeded += 1,
                    State::Scheduled => t.retried += 1,
                    State::Failed | State::Deleted => t.failed += 1,
                    _ => {}
                }
            });
        }
        written
    }

    async fn succeed(
        &self,
        job: &JobRecord,
        elapsed: Duration,
        params: Option<Params>,
    ) -> Result<State> {
        let now = self.core.now();
        let change = Change {
            params,
            ..Change::new(
                State::Succeeded,
                HistoryEntry::new(State::Succeeded, now, None)
                    .with("duration_ms", elapsed.as_millis().to_string()),
            )
        };
        match self
            .core
            .store
            .apply(&job.id, &Expect::at(job), change, now)
            .await
        {
            Ok(done) => {
                self.core.release(&done).await;
                self.notify(&done, State::Processing).await;
                Ok(State::Succeeded)
            }
            Err(WriteError::Condition(now_is)) => {
                Ok(self.discarded(job, now_is.as_deref(), "Succeeded"))
            }
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    async fn fail(
        &self,
        job: &JobRecord,
        failure: JobFailure,
        elapsed: Duration,
        params: Option<Params>,
    ) -> Result<State> {
        let now = self.core.now();
        let with_error = |e: HistoryEntry| {
            e.with("error_type", failure.error_type.as_str())
                .with("error_message", failure.message.as_str())
                .with("error_detail", failure.detail.as_str())
                .with("duration_ms", elapsed.as_millis().to_string())
        };
        let last_error = Some(truncate(&failure.message, crate::job::MAX_DATA_VALUE_BYTES));
        // What the failure leads to: the worker's filters first, then the
        // automatic retry policy; a permanent failure is Failed at once.
        let election = if failure.permanent {
            Election::Fail {
                reason: format!("Failed without retry: {}", truncate(&failure.message, 300)),
            }
        } else {
            self.filters
                .iter()
                .find_map(|f| f.elect(job, &failure))
                .or_else(|| AutomaticRetry.elect(job, &failure))
                .expect("the automatic retry policy always elects")
        };
        let mut send_delay = None;
        let deleted = matches!(election, Election::Delete { .. });
        let change = match election {
            Election::Retry { after, reason } => {
                let run_at = now + chrono_dur(after);
                send_delay = timing::send_delay(now, run_at);
                Change {
                    run_at: Some((run_at, send_delay.is_some())),
                    last_error,
                    params,
                    ..Change::new(
                        State::Scheduled,
                        with_error(
                            HistoryEntry::new(State::Scheduled, now, Some(reason)).due(run_at),
                        ),
                    )
                }
            }
            Election::Fail { reason } | Election::Delete { reason } => {
                let to = if deleted {
                    State::Deleted
                } else {
                    State::Failed
                };
                Change {
                    last_error,
                    params,
                    ..Change::new(to, with_error(HistoryEntry::new(to, now, Some(reason))))
                }
            }
        };
        match self
            .core
            .store
            .apply(&job.id, &Expect::at(job), change, now)
            .await
        {
            Ok(written) => {
                if let Some(delay) = send_delay {
                    self.core.wake(&written, delay).await;
                }
                self.core.release(&written).await;
                self.notify(&written, State::Processing).await;
                tracing::info!(job = %job.id, kind = %job.kind, attempt = job.attempt, state = %written.state, error_type = %failure.error_type, "job failed");
                Ok(written.state)
            }
            Err(WriteError::Condition(now_is)) => {
                Ok(self.discarded(job, now_is.as_deref(), "failed"))
            }
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    fn discarded(&self, job: &JobRecord, now_is: Option<&JobRecord>, result: &str) -> State {
        let state = now_is.map(|j| j.state).unwrap_or(State::Deleted);
        tracing::warn!(
            job = %job.id,
            result,
            now = %state,
            "job changed while it ran (deleted, or its lease expired and another run took it); result discarded"
        );
        state
    }

    /// A job request from outside Rust: creates the job (once per message,
    /// or once per idempotency key) and sends its wake-up like any client;
    /// the job then runs from that wake-up. A request that cannot become a
    /// job (arguments too large, say) is recorded as a Failed job instead.
    async fn intake(&self, d: &Delivery, intake: &Intake, envelope: Envelope) -> Outcome {
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
    async fn intake_batch(
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
    async fn record_invalid(&self, d: &Delivery, reason: &str) -> Outcome {
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
fn requested_job(d: &Delivery, intake: &Intake, envelope: Envelope) -> NewJob {
    intake.new_job(&d.queue).created_from(origin(d, envelope))
}

fn origin(d: &Delivery, envelope: Envelope) -> String {
    format!(
        "Created from SQS message {} ({})",
        d.message_id,
        envelope.as_str()
    )
}

/// History data key of a claim's token (see `Worker::claim`).
const CLAIM_DATA: &str = "claim";

/// How long a just-claimed job waited to start, and its latency timeout,
/// if it waited longer (see [`JobOptions::start_within`]). Only a first run
/// (since creation or a requeue) is checked. The wait counts from the time
/// the job was enqueued, requeued or released, or, claimed straight from
/// Scheduled, from its due time.
fn late_by(job: &JobRecord, now: DateTime<Utc>) -> Option<(Duration, Duration)> {
    let within = job.options.start_within?;
    if job.attempt != 1 {
        return None;
    }
    let since = startable_since(job)?;
    let waited = (now - since).to_std().unwrap_or(Duration::ZERO);
    (waited > within).then_some((waited, within))
}

/// When a just-claimed job could have started: the time it was enqueued,
/// requeued, released or became due (a retry: its retry's due time). None
/// for a reclaim after a lost run.
fn startable_since(job: &JobRecord) -> Option<DateTime<Utc>> {
    // The newest entry is the claim's Processing; before it, Enqueued.
    let mut entries = job.history.iter().rev().skip(1);
    let enqueued = entries.next().filter(|e| e.state == State::Enqueued)?;
    Some(match entries.next() {
        Some(s) if s.state == State::Scheduled && enqueued.reason.as_deref() == Some("Due") => {
            s.due_at().unwrap_or(enqueued.at)
        }
        _ => enqueued.at,
    })
}

fn panic_message(err: tokio::task::JoinError) -> String {
    if !err.is_panic() {
        return "job task was cancelled".to_owned();
    }
    let payload = err.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    format!("handler panicked: {text}")
}

/// Polls one SQS queue and hands its messages to a [`Worker`] exactly as the
/// Lambda event source mapping would: batches of up to 10, and a message
/// reported as failed is left to reappear after its visibility timeout.
#[derive(Debug, Clone)]
pub struct Poller {
    worker: Worker,
    queue: String,
    wait: Duration,
}

impl Poller {
    /// A poller for a Hangar queue.
    pub fn new(worker: Worker, queue: impl Into<String>) -> Self {
        Poller {
            worker,
            queue: queue.into(),
            wait: Duration::from_secs(1),
        }
    }

    /// How long one receive waits for messages (long polling, up to 20 s).
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait.min(Duration::from_secs(20));
        self
    }

    /// Receives one batch, handles it and deletes what succeeded. Returns the
    /// number of messages received.
    pub async fn poll_once(&self) -> Result<usize> {
        let messages = self.receive().await?;
        self.process(messages).await
    }

    /// One receive: up to 10 messages, waiting up to the long-poll time.
    async fn receive(&self) -> Result<Vec<Received>> {
        self.worker
            .core
            .queues
            .receive(&self.queue, self.wait)
            .await
    }

    /// Handles received messages and deletes those that need no redelivery.
    async fn process(&self, messages: Vec<Received>) -> Result<usize> {
        if messages.is_empty() {
            return Ok(0);
        }
        let count = messages.len();
        let mut handles = HashMap::new();
        let batch = messages
            .into_iter()
            .map(|m| {
                handles.insert(m.message_id.clone(), m.receipt_handle);
                Delivery {
                    message_id: m.message_id,
                    body: m.body,
                    queue: self.queue.clone(),
                    attributes: m.attributes,
                }
            })
            .collect();
        let failed = self.worker.handle_batch(batch, None).await;
        let done: Vec<String> = handles
            .into_iter()
            .filter(|(id, _)| !failed.contains(id))
            .map(|(_, handle)| handle)
            .collect();
        if !done.is_empty() {
            self.worker.core.queues.delete(&self.queue, &done).await?;
        }
        Ok(count)
    }

    /// Polls until `stop` resolves, then returns once the receive under way
    /// (at most the long-poll wait) and the batch it brings have run and
    /// their results are recorded: stopping a worker (Ctrl-C, SIGTERM)
    /// abandons neither a running job nor a message SQS has just handed
    /// over (cutting a receive short would leave its messages in flight,
    /// hidden until their visibility timeout).
    pub async fn run_until(&self, stop: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => return Ok(()),
                _ = std::future::ready(()) => {}
            }
            let res = match self.receive().await {
                Ok(messages) => self.process(messages).await,
                Err(e) => Err(e),
            };
            if let Err(e) = res {
                tracing::error!(queue = %self.queue, error = %error_chain(&e), "poll failed; retrying in 1s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
