//! Continuations released when their parent (a job, or a batch) reaches
//! a final state.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Core;
use crate::batch::{BatchRecord, BatchStatus};
use crate::job::{Continuation, ContinueOn, HistoryEntry, JobId, JobRecord};
use crate::state::State;
use crate::store::{Change, Expect, WriteError};

impl Core {
    /// Releases the continuations of a job just written in a final state:
    /// each goes Awaiting → Enqueued when its condition is met, else Awaiting
    /// → Deleted, which in turn settles its own continuations. A job that is
    /// not final, or has none, is left alone.
    ///
    /// The final write kept the parent in the timer's Active bucket (see
    /// [`Store::apply`](crate::store::Store::apply)); once every continuation
    /// is settled it moves to its final bucket. If this is cut short (a crash, an AWS
    /// error) the entry stays, and the timer calls this again after the
    /// grace period. Every step is conditional, so running it twice is
    /// harmless. Returns whether every continuation is settled.
    ///
    /// A write that completed the job's batch (see [`crate::batch`]) also
    /// has the batch's continuations released here.
    pub async fn release(&self, parent: &JobRecord) -> bool {
        let mut all_settled = true;
        if parent.completes_batch.0
            && let Some(batch) = &parent.batch
        {
            all_settled &= self.release_batch(batch).await;
        }
        if !parent.state.is_final() || parent.continuations.is_empty() {
            return all_settled;
        }
        let mut work: Vec<JobRecord> = vec![parent.clone()];
        while let Some(p) = work.pop() {
            let (settled, deleted) = self
                .settle_each(&p.id, &p.continuations, |c, now| self.settle(&p, c, now))
                .await;
            work.extend(deleted);
            if settled && let Err(e) = self.store.released(&p).await {
                // Harmless: the timer finds nothing left to release.
                tracing::warn!(job = %p.id, error = %crate::error::error_chain(&e), "released continuations, but the job stays due");
            }
            all_settled &= settled;
        }
        all_settled
    }

    /// Settles each of `conts` (continuations of `parent`, a job or a batch)
    /// with the change `settle` gives: wakes those it enqueues, and returns
    /// whether all were settled and those it deleted that have
    /// continuations of their own.
    async fn settle_each(
        &self,
        parent: &JobId,
        conts: &[Continuation],
        settle: impl Fn(&Continuation, DateTime<Utc>) -> Change,
    ) -> (bool, Vec<JobRecord>) {
        let mut settled = true;
        let mut deleted = Vec::new();
        for c in conts {
            let now = self.now();
            let expect = Expect::in_states(&[State::Awaiting]);
            match self.store.apply(&c.id, &expect, settle(c, now), now).await {
                Ok(job) if job.state == State::Enqueued => self.wake(&job, Duration::ZERO).await,
                Ok(job) => {
                    if !job.continuations.is_empty() {
                        deleted.push(job);
                    }
                }
                // Already released, requeued or deleted by someone else.
                Err(WriteError::Condition(_)) => {}
                Err(WriteError::Other(e)) => {
                    settled = false;
                    tracing::error!(
                        %parent,
                        continuation = %c.id,
                        error = %crate::error::error_chain(&e),
                        "continuation not released; the timer retries after the grace period"
                    );
                }
            }
        }
        (settled, deleted)
    }

    /// Releases the continuations of a batch its last job just completed
    /// (one read of the batch). Returns whether every one is settled.
    pub async fn release_batch(&self, id: &JobId) -> bool {
        match self.store.get_batch(id, self.now()).await {
            Ok(Some(batch)) => self.settle_batch(&batch).await,
            Ok(None) => true,
            Err(e) => {
                tracing::error!(batch = %id, error = %crate::error::error_chain(&e), "batch not read; the timer releases its continuations after the grace period");
                false
            }
        }
    }

    /// Settles the continuations of a Completed batch, then takes it off
    /// the timer's watch (which does this again after the grace period if
    /// it is cut short).
    pub async fn settle_batch(&self, batch: &BatchRecord) -> bool {
        if batch.status != BatchStatus::Completed {
            return true;
        }
        let (mut settled, deleted) = self
            .settle_each(&batch.id, &batch.continuations, |c, now| {
                batch_settle(batch, c, now)
            })
            .await;
        for job in deleted {
            settled &= Box::pin(self.release(&job)).await;
        }
        if settled
            && !batch.released
            && let Err(e) = self.store.batch_released(batch).await
        {
            tracing::warn!(batch = %batch.id, error = %crate::error::error_chain(&e), "released the batch's continuations, but it stays watched");
        }
        settled
    }

    /// The change that settles continuation `c` of `parent`.
    fn settle(&self, parent: &JobRecord, c: &Continuation, now: DateTime<Utc>) -> Change {
        let (id, state) = (&parent.id, parent.state);
        let reason = if c.on.is_met_by(state) {
            Ok(format!("Parent {id} {state}"))
        } else {
            Err(format!(
                "Parent {id} ended {state}; this continuation runs only when its parent Succeeded"
            ))
        };
        settled(reason, ("parent", id), now)
    }
}

/// The change that settles continuation `c` of a completed batch: it runs
/// when every job Succeeded, or (AnyFinished) when every job finished.
pub(crate) fn batch_settle(batch: &BatchRecord, c: &Continuation, now: DateTime<Utc>) -> Change {
    let all = batch.all_succeeded.unwrap_or(false);
    let id = &batch.id;
    let reason = if all {
        Ok(format!(
            "Batch {id} completed: every job of {} Succeeded",
            batch.total
        ))
    } else if c.on == ContinueOn::AnyFinished {
        Ok(format!(
            "Batch {id} completed: {} of {} jobs Deleted",
            batch.deleted, batch.total
        ))
    } else {
        Err(format!(
            "Batch {id} completed with {} of {} jobs Deleted; this continuation runs only when every job Succeeded",
            batch.deleted, batch.total
        ))
    };
    settled(reason, ("batch", id), now)
}

/// A continuation settled: Enqueued (Ok) or Deleted (Err) with the reason,
/// its history entry naming the parent (`parent` or `batch`).
fn settled(
    reason: std::result::Result<String, String>,
    (key, parent): (&str, &JobId),
    now: DateTime<Utc>,
) -> Change {
    let (state, reason) = match reason {
        Ok(r) => (State::Enqueued, r),
        Err(r) => (State::Deleted, r),
    };
    Change::new(
        state,
        HistoryEntry::new(state, now, Some(reason)).with(key, parent.as_str()),
    )
}
