//! Acting on existing jobs: requeue, reschedule and delete, each a
//! conditional write on the version read; many at a time for bulk actions.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Client;
use crate::core::Wakes;
use crate::error::{Error, Result};
use crate::job::{HistoryEntry, JobId, JobRecord};
use crate::state::{State, can_transition};
use crate::store::{AttemptChange, Change, Expect, WriteError};
use crate::timing::When;

/// How many times an operation re-reads and retries when another writer
/// changed the job between its read and its conditional write.
const CONFLICT_RETRIES: usize = 5;

impl Client {
    /// Enqueues a job again to run now: a Failed, Succeeded, Deleted or
    /// Scheduled job, or a continuation that should not wait any longer. Its
    /// retry count starts over.
    pub async fn requeue(&self, id: &JobId) -> Result<JobRecord> {
        let (job, now) = self.requeue_write(id, None).await?;
        self.core.written(&job, now).await;
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
        self.requeue_many_from(ids, None, concurrency, progress)
            .await
    }

    /// [`Client::requeue_many`], of the jobs still in `from` if given.
    pub(crate) async fn requeue_many_from(
        &self,
        ids: &[JobId],
        from: Option<State>,
        concurrency: usize,
        progress: impl Fn(&JobId, std::result::Result<(), &Error>),
    ) -> Vec<(JobId, Result<()>)> {
        let mut wakes = Wakes::default();
        let written = self
            .each(
                ids,
                concurrency,
                |client, id| async move { client.requeue_write(&id, from).await },
                |i, res| progress(&ids[i], res.as_ref().map(|_| ())),
            )
            .await;
        let results: Vec<Result<()>> = written
            .into_iter()
            .map(|res| res.map(|(job, _)| wakes.job(&job, Duration::ZERO)))
            .collect();
        self.core.send(wakes).await;
        ids.iter().cloned().zip(results).collect()
    }

    /// Deletes many jobs, `concurrency` at a time (as [`Client::delete`]
    /// each); returns each job's result, in order.
    pub async fn delete_many(&self, ids: &[JobId], concurrency: usize) -> Vec<(JobId, Result<()>)> {
        self.delete_many_from(ids, None, concurrency).await
    }

    /// [`Client::delete_many`], of the jobs still in `from` if given.
    pub(crate) async fn delete_many_from(
        &self,
        ids: &[JobId],
        from: Option<State>,
        concurrency: usize,
    ) -> Vec<(JobId, Result<()>)> {
        let results = self
            .each(
                ids,
                concurrency,
                |client, id| async move { client.delete_from(&id, from).await.map(|_| ()) },
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

    async fn requeue_write(
        &self,
        id: &JobId,
        from: Option<State>,
    ) -> Result<(JobRecord, DateTime<Utc>)> {
        self.change(id, from, State::Enqueued, |job, now| {
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
        let (job, now) = self
            .change(id, None, State::Scheduled, |job, now| {
                let run_at = when.resolve(now);
                let mut ch = Change::scheduled(
                    HistoryEntry::new(
                        State::Scheduled,
                        now,
                        Some(format!(
                            "Rescheduled (was {}); due {}",
                            job.state,
                            crate::clock::fmt_time(run_at)
                        )),
                    ),
                    run_at,
                    now,
                );
                if !matches!(job.state, State::Enqueued | State::Scheduled) {
                    ch.attempt = AttemptChange::Reset;
                }
                ch
            })
            .await?;
        self.core.written(&job, now).await;
        Ok(job.run_at.expect("a Scheduled job has a due time"))
    }

    /// Deletes a job. A running job is not stopped, but its result is
    /// discarded and its handler can see the deletion
    /// ([`crate::JobContext::is_cancelled`]). Continuations waiting on it are
    /// settled as for any final state.
    pub async fn delete(&self, id: &JobId) -> Result<JobRecord> {
        self.delete_from(id, None).await
    }

    /// [`Client::delete`], of a job still in `from` if given.
    pub(crate) async fn delete_from(&self, id: &JobId, from: Option<State>) -> Result<JobRecord> {
        let (job, now) = self
            .change(id, from, State::Deleted, |job, now| {
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
        self.core.written(&job, now).await;
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
            .write(&job.id, &Expect::at(job), change, now)
            .await
        {
            Ok(_) => Ok(()),
            Err(WriteError::Condition(_)) => Err(Error::Conflict { id: job.id.clone() }),
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    /// Read, check the transition, write on the version read; again if the
    /// job changed in between. Returns the job as written and when.
    /// With `from`, only a job still in that state (one listed in it by a
    /// bulk action) is changed.
    async fn change(
        &self,
        id: &JobId,
        from: Option<State>,
        to: State,
        mut build: impl FnMut(&JobRecord, DateTime<Utc>) -> Change,
    ) -> Result<(JobRecord, DateTime<Utc>)> {
        for _ in 0..CONFLICT_RETRIES {
            let job = self.core.must_get(id).await?;
            if let Some(from) = from.filter(|f| *f != job.state) {
                return Err(Error::invalid(
                    "bulk action",
                    format!("{id} is {} now, no longer {from}: left as it is", job.state),
                ));
            }
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
                Ok(written) => return Ok((written, now)),
                Err(WriteError::Condition(_)) => continue,
                Err(WriteError::Other(e)) => return Err(e),
            }
        }
        Err(Error::Conflict { id: id.clone() })
    }
}
