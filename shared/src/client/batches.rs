//! Batches (see [`crate::batch`]): created with batch calls, their
//! continuations, and reads.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::Client;
use crate::batch::{
    Batch, BatchRecord, BatchStatus, MAX_BATCH_JOBS, MAX_DESCRIPTION, job_id, validate_batch_id,
};
use crate::core::Wakes;
use crate::error::{Error, Result};
use crate::job::{
    Continuation, ContinueOn, HistoryEntry, IntoNewJob, JobId, JobRecord, NewJob, Parent,
};
use crate::state::State;
use crate::timing::{When, chrono_dur};

/// Jobs of a batch written between two heartbeats of its creation.
const BATCH_CHUNK: usize = 100;

impl Client {
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
    pub async fn start_batch(&self, batch: Batch) -> Result<JobId> {
        let now = self.core.now();
        check(&batch)?;
        let id = batch.id.clone().unwrap_or_else(JobId::generate);
        validate_batch_id(&id)?;
        let total = batch.jobs.len();
        let (records, continuations) =
            self.batch_records(&id, batch.jobs, batch.continuations, now)?;
        let mut queues: Vec<&str> = records.iter().map(|r| r.options.queue.as_str()).collect();
        queues.sort_unstable();
        queues.dedup();
        for q in queues {
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
        let mut to_write = self.not_written(&record, &records).await?;
        crate::limits::order::number(&self.core, &mut to_write).await?;
        self.write_chunks(&record, &to_write).await?;
        if let Some(b) = self.core.store.start_batch(&record).await?
            && b.open == 0
        {
            // Every job finished while the creation was still going on.
            self.core.store.complete_batch(&b, now).await?;
            self.core.release_batch(&id).await;
        }
        let written: HashMap<&JobId, &JobRecord> = to_write.iter().map(|r| (&r.id, r)).collect();
        let mut wakes = Wakes::default();
        for r in &records[..total] {
            wakes.written(written.get(&r.id).copied().unwrap_or(r), now);
        }
        self.core.send(wakes).await;
        Ok(id)
    }

    /// The records of a batch's jobs (`<id>.1` to `<id>.<n>`, in order)
    /// and then of its continuations (`<id>.then1`, ...), and the
    /// continuations as the batch item lists them.
    fn batch_records(
        &self,
        id: &JobId,
        jobs: Vec<(NewJob, Option<When>)>,
        conts: Vec<(NewJob, ContinueOn)>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<JobRecord>, Vec<Continuation>)> {
        let mut records = Vec::with_capacity(jobs.len() + conts.len());
        for (i, (mut job, when)) in jobs.into_iter().enumerate() {
            if job.id.is_some() {
                return Err(Error::invalid(
                    "batch job",
                    "a batch names its jobs <batch id>.<n>; leave the job id unset",
                ));
            }
            crate::job::unique::refuse(&job, "a batch's job")?;
            job.id = Some(job_id(id, i as u64 + 1));
            let mut record = match when {
                None => self.record(job, HistoryEntry::new(State::Enqueued, now, None))?,
                Some(when) => self.scheduled(job, when, now)?,
            };
            record.batch = Some(id.clone());
            records.push(record);
        }
        let mut continuations = Vec::new();
        for (i, (mut job, on)) in conts.into_iter().enumerate() {
            refuse_ordered(&job)?;
            job.id = Some(JobId::parse(format!("{id}.then{}", i + 1))?);
            let mut record = self.record(job, batch_waiting_entry(id, on, now))?;
            record.parent = Some(Parent {
                id: id.clone(),
                on,
                batch: true,
            });
            continuations.push(Continuation {
                id: record.id.clone(),
                on,
            });
            records.push(record);
        }
        Ok((records, continuations))
    }

    /// Writes the batch item, and returns the records still to write: all
    /// of them, or, when a creation of the same id was cut short, those it
    /// did not write (none of them has been sent, so none is running).
    async fn not_written(
        &self,
        batch: &BatchRecord,
        records: &[JobRecord],
    ) -> Result<Vec<JobRecord>> {
        match self.core.store.create_batch(batch).await? {
            None => Ok(records.to_vec()),
            Some(old) if old.status == BatchStatus::Creating => {
                let ids: Vec<JobId> = records.iter().map(|r| r.id.clone()).collect();
                let existing: HashSet<JobId> = self
                    .core
                    .store
                    .existing_batch_jobs(&ids)
                    .await?
                    .into_iter()
                    .collect();
                Ok(records
                    .iter()
                    .filter(|r| !existing.contains(&r.id))
                    .cloned()
                    .collect())
            }
            Some(_) => Err(Error::AlreadyExists {
                id: batch.id.clone(),
            }),
        }
    }

    /// Writes a batch's records a chunk at a time, each after a heartbeat
    /// on the batch that moves the timer's look a grace period ahead. The
    /// timer takes a creation as cut short only when its look comes, on the
    /// condition that no heartbeat moved it since it counted the jobs
    /// written; a failed heartbeat means it did, so nothing more is written.
    async fn write_chunks(&self, batch: &BatchRecord, records: &[JobRecord]) -> Result<()> {
        for chunk in records.chunks(BATCH_CHUNK) {
            let next = self.core.now() + chrono_dur(self.core.config.grace);
            if !self.core.store.look_again(batch, next).await? {
                let written = self.batch(&batch.id).await?.map_or(0, |b| b.total);
                return Err(Error::BatchCutShort {
                    id: batch.id.clone(),
                    written,
                });
            }
            self.core.store.insert_many(chunk).await?;
        }
        Ok(())
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
        refuse_ordered(&job)?;
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
                let cont = Continuation {
                    id: record.id.clone(),
                    on,
                };
                let change = crate::core::batch_settle(&b, &cont, now);
                let entry = change.entries.into_iter().next().expect("one entry");
                record.state = change.to;
                record.history.push(entry);
                self.core.store.insert(&record).await?;
                self.core.written(&record, now).await;
                Ok(record.id)
            }
        }
    }

    /// Reads a batch; None if it does not exist or has expired.
    pub async fn batch(&self, id: &JobId) -> Result<Option<BatchRecord>> {
        self.core.store.get_batch(id, self.core.now()).await
    }

    /// The newest batches first, up to `limit` (at most 100), with those
    /// being created or completed.
    pub async fn batches(&self, limit: usize) -> Result<Vec<BatchRecord>> {
        self.core.store.list_batches(limit, self.core.now()).await
    }

    /// Jobs `from` to `from + limit - 1` of a batch (numbered from 1), read
    /// by key (one `BatchGetItem` per 100); missing and expired ones are
    /// left out.
    pub async fn batch_jobs(
        &self,
        batch: &BatchRecord,
        from: u64,
        limit: usize,
    ) -> Result<Vec<JobRecord>> {
        let from = from.max(1);
        let to = (from + limit as u64).min(batch.total + 1);
        let ids: Vec<JobId> = (from..to).map(|n| batch.job_id(n)).collect();
        self.get_many(&ids).await
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

/// A batch's size, continuations and description within their limits.
fn check(batch: &Batch) -> Result<()> {
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
    Ok(())
}

/// A continuation waits for its parent, so it cannot be ordered: it would
/// hold up its ordering key.
pub(super) fn refuse_ordered(job: &NewJob) -> Result<()> {
    crate::job::unique::refuse(job, "continuation")?;
    if job.options.ordered.is_some() {
        return Err(Error::invalid(
            "continuation",
            "a continuation cannot be ordered (waiting for its parent, it would hold up its ordering key)",
        ));
    }
    Ok(())
}
