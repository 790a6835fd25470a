//! Unique and debounced jobs: at most one pending job per key.
//!
//! - [`NewJob::unique`](crate::NewJob::unique): while a job created with the
//!   key is pending (or, if the caller chooses, until it finishes), creating
//!   another creates nothing and returns the existing job's id.
//! - [`NewJob::debounce`](crate::NewJob::debounce): the job runs `wait`
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

use chrono::{DateTime, Utc};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::job::{HistoryEntry, JobId, JobRecord};
use crate::state::State;
use crate::store::{
    AttemptChange, Change, Expect, Extra, KeyHolder, WriteError, debounce_key, unique_key,
};
use crate::timing::{self, chrono_dur};

/// How long a key item outlives the due time of the job it names: a job
/// still pending that long after it was due no longer holds its key.
pub const KEY_KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

/// The longest a debounced job may be pushed back: SQS's delay is not
/// needed, the timer hands it off, but a debounce is for bursts.
pub const MAX_DEBOUNCE: Duration = Duration::from_secs(24 * 3600);

/// How many times a creation tries to take a key that keeps changing hands.
const ROUNDS: usize = 8;

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
        crate::job::validate_limit_key("debounce key", &self.key)?;
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
pub(crate) fn validate(job: &crate::NewJob) -> Result<()> {
    if let Some(u) = &job.unique {
        crate::job::validate_limit_key("unique key", &u.key)?;
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
pub(crate) fn refuse(job: &crate::NewJob, what: &'static str) -> Result<()> {
    if job.unique.is_some() || job.debounce.is_some() {
        return Err(Error::invalid(
            what,
            "cannot be unique or debounced: only enqueue and schedule take a key",
        ));
    }
    Ok(())
}

/// What a unique or debounced creation found.
pub(crate) enum Keyed {
    /// The key is this job's now: create it.
    Create,
    /// Another job holds the key (and, debounced, took this creation's
    /// arguments): its id.
    Existing(JobId),
}

impl Client {
    /// Takes `unique`'s key for the job `record`, or names the job that
    /// holds it.
    async fn hold_unique(&self, unique: &Unique, record: &JobRecord) -> Result<Keyed> {
        let pk = unique_key(&unique.key);
        let now = self.core.now();
        let expires = record.run_at.unwrap_or(now).max(now) + chrono_dur(KEY_KEEP);
        let mut replacing: Option<JobId> = None;
        for _ in 0..ROUNDS {
            let holder = match self.try_take(&pk, record, &replacing, now, expires).await? {
                Took::Ours => return Ok(Keyed::Create),
                Took::Again => {
                    replacing = None;
                    continue;
                }
                Took::Held(h) => h,
            };
            match self.core.store.get(&holder.job, now).await? {
                Some(job) if unique.until.holds(job.state) => {
                    return Ok(Keyed::Existing(holder.job));
                }
                None if self.being_created(&holder, now) => {
                    return Ok(Keyed::Existing(holder.job));
                }
                _ => replacing = Some(holder.job),
            }
        }
        Err(Error::Conflict {
            id: record.id.clone(),
        })
    }

    /// Takes `debounce`'s key for the job `record` (Scheduled `wait` from
    /// now), or hands this creation's arguments and time to the pending
    /// job that holds it.
    async fn hold_debounce(&self, debounce: &Debounce, record: &JobRecord) -> Result<Keyed> {
        let pk = debounce_key(&debounce.key);
        let mut replacing: Option<JobId> = None;
        for round in 0..ROUNDS {
            let now = self.core.now();
            let expires = now + chrono_dur(debounce.max_wait + KEY_KEEP);
            let holder = match self.try_take(&pk, record, &replacing, now, expires).await? {
                Took::Ours => return Ok(Keyed::Create),
                Took::Again => {
                    replacing = None;
                    continue;
                }
                Took::Held(h) => h,
            };
            match self.push_back(debounce, &holder, record, now).await? {
                Pushed::Joined => return Ok(Keyed::Existing(holder.job)),
                // Its creation is under way: its job appears in a moment.
                Pushed::Missing if self.being_created(&holder, now) => {
                    tokio::time::sleep(Duration::from_millis(20 << round.min(5))).await;
                    replacing = None;
                }
                Pushed::Changed => replacing = None,
                Pushed::Missing | Pushed::Started => replacing = Some(holder.job),
            }
        }
        Err(Error::Conflict {
            id: record.id.clone(),
        })
    }

    /// One try at a key item for `record`: the key is its job's now, or
    /// the holder found (the item unreadable: try again).
    async fn try_take(
        &self,
        pk: &str,
        record: &JobRecord,
        replacing: &Option<JobId>,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<Took> {
        let taken = (self.core.store)
            .take_key(pk.to_owned(), &record.id, replacing.as_ref(), now, expires)
            .await?;
        Ok(match taken {
            Ok(()) => Took::Ours,
            // This very creation, tried again: carry on with it.
            Err(Some(h)) if h.job == record.id => Took::Ours,
            Err(Some(h)) => Took::Held(h),
            Err(None) => Took::Again,
        })
    }

    /// Takes the key of a unique or debounced job, if it has one (see
    /// [`Client::hold_unique`], [`Client::hold_debounce`]).
    pub(crate) async fn hold(&self, key: Option<&Key>, record: &JobRecord) -> Result<Keyed> {
        match key {
            None => Ok(Keyed::Create),
            Some(Key::Unique(u)) => self.hold_unique(u, record).await,
            Some(Key::Debounce(d)) => self.hold_debounce(d, record).await,
        }
    }

    /// A key's holder that does not exist (yet): within the grace period
    /// its creation is taken to be under way.
    fn being_created(&self, holder: &KeyHolder, now: DateTime<Utc>) -> bool {
        now - holder.since < chrono_dur(self.core.config.grace)
    }

    /// Gives the holder of a debounce key this creation's arguments and
    /// parameters, and its due time `wait` from now (at most `max_wait`
    /// after the holder took the key), if it has not started.
    async fn push_back(
        &self,
        debounce: &Debounce,
        holder: &KeyHolder,
        record: &JobRecord,
        now: DateTime<Utc>,
    ) -> Result<Pushed> {
        // Read first: the write is conditional on the version seen, and the
        // history of a job pushed back many times is compacted.
        let Some(job) = self.core.store.get(&holder.job, now).await? else {
            return Ok(Pushed::Missing);
        };
        if job.state != State::Scheduled || job.attempt != 0 {
            return Ok(Pushed::Started);
        }
        let expect = Expect {
            extra: Extra::NeverRun,
            ..Expect::at(&job)
        };
        let latest = holder.since + chrono_dur(debounce.max_wait);
        let run_at = (now + chrono_dur(debounce.wait)).min(latest).max(now);
        let handed_off = timing::send_delay(now, run_at).is_some();
        let mut change = Change::new(
            State::Scheduled,
            HistoryEntry::new(
                State::Scheduled,
                now,
                Some(format!(
                    "Debounced: a later creation replaced the arguments; due {}",
                    crate::clock::fmt_time(run_at)
                )),
            )
            .due(run_at)
            .with("debounce", debounce.key.as_str()),
        );
        change.run_at = Some((run_at, handed_off));
        change.args = Some(record.args.clone());
        change.params = Some(record.params.clone());
        change.attempt = AttemptChange::Keep;
        match self
            .core
            .store
            .apply(&holder.job, &expect, change, now)
            .await
        {
            Ok(job) => {
                self.core.written(&job, now).await;
                Ok(Pushed::Joined)
            }
            Err(WriteError::Condition(None)) => Ok(Pushed::Missing),
            Err(WriteError::Condition(Some(_))) => Ok(Pushed::Changed),
            Err(WriteError::Other(e)) => Err(e),
        }
    }
}

enum Took {
    Ours,
    Again,
    Held(KeyHolder),
}

/// A job's unique or debounce key.
pub(crate) enum Key {
    Unique(Unique),
    Debounce(Debounce),
}

impl Key {
    pub(crate) fn of(job: &crate::NewJob) -> Option<Key> {
        (job.unique.clone().map(Key::Unique)).or_else(|| job.debounce.clone().map(Key::Debounce))
    }
}

enum Pushed {
    /// The pending job took the arguments and the later time.
    Joined,
    /// No such job (yet).
    Missing,
    /// The job has started (or ended, or was moved): it keeps the key no more.
    Started,
    /// The job changed since it was read (another creation joined it).
    Changed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewJob;

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
