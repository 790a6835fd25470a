//! Pausing and resuming a queue.

use super::Client;
use crate::error::Result;
use crate::store::QueueControl;

impl Client {
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
}
