//! Queue controls (paused or not) and the jobs parked while their queue is
//! paused.
//!
//! A queue's control is one item, `pk = "queue#<name>"`, outside the index.
//! A job whose wake-up arrives while its queue is paused is parked: one
//! `UpdateItem` moves its index entry to the Parked bucket (no state change,
//! no new version) and its message is acknowledged, so a paused queue costs
//! one write per waiting job, once, and no message goes round. Resuming
//! moves each parked job of the queue back to Active and sends its wake-up
//! again (write first, then send: design invariant 4).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::expr::Expr;
use super::item::{Item, get_ms, get_n, get_s, ms, n, parse_job, s};
use super::schema::{Bucket, attr, job_key, shard_of};
use super::{SERVICE, Store, is_condition_failed, is_write_conflict, send_through_conflicts};
use crate::error::{Error, Result};
use crate::job::{JobId, JobRecord};
use crate::state::State;
use crate::timing::chrono_dur;

/// Whether a queue starts jobs, as its control item says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueControl {
    /// The Hangar queue name.
    pub name: String,
    /// Paused: its jobs are parked instead of started.
    pub paused: bool,
    /// When it was last paused.
    pub paused_at: Option<DateTime<Utc>>,
    /// When it was last resumed.
    pub resumed_at: Option<DateTime<Utc>>,
    /// Resumed, and its parked jobs are still being woken (the timer keeps
    /// waking any it finds until a quiet period after the resume has
    /// passed).
    pub draining: bool,
}

impl QueueControl {
    fn unset(name: &str) -> Self {
        QueueControl {
            name: name.to_owned(),
            paused: false,
            paused_at: None,
            resumed_at: None,
            draining: false,
        }
    }
}

pub(crate) fn queue_key(name: &str) -> String {
    format!("queue#{name}")
}

fn parse_control(name: &str, item: &Item) -> QueueControl {
    let flag = |k: &str| matches!(item.get(k), Some(AttributeValue::Bool(true)));
    QueueControl {
        name: name.to_owned(),
        paused: flag(attr::PAUSED),
        paused_at: get_ms(item, attr::PAUSED_AT),
        resumed_at: get_ms(item, attr::RESUMED_AT),
        draining: flag(attr::DRAINING),
    }
}

/// What a hold of a job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Moved where it was asked to go (or found there, the request made
    /// again after a lost answer).
    Held,
    /// Already there, at the wake-up's version: held by an earlier
    /// delivery of the same wake-up.
    AlreadyHeld,
    /// The job is no longer as the wake-up said.
    Stale,
}

/// What a wake-up found a held job at: its version and state, and the
/// time a Scheduled job must be due by.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    /// The wake-up's version.
    pub version: u64,
    /// The state expected (Enqueued, or Scheduled and due).
    pub state: State,
    /// A Scheduled job's due time must be at or before this.
    pub due_by: DateTime<Utc>,
}

impl Held {
    /// Where a wake-up's job (at `version`, hinted in `hinted`) may be found
    /// while it is held without a worker (parked, or waiting for a slot):
    /// the hinted state first, then the other, as the claim tries them; a
    /// Scheduled job must be due by `due_by`.
    pub fn either(version: u64, hinted: Option<State>, due_by: DateTime<Utc>) -> [Held; 2] {
        let hinted = hinted.unwrap_or(State::Enqueued);
        let other = if hinted == State::Scheduled {
            State::Enqueued
        } else {
            State::Scheduled
        };
        [hinted, other].map(|state| Held {
            version,
            state,
            due_by,
        })
    }
}

/// A parked job, as its index entry names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedEntry {
    /// The job.
    pub id: JobId,
    /// Its queue (projected on the index).
    pub queue: String,
}

impl Store {
    /// The controls of these queues (one `BatchGetItem`, eventually
    /// consistent); a queue never paused has no item and comes back unset.
    pub async fn queue_controls(&self, names: &[String]) -> Result<Vec<QueueControl>> {
        let keys: Vec<String> = names.iter().map(|q| queue_key(q)).collect();
        let items = self.get_items(&keys, false).await?;
        Ok(names
            .iter()
            .map(|name| {
                let key = queue_key(name);
                items
                    .iter()
                    .find(|i| get_s(i, attr::PK) == Some(key.as_str()))
                    .map(|i| parse_control(name, i))
                    .unwrap_or_else(|| QueueControl::unset(name))
            })
            .collect())
    }

    /// Pauses or resumes a queue; returns its control as written. A resume
    /// marks the queue draining (see [`QueueControl::draining`]).
    pub async fn set_paused(
        &self,
        name: &str,
        paused: bool,
        now: DateTime<Utc>,
    ) -> Result<QueueControl> {
        let mut e = Expr::default();
        e.set(attr::PAUSED, AttributeValue::Bool(paused));
        e.set(attr::UPDATED, ms(now));
        if paused {
            e.set(attr::PAUSED_AT, ms(now));
            e.remove(attr::DRAINING);
        } else {
            e.set(attr::RESUMED_AT, ms(now));
            e.set(attr::DRAINING, AttributeValue::Bool(true));
        }
        let item = self
            .update_returning(queue_key(name), e)
            .await?
            .unwrap_or_default();
        Ok(parse_control(name, &item))
    }

    /// Ends a queue's draining, if it was not paused or resumed again since
    /// the resume at `resumed_at`.
    pub async fn drained(&self, name: &str, resumed_at: DateTime<Utc>) -> Result<bool> {
        let mut e = Expr::default();
        e.remove(attr::DRAINING);
        e.cond_eq(attr::PAUSED, AttributeValue::Bool(false));
        e.cond_eq(attr::RESUMED_AT, ms(resumed_at));
        self.update(queue_key(name), e).await
    }

    /// Parks a job whose wake-up arrived while its queue is paused: its
    /// index entry moves to the Parked bucket, ordered by the time it was
    /// parked. Not a state change.
    pub async fn park(&self, id: &JobId, held: Held, now: DateTime<Utc>) -> Result<Hold> {
        let place = (
            Bucket::Parked.key(shard_of(id.as_str(), self.shards)),
            crate::clock::to_millis(now),
        );
        self.hold(id, held, place, attr::PARKED, ms(now), now).await
    }

    /// One page of parked jobs (any queue), oldest parked first, and where
    /// the next page starts.
    pub async fn parked_page(
        &self,
        shard: u32,
        start: Option<Item>,
    ) -> Result<(Vec<ParkedEntry>, Option<Item>)> {
        let out = self
            .bucket_query(Bucket::Parked, shard)
            .limit(100)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "Query", e))?;
        let entries = out
            .items()
            .iter()
            .filter_map(|i| {
                let id = get_s(i, attr::PK)?.strip_prefix("job#")?;
                Some(ParkedEntry {
                    id: JobId::parse(id).ok()?,
                    queue: get_s(i, attr::QUEUE)?.to_owned(),
                })
            })
            .collect();
        Ok((entries, out.last_evaluated_key))
    }

    /// Moves a parked job back to the Active bucket (the timer watches it
    /// again from here) and returns it, for its wake-up to be sent. None if
    /// it is no longer parked (woken by someone else, or its state changed).
    pub async fn unpark(&self, id: &JobId, now: DateTime<Utc>) -> Result<Option<JobRecord>> {
        self.unhold(id, attr::PARKED, now).await
    }

    /// Moves a job that waits without a worker (parked, or waiting for a
    /// slot) off the Active bucket to `place` (partition, sort key) and
    /// marks it (`mark` = `value`, the other hold's mark taken off): not a
    /// state change, no new version. The wake-up's version and state must
    /// still hold (a Scheduled job must also be handed off and due by
    /// `due_by`), and a job already in `place`'s partition stays where it
    /// is: a second wake-up of it (a duplicate) finds it
    /// [`Hold::AlreadyHeld`], while the same request made again after a
    /// lost answer (the same place) passes.
    pub(super) async fn hold(
        &self,
        id: &JobId,
        held: Held,
        place: (String, i64),
        mark: &str,
        value: aws_sdk_dynamodb::types::AttributeValue,
        now: DateTime<Utc>,
    ) -> Result<Hold> {
        let mut e = Expr::default();
        e.set(attr::BUCKET, s(place.0.clone()));
        e.set(attr::BUCKET_AT, n(place.1));
        e.set(mark, value);
        e.remove(if mark == attr::PARKED {
            attr::WAITS
        } else {
            attr::PARKED
        });
        e.cond_live(now);
        e.cond_eq(attr::VERSION, n(held.version));
        e.cond_eq(attr::STATE, s(held.state.as_str()));
        if held.state == State::Scheduled {
            let (run_at, handed) = (e.n(attr::RUN_AT), e.n(attr::HANDED_OFF));
            let by = e.v("due_by", ms(held.due_by));
            e.cond(format!("{run_at} <= {by} AND attribute_exists({handed})"));
        }
        let (b, at) = (e.n(attr::BUCKET), e.n(attr::BUCKET_AT));
        let there = e.v("place", s(place.0.clone()));
        let there_at = e.v("place_at", n(place.1));
        e.cond(format!("({b} <> {there} OR {at} = {there_at})"));
        let request = self
            .update_request(job_key(id), &e)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let res = send_through_conflicts(|| request.clone().send(), is_write_conflict).await;
        Ok(match super::condition_outcome(res)? {
            Ok(_) => Hold::Held,
            Err(Some(old))
                if get_s(&old, attr::BUCKET) == Some(place.0.as_str())
                    && get_n::<u64>(&old, attr::VERSION) == Some(held.version) =>
            {
                Hold::AlreadyHeld
            }
            Err(_) => Hold::Stale,
        })
    }

    /// Takes a held job's `mark` off and moves it back to the Active bucket
    /// (watched by the timer again), returning it for its wake-up. None if
    /// it was no longer held so (another waker took it).
    pub(super) async fn unhold(
        &self,
        id: &JobId,
        mark: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<JobRecord>> {
        let mut e = Expr::default();
        let back = Bucket::Active.key(shard_of(id.as_str(), self.shards));
        // The timer's look a grace period ahead, give or take up to a
        // second: two wakers in one millisecond write different times.
        let jitter = chrono::Duration::milliseconds(crate::entropy::up_to(999) as i64);
        let back_at = ms(now + chrono_dur(self.grace) + jitter);
        e.set(attr::BUCKET, s(back.clone()));
        e.set(attr::BUCKET_AT, back_at.clone());
        e.remove(mark);
        e.cond_live(now);
        // Still held, or moved back by this same request and not claimed
        // since (the SDK sends it again after a lost answer: the job is
        // returned and woken, not left for the timer's grace period; a
        // claim keeps the job's place but not its state).
        let (m, b, at) = (e.n(mark), e.n(attr::BUCKET), e.n(attr::BUCKET_AT));
        let (there, there_at) = (e.v("back", s(back)), e.v("back_at", back_at));
        let st = e.n(attr::STATE);
        let enqueued = e.v("enqueued", s(State::Enqueued.as_str()));
        let scheduled = e.v("scheduled", s(State::Scheduled.as_str()));
        e.cond(format!(
            "(attribute_exists({m}) OR ({b} = {there} AND {at} = {there_at} AND {st} IN ({enqueued}, {scheduled})))"
        ));
        self.update_job_returning(job_key(id), e).await
    }

    /// A conditional `UpdateItem` of a job returning it as written; None
    /// when the condition failed.
    pub(super) async fn update_job_returning(
        &self,
        pk: String,
        e: Expr,
    ) -> Result<Option<JobRecord>> {
        match self.update_returning(pk, e).await? {
            Some(item) => Ok(Some(parse_job(&item)?)),
            None => Ok(None),
        }
    }

    /// A conditional `UpdateItem` returning the item as written; None when
    /// the condition failed.
    pub(super) async fn update_returning(&self, pk: String, e: Expr) -> Result<Option<Item>> {
        let request = self
            .update_request(pk, &e)
            .return_values(ReturnValue::AllNew);
        let res = send_through_conflicts(|| request.clone().send(), is_write_conflict).await;
        match res {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(_) if is_condition_failed(&res) => Ok(None),
            Err(e) => Err(Error::aws(SERVICE, "UpdateItem", e)),
        }
    }
}
