//! Changing a job: one conditional `UpdateItem` per transition (with the
//! item's place in the index, its batch's count and its history), the
//! lease extended, and a finished job moved where it rests once its
//! continuations are released.

use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, Update as TxUpdate,
};
use chrono::{DateTime, Utc};

use super::batches::{Counted, Tally};
use super::expr::Expr;
use super::item::{compact_history, history_av, ms, n, parse_job, place_for, s, to_av};
use super::schema::{attr, job_key, shard_of};
use super::{
    AttemptChange, CONDITION_ROUNDS, Change, Expect, Extra, SERVICE, Store, WriteError,
    condition_outcome, is_condition_failed, is_write_conflict, send_through_conflicts,
};
use crate::error::{Error, Result};
use crate::job::{Continuation, HistoryEntry, JobId, JobRecord, MAX_HISTORY};
use crate::state::{State, can_transition};

impl Change {
    /// To Scheduled, due `run_at`: the entry marked with its due time,
    /// and whether its wake-up goes to SQS at once (due within SQS's
    /// delay) or later by the timer.
    pub fn scheduled(
        entry: HistoryEntry,
        run_at: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let mut change = Change::new(State::Scheduled, entry.due(run_at));
        change.run_at = Some((run_at, crate::timing::send_delay(now, run_at).is_some()));
        change
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
    if let Some(args) = &change.args {
        job.args = args.clone();
    }
    if change.progress.is_some() || change.to == State::Processing {
        job.progress = change.progress.clone();
    }
    if change.to == State::Succeeded {
        job.result = change
            .result
            .as_deref()
            .map(|text| serde_json::from_str(text).expect("a result is JSON the worker wrote"));
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

impl Store {
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

    /// Records a running job's progress without a change of version (the
    /// run's finishing write still finds the version it claimed), if it is
    /// still Processing at `version` under a live lease. Returns false if
    /// the job changed.
    pub(crate) async fn set_progress(
        &self,
        id: &crate::job::JobId,
        version: u64,
        progress: &crate::job::Progress,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut e = Expr::default();
        e.set(attr::PROGRESS, to_av(progress));
        e.cond_eq(attr::VERSION, n(version));
        e.cond_eq(attr::STATE, s(State::Processing.as_str()));
        e.cond_live(now);
        self.update(job_key(id), e).await
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

    pub(super) async fn apply_once(
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
            Extra::NeverRun => {
                let attempt = e.n(attr::ATTEMPT);
                let zero = e.v("never", n(0));
                e.cond(format!("{attempt} = {zero}"));
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
        if let Some(args) = &change.args {
            e.set(attr::ARGS, s(args.to_string()));
        }
        if change.to == State::Succeeded {
            e.set_or_remove(attr::RESULT, change.result.as_deref().map(s));
        }
        match &change.progress {
            Some(p) => e.set(attr::PROGRESS, to_av(p)),
            None if change.to == State::Processing => e.remove(attr::PROGRESS),
            None => {}
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
}
