//! Operations the client, the worker and the timer share: sending wake-ups
//! after a write and releasing continuations when a parent reaches a final
//! state.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::job::{Continuation, HistoryEntry, JobId, JobRecord};
use crate::message::WakeUp;
use crate::queue::Queues;
use crate::state::State;
use crate::store::{Change, Expect, Store, WriteError};
use chrono::{DateTime, Utc};

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

    /// Wakes the jobs parked on `queue` (see [`crate::store::Store::park`]):
    /// each is moved back to the Active bucket, then its wake-up is sent
    /// (10 per `SendMessageBatch`). Returns how many were woken. A job
    /// unparked whose send fails is re-sent by the timer after the grace
    /// period, like any Enqueued job.
    pub async fn wake_parked(&self, queue: &str) -> Result<usize> {
        let mut woken = 0;
        for shard in 0..self.store.shards() {
            let mut start = None;
            loop {
                let (entries, next) = self.store.parked_page(shard, start).await?;
                let mut msgs = Vec::new();
                for entry in entries.iter().filter(|e| e.queue == queue) {
                    if let Some(job) = self.store.unpark(&entry.id, self.now()).await? {
                        msgs.push((WakeUp::for_job(&job), Duration::ZERO));
                    }
                }
                woken += msgs.len();
                if !msgs.is_empty() {
                    match self.queues.send_batch(queue, &msgs).await {
                        Ok(failed) if failed.is_empty() => {}
                        Ok(failed) => tracing::warn!(
                            queue,
                            unsent = failed.len(),
                            "wake-ups of unparked jobs not sent; the timer re-sends them"
                        ),
                        Err(e) => tracing::warn!(
                            queue,
                            error = %crate::error::error_chain(&e),
                            "wake-ups of unparked jobs not sent; the timer re-sends them"
                        ),
                    }
                }
                start = next;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(woken)
    }

    /// Wakes up to as many jobs waiting on a concurrency key as it has
    /// free slots, oldest first (each is moved back to the Active bucket,
    /// then its wake-up sent; it takes a slot like any arrival). Keeps the
    /// timer looking at the key while jobs still wait. Returns how many were
    /// woken.
    pub async fn wake_waiters(&self, key: &str, state: &crate::store::SlotState) -> Result<usize> {
        if state.waiting == 0 {
            return Ok(0);
        }
        let now = self.now();
        let look = now + crate::timing::chrono_dur(crate::worker::SLOT_RECHECK);
        if let Some(next) = state.next {
            return self.wake_next_in_order(key, state, next, look).await;
        }
        let free = (state.limit as usize).saturating_sub(state.live.len());
        let mut woken = 0;
        if free > 0 {
            let listed = self.store.waiters(key, free).await?;
            if listed.is_empty() {
                // Nobody listed: the count drifted (a waiting job deleted),
                // or a job is being listed right now; the conditional clear
                // keeps the count if one joined since it was read.
                self.store.clear_waiting(key, state.waiting).await?;
                return Ok(0);
            }
            for (id, _) in &listed {
                if let Some(job) = self.store.stop_waiting(id, now).await? {
                    woken += 1;
                    self.wake(&job, Duration::ZERO).await;
                }
            }
        }
        self.store
            .adjust_waiting(key, -(woken as i64), look)
            .await?;
        Ok(woken)
    }

    /// An ordering key's waiting jobs: the one numbered `next` may start
    /// when no run holds the key. If the lowest waiting number is past
    /// `next` and `next` has not moved for the grace period, the job
    /// numbered `next` is taken as missing (its creation cut short, or
    /// deleted before it ran) and skipped.
    async fn wake_next_in_order(
        &self,
        key: &str,
        state: &crate::store::SlotState,
        next: u64,
        look: DateTime<Utc>,
    ) -> Result<usize> {
        let now = self.now();
        if !state.live.is_empty() {
            self.store.adjust_waiting(key, 0, look).await?;
            return Ok(0);
        }
        let Some((id, seq)) = self.store.waiters(key, 1).await?.into_iter().next() else {
            self.store.clear_waiting(key, state.waiting).await?;
            return Ok(0);
        };
        let seq = seq.max(0) as u64;
        if seq > next {
            let stuck = state
                .next_since
                .is_some_and(|t| now - t > crate::timing::chrono_dur(self.config.grace));
            if !stuck {
                self.store.adjust_waiting(key, 0, look).await?;
                return Ok(0);
            }
            tracing::warn!(
                key,
                missing = next,
                skip_to = seq,
                "ordered job missing past the grace period; skipped"
            );
            self.store.skip_to(key, next, seq, now).await?;
        }
        let mut woken = 0;
        if let Some(job) = self.store.stop_waiting(&id, now).await? {
            woken = 1;
            self.wake(&job, Duration::ZERO).await;
        }
        self.store
            .adjust_waiting(key, -(woken as i64), look)
            .await?;
        Ok(woken)
    }

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
    pub async fn release(&self, parent: &JobRecord) -> bool {
        if !parent.state.is_final() || parent.continuations.is_empty() {
            return true;
        }
        let mut all_settled = true;
        let mut work: Vec<JobRecord> = vec![parent.clone()];
        while let Some(p) = work.pop() {
            let mut settled = true;
            for c in &p.continuations {
                let now = self.now();
                let expect = Expect::in_states(&[State::Awaiting]);
                match self
                    .store
                    .apply(&c.id, &expect, self.settle(&p, c, now), now)
                    .await
                {
                    Ok(job) if job.state == State::Enqueued => {
                        self.wake(&job, Duration::ZERO).await
                    }
                    Ok(job) => {
                        if !job.continuations.is_empty() {
                            work.push(job);
                        }
                    }
                    // Already released, requeued or deleted by someone else.
                    Err(WriteError::Condition(_)) => {}
                    Err(WriteError::Other(e)) => {
                        settled = false;
                        tracing::error!(
                            parent = %p.id,
                            continuation = %c.id,
                            error = %crate::error::error_chain(&e),
                            "continuation not released; the timer retries after the grace period"
                        );
                    }
                }
            }
            if settled && let Err(e) = self.store.released(&p).await {
                // Harmless: the timer finds nothing left to release.
                tracing::warn!(job = %p.id, error = %crate::error::error_chain(&e), "released continuations, but the job stays due");
            }
            all_settled &= settled;
        }
        all_settled
    }

    /// The change that settles continuation `c` of `parent`.
    fn settle(&self, parent: &JobRecord, c: &Continuation, now: DateTime<Utc>) -> Change {
        let (id, state) = (&parent.id, parent.state);
        if c.on.is_met_by(state) {
            Change::new(
                State::Enqueued,
                HistoryEntry::new(State::Enqueued, now, Some(format!("Parent {id} {state}")))
                    .with("parent", id.as_str()),
            )
        } else {
            Change::new(
                State::Deleted,
                HistoryEntry::new(
                    State::Deleted,
                    now,
                    Some(format!(
                        "Parent {id} ended {state}; this continuation runs only when its parent Succeeded"
                    )),
                )
                .with("parent", id.as_str()),
            )
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
