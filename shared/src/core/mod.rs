//! What the client, the worker and the timer share: the clients and the
//! clock ([`Core`]), and the one path by which a write is followed by its
//! wake-up: write, release what a final state releases, then send; a send
//! that fails is left to the timer (design invariant 4).

mod continuations;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::{Error, Result, error_chain};
use crate::job::{JobId, JobRecord};
use crate::message::WakeUp;
use crate::queue::Queues;
use crate::state::State;
use crate::store::{Change, Expect, Store, WriteError};

pub(crate) use continuations::batch_settle;

#[derive(Debug)]
pub(crate) struct Core {
    pub store: Store,
    pub queues: Queues,
    pub clock: SharedClock,
    pub config: Arc<Config>,
}

/// Wake-ups to send once their jobs are written, by queue.
#[derive(Debug, Default)]
pub(crate) struct Wakes(BTreeMap<String, Vec<(WakeUp, Duration)>>);

impl Wakes {
    /// The wake-up of a job as written, sent after `delay`.
    pub fn job(&mut self, job: &JobRecord, delay: Duration) {
        self.message(job.options.queue.clone(), WakeUp::for_job(job), delay);
    }

    /// A wake-up to send to `queue` after `delay`.
    pub fn message(&mut self, queue: String, msg: WakeUp, delay: Duration) {
        self.0.entry(queue).or_default().push((msg, delay));
    }

    /// The wake-up a job written at `now` needs, if any: an Enqueued job's
    /// at once, a Scheduled job's handed to SQS at its due time (one beyond
    /// SQS's reach waits for the timer); none for the other states.
    pub fn written(&mut self, job: &JobRecord, now: DateTime<Utc>) {
        let delay = match job.state {
            State::Enqueued => Duration::ZERO,
            State::Scheduled if job.handed_off => job
                .run_at
                .map(|at| (at - now).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::ZERO),
            _ => return,
        };
        self.job(job, delay);
    }

    pub fn len(&self) -> usize {
        self.0.values().map(Vec::len).sum()
    }
}

impl Core {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Writes a change of a job on its condition, then does what follows
    /// the write (see [`Core::written`]).
    pub async fn write(
        &self,
        id: &JobId,
        expect: &Expect<'_>,
        change: Change,
        now: DateTime<Utc>,
    ) -> std::result::Result<JobRecord, WriteError> {
        let job = self.store.apply(id, expect, change, now).await?;
        self.written(&job, now).await;
        Ok(job)
    }

    /// What follows a job's write at `now`: the continuations (and a
    /// completed batch's) that a final state releases, then the wake-up
    /// its state needs.
    pub async fn written(&self, job: &JobRecord, now: DateTime<Utc>) {
        self.release(job).await;
        let mut wakes = Wakes::default();
        wakes.written(job, now);
        self.send(wakes).await;
    }

    /// Sends the wake-up of a job just written (see [`Core::send`]).
    pub async fn wake(&self, job: &JobRecord, delay: Duration) {
        let mut wakes = Wakes::default();
        wakes.job(job, delay);
        self.send(wakes).await;
    }

    /// Sends wake-ups whose jobs are written: every wake-up goes out here,
    /// one `SendMessage` for a lone one, else `SendMessageBatch` 10 at a
    /// time per queue. The jobs are already safe in DynamoDB, so a failed
    /// send is logged, not returned: the timer re-sends each after the
    /// grace period (design invariant 4). Returns how many were not sent.
    pub async fn send(&self, wakes: Wakes) -> usize {
        let mut unsent = 0;
        for (queue, msgs) in wakes.0 {
            let res = match msgs.as_slice() {
                [(msg, delay)] => self.queues.send(&queue, msg, *delay).await.map(|()| 0),
                _ => self
                    .queues
                    .send_batch(&queue, &msgs)
                    .await
                    .map(|failed| failed.len()),
            };
            let failed = match res {
                Ok(0) => continue,
                Ok(n) => {
                    tracing::warn!(
                        queue,
                        unsent = n,
                        "wake-ups not sent; the timer re-sends them after the grace period"
                    );
                    n
                }
                Err(e) => {
                    let job = (msgs.len() == 1).then(|| msgs[0].0.job.to_string());
                    tracing::warn!(queue, unsent = msgs.len(), job, error = %error_chain(&e), "wake-ups not sent; the timer re-sends them after the grace period");
                    msgs.len()
                }
            };
            unsent += failed;
        }
        unsent
    }

    /// Wakes the jobs parked on `queue` (see [`crate::store::Store::park`]):
    /// each is moved back to the Active bucket, then its wake-up is sent
    /// . Returns how many were woken. A job
    /// unparked whose send fails is re-sent by the timer after the grace
    /// period, like any Enqueued job.
    pub async fn wake_parked(&self, queue: &str) -> Result<usize> {
        let mut woken = 0;
        for shard in 0..self.store.shards() {
            let mut start = None;
            loop {
                let (entries, next) = self.store.parked_page(shard, start).await?;
                let mut wakes = Wakes::default();
                for entry in entries.iter().filter(|e| e.queue == queue) {
                    if let Some(job) = self.store.unpark(&entry.id, self.now()).await? {
                        wakes.job(&job, Duration::ZERO);
                    }
                }
                woken += wakes.len();
                self.send(wakes).await;
                start = next;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(woken)
    }

    /// Reads a job or fails with NotFound.
    pub async fn must_get(&self, id: &JobId) -> Result<JobRecord> {
        self.store
            .get(id, self.now())
            .await?
            .ok_or_else(|| Error::NotFound { id: id.clone() })
    }
}
