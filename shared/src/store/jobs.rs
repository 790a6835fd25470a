//! Creating and reading jobs, and adding a continuation to a job.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, WriteRequest,
};
use chrono::{DateTime, Utc};

use super::expr::Expr;
use super::item::{Item, is_expired, job_item, n, parse_job, place_of, s, to_av};
use super::schema::{attr, job_key};
use super::{SERVICE, Store, WriteError, is_transaction_conflict, send_through_conflicts};
use crate::error::{Error, Result};
use crate::job::{Continuation, JobId, JobRecord, MAX_CONTINUATIONS};
use crate::state::State;

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
        self.write_tags(std::slice::from_ref(job)).await?;
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
        self.write_tags(jobs).await?;
        let puts = jobs.iter().map(|job| put_request(self.item(job))).collect();
        self.batch_write(puts).await
    }

    /// Writes with `BatchWriteItem` (25 per call), retrying unprocessed
    /// items with a growing back-off.
    pub(super) async fn batch_write(&self, writes: Vec<WriteRequest>) -> Result<()> {
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            let mut requests: Vec<WriteRequest> = writes.by_ref().take(25).collect();
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

    /// The job in an item a failed condition returned, unless it expired.
    pub(super) fn live(
        &self,
        item: Option<&Item>,
        now: DateTime<Utc>,
    ) -> Result<Option<Box<JobRecord>>> {
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
        self.write_tags(std::slice::from_ref(child)).await?;
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

/// A `BatchWriteItem` put of `item`.
pub(super) fn put_request(item: Item) -> WriteRequest {
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .expect("item set"),
        )
        .build()
}
