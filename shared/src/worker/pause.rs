//! Paused queues as a worker meets them: the queue's control read at most
//! every [`PAUSE_CHECK`], and a job whose wake-up arrives meanwhile parked.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Outcome, Worker};
use crate::error::error_chain;
use crate::message::WakeUp;
use crate::store::{Held, Hold};
use crate::timing::{EARLY_TOLERANCE, chrono_dur};

/// How long a worker trusts a reading of "running" from its queue's
/// control: a paused queue starts no job more than this long (and an
/// eventually consistent read's staleness) after the pause.
pub const PAUSE_CHECK: Duration = Duration::from_secs(5);

/// How long a worker trusts a reading of "paused": a job it parks was
/// parked at most this long after the reading, which an eventually
/// consistent read may make up to a second stale (the timer wakes a job
/// parked after the resume at its next tick). Shorter than
/// [`PAUSE_CHECK`] because a park strands a job until that tick where a
/// stale "running" only runs one a little late; during a pause it costs
/// a worker at most one read a second.
pub const PAUSED_TRUST: Duration = Duration::from_secs(1);

/// Queue → (when read, paused).
pub(super) type PauseCache = HashMap<String, (DateTime<Utc>, bool)>;

impl Worker {
    /// Whether `queue` is paused, as last read (at most [`PAUSE_CHECK`]
    /// ago, or [`PAUSED_TRUST`] if it was paused; one eventually
    /// consistent read per queue per interval). If the
    /// control cannot be read the queue is taken as running: the claim that
    /// follows is conditional like any other, and a job never waits on a
    /// read error.
    pub(super) async fn paused(&self, queue: &str) -> bool {
        let now = self.core.now();
        // Held across the read, so that the messages of a batch, handled at
        // once, make one read between them rather than one each.
        let mut cache = self.pauses.lock().await;
        if let Some((at, paused)) = cache.get(queue)
            && now - *at < chrono_dur(if *paused { PAUSED_TRUST } else { PAUSE_CHECK })
        {
            return *paused;
        }
        let paused = match self.core.store.queue_controls(&[queue.to_owned()]).await {
            Ok(controls) => controls.first().is_some_and(|c| c.paused),
            Err(e) => {
                tracing::warn!(queue, error = %error_chain(&e), "queue control not read; taken as running");
                false
            }
        };
        cache.insert(queue.to_owned(), (now, paused));
        paused
    }

    /// Parks the job of a wake-up that arrived while its queue is paused.
    pub(super) async fn park(&self, w: &WakeUp) -> Outcome {
        let now = self.core.now();
        for held in Held::either(w.v, w.state, now + chrono_dur(EARLY_TOLERANCE)) {
            match self.core.store.park(&w.job, held, now).await {
                Ok(Hold::Held) => {
                    tracing::info!(job = %w.job, "queue paused; job parked until it is resumed");
                    return Outcome::Parked;
                }
                Ok(Hold::AlreadyHeld) => {
                    tracing::debug!(job = %w.job, "queue paused; job already parked");
                    return Outcome::Parked;
                }
                Ok(Hold::Stale) => {}
                Err(e) => return Outcome::Retry(error_chain(&e)),
            }
        }
        Outcome::Dropped("queue paused, and the job is no longer waiting at this version".into())
    }
}
