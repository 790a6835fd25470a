//! Batches: the batch item, its counters, and the transaction that counts
//! a batch job's state change on it (see [`crate::batch`]).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::expr::Expr;
use super::item::{Item, get_ms, get_n, get_s, keys_of, ms, n, parse_job, s, to_av};
use super::jobs::cancellation_reasons;
use super::schema::{Bucket, attr, batch_key, job_key};
use super::{SERVICE, Store, WriteError, is_transaction_conflict};
use super::{is_write_conflict, send_through_conflicts};
use crate::batch::{BatchRecord, BatchStatus};
use crate::error::{Error, Result};
use crate::job::{Continuation, JobId, JobRecord};
use crate::state::State;

/// How a job's state change moves its batch's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Tally {
    pub open: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub deleted: i64,
}

impl Tally {
    /// The counters a change from `from` to `to` moves, or None if it
    /// moves none (a claim, a retry, a reschedule of a waiting job).
    pub fn of(from: State, to: State) -> Option<Tally> {
        if from == to {
            return None;
        }
        let mut t = Tally::default();
        let mut slot = |st: State, d: i64| match st {
            State::Succeeded => t.succeeded += d,
            State::Failed => t.failed += d,
            State::Deleted => t.deleted += d,
            _ => {}
        };
        slot(from, -1);
        slot(to, 1);
        t.open = match (from.is_final(), to.is_final()) {
            (false, true) => -1,
            (true, false) => 1,
            _ => 0,
        };
        (t != Tally::default()).then_some(t)
    }
}

/// Which batch update goes with the job's write.
#[derive(Debug, Clone, Copy)]
enum Counting {
    /// The batch stays open after it (or is not a started batch).
    Count,
    /// It closes the last open job of a started batch: the batch
    /// completes; `deleted` is the batch's Deleted count as read, on which
    /// the write is conditional (it decides whether all Succeeded).
    Last { deleted: u64 },
}

/// What [`Store::apply_counted`] did.
pub(super) enum Counted {
    /// Written, with the batch.
    Written(Box<JobRecord>),
    /// The job's condition failed.
    Refused(WriteError),
    /// The batch item is gone (expired): write the job alone.
    NoBatch,
}

/// Reads a batch item.
pub(crate) fn parse_batch(item: &Item) -> Result<BatchRecord> {
    let key = get_s(item, attr::PK).unwrap_or("?").to_owned();
    let corrupt = |message: String| Error::Corrupt {
        key: key.clone(),
        message,
    };
    let id = key
        .strip_prefix("batch#")
        .ok_or_else(|| corrupt("key is not batch#<id>".into()))
        .and_then(|id| JobId::parse(id).map_err(|e| corrupt(e.to_string())))?;
    let status = get_s(item, attr::STATE)
        .and_then(BatchStatus::parse)
        .ok_or_else(|| corrupt("missing or unknown batch state".into()))?;
    let count = |k: &str| get_n::<i64>(item, k).unwrap_or(0).max(0) as u64;
    let continuations: Vec<Continuation> = match item.get(attr::CONTS) {
        Some(v) => serde_dynamo::from_attribute_value(v.clone())
            .map_err(|e| corrupt(format!("conts: {e}")))?,
        None => Vec::new(),
    };
    let resting = get_s(item, attr::BUCKET)
        .and_then(Bucket::parse_key)
        .is_some_and(|b| b == Bucket::Batches);
    Ok(BatchRecord {
        id,
        description: get_s(item, attr::DESCRIPTION).map(str::to_owned),
        status,
        total: count(attr::TOTAL),
        open: count(attr::OPEN),
        succeeded: count(attr::N_SUCCEEDED),
        failed: count(attr::N_FAILED),
        deleted: count(attr::N_DELETED),
        created_at: get_ms(item, attr::CREATED).ok_or_else(|| corrupt("missing created".into()))?,
        completed_at: get_ms(item, attr::COMPLETED),
        all_succeeded: match item.get(attr::ALL_SUCCEEDED) {
            Some(AttributeValue::Bool(b)) => Some(*b),
            _ => None,
        },
        continuations,
        released: status == BatchStatus::Completed && resting,
        expires_at: get_n::<i64>(item, attr::TTL).and_then(|s| DateTime::from_timestamp(s, 0)),
    })
}

impl Store {
    /// The batch partitions are not sharded: batches are few, and one
    /// query a tick reads the watched ones.
    fn batch_bucket(bucket: Bucket) -> AttributeValue {
        s(bucket.key(0))
    }

    /// Writes a new batch (Creating, watched a grace period ahead in case
    /// its creation is cut short), replacing one past its expiry. Returns
    /// the batch already there if the id is taken.
    pub(crate) async fn create_batch(&self, b: &BatchRecord) -> Result<Option<BatchRecord>> {
        let mut item = HashMap::from([
            (attr::PK.to_owned(), s(batch_key(&b.id))),
            (attr::STATE.to_owned(), s(BatchStatus::Creating.as_str())),
            (attr::TOTAL.to_owned(), n(b.total)),
            (attr::OPEN.to_owned(), n(b.open)),
            (attr::N_SUCCEEDED.to_owned(), n(0)),
            (attr::N_FAILED.to_owned(), n(0)),
            (attr::N_DELETED.to_owned(), n(0)),
            (attr::CREATED.to_owned(), ms(b.created_at)),
            (
                attr::BUCKET.to_owned(),
                Self::batch_bucket(Bucket::BatchWatch),
            ),
            (
                attr::BUCKET_AT.to_owned(),
                ms(b.created_at + crate::timing::chrono_dur(self.grace)),
            ),
        ]);
        if let Some(d) = &b.description {
            item.insert(attr::DESCRIPTION.to_owned(), s(d));
        }
        if !b.continuations.is_empty() {
            item.insert(attr::CONTS.to_owned(), to_av(&b.continuations));
        }
        let res = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(super::jobs::CREATE_CONDITION)
            .set_expression_attribute_names(Some(super::jobs::create_names()))
            .set_expression_attribute_values(Some(super::jobs::create_values(b.created_at)))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match super::put_outcome(res)? {
            Ok(()) => Ok(None),
            Err(Some(item)) => Ok(Some(parse_batch(&item)?)),
            Err(None) => Err(Error::AlreadyExists { id: b.id.clone() }),
        }
    }

    /// Marks a batch whose jobs are all written as Started, at rest in the
    /// batches listing. False if it was not Creating.
    /// Returns the batch as written, None if it was not Creating.
    pub(crate) async fn start_batch(&self, b: &BatchRecord) -> Result<Option<BatchRecord>> {
        let mut e = Expr::default();
        e.set(attr::STATE, s(BatchStatus::Started.as_str()));
        e.set(attr::BUCKET, Self::batch_bucket(Bucket::Batches));
        e.set(attr::BUCKET_AT, ms(b.created_at));
        e.cond_eq(attr::STATE, s(BatchStatus::Creating.as_str()));
        self.update_batch_returning(&b.id, &e).await
    }

    /// Completes a Started batch none of whose jobs is open (they all
    /// finished before it was marked Started). False if it changed.
    pub(crate) async fn complete_batch(&self, b: &BatchRecord, now: DateTime<Utc>) -> Result<bool> {
        let mut e = Expr::default();
        self.completing(&mut e, b.deleted, b.deleted == 0, now);
        e.cond_eq(attr::STATE, s(BatchStatus::Started.as_str()));
        e.cond_eq(attr::OPEN, n(0));
        self.update(batch_key(&b.id), e).await
    }

    /// A conditional update of a batch returning it as written, or None
    /// when the condition failed.
    async fn update_batch_returning(&self, id: &JobId, e: &Expr) -> Result<Option<BatchRecord>> {
        let request = self
            .update_request(batch_key(id), e)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        let res = send_through_conflicts(|| request.clone().send(), is_write_conflict).await;
        match super::condition_outcome(res)? {
            Ok(out) => Ok(out.attributes.as_ref().map(parse_batch).transpose()?),
            Err(_) => Ok(None),
        }
    }

    /// A batch whose creation was cut short starts with the jobs that were
    /// written (`written` of its total): the others never existed. If every
    /// one of them has already finished, it completes in the same write.
    /// False if it was no longer Creating.
    /// `seen_at`: the batch's watch time as read; a creation still going
    /// on moves it (see [`Store::look_again`]), which fails this write.
    pub(crate) async fn start_cut_short(
        &self,
        b: &BatchRecord,
        seen_at: DateTime<Utc>,
        written: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<BatchRecord>> {
        let missing = b.total.saturating_sub(written);
        let mut e = Expr::default();
        let (total, open) = (e.n(attr::TOTAL), e.n(attr::OPEN));
        let m = e.v("missing", n(missing));
        e.set_raw(format!("{total} = {total} - {m}, {open} = {open} - {m}"));
        let completes = b.open == missing;
        if completes {
            self.completing(&mut e, b.deleted, b.deleted == 0, now);
        } else {
            e.set(attr::STATE, s(BatchStatus::Started.as_str()));
            e.set(attr::BUCKET, Self::batch_bucket(Bucket::Batches));
            e.set(attr::BUCKET_AT, ms(b.created_at));
        }
        e.cond_eq(attr::STATE, s(BatchStatus::Creating.as_str()));
        e.cond_eq(attr::BUCKET_AT, ms(seen_at));
        let o = e.n(attr::OPEN);
        let seen = e.v("seen_open", n(b.open));
        e.cond(format!("{o} = {seen}"));
        self.update_batch_returning(&b.id, &e).await
    }

    /// Reads a batch (strongly consistent); None if there is none or it
    /// expired.
    pub async fn get_batch(&self, id: &JobId, now: DateTime<Utc>) -> Result<Option<BatchRecord>> {
        let Some(item) = self.get_item(batch_key(id)).await? else {
            return Ok(None);
        };
        let b = parse_batch(&item)?;
        Ok(b.expires_at.is_none_or(|t| t > now).then_some(b))
    }

    /// The newest batches first, up to `limit`, and those the timer
    /// watches (one query of each partition, one `BatchGetItem`).
    pub async fn list_batches(&self, limit: usize, now: DateTime<Utc>) -> Result<Vec<BatchRecord>> {
        let mut pks = Vec::new();
        for (bucket, forward, limit) in [
            (Bucket::Batches, false, Some(limit.clamp(1, 100) as i32)),
            (Bucket::BatchWatch, true, None),
        ] {
            let out = self
                .bucket_query(bucket, 0)
                .scan_index_forward(forward)
                .set_limit(limit)
                .send()
                .await
                .map_err(|e| Error::aws(SERVICE, "Query", e))?;
            pks.extend(keys_of(out.items()));
        }
        let mut batches = Vec::new();
        for item in self.get_items(&pks, false).await? {
            let b = parse_batch(&item)?;
            if b.expires_at.is_none_or(|t| t > now) {
                batches.push(b);
            }
        }
        batches.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        batches.dedup_by(|a, b| a.id == b.id);
        batches.truncate(limit);
        Ok(batches)
    }

    /// Batches whose look by the timer is due: cut-short creations and
    /// completions whose continuations were not all released.
    /// Each with its watch time as read.
    pub(crate) async fn due_batches(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(BatchRecord, DateTime<Utc>)>> {
        let out = self
            .due_query(Bucket::BatchWatch, 0, now)
            .limit(100)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "Query", e))?;
        let pks = keys_of(out.items());
        if pks.is_empty() {
            return Ok(Vec::new());
        }
        self.get_items(&pks, true)
            .await?
            .iter()
            .map(|item| {
                let at = get_ms(item, attr::BUCKET_AT).unwrap_or(now);
                Ok((parse_batch(item)?, at))
            })
            .collect()
    }

    /// Moves a watched batch's next look to `next`, if it is still in the
    /// state read (the timer's back-off before it acts).
    pub(crate) async fn look_again(&self, b: &BatchRecord, next: DateTime<Utc>) -> Result<bool> {
        let mut e = Expr::default();
        e.set(attr::BUCKET_AT, ms(next));
        e.cond_eq(attr::STATE, s(b.status.as_str()));
        e.cond_eq(attr::BUCKET, Self::batch_bucket(Bucket::BatchWatch));
        self.update(batch_key(&b.id), e).await
    }

    /// A completed batch whose continuations are all settled leaves the
    /// timer's watch.
    pub(crate) async fn batch_released(&self, b: &BatchRecord) -> Result<bool> {
        let mut e = Expr::default();
        e.set(attr::BUCKET, Self::batch_bucket(Bucket::Batches));
        e.set(attr::BUCKET_AT, ms(b.created_at));
        e.cond_eq(attr::STATE, s(BatchStatus::Completed.as_str()));
        self.update(batch_key(&b.id), e).await
    }

    /// The completing update of a batch: Completed, whether all Succeeded
    /// (decided from the Deleted count read, `seen_deleted`, on which the
    /// write is conditional), watched a grace period ahead until its
    /// continuations are released, expiring after the retention period.
    fn completing(&self, e: &mut Expr, seen_deleted: u64, all_succeeded: bool, now: DateTime<Utc>) {
        e.set(attr::STATE, s(BatchStatus::Completed.as_str()));
        e.set(attr::COMPLETED, ms(now));
        e.set(attr::ALL_SUCCEEDED, AttributeValue::Bool(all_succeeded));
        e.set(attr::BUCKET, Self::batch_bucket(Bucket::BatchWatch));
        e.set(
            attr::BUCKET_AT,
            ms(now + crate::timing::chrono_dur(self.grace)),
        );
        e.set(
            attr::TTL,
            n(now.timestamp() + self.retention.as_secs() as i64),
        );
        let d = e.n(attr::N_DELETED);
        let seen = e.v("seen_deleted", n(seen_deleted));
        e.cond(format!("{d} = {seen}"));
    }

    /// Writes a batch job's state change (`job`, the job's update as
    /// [`Store::apply`] built it) and its batch's counters in one
    /// transaction. The batch part is conditional on the batch staying
    /// open; when that fails on the last open job, the write is made again
    /// as the batch's completion, and the record returned says so.
    pub(super) async fn apply_counted(
        &self,
        id: &JobId,
        batch: &JobId,
        job: &Expr,
        tally: Tally,
        written: impl Fn() -> JobRecord,
        now: DateTime<Utc>,
    ) -> Result<Counted> {
        let job_update = self.tx_update(job_key(id), job)?;
        let mut counting = Counting::Count;
        for _ in 0..super::CONDITION_ROUNDS {
            let mut e = Expr::default();
            let mut adds = Vec::new();
            for (a, d) in [
                (attr::OPEN, tally.open),
                (attr::N_SUCCEEDED, tally.succeeded),
                (attr::N_FAILED, tally.failed),
                (attr::N_DELETED, tally.deleted),
            ] {
                if d != 0 {
                    let name = e.n(a);
                    let v = e.v(&format!("d_{a}"), n(d));
                    adds.push(format!("{name} = {name} + {v}"));
                }
            }
            e.set_raw(adds.join(", "));
            let pk = e.n(attr::PK);
            e.cond(format!("attribute_exists({pk})"));
            let open_started = |e: &mut Expr| {
                let (open, state) = (e.n(attr::OPEN), e.n(attr::STATE));
                let one = e.v("one", n(1));
                let started = e.v("started", s(BatchStatus::Started.as_str()));
                (open, state, one, started)
            };
            match counting {
                Counting::Count if tally.open < 0 => {
                    let (open, state, one, started) = open_started(&mut e);
                    e.cond(format!("({open} > {one} OR {state} <> {started})"))
                }
                Counting::Count => {}
                Counting::Last { deleted } => {
                    let (open, state, one, started) = open_started(&mut e);
                    e.cond(format!("{open} = {one} AND {state} = {started}"));
                    let all_succeeded = deleted as i64 + tally.deleted == 0;
                    self.completing(&mut e, deleted, all_succeeded, now);
                }
            }
            let request = self
                .ddb
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .update(job_update.clone())
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .update(self.tx_update(batch_key(batch), &e)?)
                        .build(),
                );
            let res =
                send_through_conflicts(|| request.clone().send(), is_transaction_conflict).await;
            let err = match res {
                Ok(_) => {
                    let mut record = written();
                    record.completes_batch.0 = matches!(counting, Counting::Last { .. });
                    return Ok(Counted::Written(Box::new(record)));
                }
                Err(e) => e,
            };
            let reasons = cancellation_reasons(&err);
            let failed = |i: usize| {
                reasons
                    .get(i)
                    .filter(|(code, _)| code == "ConditionalCheckFailed")
            };
            if let Some((_, item)) = failed(0) {
                let old = match item {
                    Some(item) => {
                        let job = parse_job(item)?;
                        (!super::item::is_expired(&job, now)).then(|| Box::new(job))
                    }
                    None => None,
                };
                return Ok(Counted::Refused(WriteError::Condition(old)));
            }
            let Some((_, item)) = failed(1) else {
                return Err(Error::aws(SERVICE, "TransactWriteItems", err));
            };
            let Some(item) = item else {
                return Ok(Counted::NoBatch);
            };
            let b = parse_batch(item)?;
            counting = if b.open <= 1 && b.status == BatchStatus::Started && tally.open < 0 {
                Counting::Last { deleted: b.deleted }
            } else {
                Counting::Count
            };
        }
        Err(Error::Conflict { id: id.clone() })
    }

    /// Creates a batch continuation in Awaiting and records it on its
    /// batch, in one transaction; the batch must exist, not be Completed,
    /// and have fewer than [`MAX_CONTINUATIONS`]. A refused condition
    /// returns the batch as it was (None: it does not exist).
    pub(crate) async fn insert_batch_continuation(
        &self,
        child: &JobRecord,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(), Option<BatchRecord>>> {
        let refused = self
            .put_continuation(child, |e| {
                let pk = e.n(attr::PK);
                e.cond(format!("attribute_exists({pk})"));
                let st = e.n(attr::STATE);
                let completed = e.v("completed", s(BatchStatus::Completed.as_str()));
                e.cond(format!("{st} <> {completed}"));
            })
            .await?;
        if let Some(item) = refused {
            let old = item
                .as_ref()
                .map(parse_batch)
                .transpose()?
                .filter(|b| b.expires_at.is_none_or(|t| t > now));
            if let Some(b) = old.as_ref().filter(|b| b.status != BatchStatus::Completed) {
                return Err(Error::invalid(
                    "continuation",
                    format!(
                        "batch {} already has {} continuations, the most a batch can have",
                        b.id,
                        b.continuations.len()
                    ),
                ));
            }
            return Ok(Err(old));
        }
        Ok(Ok(()))
    }

    /// Which of a batch's jobs exist (strongly consistent reads by key, 100
    /// a call): for a creation being resumed or found cut short.
    pub(crate) async fn existing_batch_jobs(&self, ids: &[JobId]) -> Result<Vec<JobId>> {
        let pks: Vec<String> = ids.iter().map(job_key).collect();
        let mut found = Vec::new();
        for item in self.get_items(&pks, true).await? {
            if let Some(id) = get_s(&item, attr::PK).and_then(|pk| pk.strip_prefix("job#")) {
                found.push(JobId::parse(id)?);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    #[test]
    fn tallies_follow_final_and_failed_states() {
        let t = |open, succeeded, failed, deleted| {
            Some(Tally {
                open,
                succeeded,
                failed,
                deleted,
            })
        };
        assert_eq!(Tally::of(Processing, Succeeded), t(-1, 1, 0, 0));
        assert_eq!(Tally::of(Processing, Failed), t(0, 0, 1, 0));
        assert_eq!(Tally::of(Processing, Deleted), t(-1, 0, 0, 1));
        assert_eq!(Tally::of(Failed, Enqueued), t(0, 0, -1, 0));
        assert_eq!(Tally::of(Failed, Deleted), t(-1, 0, -1, 1));
        assert_eq!(Tally::of(Succeeded, Enqueued), t(1, -1, 0, 0));
        assert_eq!(Tally::of(Deleted, Scheduled), t(1, 0, 0, -1));
        assert_eq!(Tally::of(Succeeded, Deleted), t(0, -1, 0, 1));
        assert_eq!(Tally::of(Enqueued, Deleted), t(-1, 0, 0, 1));
        for (from, to) in [
            (Enqueued, Processing),
            (Scheduled, Enqueued),
            (Processing, Scheduled),
            (Processing, Processing),
            (Awaiting, Enqueued),
        ] {
            assert_eq!(Tally::of(from, to), None, "{from} -> {to}");
        }
    }
}
