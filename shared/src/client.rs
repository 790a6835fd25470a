//! The client API: create jobs and act on them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::job::{ContinueOn, HistoryEntry, IntoNewJob, JobId, JobRecord, NewJob, Parent};
use crate::message::WakeUp;
use crate::queue::{QueueDepth, Queues};
use crate::state::{State, can_transition};
use crate::store::metrics::{KindTally, Tally};
use crate::store::{
    AttemptChange, Change, Count, Cursor, Expect, ListQuery, Page, QueueControl, Store, WriteError,
};
use crate::timing::{self, chrono_dur};

/// How Hangar's SDK clients retry: AWS's standard mode (jittered
/// exponential back-off for throttling, 5xx and broken connections) with
/// up to 10 attempts, waits of at most 5 s. Throttling slows a worker down
/// instead of failing the write that carries a job's result; only a
/// request refused 10 times in a row (about 30 s) gives up, and the job's
/// message then comes back for another try. Not the adaptive mode: its
/// client-side rate limiter, fed by a poller's few requests, held receives
/// back for tens of seconds under light throttling (`tests/tests/faults.rs`).
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(10)
        .with_max_backoff(Duration::from_secs(5))
}

/// Jobs of a batch written between two heartbeats of its creation.
const BATCH_CHUNK: usize = 100;

/// How many times an operation re-reads and retries when another writer
/// changed the job between its read and its conditional write.
const CONFLICT_RETRIES: usize = 5;

/// Finished jobs over time (see [`Client::throughput`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throughput {
    /// The last 60 minutes, oldest first: each minute's start and counts.
    pub minutes: Vec<(DateTime<Utc>, Tally)>,
    /// The last 24 hours, oldest first.
    pub hours: Vec<(DateTime<Utc>, Tally)>,
}

/// When a scheduled job runs: after a delay or at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// After this long.
    In(Duration),
    /// At this instant (in the past: as soon as possible).
    At(DateTime<Utc>),
}

impl From<Duration> for When {
    fn from(d: Duration) -> Self {
        When::In(d)
    }
}

impl From<DateTime<Utc>> for When {
    fn from(t: DateTime<Utc>) -> Self {
        When::At(t)
    }
}

impl When {
    fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            When::In(d) => now + chrono_dur(d),
            When::At(t) => t,
        }
    }
}

/// Creates jobs and acts on them. Cheap to clone; build one per process.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) core: Arc<Core>,
    /// Run before each job is created (see [`crate::filter`]).
    filters: Arc<Vec<Arc<dyn crate::filter::ClientFilter>>>,
}

impl std::fmt::Debug for dyn crate::filter::ClientFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientFilter")
    }
}

impl Client {
    /// A client from the AWS environment (credentials, region,
    /// `AWS_ENDPOINT_URL`) and the Hangar environment ([`Config::from_env`]).
    pub async fn from_env() -> Result<Self> {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Self::new(&sdk, Config::from_env()?))
    }

    /// A client from an SDK configuration.
    ///
    /// Its SDK clients retry as [`retry_config`] says: throttled or failed
    /// requests wait and are made again, rather than failing a job.
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Self {
        Self::from_clients(
            crate::store::client_for(sdk, retry_config()),
            crate::queue::client_for(sdk, retry_config()),
            config,
            Arc::new(SystemClock),
        )
    }

    /// A client from SDK clients and a clock.
    pub fn from_clients(
        ddb: crate::store::DynamoDbClient,
        sqs: crate::queue::SqsClient,
        config: Config,
        clock: SharedClock,
    ) -> Self {
        let config = Arc::new(config);
        Client {
            filters: Arc::default(),
            core: Arc::new(Core {
                store: Store::new(ddb, &config.table, config.shards, config.retention)
                    .with_grace(config.grace),
                queues: Queues::new(sqs, config.clone()),
                clock,
                config,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The queues.
    pub fn queues(&self) -> &Queues {
        &self.core.queues
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.core.clock
    }

    /// Enqueues a job to run as soon as a worker is free: one DynamoDB write,
    /// then one SQS send.
    pub async fn enqueue(&self, job: impl IntoNewJob) -> Result<JobId> {
        let job = job.into_new_job()?;
        let now = self.core.now();
        let creation = Creation::of(&job);
        let mut record = self.record(job, HistoryEntry::new(State::Enqueued, now, None))?;
        // Resolve the queue first: a misnamed queue fails before anything is written.
        self.core.queues.url(&record.options.queue).await?;
        if self.create(&mut record, creation).await? {
            self.core.wake(&record, Duration::ZERO).await;
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
    fn taken(&self, id: &JobId, creation: Creation) -> Result<bool> {
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
        let now = self.core.now();
        let creation = Creation::of(&job);
        let (mut record, send_delay) = self.scheduled(job, when.into(), now)?;
        self.core.queues.url(&record.options.queue).await?;
        if self.create(&mut record, creation).await?
            && let Some(delay) = send_delay
        {
            self.core.wake(&record, delay).await;
        }
        Ok(record.id)
    }

    /// The record of a job scheduled at `now` to run `when`, and the delay
    /// to send its wake-up with if it is due within SQS's reach.
    fn scheduled(
        &self,
        job: NewJob,
        when: When,
        now: DateTime<Utc>,
    ) -> Result<(JobRecord, Option<Duration>)> {
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
        Ok((record, send_delay))
    }

    /// Creates a batch (see [`crate::batch`]): the batch item, then its
    /// jobs and continuations with `BatchWriteItem` (25 a call), then the
    /// batch is marked Started and the wake-ups go out with
    /// `SendMessageBatch` (10 a call). Returns the batch id; its jobs are
    /// `<batch id>.1` to `<batch id>.<n>`, in the order added.
    ///
    /// If a creation with the same id was cut short, this one completes it;
    /// if that batch was created, this fails with [`Error::AlreadyExists`].
    /// A creation cut short and not made again starts, a grace period
    /// later, with the jobs that were written (the timer's doing).
    pub async fn start_batch(&self, batch: crate::batch::Batch) -> Result<JobId> {
        use crate::batch::{
            BatchRecord, BatchStatus, MAX_BATCH_JOBS, MAX_DESCRIPTION, job_id, validate_batch_id,
        };
        let now = self.core.now();
        let total = batch.jobs.len();
        if total == 0 || total > MAX_BATCH_JOBS {
            return Err(Error::invalid(
                "batch",
                format!("{total} jobs; a batch has 1 to {MAX_BATCH_JOBS}"),
            ));
        }
        if batch.continuations.len() > crate::job::MAX_CONTINUATIONS {
            return Err(Error::invalid(
                "batch",
                format!(
                    "{} continuations; at most {}",
                    batch.continuations.len(),
                    crate::job::MAX_CONTINUATIONS
                ),
            ));
        }
        if let Some(d) = batch
            .description
            .as_ref()
            .filter(|d| d.len() > MAX_DESCRIPTION)
        {
            return Err(Error::invalid(
                "batch description",
                format!("{} bytes; at most {MAX_DESCRIPTION}", d.len()),
            ));
        }
        let id = batch.id.unwrap_or_else(JobId::generate);
        validate_batch_id(&id)?;
        let mut records = Vec::with_capacity(total + batch.continuations.len());
        let mut delays = Vec::with_capacity(total);
        for (i, (mut job, when)) in batch.jobs.into_iter().enumerate() {
            if job.id.is_some() {
                return Err(Error::invalid(
                    "batch job",
                    "a batch names its jobs <batch id>.<n>; leave the job id unset",
                ));
            }
            job.id = Some(job_id(&id, i as u64 + 1));
            let (mut record, delay) = match when {
                None => (
                    self.record(job, HistoryEntry::new(State::Enqueued, now, None))?,
                    Some(Duration::ZERO),
                ),
                Some(when) => self.scheduled(job, when, now)?,
            };
            record.batch = Some(id.clone());
            records.push(record);
            delays.push(delay);
        }
        let mut continuations = Vec::new();
        for (i, (mut job, on)) in batch.continuations.into_iter().enumerate() {
            if job.options.ordered.is_some() {
                return Err(Error::invalid(
                    "continuation",
                    "a continuation cannot be ordered (waiting for its parent, it would hold up its ordering key)",
                ));
            }
            job.id = Some(JobId::parse(format!("{id}.then{}", i + 1))?);
            let mut record = self.record(job, batch_waiting_entry(&id, on, now))?;
            record.parent = Some(Parent {
                id: id.clone(),
                on,
                batch: true,
            });
            continuations.push(crate::job::Continuation {
                id: record.id.clone(),
                on,
            });
            records.push(record);
        }
        let mut queues: Vec<String> = records.iter().map(|r| r.options.queue.clone()).collect();
        queues.sort_unstable();
        queues.dedup();
        for q in &queues {
            self.core.queues.url(q).await?;
        }
        let record = BatchRecord {
            id: id.clone(),
            description: batch.description,
            status: BatchStatus::Creating,
            total: total as u64,
            open: total as u64,
            succeeded: 0,
            failed: 0,
            deleted: 0,
            created_at: now,
            completed_at: None,
            all_succeeded: None,
            continuations,
            released: false,
            expires_at: None,
        };
        let mut writes: Vec<&mut JobRecord> = records.iter_mut().collect();
        match self.core.store.create_batch(&record).await? {
            None => {}
            Some(old) if old.status == BatchStatus::Creating => {
                // Resumed: write only the jobs the cut-short creation did
                // not (none of them has been sent, so none is running).
                let ids: Vec<JobId> = writes.iter().map(|r| r.id.clone()).collect();
                let existing: std::collections::HashSet<JobId> = self
                    .core
                    .store
                    .existing_batch_jobs(&ids)
                    .await?
                    .into_iter()
                    .collect();
                writes.retain(|r| !existing.contains(&r.id));
            }
            Some(_) => return Err(Error::AlreadyExists { id }),
        }
        let mut to_write: Vec<JobRecord> = writes.into_iter().map(|r| r.clone()).collect();
        crate::limits::order::number(&self.core, &mut to_write).await?;
        // Written a chunk at a time, each after a heartbeat on the batch
        // that moves the timer's look a grace period ahead. The timer takes
        // a creation as cut short only when its look comes, on the
        // condition that no heartbeat moved it since it counted the jobs
        // written; a failed heartbeat means it did, so nothing more is
        // written.
        for chunk in to_write.chunks(BATCH_CHUNK) {
            let next = self.core.now() + chrono_dur(self.core.config.grace);
            if !self.core.store.look_again(&record, next).await? {
                let written = self.batch(&id).await?.map_or(0, |b| b.total);
                return Err(Error::BatchCutShort { id, written });
            }
            self.core.store.insert_many(chunk).await?;
        }
        if let Some(b) = self.core.store.start_batch(&record).await?
            && b.open == 0
        {
            // Every job finished while the creation was still going on.
            self.core.store.complete_batch(&b, now).await?;
            self.core.release_batch(&id).await;
        }
        let mut sends: std::collections::BTreeMap<&str, Vec<(WakeUp, Duration)>> =
            Default::default();
        let written: std::collections::HashMap<&JobId, &JobRecord> =
            to_write.iter().map(|r| (&r.id, r)).collect();
        for (r, delay) in records.iter().zip(&delays) {
            let Some(delay) = delay else { continue };
            let r = written.get(&r.id).copied().unwrap_or(r);
            sends
                .entry(&r.options.queue)
                .or_default()
                .push((WakeUp::for_job(r), *delay));
        }
        for (queue, msgs) in sends {
            match self.core.queues.send_batch(queue, &msgs).await {
                Ok(failed) if failed.is_empty() => {}
                Ok(failed) => tracing::warn!(
                    queue,
                    count = failed.len(),
                    "wake-ups not sent; the timer will re-send them after the grace period"
                ),
                Err(e) => tracing::warn!(
                    queue,
                    error = %crate::error::error_chain(&e),
                    "wake-ups not sent; the timer will re-send them after the grace period"
                ),
            }
        }
        Ok(id)
    }

    /// Adds a continuation to a batch: a job that waits (Awaiting) until
    /// every job of the batch finished, then runs if `on` is met
    /// (Succeeded: every job Succeeded) and is Deleted otherwise. A batch
    /// that has already completed settles it at once.
    pub async fn continue_batch_with(
        &self,
        batch: &JobId,
        job: impl IntoNewJob,
        on: ContinueOn,
    ) -> Result<JobId> {
        let job = job.into_new_job()?;
        if job.options.ordered.is_some() {
            return Err(Error::invalid(
                "continuation",
                "a continuation cannot be ordered (waiting for its parent, it would hold up its ordering key)",
            ));
        }
        let now = self.core.now();
        let mut record = self.record(job, batch_waiting_entry(batch, on, now))?;
        record.parent = Some(Parent {
            id: batch.clone(),
            on,
            batch: true,
        });
        self.core.queues.url(&record.options.queue).await?;
        match self
            .core
            .store
            .insert_batch_continuation(&record, now)
            .await?
        {
            Ok(()) => Ok(record.id),
            Err(None) => Err(Error::BatchNotFound { id: batch.clone() }),
            Err(Some(b)) => {
                // Already completed: create the continuation settled.
                let cont = crate::job::Continuation {
                    id: record.id.clone(),
                    on,
                };
                let change = crate::core::batch_settle(&b, &cont, now);
                let entry = change.entries.into_iter().next().expect("one entry");
                record.state = change.to;
                record.history.push(entry);
                self.core.store.insert(&record).await?;
                if record.state == State::Enqueued {
                    self.core.wake(&record, Duration::ZERO).await;
                }
                Ok(record.id)
            }
        }
    }

    /// Reads a batch; None if it does not exist or has expired.
    pub async fn batch(&self, id: &JobId) -> Result<Option<crate::batch::BatchRecord>> {
        self.core.store.get_batch(id, self.core.now()).await
    }

    /// The newest batches first, up to `limit` (at most 100), with those
    /// being created or completed.
    pub async fn batches(&self, limit: usize) -> Result<Vec<crate::batch::BatchRecord>> {
        self.core.store.list_batches(limit, self.core.now()).await
    }

    /// Jobs `from` to `from + limit - 1` of a batch (numbered from 1), read
    /// by key (one `BatchGetItem` per 100); missing and expired ones are
    /// left out.
    pub async fn batch_jobs(
        &self,
        batch: &crate::batch::BatchRecord,
        from: u64,
        limit: usize,
    ) -> Result<Vec<JobRecord>> {
        let from = from.max(1);
        let to = (from + limit as u64).min(batch.total + 1);
        let ids: Vec<JobId> = (from..to).map(|n| batch.job_id(n)).collect();
        self.get_many(&ids).await
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
        if job.options.ordered.is_some() {
            return Err(Error::invalid(
                "continuation",
                "a continuation cannot be ordered (waiting for its parent, it would hold up its ordering key)",
            ));
        }
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
                if self.create(&mut record, creation).await? && state == State::Enqueued {
                    self.core.wake(&record, Duration::ZERO).await;
                }
                Ok(record.id)
            }
        }
    }

    /// Writes job records as given, 25 to a `BatchWriteItem`, sending no
    /// message: for seeding tests and benchmarks with jobs in any state
    /// (ten thousand finished jobs in seconds). Not for applications: a
    /// record written this way in an active state has no message to run it.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub async fn seed(&self, jobs: &[JobRecord]) -> Result<()> {
        self.core.store.insert_many(jobs).await
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
        for q in queues {
            let msgs: Vec<_> = records
                .iter()
                .filter(|r| r.options.queue == q)
                .map(|r| (WakeUp::for_job(r), Duration::ZERO))
                .collect();
            match self.core.queues.send_batch(&q, &msgs).await {
                Ok(failed) if failed.is_empty() => {}
                Ok(failed) => tracing::warn!(
                    queue = q,
                    count = failed.len(),
                    "wake-ups not sent; the timer will re-send them after the grace period"
                ),
                Err(e) => tracing::warn!(
                    queue = q,
                    error = %crate::error::error_chain(&e),
                    "wake-ups not sent; the timer will re-send them after the grace period"
                ),
            }
        }
        Ok(records.into_iter().map(|r| r.id).collect())
    }

    /// Jobs in `state` (optionally of one queue), newest first (Processing:
    /// longest running first), up to `limit`: pages of
    /// [`Client::list_page`] until there are enough.
    pub async fn list(
        &self,
        state: State,
        queue: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRecord>> {
        let query = ListQuery {
            queue: queue.map(str::to_owned),
            ..ListQuery::state(state)
        };
        let mut jobs = Vec::new();
        let mut cursor = None;
        while jobs.len() < limit {
            let page = self
                .list_page(&query, limit - jobs.len(), cursor.as_ref())
                .await?;
            jobs.extend(page.jobs);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(jobs)
    }

    /// One page of a listing, newest first (Processing: longest running
    /// first): a bounded number of queries
    /// (one per index shard of each bucket that holds the state) and one
    /// batch read. Pass the page's `next` back for the following page.
    pub async fn list_page(
        &self,
        query: &ListQuery,
        size: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        self.core
            .store
            .list_page(query, size, cursor, self.core.now())
            .await
    }

    /// How many jobs are in each state, every state listed. The cost does
    /// not grow with the table: large states are estimates (marked so).
    pub async fn counts(&self) -> Result<Vec<(State, Count)>> {
        self.counts_with(None).await
    }

    /// [`Client::counts`] with the queue depths already read, if they were
    /// (a large Active bucket is split by them; read here when needed and
    /// not given).
    pub(crate) async fn counts_with(
        &self,
        depths: Option<&[QueueDepth]>,
    ) -> Result<Vec<(State, Count)>> {
        let buckets = self.core.store.bucket_counts(self.core.now()).await?;
        let mut in_sqs = (0, 0);
        if buckets.active_split.is_none() {
            let read;
            let depths = match depths {
                Some(d) => d,
                None => {
                    read = self.core.queues.depths().await?;
                    &read
                }
            };
            for q in depths.iter().filter(|q| !q.name.ends_with("-dlq")) {
                in_sqs.0 += q.in_flight;
                in_sqs.1 += q.delayed;
            }
        }
        Ok(buckets.per_state(in_sqs))
    }

    /// Jobs that Succeeded and Failed per minute over the last hour and per
    /// hour over the last 24 hours, oldest first, from the timer's
    /// roll-ups (one `BatchGetItem` of four items, whatever the number of
    /// jobs; jobs finished in the last half minute or so are not in yet).
    pub async fn throughput(&self) -> Result<Throughput> {
        use chrono::{DurationRound, TimeDelta, Timelike};
        let now = self.core.now();
        let this_hour = now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now);
        let today = now.duration_trunc(TimeDelta::days(1)).unwrap_or(now);
        let hours = [this_hour - TimeDelta::hours(1), this_hour];
        let days = [today - TimeDelta::days(1), today];
        let (h, d) = self.core.store.rollups(&hours, &days).await?;
        let this_minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
        let minutes = (0..60)
            .rev()
            .map(|i| {
                let t = this_minute - TimeDelta::minutes(i);
                let roll = if t >= this_hour { &h[1] } else { &h[0] };
                (
                    t,
                    roll.minutes
                        .get(&t.minute().to_string())
                        .copied()
                        .unwrap_or_default(),
                )
            })
            .collect();
        let this_hour_start = this_hour;
        let hours = (0..24)
            .rev()
            .map(|i| {
                let t = this_hour_start - TimeDelta::hours(i);
                let roll = if t >= today { &d[1] } else { &d[0] };
                (
                    t,
                    roll.hours
                        .get(&t.hour().to_string())
                        .copied()
                        .unwrap_or_default(),
                )
            })
            .collect();
        Ok(Throughput { minutes, hours })
    }

    /// Per kind over the last 24 hours: jobs finished, runs, failed runs,
    /// and the median and 95th percentile duration of their last runs (from
    /// the timer's hourly roll-ups: one `BatchGetItem` of 25 items).
    pub async fn kind_metrics(&self) -> Result<Vec<(String, KindTally)>> {
        use chrono::{DurationRound, TimeDelta};
        let now = self.core.now();
        let this_hour = now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now);
        let hours: Vec<_> = (0..25).map(|i| this_hour - TimeDelta::hours(i)).collect();
        let (rolls, _) = self.core.store.rollups(&hours, &[]).await?;
        let mut kinds: std::collections::BTreeMap<String, KindTally> = Default::default();
        for roll in rolls {
            for (kind, t) in roll.kinds {
                kinds.entry(kind).or_default().merge(&t);
            }
        }
        Ok(kinds.into_iter().collect())
    }

    /// Pauses a queue: within [`crate::worker::PAUSE_CHECK`] no worker
    /// starts a job from it; each job whose wake-up arrives meanwhile is
    /// parked (one write, once) and its message acknowledged. Enqueuing to a
    /// paused queue still works. Fails if the queue does not exist.
    pub async fn pause_queue(&self, queue: &str) -> Result<QueueControl> {
        self.existing_queue(queue).await?;
        self.core
            .store
            .set_paused(queue, true, self.core.now())
            .await
    }

    /// Checks that a queue of this name exists in the stack (an unknown
    /// one is [`Error::Invalid`], naming the SQS queue looked for).
    async fn existing_queue(&self, queue: &str) -> Result<()> {
        crate::job::validate_queue(queue)?;
        self.core.queues.url(queue).await.map(drop)
    }

    /// Resumes a paused queue and wakes its parked jobs, oldest parked
    /// first within each index shard. Returns the control as written and how
    /// many jobs were woken.
    /// The timer keeps waking jobs parked by a worker that had not yet seen
    /// the resume, for [`crate::timer::DRAIN_QUIET`] after it.
    pub async fn resume_queue(&self, queue: &str) -> Result<(QueueControl, usize)> {
        self.existing_queue(queue).await?;
        let control = self
            .core
            .store
            .set_paused(queue, false, self.core.now())
            .await?;
        let woken = self.core.wake_parked(queue).await?;
        Ok((control, woken))
    }

    /// A concurrency key as it is now: the runs holding a slot (live, and
    /// those whose lease passed), the jobs waiting and the limit.
    pub async fn concurrency_key(&self, key: &str) -> Result<crate::limits::SlotState> {
        self.core.store.slot_state(key, self.core.now()).await
    }

    /// The jobs waiting for a slot of a concurrency or ordering key, oldest
    /// (ordered: lowest number) first, at most `size` a page: one query and
    /// one `BatchGetItem`.
    pub async fn waiting_jobs(
        &self,
        key: &str,
        size: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        self.core
            .store
            .waiting_page(key, size, cursor, self.core.now())
            .await
    }

    /// Gives out sequence numbers of an ordering key without creating jobs
    /// (tests: a creation cut short after its number was given). Returns the
    /// first.
    #[cfg(feature = "testing")]
    pub async fn number_for_test(&self, key: &str, count: u64) -> Result<u64> {
        self.core
            .store
            .allocate_seq(key, count, self.core.now())
            .await
    }

    /// Takes a slot of a concurrency key for a run named `name` whose lease
    /// ends in `lease`, as a worker does before a claim (tests: a run that
    /// crashes holding a slot). True if taken.
    #[cfg(feature = "testing")]
    pub async fn take_slot_for_test(
        &self,
        key: &str,
        limit: u32,
        name: &str,
        lease: Duration,
    ) -> Result<bool> {
        let now = self.core.now();
        let holder = format!(
            "{name}@{}",
            crate::clock::to_millis(now + chrono_dur(lease))
        );
        self.core
            .store
            .acquire_slot(key, limit, &holder, None, now)
            .await
    }

    /// Whether each of these queues is paused (a queue never paused is not).
    pub async fn queue_controls(&self, queues: &[String]) -> Result<Vec<QueueControl>> {
        self.core.store.queue_controls(queues).await
    }

    /// Messages in each SQS queue of the stack, dead-letter queues included.
    pub async fn queue_depths(&self) -> Result<Vec<QueueDepth>> {
        self.core.queues.depths().await
    }

    /// Reads jobs by id (one `BatchGetItem` per 100), in the order given;
    /// missing and expired jobs are left out.
    pub async fn get_many(&self, ids: &[JobId]) -> Result<Vec<JobRecord>> {
        self.core.store.get_many(ids, self.core.now()).await
    }

    /// Reads a job; None if it does not exist or has expired.
    pub async fn get(&self, id: &JobId) -> Result<Option<JobRecord>> {
        self.core.store.get(id, self.core.now()).await
    }

    /// Enqueues a job again to run now: a Failed, Succeeded, Deleted or
    /// Scheduled job, or a continuation that should not wait any longer. Its
    /// retry count starts over.
    pub async fn requeue(&self, id: &JobId) -> Result<JobRecord> {
        let job = self.requeue_write(id).await?;
        self.core.wake(&job, Duration::ZERO).await;
        Ok(job)
    }

    /// Requeues many jobs: the conditional writes run `concurrency` at a
    /// time, the wake-ups go out with `SendMessageBatch`. Calls `progress`
    /// after each job; returns each job's result, in order.
    pub async fn requeue_many(
        &self,
        ids: &[JobId],
        concurrency: usize,
        progress: impl Fn(&JobId, std::result::Result<(), &Error>),
    ) -> Vec<(JobId, Result<()>)> {
        let mut sends: std::collections::BTreeMap<String, Vec<(WakeUp, Duration)>> =
            Default::default();
        let written = self
            .each(
                ids,
                concurrency,
                |client, id| async move { client.requeue_write(&id).await },
                |i, res| progress(&ids[i], res.as_ref().map(|_| ())),
            )
            .await;
        let results: Vec<Result<()>> = written
            .into_iter()
            .map(|res| {
                res.map(|job| {
                    sends
                        .entry(job.options.queue.clone())
                        .or_default()
                        .push((WakeUp::for_job(&job), Duration::ZERO));
                })
            })
            .collect();
        for (queue, msgs) in sends {
            // A failed send leaves the job Enqueued with its repair due: the
            // timer re-sends it after the grace period.
            match self.core.queues.send_batch(&queue, &msgs).await {
                Ok(failed) if failed.is_empty() => {}
                Ok(failed) => tracing::warn!(
                    queue,
                    failed = failed.len(),
                    "wake-ups not sent; the timer will re-send them"
                ),
                Err(e) => {
                    tracing::warn!(queue, error = %crate::error::error_chain(&e), "wake-ups not sent; the timer will re-send them")
                }
            }
        }
        ids.iter().cloned().zip(results).collect()
    }

    /// Deletes many jobs, `concurrency` at a time (as [`Client::delete`]
    /// each); returns each job's result, in order.
    pub async fn delete_many(&self, ids: &[JobId], concurrency: usize) -> Vec<(JobId, Result<()>)> {
        let results = self
            .each(
                ids,
                concurrency,
                |client, id| async move { client.delete(&id).await.map(|_| ()) },
                |_, _| {},
            )
            .await;
        ids.iter().cloned().zip(results).collect()
    }

    /// Runs `op` for each id, `concurrency` at a time, calling `done` with
    /// each result as it comes; the results in the order of `ids`.
    async fn each<T, F, Fut>(
        &self,
        ids: &[JobId],
        concurrency: usize,
        op: F,
        done: impl Fn(usize, &Result<T>),
    ) -> Vec<Result<T>>
    where
        T: Send + 'static,
        F: Fn(Client, JobId) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        let mut results: Vec<Option<Result<T>>> = ids.iter().map(|_| None).collect();
        let mut set = tokio::task::JoinSet::new();
        let mut next = ids.iter().cloned().enumerate();
        loop {
            while set.len() < concurrency.max(1) {
                let Some((i, id)) = next.next() else { break };
                let fut = op(self.clone(), id);
                set.spawn(async move { (i, fut.await) });
            }
            let Some(joined) = set.join_next().await else {
                break;
            };
            let (i, res) = joined.expect("job operations do not panic");
            done(i, &res);
            results[i] = Some(res);
        }
        results
            .into_iter()
            .map(|r| r.expect("every job answered"))
            .collect()
    }

    async fn requeue_write(&self, id: &JobId) -> Result<JobRecord> {
        self.change(id, State::Enqueued, |job, now| {
            let mut ch = Change::new(
                State::Enqueued,
                HistoryEntry::new(
                    State::Enqueued,
                    now,
                    Some(format!("Requeued (was {})", job.state)),
                ),
            );
            ch.attempt = AttemptChange::Reset;
            ch
        })
        .await
    }

    /// Moves a job to run after a delay or at an instant (from Enqueued,
    /// Scheduled, Failed, Succeeded or Deleted). A message already in SQS for
    /// its old time is dropped by the worker as stale. Returns the new due
    /// time.
    pub async fn reschedule(&self, id: &JobId, when: impl Into<When>) -> Result<DateTime<Utc>> {
        let when = when.into();
        let mut send = None;
        let job = self
            .change(id, State::Scheduled, |job, now| {
                let run_at = when.resolve(now);
                send = timing::send_delay(now, run_at);
                let mut ch = Change::new(
                    State::Scheduled,
                    HistoryEntry::new(
                        State::Scheduled,
                        now,
                        Some(format!(
                            "Rescheduled (was {}); due {}",
                            job.state,
                            crate::clock::fmt_time(run_at)
                        )),
                    )
                    .due(run_at),
                );
                ch.run_at = Some((run_at, send.is_some()));
                if !matches!(job.state, State::Enqueued | State::Scheduled) {
                    ch.attempt = AttemptChange::Reset;
                }
                ch
            })
            .await?;
        if let Some(delay) = send {
            self.core.wake(&job, delay).await;
        }
        Ok(job.run_at.expect("a Scheduled job has a due time"))
    }

    /// Deletes a job. A running job is not stopped, but its result is
    /// discarded and its handler can see the deletion
    /// ([`crate::JobContext::is_cancelled`]). Continuations waiting on it are
    /// settled as for any final state.
    pub async fn delete(&self, id: &JobId) -> Result<JobRecord> {
        let job = self
            .change(id, State::Deleted, |job, now| {
                Change::new(
                    State::Deleted,
                    HistoryEntry::new(
                        State::Deleted,
                        now,
                        Some(format!("Deleted (was {})", job.state)),
                    ),
                )
            })
            .await?;
        self.core.release(&job).await;
        Ok(job)
    }

    /// Deletes a job as read, with a reason, on the condition that it has not
    /// changed since ([`Error::Conflict`] if it has).
    pub(crate) async fn delete_as(&self, job: &JobRecord, reason: String) -> Result<()> {
        let now = self.core.now();
        let change = Change::new(
            State::Deleted,
            HistoryEntry::new(State::Deleted, now, Some(reason)),
        );
        match self
            .core
            .store
            .apply(&job.id, &Expect::at(job), change, now)
            .await
        {
            Ok(written) => {
                self.core.release(&written).await;
                Ok(())
            }
            Err(WriteError::Condition(_)) => Err(Error::Conflict { id: job.id.clone() }),
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    /// Read, check the transition, write on the version read; again if the
    /// job changed in between.
    async fn change(
        &self,
        id: &JobId,
        to: State,
        mut build: impl FnMut(&JobRecord, DateTime<Utc>) -> Change,
    ) -> Result<JobRecord> {
        for _ in 0..CONFLICT_RETRIES {
            let job = self.core.must_get(id).await?;
            // Processing → Scheduled is the worker's retry, not a user's move.
            let refused = !can_transition(job.state, to)
                || (job.state == State::Processing && to != State::Deleted)
                || (job.state == State::Enqueued && to == State::Enqueued);
            if refused {
                return Err(Error::InvalidTransition {
                    id: id.clone(),
                    from: job.state,
                    to,
                });
            }
            let now = self.core.now();
            let change = build(&job, now);
            match self
                .core
                .store
                .apply(id, &Expect::at(&job), change, now)
                .await
            {
                Ok(written) => return Ok(written),
                Err(WriteError::Condition(_)) => continue,
                Err(WriteError::Other(e)) => return Err(e),
            }
        }
        Err(Error::Conflict { id: id.clone() })
    }

    /// A client that runs `filter` before each job it creates, after the
    /// filters registered before it (see [`crate::filter::ClientFilter`]).
    pub fn with_filter(mut self, filter: impl crate::filter::ClientFilter) -> Self {
        Arc::make_mut(&mut self.filters).push(Arc::new(filter));
        self
    }

    pub(crate) fn from_core(core: Arc<Core>) -> Self {
        Client {
            core,
            filters: Arc::default(),
        }
    }

    fn record(&self, mut job: NewJob, entry: HistoryEntry) -> Result<JobRecord> {
        for filter in self.filters.iter() {
            filter.on_create(&mut job)?;
        }
        job.validate()?;
        let entry = match &job.origin {
            Some(origin) => entry.with("origin", origin.as_str()),
            None => entry,
        };
        let mut record = JobRecord::new(
            job.id.unwrap_or_else(JobId::generate),
            job.kind,
            job.args,
            job.options,
            entry,
        );
        record.params = job.params;
        Ok(record)
    }
}

/// How a job's creation treats a taken id.
#[derive(Debug, Clone, Copy)]
struct Creation {
    /// The caller chose the id.
    own_id: bool,
    /// A taken id is the job asked for, not an error.
    idempotent: bool,
}

impl Creation {
    fn of(job: &NewJob) -> Self {
        Creation {
            own_id: job.id.is_some(),
            idempotent: job.idempotent,
        }
    }
}

/// The first history entry of a continuation of batch `batch`.
fn batch_waiting_entry(batch: &JobId, on: ContinueOn, now: DateTime<Utc>) -> HistoryEntry {
    HistoryEntry::new(
        State::Awaiting,
        now,
        Some(format!(
            "Waiting for batch {batch} ({})",
            match on {
                ContinueOn::Succeeded => "runs if every job Succeeded",
                ContinueOn::AnyFinished => "runs when every job finished",
            }
        )),
    )
    .with("batch", batch.as_str())
}
