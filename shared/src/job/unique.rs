//! Unique and debounced jobs: at most one pending job per key.
//!
//! - [`NewJob::unique`](super::NewJob::unique): while a job created with the
//!   key is pending (or, if the caller chooses, until it finishes), creating
//!   another creates nothing and returns the existing job's id.
//! - [`NewJob::debounce`](super::NewJob::debounce): the job runs `wait`
//!   after the latest creation with its key; a creation within that time
//!   replaces the pending job's arguments (the latest wins) and pushes its
//!   start back, never past `max_wait` after the first. One run.
//!
//! One small item per key (`unique#<key>`, `debounce#<key>`) names the job
//! that holds the key. It is a pointer, not a lock: whether that job still
//! holds the key is read from the job's own state, so a crash between the
//! key's write and the job's, or a job that ends, deleted or expired,
//! without anyone releasing the key, leaves nothing held. The next creation
//! finds the holder done (or missing for longer than the grace period) and
//! takes the key over with a write conditional on the holder it saw.
//!
//! Cost, for jobs that use it (others pay nothing): one more write (1 unit)
//! at creation; a refused duplicate pays that write's refusal and one read,
//! and writes no job; a debounced creation that joins the pending job
//! writes the job (its arguments and due time) instead of a new one.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::state::State;

/// How long a key item outlives the due time of the job it names: a job
/// still pending that long after it was due no longer holds its key.
pub const KEY_KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

/// The longest a debounced job may be pushed back: SQS's delay is not
/// needed, the timer hands it off, but a debounce is for bursts.
pub const MAX_DEBOUNCE: Duration = Duration::from_secs(24 * 3600);

/// Until when a unique job holds its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UniqueUntil {
    /// While it waits to run (Scheduled, Enqueued or Awaiting; a retry
    /// waits again): a job of the key may be created once it has started.
    #[default]
    Started,
    /// Until it Succeeded, Failed or was Deleted.
    Finished,
}

impl UniqueUntil {
    /// Whether a job in `state` holds its key.
    pub fn holds(self, state: State) -> bool {
        match self {
            UniqueUntil::Started => {
                matches!(state, State::Scheduled | State::Enqueued | State::Awaiting)
            }
            UniqueUntil::Finished => matches!(
                state,
                State::Scheduled | State::Enqueued | State::Awaiting | State::Processing
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UniqueUntil::Started => "started",
            UniqueUntil::Finished => "finished",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "started" => Ok(UniqueUntil::Started),
            "finished" => Ok(UniqueUntil::Finished),
            other => Err(Error::invalid(
                "unique until",
                format!("{other:?} (use \"started\" or \"finished\")"),
            )),
        }
    }
}

/// A unique job's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unique {
    pub key: String,
    pub until: UniqueUntil,
}

/// A debounced job's key and times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debounce {
    pub key: String,
    /// The job runs this long after the latest creation with the key.
    pub wait: Duration,
    /// ...but no later than this long after the first.
    pub max_wait: Duration,
}

impl Debounce {
    pub(crate) fn validate(&self) -> Result<()> {
        super::validate_limit_key("debounce key", &self.key)?;
        if self.wait.is_zero() || self.max_wait < self.wait || self.max_wait > MAX_DEBOUNCE {
            return Err(Error::invalid(
                "debounce",
                format!(
                    "wait {}s, max_wait {}s (need 0 < wait <= max_wait <= {}s)",
                    self.wait.as_secs_f64(),
                    self.max_wait.as_secs_f64(),
                    MAX_DEBOUNCE.as_secs()
                ),
            ));
        }
        Ok(())
    }
}

/// Checks a job's unique or debounce key.
pub(crate) fn validate(job: &super::NewJob) -> Result<()> {
    if let Some(u) = &job.unique {
        super::validate_limit_key("unique key", &u.key)?;
    }
    if let Some(d) = &job.debounce {
        d.validate()?;
        if job.unique.is_some() {
            return Err(Error::invalid(
                "debounce",
                "a job is unique or debounced, not both (a debounced job is one pending job per key already)",
            ));
        }
    }
    Ok(())
}

/// Refuses a unique or debounced job where it cannot be one: `what`, a
/// batch's job, a continuation or `enqueue_many` (they are written
/// together, without a key's check).
pub(crate) fn refuse(job: &super::NewJob, what: &'static str) -> Result<()> {
    if job.unique.is_some() || job.debounce.is_some() {
        return Err(Error::invalid(
            what,
            "cannot be unique or debounced: only enqueue and schedule take a key",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::NewJob;

    #[test]
    fn which_states_hold_a_key() {
        for state in [State::Scheduled, State::Enqueued, State::Awaiting] {
            assert!(UniqueUntil::Started.holds(state) && UniqueUntil::Finished.holds(state));
        }
        assert!(!UniqueUntil::Started.holds(State::Processing));
        assert!(UniqueUntil::Finished.holds(State::Processing));
        for state in [State::Succeeded, State::Failed, State::Deleted] {
            assert!(!UniqueUntil::Started.holds(state) && !UniqueUntil::Finished.holds(state));
        }
    }

    #[test]
    fn bad_keys_and_times_are_refused() {
        let job = || NewJob::new("k", serde_json::json!({}));
        let secs = Duration::from_secs;
        assert!(
            job()
                .unique("a b", UniqueUntil::Started)
                .validate()
                .is_err()
        );
        assert!(job().unique("", UniqueUntil::Started).validate().is_err());
        assert!(
            job()
                .unique("customer:42", UniqueUntil::Started)
                .validate()
                .is_ok()
        );
        assert!(job().debounce("k", secs(0), secs(5)).validate().is_err());
        assert!(job().debounce("k", secs(10), secs(5)).validate().is_err());
        assert!(
            job()
                .debounce("k", secs(10), MAX_DEBOUNCE + secs(1))
                .validate()
                .is_err()
        );
        assert!(job().debounce("k", secs(10), secs(10)).validate().is_ok());
        let both = job()
            .unique("k", UniqueUntil::Started)
            .debounce("k", secs(1), secs(2));
        assert!(both.validate().is_err());
        assert!(UniqueUntil::parse("done").is_err());
        assert_eq!(
            UniqueUntil::parse("finished").unwrap(),
            UniqueUntil::Finished
        );
    }
}
