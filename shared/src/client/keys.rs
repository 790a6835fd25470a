//! Creating a unique or debounced job (see [`crate::job::unique`]): its
//! key taken, or the job that holds it named (a debounced creation's
//! arguments and time handed to it).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Client;
use crate::error::{Error, Result};
use crate::job::unique::{Debounce, KEY_KEEP, Unique};
use crate::job::{HistoryEntry, JobId, JobRecord, NewJob};
use crate::state::State;
use crate::store::{Change, Expect, Extra, KeyHolder, WriteError, debounce_key, unique_key};
use crate::timing::chrono_dur;

/// How many times a creation tries to take a key that keeps changing hands.
const ROUNDS: usize = 8;

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
        let mut change = Change::scheduled(
            HistoryEntry::new(
                State::Scheduled,
                now,
                Some(format!(
                    "Debounced: a later creation replaced the arguments; due {}",
                    crate::clock::fmt_time(run_at)
                )),
            )
            .with("debounce", debounce.key.as_str()),
            run_at,
            now,
        );
        change.args = Some(record.args.clone());
        change.params = Some(record.params.clone());
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
    pub(crate) fn of(job: &NewJob) -> Option<Key> {
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
