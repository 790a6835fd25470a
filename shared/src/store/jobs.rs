//! Creating, reading and changing jobs; continuations.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update as TxUpdate, WriteRequest,
};
use chrono::{DateTime, Utc};

use super::batches::{Counted, Tally};
use super::expr::Expr;
use super::item::{
    Item, compact_history, history_av, is_expired, job_item, ms, n, parse_job, place_for, place_of,
    s, to_av,
};
use super::schema::{attr, job_key, shard_of};
use super::{
    AttemptChange, CONDITION_ROUNDS, Change, Expect, Extra, SERVICE, Store, WriteError,
    condition_outcome, is_condition_failed, is_transaction_conflict, is_write_conflict,
    send_through_conflicts,
};
use crate::error::{Error, Result};
use crate::job::{Continuation, JobId, JobRecord, MAX_CONTINUATIONS, MAX_HISTORY};
use crate::state::{State, can_transition};

/// The condition of a write that creates an item under a key: nothing is
/// there, or what is there is past its expiry. DynamoDB's TTL sweep removes
/// an expired item days later, and every read treats it as gone meanwhile,
/// so a new item takes its key in the same conditional write (an
/// idempotency key can be used again once its job's retention is over).
pub(crate) const CREATE_CONDITION: &str = "attribute_not_exists(#pk) OR #ttl <= :created_s";

/// The names [`CREATE_CONDITION`] uses.
pub(crate) fn create_names() -> HashMap<String, String> {
    HashMap::from([
        ("#pk".to_owned(), attr::PK.to_owned()),
        ("#ttl".to_owned(), attr::TTL.to_owned()),
    ])
}

/// The values [`CREATE_CONDITION`] uses, for a creation at `now`.
pub(crate) fn create_values(now: DateTime<Utc>) -> HashMap<String, AttributeValue> {
    HashMap::from([(":created_s".to_owned(), n(now.timestamp()))])
}

impl Store {
    /// The TTL of a job written in `state` at `now`, if the state expires.
    fn ttl_for(
        &self,
        state: State,
        keep: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Option<AttributeValue> {
        let keep = keep.unwrap_or(self.retention);
        state
            .expires()
            .then(|| n(now.timestamp() + keep.as_secs() as i64))
    }

    /// The full item of a job, placed on the index for its state.
    pub(crate) fn item(&self, job: &JobRecord) -> Item {
        let ttl = self.ttl_for(job.state, job.options.retention, job.updated_at);
        job_item(job, place_of(job, self.grace), self.shards, ttl)
    }

    /// A `Put` of a new job: fails if the id is taken by a job that has
    /// not expired (see [`CREATE_CONDITION`]).
    pub(crate) fn put_new(&self, job: &JobRecord) -> Result<Put> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.item(job)))
            .condition_expression(CREATE_CONDITION)
            .set_expression_attribute_names(Some(create_names()))
            .set_expression_attribute_values(Some(create_values(job.created_at)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| Error::aws(SERVICE, "TransactWriteItems", e))
    }

    /// Creates a job; fails with [`Error::AlreadyExists`] if the id is taken
    /// by another job that has not expired (an expired one is replaced). A
    /// put whose answer was lost, made again by the SDK and refused, finds
    /// its own job (the same first history entry, to the nanosecond) and
    /// succeeds.
    pub(crate) async fn insert(&self, job: &JobRecord) -> Result<()> {
        let res = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item(job)))
            .condition_expression(CREATE_CONDITION)
            .set_expression_attribute_names(Some(create_names()))
            .set_expression_attribute_values(Some(create_values(job.created_at)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match super::put_outcome(res)? {
            Ok(()) => Ok(()),
            Err(old) => {
                let ours = old
                    .as_ref()
                    .and_then(|item| parse_job(item).ok())
                    .is_some_and(|old| old.history.first() == job.history.first());
                if ours {
                    tracing::info!(job = %job.id, "job created, the answer lost");
                    Ok(())
                } else {
                    Err(Error::AlreadyExists { id: job.id.clone() })
                }
            }
        }
    }

    /// Creates many jobs with `BatchWriteItem` (25 per call), retrying
    /// unprocessed items. Ids must be fresh: batch writes cannot be conditional.
    pub(crate) async fn insert_many(&self, jobs: &[JobRecord]) -> Result<()> {
        for chunk in jobs.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|job| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(self.item(job)))
                                .build()
                                .expect("item set"),
                        )
                        .build()
                })
                .collect();
            let mut backoff = Duration::from_millis(50);
            for round in 0.. {
                let out = self
                    .ddb
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| Error::aws(SERVICE, "BatchWriteItem", e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if round >= 8 {
                    return Err(Error::aws(
                        SERVICE,
                        "BatchWriteItem",
                        std::io::Error::other(format!(
                            "{} items still unprocessed after {round} rounds",
                            requests.len()
                        )),
                    ));
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Ok(())
    }

    /// Reads a job (strongly consistent). An item past its expiry counts as
    /// gone even before DynamoDB's TTL sweep removes it.
    pub async fn get(&self, id: &JobId, now: DateTime<Utc>) -> Result<Option<JobRecord>> {
        match self.get_item(job_key(id)).await? {
            Some(item) => {
                let job = parse_job(&item)?;
                Ok((!is_expired(&job, now)).then_some(job))
            }
            None => Ok(None),
        }
    }

    /// Reads one item (strongly consistent).
    pub(super) async fn get_item(&self, pk: String) -> Result<Option<Item>> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "GetItem", e))?;
        Ok(out.item)
    }

    /// Reads items by key with `BatchGetItem` (100 keys a call, unprocessed
    /// keys retried), eventually consistent unless `consistent`. Returns the
    /// items found, in no particular order.
    pub(crate) async fn get_items(&self, pks: &[String], consistent: bool) -> Result<Vec<Item>> {
        let mut found = Vec::with_capacity(pks.len());
        for chunk in pks.chunks(100) {
            let keys = chunk
                .iter()
                .map(|pk| HashMap::from([(attr::PK.to_owned(), s(pk))]))
                .collect();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(consistent)
                    .build()
                    .map_err(|e| Error::aws(SERVICE, "BatchGetItem", e))?,
            );
            let mut rounds = 0;
            while let Some(req) = request.take() {
                rounds += 1;
                let out = self
                    .ddb
                    .batch_get_item()
                    .request_items(&self.table, req)
                    .send()
                    .await
                    .map_err(|e| Error::aws(SERVICE, "BatchGetItem", e))?;
                found.extend(
                    out.responses
                        .unwrap_or_default()
                        .remove(&self.table)
                        .unwrap_or_default(),
                );
                request = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
                if request.is_some() {
                    if rounds >= 8 {
                        return Err(Error::aws(
                            SERVICE,
                            "BatchGetItem",
                            std::io::Error::other(
                                "keys still unprocessed after 8 rounds (throttled)",
                            ),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(50 << rounds)).await;
                }
            }
        }
        Ok(found)
    }

    /// Reads jobs by id, in the order given; missing and expired jobs are
    /// left out.
    pub async fn get_many(&self, ids: &[JobId], now: DateTime<Utc>) -> Result<Vec<JobRecord>> {
        let pks: Vec<String> = ids.iter().map(job_key).collect();
        let mut found: HashMap<JobId, JobRecord> = HashMap::with_capacity(ids.len());
        for item in self.get_items(&pks, true).await? {
            let job = parse_job(&item)?;
            if !is_expired(&job, now) {
                found.insert(job.id.clone(), job);
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// Moves a finished job whose continuations are all settled from the
    /// timer's watch to its final bucket, if it is still at `version`.
    /// Returns false if it has changed.
    pub(crate) async fn released(&self, job: &JobRecord) -> Result<bool> {
        let mut e = Expr::default();
        let bucket = super::Bucket::resting(job.state);
        e.set(
            attr::BUCKET,
            s(bucket.key(shard_of(job.id.as_str(), self.shards))),
        );
        let (at, updated) = (e.n(attr::BUCKET_AT), e.n(attr::UPDATED));
        e.set_raw(format!("{at} = {updated}"));
        e.remove(attr::RESENDS);
        e.cond_eq(attr::VERSION, n(job.version));
        self.update(job_key(&job.id), e).await
    }

    /// Sets the lease of a job just claimed at `version` (its message
    /// carried no or a wrong timeout). Returns false if the job changed.
    pub(crate) async fn extend_lease(
        &self,
        job: &JobRecord,
        lease: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut e = Expr::default();
        e.set(attr::LEASE, ms(lease));
        e.cond_eq(attr::VERSION, n(job.version));
        e.cond_eq(attr::STATE, s(State::Processing.as_str()));
        e.cond_live(now);
        self.update(job_key(&job.id), e).await
    }

    /// The update of one item in a transaction, returning the item as it
    /// was when its condition fails.
    pub(super) fn tx_update(&self, pk: String, e: &Expr) -> Result<TxUpdate> {
        TxUpdate::builder()
            .table_name(&self.table)
            .key(attr::PK, s(pk))
            .set_update_expression(e.update_expression())
            .set_condition_expression(e.condition_expression())
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| Error::aws(SERVICE, "TransactWriteItems", e))
    }

    /// An `UpdateItem` of one item from an expression.
    pub(super) fn update_request(
        &self,
        pk: String,
        e: &Expr,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.ddb
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(pk))
            .set_update_expression(e.update_expression())
            .set_condition_expression(e.condition_expression())
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
    }

    /// A conditional `UpdateItem` that is not a state change; false when
    /// the condition failed.
    pub(super) async fn update(&self, pk: String, e: Expr) -> Result<bool> {
        let request = self.update_request(pk, &e);
        let res = send_through_conflicts(|| request.clone().send(), is_write_conflict).await;
        match res {
            Ok(_) => Ok(true),
            Err(_) if is_condition_failed(&res) => Ok(false),
            Err(e) => Err(Error::aws(SERVICE, "UpdateItem", e)),
        }
    }

    /// Applies a state change with one conditional `UpdateItem`, returning the
    /// job as written. The transition is checked against
    /// [`can_transition`] for every expected state first.
    ///
    /// A write to a final state also decides, in the same write, whether the
    /// timer must later make sure the job's continuations were released: it
    /// is conditional on the number of continuations the writer knows of
    /// and, when there are any, keeps the job in the timer's
    /// [`super::Bucket::Active`] a grace period ahead. The releaser moves it
    /// on when it is done ([`Store::released`]); if it crashed first, the
    /// timer releases them (design invariant 4). A continuation added since
    /// the writer read the job fails the condition without a version change,
    /// and the write is made again with the count the failed write returned
    /// (no read).
    pub(crate) async fn apply(
        &self,
        id: &JobId,
        expect: &Expect<'_>,
        change: Change,
        now: DateTime<Utc>,
    ) -> Result<JobRecord, WriteError> {
        let mut conts = expect.conts.unwrap_or(0);
        let mut known_conts = None;
        for _ in 0..CONDITION_ROUNDS {
            match self
                .apply_once(id, expect, change.clone(), conts, known_conts.as_ref(), now)
                .await
            {
                Err(WriteError::Condition(Some(old)))
                    if change.to.is_final()
                        && old.continuations.len() != conts
                        && expect.version.is_none_or(|v| v == old.version)
                        && expect.states.contains(&old.state) =>
                {
                    conts = old.continuations.len();
                    known_conts = Some(old.continuations);
                }
                // The write happened but its answer was lost, and the SDK's
                // retry was refused: the item ends with this write's own
                // entries (their times are to the nanosecond).
                Err(WriteError::Condition(Some(old)))
                    if old.state == change.to
                        && expect.version.is_none_or(|v| old.version == v + 1)
                        && old.history.ends_with(&change.entries) =>
                {
                    tracing::info!(job = %id, state = %old.state, "state change written, its answer lost");
                    return Ok(*old);
                }
                other => return other,
            }
        }
        Err(WriteError::Other(Error::Conflict { id: id.clone() }))
    }

    async fn apply_once(
        &self,
        id: &JobId,
        expect: &Expect<'_>,
        change: Change,
        conts: usize,
        known_conts: Option<&Vec<Continuation>>,
        now: DateTime<Utc>,
    ) -> Result<JobRecord, WriteError> {
        // Each expected state must reach the target through the entries
        // recorded (a due Scheduled job is claimed as Scheduled → Enqueued →
        // Processing in one write).
        debug_assert_eq!(change.entries.last().map(|e| e.state), Some(change.to));
        for from in &expect.states {
            let mut at = *from;
            for entry in &change.entries {
                debug_assert!(
                    can_transition(at, entry.state),
                    "refused transition {at} -> {} reached the store",
                    entry.state
                );
                at = entry.state;
            }
        }
        let mut e = Expr::default();

        // Conditions.
        e.cond_live(now);
        if let Some(v) = expect.version {
            e.cond_eq(attr::VERSION, n(v));
        }
        let state_name = e.n(attr::STATE);
        let states: Vec<String> = expect
            .states
            .iter()
            .enumerate()
            .map(|(i, st)| e.v(&format!("from{i}"), s(st.as_str())))
            .collect();
        e.cond(format!("{state_name} IN ({})", states.join(", ")));
        match expect.extra {
            Extra::None => {}
            Extra::LeaseExpired { claimed_v, now } => {
                let lease = e.n(attr::LEASE);
                let now = e.v("now_ms", ms(now));
                e.cond(format!("{lease} < {now}"));
                e.cond_eq(attr::CLAIMED_V, n(claimed_v));
            }
            Extra::DueBy(by) => {
                let run_at = e.n(attr::RUN_AT);
                let by = e.v("due_by", ms(by));
                e.cond(format!("{run_at} <= {by}"));
            }
        }
        if change.to.is_final() {
            // A final job with continuations stays watched for their
            // release; the count must be the one the writer knows.
            let c = e.n(attr::CONTS);
            let k = e.v("conts_n", n(conts));
            e.cond(format!("(attribute_not_exists({c}) OR size({c}) = {k})"));
        }

        // State, and the index keys it implies.
        e.set(attr::STATE, s(change.to.as_str()));
        e.set(attr::UPDATED, ms(now));
        if !change.keep_place {
            let (bucket, at) = place_for(
                change.to,
                change.run_at,
                change.lease.map(|(until, _)| until),
                conts,
                now,
                self.grace,
            );
            e.set(
                attr::BUCKET,
                s(bucket.key(shard_of(id.as_str(), self.shards))),
            );
            e.set(attr::BUCKET_AT, ms(at));
        }
        e.bump_version();
        match change.attempt {
            AttemptChange::Keep => {}
            AttemptChange::Increment => {
                let a = e.n(attr::ATTEMPT);
                let one = e.v("one", n(1));
                e.set_raw(format!("{a} = {a} + {one}"));
            }
            AttemptChange::Reset => e.set(attr::ATTEMPT, n(0)),
        }

        // History: rewrite when the writer knows it and it would overflow,
        // otherwise append.
        match expect.seen.as_ref().map(|j| &j.history) {
            Some(old) if old.len() + change.entries.len() > MAX_HISTORY => {
                let mut all = old.clone();
                all.extend(change.entries.iter().cloned());
                e.set(attr::HISTORY, history_av(&compact_history(all)));
            }
            _ => {
                let h = e.n(attr::HISTORY);
                let entries = e.v("entries", history_av(&change.entries));
                e.set_raw(format!("{h} = list_append({h}, {entries})"));
            }
        }

        if change.to.expires() {
            // The job's own retention if it has one, read in the write
            // itself: `ttl = if_not_exists(keep, <global>) + now`.
            let (ttl, keep) = (e.n(attr::TTL), e.n(attr::KEEP));
            let global = e.v("retention", n(self.retention.as_secs()));
            let now_s = e.v("ttl_now", n(now.timestamp()));
            e.set_raw(format!("{ttl} = if_not_exists({keep}, {global}) + {now_s}"));
        } else {
            e.remove(attr::TTL);
        }
        if matches!(change.to, State::Succeeded | State::Failed) {
            // For the metrics roll-up, which reads them off the index.
            let (runs, attempt) = (e.n(attr::RUNS), e.n(attr::ATTEMPT));
            e.set_raw(format!("{runs} = {attempt}"));
            let duration = change
                .entries
                .last()
                .and_then(|h| h.data.get("duration_ms"))
                .and_then(|d| d.parse::<u64>().ok());
            e.set_or_remove(attr::DURATION, duration.map(n));
        }
        e.remove(attr::RESENDS);
        if let Some(params) = &change.params {
            e.set(attr::PARAMS, to_av(params));
        }
        if !change.keep_place {
            e.remove(attr::PARKED);
            e.remove(attr::WAITS);
        }
        e.set_or_remove(attr::RUN_AT, change.run_at.map(|(at, _)| ms(at)));
        e.set_or_remove(
            attr::HANDED_OFF,
            change
                .run_at
                .filter(|(_, handed)| *handed)
                .map(|_| AttributeValue::Bool(true)),
        );
        e.set_or_remove(attr::LEASE, change.lease.map(|(until, _)| ms(until)));
        e.set_or_remove(attr::CLAIMED_V, change.lease.map(|(_, v)| n(v)));
        if let Some(err) = &change.last_error {
            e.set(attr::LAST_ERROR, s(err));
        }

        // A batch job's change that moves its batch's counters is written
        // with them (see crate::batch). A writer that did not read the job
        // cannot know its batch: its write is refused for a batch job.
        let counted = expect.seen.and_then(|seen| {
            let batch = seen.batch.as_ref()?;
            Some((seen, batch, Tally::of(seen.state, change.to)?))
        });
        if let Some((seen, batch, tally)) = counted {
            let written = || applied(seen, &change, known_conts, self, now);
            match self
                .apply_counted(id, batch, &e, tally, written, now)
                .await?
            {
                Counted::Written(job) => return Ok(*job),
                Counted::Refused(refused) => return Err(refused),
                // Its batch expired: the job is counted nowhere.
                Counted::NoBatch => {}
            }
        } else if expect.seen.is_none()
            && expect
                .states
                .iter()
                .any(|from| Tally::of(*from, change.to).is_some())
        {
            let b = e.n(attr::BATCH);
            e.cond(format!("attribute_not_exists({b})"));
        }

        let request = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(job_key(id)))
            .set_update_expression(e.update_expression())
            .set_condition_expression(e.condition_expression())
            .set_expression_attribute_names(e.take_names())
            .set_expression_attribute_values(e.take_values())
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let res = send_through_conflicts(|| request.clone().send(), is_write_conflict).await;
        match condition_outcome(res)? {
            Ok(out) => {
                let item = out.attributes.ok_or_else(|| Error::Corrupt {
                    key: job_key(id),
                    message: "UpdateItem returned no attributes".to_owned(),
                })?;
                Ok(parse_job(&item)?)
            }
            Err(item) => Err(WriteError::Condition(self.live(item.as_ref(), now)?)),
        }
    }

    /// The job in an item a failed condition returned, unless it expired.
    fn live(&self, item: Option<&Item>, now: DateTime<Utc>) -> Result<Option<Box<JobRecord>>> {
        Ok(match item {
            Some(item) => {
                let job = parse_job(item)?;
                (!is_expired(&job, now)).then(|| Box::new(job))
            }
            None => None,
        })
    }

    /// Creates a continuation in Awaiting and records it on its parent, in one
    /// transaction; the parent must exist, not be final, and have fewer than
    /// [`MAX_CONTINUATIONS`]. Returns the parent as it was when the condition
    /// failed (None: it does not exist), or [`Error::Invalid`] when it has
    /// as many continuations as a job can hold.
    pub(crate) async fn insert_continuation(
        &self,
        child: &JobRecord,
        now: DateTime<Utc>,
    ) -> Result<(), WriteError> {
        let refused = self
            .put_continuation(child, |e| {
                e.cond_live(now);
                let st = e.n(attr::STATE);
                let (succeeded, deleted) = (
                    e.v("succeeded", s(State::Succeeded.as_str())),
                    e.v("deleted", s(State::Deleted.as_str())),
                );
                e.cond(format!("NOT ({st} IN ({succeeded}, {deleted}))"));
            })
            .await?;
        if let Some(item) = refused {
            let old = self.live(item.as_ref(), now)?;
            if let Some(p) = old
                .as_ref()
                .filter(|p| !p.state.is_final() && p.continuations.len() >= MAX_CONTINUATIONS)
            {
                return Err(WriteError::Other(Error::invalid(
                    "continuation",
                    format!(
                        "job {} already has {} continuations, the most a job can have; \
                         chain them (a continuation of a continuation) or fan out from one job",
                        p.id,
                        p.continuations.len()
                    ),
                )));
            }
            return Err(WriteError::Condition(old));
        }
        Ok(())
    }

    /// Puts a new continuation (`child`) and appends it to its parent's
    /// (a job's or a batch's) list, in one transaction: the parent must
    /// have fewer than [`MAX_CONTINUATIONS`] and meet the conditions
    /// `guard` adds. Returns None when written, or the parent item as it
    /// was when its condition failed (None inside: it does not exist);
    /// [`Error::AlreadyExists`] if the child's id is taken.
    pub(super) async fn put_continuation(
        &self,
        child: &JobRecord,
        guard: impl FnOnce(&mut Expr),
    ) -> Result<Option<Option<Item>>> {
        let parent = child.parent.as_ref().expect("continuation has a parent");
        let put = self.put_new(child)?;
        let cont = Continuation {
            id: child.id.clone(),
            on: parent.on,
        };
        let mut e = Expr::default();
        let c = e.n(attr::CONTS);
        let empty = e.v("empty", AttributeValue::L(vec![]));
        let one = e.v("c", AttributeValue::L(vec![to_av(&cont)]));
        e.set_raw(format!(
            "{c} = list_append(if_not_exists({c}, {empty}), {one})"
        ));
        let max = e.v("max_conts", n(MAX_CONTINUATIONS));
        e.cond(format!("(attribute_not_exists({c}) OR size({c}) < {max})"));
        guard(&mut e);
        let parent_pk = if parent.batch {
            super::schema::batch_key(&parent.id)
        } else {
            job_key(&parent.id)
        };
        let update = self.tx_update(parent_pk, &e)?;
        let request = self
            .ddb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build());
        let res = send_through_conflicts(|| request.clone().send(), is_transaction_conflict).await;
        let err = match res {
            Ok(_) => return Ok(None),
            Err(e) => e,
        };
        let mut reasons = cancellation_reasons(&err);
        if let Some((_, item)) = reasons
            .first()
            .filter(|(code, _)| code == "ConditionalCheckFailed")
        {
            // The same transaction made again by the SDK after its answer
            // was lost: the child (and so its place on the parent) is ours.
            let ours = item
                .as_ref()
                .and_then(|i| parse_job(i).ok())
                .is_some_and(|old| old.history.first() == child.history.first());
            if ours {
                return Ok(None);
            }
            return Err(Error::AlreadyExists {
                id: child.id.clone(),
            });
        }
        match reasons.get_mut(1) {
            Some((code, item)) if code == "ConditionalCheckFailed" => Ok(Some(item.take())),
            _ => Err(Error::aws(SERVICE, "TransactWriteItems", err)),
        }
    }
}

/// The job `seen` as a write of `change` at `now` leaves it, as
/// [`Store::apply`] writes it (for a write whose item DynamoDB does not
/// return: a transaction). `conts`: the continuations, if they changed
/// since it was read.
fn applied(
    seen: &JobRecord,
    change: &Change,
    conts: Option<&Vec<Continuation>>,
    store: &Store,
    now: DateTime<Utc>,
) -> JobRecord {
    use super::item::stored;
    let mut job = seen.clone();
    job.state = change.to;
    job.version += 1;
    job.updated_at = stored(now);
    match change.attempt {
        AttemptChange::Keep => {}
        AttemptChange::Increment => job.attempt += 1,
        AttemptChange::Reset => job.attempt = 0,
    }
    job.history.extend(change.entries.iter().cloned());
    if seen.history.len() + change.entries.len() > MAX_HISTORY {
        job.history = compact_history(job.history);
    }
    job.run_at = change.run_at.map(|(at, _)| stored(at));
    job.handed_off = change.run_at.is_some_and(|(_, handed)| handed);
    job.lease_until = change.lease.map(|(until, _)| stored(until));
    job.claimed_version = change.lease.map(|(_, v)| v);
    if let Some(err) = &change.last_error {
        job.last_error = Some(err.clone());
    }
    if let Some(params) = &change.params {
        job.params = params.clone();
    }
    if let Some(conts) = conts {
        job.continuations = conts.clone();
    }
    job.expires_at = change.to.expires().then(|| {
        let keep = seen.options.retention.unwrap_or(store.retention);
        DateTime::from_timestamp(now.timestamp() + keep.as_secs() as i64, 0)
            .expect("within chrono's range")
    });
    if !change.keep_place {
        job.parked_at = None;
        job.waiting_for = None;
    }
    job
}

/// The code and, where returned, the item of each part of a cancelled
/// transaction (empty for any other error).
pub(super) fn cancellation_reasons<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Vec<(String, Option<Item>)> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    match err.as_service_error() {
        Some(E::TransactionCanceledException(tc)) => tc
            .cancellation_reasons()
            .iter()
            .map(|r| (r.code().unwrap_or("None").to_owned(), r.item().cloned()))
            .collect(),
        _ => Vec::new(),
    }
}
