//! Creating jobs: one DynamoDB write, then its wake-up.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::keys::{Key, Keyed};
use super::{Client, Creation};
use crate::core::Wakes;
use crate::error::{Error, Result};
use crate::job::unique::Debounce;
use crate::job::{ContinueOn, HistoryEntry, IntoNewJob, JobId, JobRecord, NewJob, Parent};
use crate::state::State;
use crate::store::WriteError;
use crate::timing::{self, When};

impl Client {
    /// Enqueues a job to run as soon as a worker is free: one DynamoDB write,
    /// then one SQS send.
    /// A unique job ([`NewJob::unique`]) whose key is held returns the
    /// holder's id; a debounced job ([`NewJob::debounce`]) is scheduled, or
    /// joins the pending job of its key.
    pub async fn enqueue(&self, job: impl IntoNewJob) -> Result<JobId> {
        let job = job.into_new_job()?;
        if let Some(debounce) = job.debounce.clone() {
            return self.debounced(job, debounce).await;
        }
        let now = self.core.now();
        let creation = Creation::of(&job);
        let key = Key::of(&job);
        let record = self.record(job, HistoryEntry::new(State::Enqueued, now, None))?;
        self.create_one(record, creation, key, now).await
    }

    /// Creates one job under its key, if any (a unique or debounced job:
    /// the id of the job that holds the key, if another does).
    async fn create_one(
        &self,
        mut record: JobRecord,
        creation: Creation,
        key: Option<Key>,
        now: DateTime<Utc>,
    ) -> Result<JobId> {
        // Resolve the queue first: a misnamed queue fails before anything is written.
        self.core.queues.url(&record.options.queue).await?;
        if let Keyed::Existing(id) = self.hold(key.as_ref(), &record).await? {
            return Ok(id);
        }
        if self.create(&mut record, creation).await? {
            self.core.written(&record, now).await;
        }
        Ok(record.id)
    }

    /// Writes a new job. Returns false when the job was not written because
    /// its id is taken and its creation is idempotent
    /// ([`NewJob::idempotency_key`]); [`Error::AlreadyExists`] when it is
    /// taken otherwise. An ordered job with its own id is looked for first,
    /// so that a duplicate takes no number of its key (a number without a
    /// job holds the key up for the grace period).
    async fn create(&self, record: &mut JobRecord, creation: Creation) -> Result<bool> {
        if creation.own_id
            && record.options.ordered.is_some()
            && self
                .core
                .store
                .get(&record.id, self.core.now())
                .await?
                .is_some()
        {
            return self.taken(&record.id, creation);
        }
        crate::limits::order::number(&self.core, std::slice::from_mut(record)).await?;
        match self.core.store.insert(record).await {
            Ok(()) => Ok(true),
            Err(Error::AlreadyExists { id }) => self.taken(&id, creation),
            Err(e) => Err(e),
        }
    }

    /// A creation whose id is taken: nothing to do if it is idempotent.
    pub(super) fn taken(&self, id: &JobId, creation: Creation) -> Result<bool> {
        if creation.idempotent {
            tracing::info!(job = %id, "job exists already; an idempotent creation leaves it as it is");
            Ok(false)
        } else {
            Err(Error::AlreadyExists { id: id.clone() })
        }
    }

    /// Schedules a job to run after a delay or at an instant. Up to 15
    /// minutes ahead it goes to SQS at once with `DelaySeconds`; further out
    /// the timer hands it to SQS when it comes within reach.
    pub async fn schedule(&self, job: impl IntoNewJob, when: impl Into<When>) -> Result<JobId> {
        let job = job.into_new_job()?;
        if job.debounce.is_some() {
            return Err(Error::invalid(
                "debounce",
                "a debounced job's start is set by its debounce: enqueue it",
            ));
        }
        let now = self.core.now();
        let creation = Creation::of(&job);
        let key = Key::of(&job);
        let record = self.scheduled(job, when.into(), now)?;
        self.create_one(record, creation, key, now).await
    }

    /// A debounced job: Scheduled `wait` from now under its key, or its
    /// arguments handed to the pending job that holds the key.
    async fn debounced(&self, job: NewJob, debounce: Debounce) -> Result<JobId> {
        let now = self.core.now();
        let creation = Creation::of(&job);
        let record = self.scheduled(job, When::from(debounce.wait), now)?;
        let key = Some(Key::Debounce(debounce));
        self.create_one(record, creation, key, now).await
    }

    /// The record of a job scheduled at `now` to run `when`, handed to SQS
    /// at once if it is due within SQS's reach.
    pub(super) fn scheduled(
        &self,
        job: NewJob,
        when: When,
        now: DateTime<Utc>,
    ) -> Result<JobRecord> {
        let run_at = when.resolve(now);
        let send_delay = timing::send_delay(now, run_at);
        let entry = HistoryEntry::new(
            State::Scheduled,
            now,
            Some(format!("Due {}", crate::clock::fmt_time(run_at))),
        )
        .due(run_at);
        let mut record = self.record(job, entry)?;
        record.run_at = Some(run_at);
        record.handed_off = send_delay.is_some();
        Ok(record)
    }

    /// Adds a continuation: a job that waits (Awaiting) until `parent`
    /// reaches a final state, then runs if `on` is met and is Deleted
    /// otherwise. A parent that has already finished settles it at once.
    pub async fn continue_with(
        &self,
        parent: &JobId,
        job: impl IntoNewJob,
        on: ContinueOn,
    ) -> Result<JobId> {
        let job = job.into_new_job()?;
        let now = self.core.now();
        let entry = HistoryEntry::new(
            State::Awaiting,
            now,
            Some(format!(
                "Waiting for {parent} ({})",
                match on {
                    ContinueOn::Succeeded => "runs if it Succeeded",
                    ContinueOn::AnyFinished => "runs when it finishes",
                }
            )),
        )
        .with("parent", parent.as_str());
        super::batches::refuse_ordered(&job)?;
        let creation = Creation::of(&job);
        let mut record = self.record(job, entry)?;
        record.parent = Some(Parent {
            id: parent.clone(),
            on,
            batch: false,
        });
        self.core.queues.url(&record.options.queue).await?;
        match self.core.store.insert_continuation(&record, now).await {
            Ok(()) => Ok(record.id),
            Err(WriteError::Other(Error::AlreadyExists { id })) => {
                self.taken(&id, creation).map(|_| id)
            }
            Err(WriteError::Other(e)) => Err(e),
            Err(WriteError::Condition(None)) => Err(Error::NotFound { id: parent.clone() }),
            Err(WriteError::Condition(Some(p))) => {
                // The parent is already final: create the continuation settled.
                let (state, reason) = if on.is_met_by(p.state) {
                    (
                        State::Enqueued,
                        format!("Parent {parent} had already {}", p.state),
                    )
                } else {
                    (
                        State::Deleted,
                        format!(
                            "Parent {parent} had already ended {}; this continuation runs only when its parent Succeeded",
                            p.state
                        ),
                    )
                };
                record.state = state;
                record.history.push(
                    HistoryEntry::new(state, now, Some(reason)).with("parent", parent.as_str()),
                );
                if self.create(&mut record, creation).await? {
                    self.core.written(&record, now).await;
                }
                Ok(record.id)
            }
        }
    }

    /// Enqueues many jobs with batch calls: `BatchWriteItem` (25 a call),
    /// then `SendMessageBatch` (10 a call). Ids are always generated.
    pub async fn enqueue_many<I>(&self, jobs: I) -> Result<Vec<JobId>>
    where
        I: IntoIterator,
        I::Item: IntoNewJob,
    {
        let now = self.core.now();
        let mut records = Vec::new();
        for job in jobs {
            let job = job.into_new_job()?;
            crate::job::unique::refuse(&job, "a job of enqueue_many")?;
            if let Some(id) = &job.id {
                return Err(Error::invalid(
                    "job id",
                    format!(
                        "{id}: enqueue_many writes with BatchWriteItem, which cannot refuse a taken id; \
                         enqueue a job that has its own id (or idempotency key) with enqueue"
                    ),
                ));
            }
            records.push(self.record(job, HistoryEntry::new(State::Enqueued, now, None))?);
        }
        let mut queues: Vec<String> = records.iter().map(|r| r.options.queue.clone()).collect();
        queues.sort_unstable();
        queues.dedup();
        for q in &queues {
            self.core.queues.url(q).await?;
        }
        crate::limits::order::number(&self.core, &mut records).await?;
        self.core.store.insert_many(&records).await?;
        let mut wakes = Wakes::default();
        for r in &records {
            wakes.job(r, Duration::ZERO);
        }
        self.core.send(wakes).await;
        Ok(records.into_iter().map(|r| r.id).collect())
    }
}
