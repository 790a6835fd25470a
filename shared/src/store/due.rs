//! What the timer reads: the items in a watched bucket whose time came; and
//! what it writes when it acts on one without changing its state.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::expr::Expr;
use super::item::{Item, get_n, get_s, ms, n, parse_job, parse_recurring, s};
use super::schema::{Bucket, attr, shard_of};
use super::{SERVICE, Store};
use crate::clock::from_millis;
use crate::error::{Error, Result};
use crate::job::JobRecord;
use crate::recurring::RecurringJob;

/// Entries read from the index per query page.
const PAGE: i32 = 100;

/// An item whose time came.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "a tick holds a page of them at a time; boxing each job would only add allocations"
)]
pub enum Due {
    /// A job, as read (eventually consistent: every write the timer makes
    /// on it is conditional on this version).
    Job(DueJob),
    /// A recurring job due to fire.
    Recurring(RecurringJob),
}

/// A job whose time came, with where it sat.
#[derive(Debug, Clone)]
pub struct DueJob {
    /// The job.
    pub job: JobRecord,
    /// Its bucket when read.
    pub bucket: Bucket,
    /// Its index time when read.
    pub at: DateTime<Utc>,
    /// Wake-ups the timer re-sent since its last state change.
    pub resends: u32,
}

/// Where the next page of due items starts.
#[derive(Debug, Clone)]
pub struct DueStart(HashMap<String, AttributeValue>);

/// What a [`Store::mark`] records besides the job's next index time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The wake-up is being handed to SQS: the job moves to the Active
    /// bucket, handed off.
    HandOff,
    /// The wake-up is being sent again, or the continuations released
    /// again: one more re-send counted (the back-off grows).
    Backoff,
    /// Only look again later (a job still running within its lease).
    Recheck,
}

impl Store {
    /// One page of a watched bucket's shard: the items whose index time is
    /// at or before `now`, oldest first (one `Query` for the keys, one
    /// `BatchGetItem` for the items).
    pub async fn due_page(
        &self,
        bucket: Bucket,
        shard: u32,
        now: DateTime<Utc>,
        start: Option<DueStart>,
    ) -> Result<(Vec<Due>, Option<DueStart>)> {
        let out = self
            .due_query(bucket, shard, now)
            .limit(PAGE)
            .set_exclusive_start_key(start.map(|s| s.0))
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "Query", e))?;
        let pks = super::item::keys_of(out.items());
        let next = out.last_evaluated_key.map(DueStart);
        if pks.is_empty() {
            return Ok((Vec::new(), next));
        }
        let mut due = Vec::with_capacity(pks.len());
        for item in self.get_items(&pks, false).await? {
            due.push(parse_due(&item)?);
        }
        due.sort_by_key(|d| match d {
            Due::Job(j) => j.at,
            Due::Recurring(r) => r.next_run.unwrap_or_default(),
        });
        Ok((due, next))
    }

    /// Moves a job's index time to `next` (see [`Mark`]) on the condition
    /// that it is still at the version and state read and its time had come.
    /// Not a state change: no history entry, no new version, so a message
    /// sent for this version stays valid. Returns false if it changed.
    pub async fn mark(
        &self,
        due: &DueJob,
        how: Mark,
        next: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let job = &due.job;
        let mut e = Expr::default();
        // Whatever the mark, the job is one the timer watches until it
        // finishes.
        e.set(
            attr::BUCKET,
            s(Bucket::Active.key(shard_of(job.id.as_str(), self.shards))),
        );
        e.set(attr::BUCKET_AT, ms(next));
        match how {
            Mark::HandOff => {
                e.set(attr::HANDED_OFF, AttributeValue::Bool(true));
                let h = e.n(attr::HANDED_OFF);
                e.cond(format!("attribute_not_exists({h})"));
            }
            Mark::Backoff => {
                let r = e.n(attr::RESENDS);
                let zero = e.v("zero", n(0));
                let one = e.v("one", n(1));
                e.set_raw(format!("{r} = if_not_exists({r}, {zero}) + {one}"));
            }
            Mark::Recheck => {}
        }
        e.cond_eq(attr::VERSION, n(job.version));
        e.cond_eq(attr::STATE, s(job.state.as_str()));
        let at = e.n(attr::BUCKET_AT);
        let now_ms = e.v("now_ms", ms(now));
        e.cond(format!("{at} <= {now_ms}"));
        self.update(super::schema::job_key(&job.id), e).await
    }
}

fn parse_due(item: &Item) -> Result<Due> {
    if get_s(item, attr::PK).is_some_and(|pk| pk.starts_with("recurring#")) {
        return Ok(Due::Recurring(parse_recurring(item)?));
    }
    let job = parse_job(item)?;
    Ok(Due::Job(DueJob {
        bucket: get_s(item, attr::BUCKET)
            .and_then(Bucket::parse_key)
            .unwrap_or(Bucket::Active),
        at: get_n::<i64>(item, attr::BUCKET_AT)
            .map(from_millis)
            .unwrap_or(job.updated_at),
        resends: get_n(item, attr::RESENDS).unwrap_or(0),
        job,
    }))
}
