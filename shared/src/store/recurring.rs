//! Recurring job records and their firings.

use aws_sdk_dynamodb::types::{
    Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use chrono::{DateTime, Utc};

use super::expr::Expr;
use super::item::{ms, n, parse_job, parse_recurring, recurring_item, recurring_place, s};
use super::jobs::cancellation_reasons;
use super::schema::{Bucket, attr, recurring_key};
use super::{
    SERVICE, Store, is_condition_failed, is_transaction_conflict, is_write_conflict,
    send_through_conflicts,
};
use crate::error::{Error, Result};
use crate::job::{JobId, JobRecord};
use crate::recurring::RecurringJob;
use crate::state::State;

/// What became of a firing.
#[derive(Debug)]
pub enum Fire {
    /// The occurrence's job was created and the recurring job advanced to
    /// this version.
    Fired(u64),
    /// The occurrence's job exists and was not deleted before it ran: the
    /// occurrence counts as fired. Nothing was written.
    Exists(Box<JobRecord>),
    /// The recurring job changed since it was read (another tick fired it,
    /// or it was updated, disabled or removed). Nothing was written.
    Changed,
}

impl Store {
    /// Writes a recurring job: a new one (`expect` None: fails if it
    /// exists) or over the version `expect` names. A failed condition is
    /// [`Error::Conflict`].
    pub(crate) async fn put_recurring(&self, r: &RecurringJob, expect: Option<u64>) -> Result<()> {
        let mut cond = Expr::default();
        cond.cond_version(expect);
        let put = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(recurring_item(r, self.shards)))
            .set_condition_expression(cond.condition_expression())
            .set_expression_attribute_names(cond.names())
            .set_expression_attribute_values(cond.values());
        let res = send_through_conflicts(|| put.clone().send(), is_write_conflict).await;
        match res {
            Ok(_) => Ok(()),
            Err(_) if is_condition_failed(&res) => Err(conflict(&r.id)),
            Err(e) => Err(Error::aws(SERVICE, "PutItem", e)),
        }
    }

    /// Reads a recurring job (strongly consistent).
    pub async fn get_recurring(&self, id: &str) -> Result<Option<RecurringJob>> {
        self.get_item(recurring_key(id))
            .await?
            .map(|i| parse_recurring(&i))
            .transpose()
    }

    /// Every recurring job, by id: a query per shard of the Recurring
    /// bucket, then `BatchGetItem`.
    pub async fn list_recurring(&self) -> Result<Vec<RecurringJob>> {
        let pks = self.bucket_keys(Bucket::Recurring).await?;
        let mut all = self
            .get_items(&pks, true)
            .await?
            .iter()
            .map(parse_recurring)
            .collect::<Result<Vec<_>>>()?;
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// Deletes a recurring job; returns it as it was, if it existed.
    pub(crate) async fn delete_recurring(&self, id: &str) -> Result<Option<RecurringJob>> {
        let out = self
            .ddb
            .delete_item()
            .table_name(&self.table)
            .key(attr::PK, s(recurring_key(id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "DeleteItem", e))?;
        out.attributes.map(|i| parse_recurring(&i)).transpose()
    }

    /// The update that advances a recurring job read at `rec.version` to
    /// its `next` occurrence, recording `fired` as its last run; it clears
    /// the last error.
    fn advance_expr(
        &self,
        rec: &RecurringJob,
        next: Option<DateTime<Utc>>,
        fired: Option<(DateTime<Utc>, &JobId)>,
        now: DateTime<Utc>,
    ) -> Expr {
        let mut e = Expr::default();
        e.set_or_remove(attr::NEXT_RUN, next.map(ms));
        let moved = RecurringJob {
            next_run: next,
            ..rec.clone()
        };
        e.set(attr::BUCKET_AT, ms(recurring_place(&moved).1));
        e.set(attr::UPDATED, ms(now));
        if let Some((occurrence, job)) = fired {
            e.set(attr::LAST_RUN, ms(occurrence));
            e.set(attr::LAST_JOB, s(job.as_str()));
        }
        e.remove(attr::LAST_ERROR);
        e.bump_version();
        e.cond_eq(attr::VERSION, n(rec.version));
        e
    }

    /// Fires one occurrence in one transaction: creates its job (or
    /// replaces one deleted before it ever ran: an occurrence stopped by an
    /// update, a disable or a removal) and advances the recurring job from
    /// the version it was read at to `next`.
    pub(crate) async fn fire_occurrence(
        &self,
        rec: &RecurringJob,
        job: &JobRecord,
        occurrence: DateTime<Utc>,
        next: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Fire> {
        self.write_tags(std::slice::from_ref(job)).await?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.item(job)))
            .condition_expression(format!(
                "{} OR (#state = :deleted AND #attempt = :zero)",
                super::jobs::CREATE_CONDITION
            ))
            .set_expression_attribute_names(Some(super::jobs::create_names()))
            .set_expression_attribute_values(Some(super::jobs::create_values(now)))
            .expression_attribute_names("#state", attr::STATE)
            .expression_attribute_names("#attempt", attr::ATTEMPT)
            .expression_attribute_values(":deleted", s(State::Deleted.as_str()))
            .expression_attribute_values(":zero", n(0))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| Error::aws(SERVICE, "TransactWriteItems", e))?;
        let e = self.advance_expr(rec, next, Some((occurrence, &job.id)), now);
        let update = self.tx_update(recurring_key(&rec.id), &e)?;
        let request = self
            .ddb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build());
        let err = match send_through_conflicts(|| request.clone().send(), is_transaction_conflict)
            .await
        {
            Ok(_) => return Ok(Fire::Fired(rec.version + 1)),
            Err(e) => e,
        };
        let reasons = cancellation_reasons(&err);
        let failed = |i: usize| {
            reasons
                .get(i)
                .is_some_and(|(code, _)| code == "ConditionalCheckFailed")
        };
        if failed(1) {
            return Ok(Fire::Changed);
        }
        if failed(0) {
            let existing = reasons[0].1.as_ref().map(parse_job).transpose()?;
            return match existing {
                Some(job) => Ok(Fire::Exists(Box::new(job))),
                // Gone between the check and now: let the next tick fire it.
                None => Ok(Fire::Changed),
            };
        }
        Err(Error::aws(SERVICE, "TransactWriteItems", err))
    }

    /// Advances a recurring job read at `rec.version` to `next` without
    /// creating a job (missed occurrences skipped, or an occurrence whose
    /// job exists). Returns the new version, or None if it changed.
    pub(crate) async fn advance_recurring(
        &self,
        rec: &RecurringJob,
        next: Option<DateTime<Utc>>,
        fired: Option<(DateTime<Utc>, &JobId)>,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>> {
        let e = self.advance_expr(rec, next, fired, now);
        Ok(self
            .update_recurring(&rec.id, e)
            .await?
            .then_some(rec.version + 1))
    }

    /// Records why a recurring job could not fire, if it still exists, and
    /// looks at it again at `retry_at`. Returns false if it is gone.
    pub(crate) async fn recurring_error(
        &self,
        id: &str,
        message: &str,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut e = Expr::default();
        e.set(
            attr::LAST_ERROR,
            s(crate::job::truncate(
                message,
                crate::job::MAX_DATA_VALUE_BYTES,
            )),
        );
        e.set(attr::BUCKET_AT, ms(retry_at));
        e.set(attr::UPDATED, ms(now));
        e.bump_version();
        let pk = e.n(attr::PK);
        e.cond(format!("attribute_exists({pk})"));
        self.update_recurring(id, e).await
    }

    /// Records a job started by hand from a recurring job, if it still
    /// exists.
    pub(crate) async fn recurring_triggered(
        &self,
        id: &str,
        job: &JobId,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut e = Expr::default();
        e.set(attr::LAST_RUN, ms(now));
        e.set(attr::LAST_JOB, s(job.as_str()));
        e.set(attr::UPDATED, ms(now));
        e.bump_version();
        let pk = e.n(attr::PK);
        e.cond(format!("attribute_exists({pk})"));
        self.update_recurring(id, e).await
    }

    async fn update_recurring(&self, id: &str, e: Expr) -> Result<bool> {
        self.update(recurring_key(id), e).await
    }
}

fn conflict(id: &str) -> Error {
    Error::Conflict {
        id: JobId::parse(id).expect("recurring ids are valid job ids"),
    }
}
