//! Operations the client and the worker share: sending wake-ups after a write
//! and releasing continuations when a parent reaches a final state.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::job::{Continuation, HistoryEntry, JobId, JobRecord};
use crate::message::WakeUp;
use crate::queue::Queues;
use crate::state::State;
use crate::store::{Change, Expect, Extra, Store, WriteError};
use crate::timing::chrono_dur;

#[derive(Debug)]
pub(crate) struct Core {
    pub store: Store,
    pub queues: Queues,
    pub clock: SharedClock,
    pub config: Arc<Config>,
}

impl Core {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// When the timer should re-send an Enqueued job that has not started.
    pub fn enqueued_due(&self) -> chrono::DateTime<chrono::Utc> {
        self.now() + chrono_dur(self.config.grace)
    }

    /// Sends the wake-up for a job just written. The job is already safe in
    /// DynamoDB, so a failed send is logged, not returned: the timer re-sends
    /// it after the grace period (design invariant 4).
    pub async fn wake(&self, job: &JobRecord, delay: Duration) {
        let msg = WakeUp::for_job(job);
        if let Err(e) = self.queues.send(&job.options.queue, &msg, delay).await {
            tracing::warn!(
                job = %job.id,
                error = %crate::error::error_chain(&e),
                "wake-up not sent; the timer will re-send it after the grace period"
            );
        }
    }

    /// Releases the continuations of a parent that reached a final state:
    /// each goes Awaiting → Enqueued when its condition is met, else Awaiting
    /// → Deleted, which in turn settles its own continuations.
    pub async fn release(&self, parent: &JobId, parent_state: State, conts: Vec<Continuation>) {
        let mut work: Vec<(JobId, State, Vec<Continuation>)> =
            vec![(parent.clone(), parent_state, conts)];
        while let Some((parent, state, conts)) = work.pop() {
            for c in conts {
                let now = self.now();
                let expect = Expect {
                    version: None,
                    states: vec![State::Awaiting],
                    extra: Extra::None,
                    history: None,
                };
                let change = if c.on.is_met_by(state) {
                    let mut ch = Change::new(
                        State::Enqueued,
                        HistoryEntry::new(
                            State::Enqueued,
                            now,
                            Some(format!("Parent {parent} {state}")),
                        )
                        .with("parent", parent.as_str()),
                    );
                    ch.due_at = Some(self.enqueued_due());
                    ch
                } else {
                    Change::new(
                        State::Deleted,
                        HistoryEntry::new(
                            State::Deleted,
                            now,
                            Some(format!(
                                "Parent {parent} ended {state}; this continuation runs only when its parent Succeeded"
                            )),
                        )
                        .with("parent", parent.as_str()),
                    )
                };
                match self.store.apply(&c.id, &expect, change, now).await {
                    Ok(job) if job.state == State::Enqueued => {
                        self.wake(&job, Duration::ZERO).await
                    }
                    Ok(job) => {
                        if !job.continuations.is_empty() {
                            work.push((job.id.clone(), job.state, job.continuations.clone()));
                        }
                    }
                    // Already released, requeued or deleted by someone else.
                    Err(WriteError::Condition(_)) => {}
                    Err(WriteError::Other(e)) => tracing::error!(
                        parent = %parent,
                        continuation = %c.id,
                        error = %crate::error::error_chain(&e),
                        "continuation not released; the timer's repair will retry"
                    ),
                }
            }
        }
    }

    /// Reads a job or fails with NotFound.
    pub async fn must_get(&self, id: &JobId) -> Result<JobRecord> {
        self.store
            .get(id, self.now())
            .await?
            .ok_or_else(|| Error::NotFound { id: id.clone() })
    }
}
