//! Concurrency limits and ordering keys: at most `n` runs at once per key
//! (ordered: one, in sequence), across all workers.
//!
//! The key's item, `pk = "conc#<key>"`, holds the runs that have a slot
//! (`holders`, a string set of `<job id>@<lease ms>`: a slot whose lease
//! has passed is free again), the jobs waiting (`waiting`) and the limit
//! (`lim`); an ordering key's also the next number allowed to start. A job
//! that finds no slot waits on the index in the key's own partition
//! (`wait#<key>`, oldest first) without a worker; a finishing run wakes the
//! oldest, and the timer looks at keys with waiting jobs now and then
//! (bucket `limits`) in case a wake-up was missed.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::item::{get_n, n, s};
use super::schema::attr;
use super::{
    SERVICE, Store, condition_outcome, is_condition_failed, is_write_conflict,
    send_through_conflicts,
};
use crate::clock::{from_millis, to_millis};
use crate::error::{Error, Result};
use crate::limits::SlotState;

pub(crate) fn conc_key(key: &str) -> String {
    format!("conc#{key}")
}

fn slot_state(item: &super::item::Item, now: DateTime<Utc>) -> SlotState {
    let holders: Vec<String> = item
        .get(attr::HOLDERS)
        .and_then(|v| v.as_ss().ok())
        .cloned()
        .unwrap_or_default();
    let now_ms = to_millis(now);
    let (live, expired) = holders.into_iter().partition(|h| {
        h.rsplit_once('@')
            .and_then(|(_, ms)| ms.parse::<i64>().ok())
            .is_some_and(|lease| lease >= now_ms)
    });
    SlotState {
        live,
        expired,
        waiting: get_n::<i64>(item, attr::WAITING).unwrap_or(0).max(0) as u64,
        look_ms: get_n(item, attr::BUCKET_AT),
        limit: get_n(item, attr::LIMIT).unwrap_or(1),
        next: get_n(item, attr::SEQ_NEXT),
        next_since: get_n::<i64>(item, attr::SEQ_SINCE).map(from_millis),
    }
}

impl Store {
    /// Takes a slot under `key` for `holder` (`<job id>@<lease ms>`) if
    /// fewer than `limit` live runs hold one, freeing slots whose lease has
    /// passed on the way. True if taken.
    /// An ordered job's `seq` also must not be past the key's `next`.
    pub async fn acquire_slot(
        &self,
        key: &str,
        limit: u32,
        holder: &str,
        seq: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        for _ in 0..3 {
            let mut request = self
                .ddb
                .update_item()
                .table_name(&self.table)
                .key(attr::PK, s(conc_key(key)))
                .update_expression("ADD #h :e SET #l = :n")
                .expression_attribute_names("#h", attr::HOLDERS)
                .expression_attribute_names("#l", attr::LIMIT)
                .expression_attribute_values(":e", AttributeValue::Ss(vec![holder.to_owned()]))
                .expression_attribute_values(":n", n(limit))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            request = match seq {
                None => request.condition_expression("attribute_not_exists(#h) OR size(#h) < :n"),
                Some(seq) => request
                    .condition_expression(
                        "(attribute_not_exists(#h) OR size(#h) < :n) AND #nx >= :seq",
                    )
                    .expression_attribute_names("#nx", attr::SEQ_NEXT)
                    .expression_attribute_values(":seq", n(seq)),
            };
            let res = send_through_conflicts(|| request.clone().send(), is_write_conflict).await;
            let old = match condition_outcome(res)? {
                Ok(_) => return Ok(true),
                Err(old) => old.unwrap_or_default(),
            };
            let state = slot_state(&old, now);
            if state.expired.is_empty() {
                return Ok(false);
            }
            // Runs that lost their lease no longer hold a slot.
            self.drop_holders(key, &state.expired).await?;
        }
        Ok(false)
    }

    /// Frees slots (removing absent holders is harmless).
    pub async fn drop_holders(&self, key: &str, holders: &[String]) -> Result<()> {
        if holders.is_empty() {
            return Ok(());
        }
        self.ddb
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(conc_key(key)))
            .update_expression("DELETE #h :e")
            .expression_attribute_names("#h", attr::HOLDERS)
            .expression_attribute_values(":e", AttributeValue::Ss(holders.to_vec()))
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "UpdateItem", e))?;
        Ok(())
    }

    /// Gives out `count` sequence numbers of an ordering key; returns the
    /// first.
    pub async fn allocate_seq(&self, key: &str, count: u64, now: DateTime<Utc>) -> Result<u64> {
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(conc_key(key)))
            .update_expression(
                "ADD #last :count SET #nx = if_not_exists(#nx, :one), #since = if_not_exists(#since, :now), #l = :one",
            )
            .expression_attribute_names("#last", attr::SEQ_LAST)
            .expression_attribute_names("#nx", attr::SEQ_NEXT)
            .expression_attribute_names("#since", attr::SEQ_SINCE)
            .expression_attribute_names("#l", attr::LIMIT)
            .expression_attribute_values(":count", n(count))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", super::item::ms(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "UpdateItem", e))?;
        let last: u64 = out
            .attributes
            .as_ref()
            .and_then(|a| get_n(a, attr::SEQ_LAST))
            .unwrap_or(count);
        Ok(last + 1 - count)
    }

    /// Gives back an ordered job's slot and, when the job has ended
    /// (`advance`), lets the next in the sequence start. Returns the key as
    /// it is now.
    pub async fn release_ordered(
        &self,
        key: &str,
        holder: &str,
        seq: u64,
        advance: bool,
        now: DateTime<Utc>,
    ) -> Result<SlotState> {
        if advance {
            let res = self
                .ddb
                .update_item()
                .table_name(&self.table)
                .key(attr::PK, s(conc_key(key)))
                .update_expression("DELETE #h :e SET #nx = :after, #since = :now")
                .condition_expression("#nx = :seq")
                .expression_attribute_names("#h", attr::HOLDERS)
                .expression_attribute_names("#nx", attr::SEQ_NEXT)
                .expression_attribute_names("#since", attr::SEQ_SINCE)
                .expression_attribute_values(":e", AttributeValue::Ss(vec![holder.to_owned()]))
                .expression_attribute_values(":after", n(seq + 1))
                .expression_attribute_values(":seq", n(seq))
                .expression_attribute_values(":now", super::item::ms(now))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
                .send()
                .await;
            match res {
                Ok(out) => return Ok(slot_state(&out.attributes.unwrap_or_default(), now)),
                // `next` moved on already (this job was skipped as missing).
                Err(_) if is_condition_failed(&res) => {}
                Err(e) => return Err(Error::aws(SERVICE, "UpdateItem", e)),
            }
        }
        self.release_slot(key, holder, now).await
    }

    /// Skips an ordering key's `next` from `from` to `to` (the lowest
    /// waiting job), if it is still `from`.
    pub async fn skip_to(&self, key: &str, from: u64, to: u64, now: DateTime<Utc>) -> Result<bool> {
        let mut e = super::expr::Expr::default();
        e.set(attr::SEQ_NEXT, n(to));
        e.set(attr::SEQ_SINCE, super::item::ms(now));
        e.cond_eq(attr::SEQ_NEXT, n(from));
        self.update(conc_key(key), e).await
    }

    /// Gives back a slot; returns the key as it is now.
    pub async fn release_slot(
        &self,
        key: &str,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Result<SlotState> {
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(conc_key(key)))
            .update_expression("DELETE #h :e")
            .expression_attribute_names("#h", attr::HOLDERS)
            .expression_attribute_values(":e", AttributeValue::Ss(vec![holder.to_owned()]))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "UpdateItem", e))?;
        Ok(slot_state(&out.attributes.unwrap_or_default(), now))
    }

    /// A concurrency key as it is now (strongly consistent).
    pub async fn slot_state(&self, key: &str, now: DateTime<Utc>) -> Result<SlotState> {
        Ok(self
            .get_item(conc_key(key))
            .await?
            .map(|i| slot_state(&i, now))
            .unwrap_or_default())
    }

    /// Adds `delta` to the jobs waiting on `key` and has the timer look at
    /// the key at `next_look` (a safety net behind the wake-ups).
    pub async fn adjust_waiting(
        &self,
        key: &str,
        delta: i64,
        next_look: DateTime<Utc>,
    ) -> Result<()> {
        let mut e = super::expr::Expr::default();
        let w = e.n(attr::WAITING);
        let d = e.v("delta", n(delta));
        let zero = e.v("zero", n(0));
        e.set_raw(format!("{w} = if_not_exists({w}, {zero}) + {d}"));
        e.set(
            attr::BUCKET,
            s(super::Bucket::Limits.key(super::schema::shard_of(key, self.shards))),
        );
        e.set(attr::BUCKET_AT, super::item::ms(next_look));
        self.update(conc_key(key), e).await.map(drop)
    }

    /// Sets the waiting count to 0 and stops the timer's looks, if neither
    /// changed since `seen` was read (a job that started waiting since
    /// counted itself first, which moved the look: it keeps them).
    pub async fn clear_waiting(&self, key: &str, seen: &SlotState) -> Result<()> {
        let mut e = super::expr::Expr::default();
        let w = e.n(attr::WAITING);
        let counted = e.v("counted", n(seen.waiting));
        e.set(attr::WAITING, n(0));
        e.set(attr::BUCKET_AT, n(super::schema::NEVER_MS));
        e.cond(format!("(attribute_not_exists({w}) OR {w} <= {counted})"));
        match seen.look_ms {
            Some(at) => e.cond_eq(attr::BUCKET_AT, n(at)),
            None => {
                let at = e.n(attr::BUCKET_AT);
                e.cond(format!("attribute_not_exists({at})"));
            }
        }
        self.update(conc_key(key), e).await.map(drop)
    }

    /// Sets the waiting count to `count` (the jobs the key's list holds)
    /// and has the timer look at the key at `next_look`.
    pub async fn recount_waiting(
        &self,
        key: &str,
        count: u64,
        next_look: DateTime<Utc>,
    ) -> Result<()> {
        let mut e = super::expr::Expr::default();
        e.set(attr::WAITING, n(count));
        e.set(attr::BUCKET_AT, super::item::ms(next_look));
        self.update(conc_key(key), e).await.map(drop)
    }

    /// Moves a job whose wake-up found no slot to its key's waiting list
    /// (not a state change), sorted by `order_at`: the time it started
    /// waiting (ms), or an ordered job's number.
    pub async fn wait_for_slot(
        &self,
        id: &crate::job::JobId,
        held: super::queues::Held,
        key: &str,
        order_at: i64,
        now: DateTime<Utc>,
    ) -> Result<super::Hold> {
        let place = (super::list::waiting_partition(key), order_at);
        self.hold(id, held, place, attr::WAITS, s(key), now).await
    }

    /// The oldest jobs waiting on `key`, at most `limit`.
    pub async fn waiters(&self, key: &str, limit: usize) -> Result<Vec<(crate::job::JobId, i64)>> {
        let out = self
            .ddb
            .query()
            .table_name(&self.table)
            .index_name(super::INDEX)
            .key_condition_expression("#b = :b")
            .expression_attribute_names("#b", attr::BUCKET)
            .expression_attribute_values(":b", s(super::list::waiting_partition(key)))
            .limit(limit.clamp(1, 100) as i32)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "Query", e))?;
        Ok(out.items().iter().filter_map(get_s_pk).collect())
    }

    /// Takes a job off its key's waiting list, back to the Active bucket,
    /// and returns it for its wake-up. None if it was no longer waiting.
    pub async fn stop_waiting(
        &self,
        id: &crate::job::JobId,
        now: DateTime<Utc>,
    ) -> Result<Option<crate::job::JobRecord>> {
        self.unhold(id, attr::WAITS, now).await
    }

    /// Concurrency keys whose look by the timer is due, in one shard.
    pub async fn due_limits(&self, shard: u32, now: DateTime<Utc>) -> Result<Vec<String>> {
        let out = self
            .due_query(super::Bucket::Limits, shard, now)
            .limit(100)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "Query", e))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|i| super::item::get_s(i, attr::PK)?.strip_prefix("conc#"))
            .map(str::to_owned)
            .collect())
    }
}

fn get_s_pk(item: &super::item::Item) -> Option<(crate::job::JobId, i64)> {
    let id = super::item::get_s(item, attr::PK)?.strip_prefix("job#")?;
    Some((
        crate::job::JobId::parse(id).ok()?,
        get_n(item, attr::BUCKET_AT).unwrap_or(0),
    ))
}
