//! Batches (Hangfire Pro's): jobs created together, watched as one, with
//! continuations that run when every job of the batch Succeeded or when
//! every job finished.
//!
//! A batch is one item (`batch#<id>`) with counters: its jobs in total,
//! still open (not Succeeded or Deleted; a Failed job is open, as in
//! Hangfire, until it is requeued or deleted), Succeeded, Failed and
//! Deleted. A batch job's state changes that move a counter (into or out of
//! Succeeded, Failed or Deleted) are one `TransactWriteItems`: the job's
//! conditional write and the batch's counter update, so the counters are
//! exact without a read per job. The write that closes the last open job
//! is the one whose batch condition (`open > 1`) fails; it is made again as
//! the completing write, which marks the batch Completed, and its writer
//! releases the batch's continuations (the timer does, if it stopped
//! first). See docs/architecture.md for the costs.
//!
//! The jobs of a batch have ids `<batch id>.<n>` (1 to the total), so a
//! batch's jobs are read by key, and a creation cut short is found out.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::job::{Continuation, ContinueOn, IntoNewJob, JobId, NewJob};
use crate::timing::When;

/// Most jobs in one batch.
pub const MAX_BATCH_JOBS: usize = 100_000;
/// Longest batch id: room for `.<n>` within a job id's 200 characters.
pub const MAX_BATCH_ID: usize = 180;
/// Longest batch description, bytes.
pub const MAX_DESCRIPTION: usize = 256;

/// A batch to create with [`crate::Client::start_batch`].
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub(crate) id: Option<JobId>,
    pub(crate) description: Option<String>,
    pub(crate) jobs: Vec<(NewJob, Option<When>)>,
    pub(crate) continuations: Vec<(NewJob, ContinueOn)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch::default()
    }

    /// Gives the batch its id (default: a new time-ordered one). Creating
    /// a batch whose id exists fails with [`Error::AlreadyExists`]: an id
    /// makes the creation idempotent.
    pub fn id(mut self, id: JobId) -> Self {
        self.id = Some(id);
        self
    }

    /// Describes the batch (shown by the CLI and the dashboard).
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Adds a job to run as soon as the batch is created.
    pub fn enqueue(mut self, job: impl IntoNewJob) -> Result<Self> {
        self.jobs.push((job.into_new_job()?, None));
        Ok(self)
    }

    /// Adds a job to run after a delay or at an instant.
    pub fn schedule(mut self, job: impl IntoNewJob, when: impl Into<When>) -> Result<Self> {
        self.jobs.push((job.into_new_job()?, Some(when.into())));
        Ok(self)
    }

    /// Adds a continuation of the batch: a job that waits (Awaiting) until
    /// every job of the batch finished, then runs if `on` is met (Succeeded:
    /// every job Succeeded) and is Deleted otherwise. More can be added
    /// later with [`crate::Client::continue_batch_with`].
    pub fn continue_with(mut self, job: impl IntoNewJob, on: ContinueOn) -> Result<Self> {
        self.continuations.push((job.into_new_job()?, on));
        Ok(self)
    }

    /// Jobs in the batch so far.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether the batch has no job yet.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

/// Checks a batch id: a job id short enough to name its jobs.
pub fn validate_batch_id(id: &JobId) -> Result<()> {
    if id.as_str().len() > MAX_BATCH_ID {
        return Err(Error::invalid(
            "batch id",
            format!(
                "{} characters; at most {MAX_BATCH_ID} (its jobs are named <batch id>.<n>)",
                id.as_str().len()
            ),
        ));
    }
    Ok(())
}

/// The id of the `n`th job of a batch (from 1).
pub fn job_id(batch: &JobId, n: u64) -> JobId {
    JobId::parse(format!("{batch}.{n}")).expect("a batch id is short enough")
}

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchStatus {
    /// Its jobs are being written; none has been sent yet.
    Creating,
    /// Its jobs are running.
    Started,
    /// Every job reached Succeeded or Deleted; its continuations were
    /// released (or are being released).
    Completed,
}

impl BatchStatus {
    /// The name used in DynamoDB, the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Creating => "Creating",
            BatchStatus::Started => "Started",
            BatchStatus::Completed => "Completed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [
            BatchStatus::Creating,
            BatchStatus::Started,
            BatchStatus::Completed,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }
}

impl std::fmt::Display for BatchStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A batch as stored: what [`crate::Client::batch`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    pub id: JobId,
    /// What it is for.
    pub description: Option<String>,
    /// Where it is in its life.
    pub status: BatchStatus,
    /// Jobs in it.
    pub total: u64,
    /// Jobs not yet in Succeeded or Deleted (Failed ones included).
    pub open: u64,
    /// Jobs in Succeeded.
    pub succeeded: u64,
    /// Jobs in Failed (waiting for a requeue or a delete).
    pub failed: u64,
    /// Jobs in Deleted.
    pub deleted: u64,
    pub created_at: DateTime<Utc>,
    /// When its last open job finished.
    pub completed_at: Option<DateTime<Utc>>,
    /// Whether every job had Succeeded when it completed.
    pub all_succeeded: Option<bool>,
    /// Continuations waiting on it.
    pub continuations: Vec<Continuation>,
    /// Completed, and every continuation released.
    pub released: bool,
    /// When the item expires (a completed batch).
    pub expires_at: Option<DateTime<Utc>>,
}

impl BatchRecord {
    /// Jobs not yet run to an end (neither Succeeded, Failed nor Deleted).
    pub fn pending(&self) -> u64 {
        self.open.saturating_sub(self.failed)
    }

    /// The id of its `n`th job (from 1).
    pub fn job_id(&self, n: u64) -> JobId {
        job_id(&self.id, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_fit_the_longest_batch_id() {
        let id = JobId::parse("b".repeat(MAX_BATCH_ID)).unwrap();
        validate_batch_id(&id).unwrap();
        let last = job_id(&id, MAX_BATCH_JOBS as u64);
        assert!(last.as_str().len() <= 200);
        let too_long = JobId::parse("b".repeat(MAX_BATCH_ID + 1)).unwrap();
        let err = validate_batch_id(&too_long).unwrap_err().to_string();
        assert!(err.contains("at most 180"), "{err}");
    }

    #[test]
    fn pending_leaves_out_failed_jobs() {
        let b = BatchRecord {
            id: JobId::generate(),
            description: None,
            status: BatchStatus::Started,
            total: 10,
            open: 4,
            succeeded: 5,
            failed: 1,
            deleted: 1,
            created_at: Utc::now(),
            completed_at: None,
            all_succeeded: None,
            continuations: vec![],
            released: false,
            expires_at: None,
        };
        assert_eq!(b.pending(), 3);
        assert_eq!(b.job_id(3).as_str(), format!("{}.3", b.id));
        for s in ["Creating", "Started", "Completed"] {
            assert_eq!(BatchStatus::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(BatchStatus::parse("Done"), None);
    }
}
