//! The timer tick, run every minute by the scheduler Lambda (or every few
//! seconds by `hangar dev`). One pass over the sparse `by-due` index:
//!
//! - a Scheduled job coming due within [`crate::timing::LOOKAHEAD`] is handed to SQS with
//!   the remaining seconds as `DelaySeconds` and marked handed off;
//! - an Enqueued or handed-off job that has not started within the grace
//!   period gets its wake-up sent again (a lost send);
//! - a Processing job whose lease expired a grace period ago gets a wake-up
//!   for the claiming version, which the worker treats as a redelivery and
//!   reclaims (a crashed worker whose message is gone);
//! - a Succeeded or Deleted job whose continuations were not all released
//!   (its worker or client stopped in between) has them released;
//! - a recurring job fires the occurrences coming due.
//!
//! Each action is a conditional write on the version the index showed, then
//! the send, so an overlapping tick or a concurrent reschedule or delete
//! makes the write fail and nothing is sent twice for the same version. The
//! worker decides from DynamoDB anyway (design invariant 2).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::client::Client;
use crate::clock::{from_millis, to_millis};
use crate::core::Core;
use crate::cron::Schedule;
use crate::error::{Error, Result, error_chain};
use crate::job::JobId;
use crate::message::WakeUp;
use crate::recurring::{
    self, LAST_JOB, LAST_RUN, MISFIRE_TOLERANCE, NEXT_RUN, RecurringJob, plan_firings,
};
use crate::state::State;
use crate::store::{INDEX_BY_DUE, attr, job_key, n, parse_item, s};
use crate::timing::{RECURRING_LOOKAHEAD, chrono_dur};

/// Items read from the index per query page.
const PAGE: i32 = 100;
/// Actions run at once within a page.
const CONCURRENCY: usize = 16;

/// Longest wait between two repair re-sends of the same job.
pub const MAX_RESEND_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// What a `mark` records besides the new due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// The wake-up is being handed to SQS for the first time.
    HandOff,
    /// The wake-up is being sent again (repair).
    Resend,
    /// A finished job's continuations are being released again (repair);
    /// the write returns the job, which the release needs.
    Release,
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Scheduled jobs handed to SQS, with the delay each was sent with.
    pub handed_off: Vec<(JobId, Duration)>,
    /// Enqueued or handed-off jobs whose wake-up was sent again.
    pub resent: Vec<JobId>,
    /// Processing jobs with an expired lease, sent for reclaim.
    pub lease_expired: Vec<JobId>,
    /// Finished jobs whose continuations the timer released.
    pub released: Vec<JobId>,
    /// Jobs created by recurring jobs.
    pub fired: Vec<JobId>,
    /// Missed recurring occurrences skipped by their misfire policy.
    pub skipped: usize,
    /// Index entries that needed nothing (already acted on by another tick).
    pub stale: usize,
    /// Actions that failed; their items stay due and are retried next tick.
    pub errors: usize,
    /// DynamoDB queries made.
    pub queries: usize,
    /// False when the time budget ran out before the index was drained.
    pub complete: bool,
}

impl TickReport {
    /// Logs what the tick did (`debug` when nothing was due), and a `warn`
    /// when actions failed or the budget ran out.
    pub fn log(&self) {
        let (h, r, l, c, f) = (
            self.handed_off.len(),
            self.resent.len(),
            self.lease_expired.len(),
            self.released.len(),
            self.fired.len(),
        );
        if h + r + l + c + f + self.skipped + self.errors == 0 && self.complete {
            tracing::debug!(queries = self.queries, "tick: nothing due");
            return;
        }
        tracing::info!(
            handed_off = h,
            resent = r,
            lease_expired = l,
            released = c,
            fired = f,
            skipped = self.skipped,
            "tick"
        );
        if self.errors > 0 || !self.complete {
            tracing::warn!(
                errors = self.errors,
                complete = self.complete,
                "tick left work for the next tick"
            );
        }
    }
}

/// Runs timer ticks.
#[derive(Debug, Clone)]
pub struct Timer {
    core: Arc<Core>,
    client: Client,
}

enum Action {
    HandOff(JobId, Duration),
    Resent(JobId),
    LeaseExpired(JobId),
    /// Continuations released; false if some failed (logged by the release;
    /// the job stays due and the next look retries).
    Released(JobId, bool),
    Fired(Vec<JobId>, usize),
    Stale,
}

impl Timer {
    /// A timer sharing a client's clients, clock and configuration.
    pub fn new(client: &Client) -> Self {
        Timer {
            core: client.core.clone(),
            client: client.clone(),
        }
    }

    /// One tick at the clock's current time, stopping after `budget` (the
    /// rest is picked up by the next tick).
    pub async fn tick(&self, budget: Duration) -> Result<TickReport> {
        let started = Instant::now();
        let now = self.core.now();
        let mut report = TickReport {
            complete: true,
            ..TickReport::default()
        };
        let mut sends: BTreeMap<String, Vec<(WakeUp, Duration)>> = BTreeMap::new();
        // Start at a different shard each tick so a backlog in one shard
        // cannot starve the others when the budget runs out.
        let shards = self.core.store.shards();
        let first = (now.timestamp() / 60).rem_euclid(i64::from(shards)) as u32;
        'shards: for shard in (0..shards).map(|i| (first + i) % shards) {
            let mut start = None;
            loop {
                if started.elapsed() >= budget {
                    report.complete = false;
                    break 'shards;
                }
                let out = self
                    .core
                    .store
                    .dynamodb()
                    .query()
                    .table_name(self.core.store.table())
                    .index_name(INDEX_BY_DUE)
                    .key_condition_expression("#k = :k AND #at <= :now")
                    .expression_attribute_names("#k", attr::DUE_KEY)
                    .expression_attribute_names("#at", attr::DUE_AT)
                    .expression_attribute_values(":k", s(format!("due#{shard}")))
                    .expression_attribute_values(":now", n(to_millis(now)))
                    .limit(PAGE)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| Error::aws("DynamoDB", "Query", e))?;
                report.queries += 1;
                let items = out.items.unwrap_or_default();
                for chunk in items.chunks(CONCURRENCY) {
                    // Items left on this page stay due and come back on the
                    // next tick.
                    if started.elapsed() >= budget {
                        report.complete = false;
                        break;
                    }
                    let mut set = tokio::task::JoinSet::new();
                    for item in chunk {
                        let this = self.clone();
                        let item = item.clone();
                        set.spawn(async move { this.act(&item, now).await });
                    }
                    while let Some(res) = set.join_next().await {
                        match res.expect("timer action does not panic") {
                            Ok((action, send)) => {
                                if let Some((queue, msg, delay)) = send {
                                    sends.entry(queue).or_default().push((msg, delay));
                                }
                                match action {
                                    Action::HandOff(id, d) => report.handed_off.push((id, d)),
                                    Action::Resent(id) => report.resent.push(id),
                                    Action::LeaseExpired(id) => report.lease_expired.push(id),
                                    Action::Released(id, true) => report.released.push(id),
                                    Action::Released(_, false) => report.errors += 1,
                                    Action::Fired(ids, skipped) => {
                                        report.fired.extend(ids);
                                        report.skipped += skipped;
                                    }
                                    Action::Stale => report.stale += 1,
                                }
                            }
                            Err(e) => {
                                report.errors += 1;
                                tracing::error!(error = %error_chain(&e), "timer action failed; retried next tick");
                            }
                        }
                    }
                }
                if !report.complete {
                    break 'shards;
                }
                start = out.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        // Every write above happened before its send (design invariant 4): a
        // failed send leaves the job due again after the grace period.
        for (queue, msgs) in sends {
            match self.core.queues.send_batch(&queue, &msgs).await {
                Ok(failed) => report.errors += failed.len(),
                Err(e) => {
                    report.errors += msgs.len();
                    tracing::error!(queue, error = %error_chain(&e), "wake-ups not sent; the jobs stay due");
                }
            }
        }
        Ok(report)
    }

    async fn act(
        &self,
        item: &HashMap<String, AttributeValue>,
        now: DateTime<Utc>,
    ) -> Result<(Action, Option<(String, WakeUp, Duration)>)> {
        let pk = item
            .get(attr::PK)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        if let Some(id) = pk.strip_prefix("recurring#") {
            let fired = self.fire_recurring(id, now).await?;
            return Ok((fired, None));
        }
        let Some(id) = pk.strip_prefix("job#") else {
            return Ok((Action::Stale, None));
        };
        let id = JobId::parse(id)?;
        let get_n = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
        };
        let state: State = match item
            .get(attr::STATE)
            .and_then(|v| v.as_s().ok())
            .map(|v| v.parse())
        {
            Some(Ok(st)) => st,
            _ => return Ok((Action::Stale, None)),
        };
        let version = get_n(attr::VERSION).unwrap_or(0) as u64;
        let queue = item
            .get(attr::QUEUE)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_else(|| crate::job::DEFAULT_QUEUE.to_owned());
        let timeout_s = get_n(attr::TIMEOUT).map(|t| t as u64);
        let handed_off = matches!(item.get(attr::HANDED_OFF), Some(AttributeValue::Bool(true)));
        // Repair backs off: a job is first re-sent a grace period after it
        // should have started, and each further re-send without the job
        // moving on waits twice as long as the one before (2×, 4×, … at
        // most MAX_RESEND_INTERVAL), so a job behind a deep backlog is not
        // sent again every grace period.
        let resends = get_n(attr::RESENDS).unwrap_or(0).clamp(0, 15) as u32 + 1;
        let interval = (self.core.config.grace * 2u32.pow(resends)).min(MAX_RESEND_INTERVAL);
        let grace_due = now + chrono_dur(interval);
        let wake = |v: u64, st: State| WakeUp {
            timeout_s,
            ..WakeUp::new(id.clone(), v, st)
        };
        match state {
            State::Scheduled if !handed_off => {
                let run_at = get_n(attr::RUN_AT).map(from_millis).unwrap_or(now);
                let delay = (run_at - now).to_std().unwrap_or(Duration::ZERO);
                // An overdue job (after an outage) is sent now; either way it
                // becomes due for repair a grace period after it should start.
                let due = run_at.max(now) + chrono_dur(self.core.config.grace);
                if self
                    .mark(&id, version, state, due, Mark::HandOff, now)
                    .await?
                    .is_none()
                {
                    return Ok((Action::Stale, None));
                }
                Ok((
                    Action::HandOff(id.clone(), delay),
                    Some((queue, wake(version, state), delay)),
                ))
            }
            State::Scheduled | State::Enqueued => {
                if self
                    .mark(&id, version, state, grace_due, Mark::Resend, now)
                    .await?
                    .is_none()
                {
                    return Ok((Action::Stale, None));
                }
                tracing::warn!(job = %id, %state, "job has not started within the grace period; sending its wake-up again");
                Ok((
                    Action::Resent(id.clone()),
                    Some((queue, wake(version, state), Duration::ZERO)),
                ))
            }
            State::Processing => {
                let Some(claimed) = get_n(attr::CLAIMED_V) else {
                    return Ok((Action::Stale, None));
                };
                if self
                    .mark(&id, version, state, grace_due, Mark::Resend, now)
                    .await?
                    .is_none()
                {
                    return Ok((Action::Stale, None));
                }
                tracing::warn!(job = %id, "lease expired and the job was not reclaimed; sending a wake-up for its claim");
                Ok((
                    Action::LeaseExpired(id.clone()),
                    Some((queue, wake(claimed as u64, State::Enqueued), Duration::ZERO)),
                ))
            }
            State::Succeeded | State::Deleted => {
                // Its final write kept it due because it has continuations,
                // and whoever wrote it did not finish releasing them. The
                // mark moves the next look out (with the same back-off) in
                // case this release fails too.
                let Some(job) = self
                    .mark(&id, version, state, grace_due, Mark::Release, now)
                    .await?
                else {
                    return Ok((Action::Stale, None));
                };
                tracing::warn!(job = %id, %state, "continuations of a finished job were not all released; releasing them");
                let done = self.core.release(&parse_item(&job)?).await;
                Ok((Action::Released(id.clone(), done), None))
            }
            // Not due for anything: an index entry a later write has not
            // removed yet (the index is eventually consistent).
            _ => Ok((Action::Stale, None)),
        }
    }

    /// Moves a job's `due_at` (and sets `handed_off`) on the condition that
    /// it is still at the version and state the index showed. Returns None
    /// if it changed meanwhile, else the item as written ([`Mark::Release`])
    /// or an empty map. Not a state change: no history entry, no new
    /// version, so the message sent for this version stays valid.
    async fn mark(
        &self,
        id: &JobId,
        v: u64,
        state: State,
        due: DateTime<Utc>,
        how: Mark,
        now: DateTime<Utc>,
    ) -> Result<Option<HashMap<String, AttributeValue>>> {
        let mut update = "SET #due_at = :due".to_owned();
        let mut cond = "#v = :v AND #state = :state AND #due_at <= :now".to_owned();
        let hand_off = how == Mark::HandOff;
        if hand_off {
            update.push_str(", #handed_off = :true");
            cond.push_str(" AND attribute_not_exists(#handed_off)");
        } else {
            update.push_str(", #resends = if_not_exists(#resends, :zero) + :one");
        }
        let mut req = self
            .core
            .store
            .dynamodb()
            .update_item()
            .table_name(self.core.store.table())
            .key(attr::PK, s(job_key(id)))
            .update_expression(update)
            .condition_expression(cond)
            .expression_attribute_names("#due_at", attr::DUE_AT)
            .expression_attribute_names("#v", attr::VERSION)
            .expression_attribute_names("#state", attr::STATE)
            .expression_attribute_values(":due", n(to_millis(due)))
            .expression_attribute_values(":v", n(v))
            .expression_attribute_values(":state", s(state.as_str()))
            .expression_attribute_values(":now", n(to_millis(now)));
        if hand_off {
            req = req
                .expression_attribute_names("#handed_off", attr::HANDED_OFF)
                .expression_attribute_values(":true", AttributeValue::Bool(true));
        } else {
            req = req
                .expression_attribute_names("#resends", attr::RESENDS)
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1));
        }
        if how == Mark::Release {
            req = req.return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        }
        match req.send().await {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(Error::aws("DynamoDB", "UpdateItem", e)),
        }
    }

    async fn fire_recurring(&self, id: &str, now: DateTime<Utc>) -> Result<Action> {
        let recurring = self.client.recurring();
        let Some(rec) = recurring.get(id).await? else {
            return Ok(Action::Stale);
        };
        let Some(next_run) = rec.next_run.filter(|_| rec.enabled) else {
            return Ok(Action::Stale);
        };
        if next_run - chrono_dur(RECURRING_LOOKAHEAD) > now {
            return Ok(Action::Stale);
        }
        let schedule = match Schedule::parse(&rec.cron, &rec.tz) {
            Ok(s) => s,
            Err(e) => {
                self.recurring_error(&rec, &e.to_string(), now).await?;
                return Ok(Action::Stale);
            }
        };
        let plan = plan_firings(&schedule, next_run, now, rec.misfire);
        let mut fired = Vec::new();
        let mut expected = next_run;
        let missed_before = now - chrono_dur(MISFIRE_TOLERANCE);
        if plan.fire.is_empty() {
            // Everything missed was skipped: just move on.
            self.advance(&rec, expected, plan.next_run, None, now)
                .await?;
            return Ok(Action::Fired(fired, plan.skipped));
        }
        for (i, (occurrence, run_at)) in plan.fire.iter().enumerate() {
            let following = plan.fire.get(i + 1).map(|(o, _)| *o).or(plan.next_run);
            let job = recurring::occurrence_job(
                &rec,
                *occurrence,
                *run_at,
                now,
                *occurrence < missed_before,
            );
            let delay = (job.run_at.unwrap_or(now) - now)
                .to_std()
                .unwrap_or(Duration::ZERO);
            let due = if job.state == State::Scheduled {
                job.run_at.unwrap_or(now) + chrono_dur(self.core.config.grace)
            } else {
                now + chrono_dur(self.core.config.grace)
            };
            let put = Put::builder()
                .table_name(self.core.store.table())
                .set_item(Some(self.core.store.new_item(&job, Some(due))))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", attr::PK)
                .build()
                .map_err(|e| Error::aws("DynamoDB", "TransactWriteItems", e))?;
            let update =
                self.advance_update(&rec, expected, following, Some((*occurrence, &job.id)), now)?;
            let res = self
                .core
                .store
                .dynamodb()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put).build())
                .transact_items(TransactWriteItem::builder().update(update).build())
                .send()
                .await;
            match res {
                Ok(_) => {
                    self.core.wake(&job, delay).await;
                    fired.push(job.id.clone());
                    match following {
                        Some(f) => expected = f,
                        None => break,
                    }
                }
                // Another tick fired this occurrence (or the recurring job
                // changed): leave the rest to it.
                Err(SdkError::ServiceError(e)) if e.err().is_transaction_canceled_exception() => {
                    break;
                }
                Err(e) => return Err(Error::aws("DynamoDB", "TransactWriteItems", e)),
            }
        }
        Ok(Action::Fired(fired, plan.skipped))
    }

    /// The update that moves a recurring job from the occurrence `expected`
    /// to `next`, on the condition that it still expects `expected`.
    fn advance_update(
        &self,
        rec: &RecurringJob,
        expected: DateTime<Utc>,
        next: Option<DateTime<Utc>>,
        fired: Option<(DateTime<Utc>, &JobId)>,
        now: DateTime<Utc>,
    ) -> Result<Update> {
        let mut sets = vec!["#updated = :now_ms".to_owned()];
        let mut removes = Vec::new();
        let mut b = Update::builder()
            .table_name(self.core.store.table())
            .key(attr::PK, s(recurring::recurring_key(&rec.id)))
            .condition_expression("#next_run = :expected")
            .expression_attribute_names("#next_run", NEXT_RUN)
            .expression_attribute_names("#updated", attr::UPDATED)
            .expression_attribute_values(":expected", n(to_millis(expected)))
            .expression_attribute_values(":now_ms", n(to_millis(now)));
        match next {
            Some(t) => {
                sets.push("#next_run = :next".to_owned());
                sets.push("#due_at = :due".to_owned());
                b = b
                    .expression_attribute_names("#due_at", attr::DUE_AT)
                    .expression_attribute_values(":next", n(to_millis(t)))
                    .expression_attribute_values(
                        ":due",
                        n(to_millis(t - chrono_dur(RECURRING_LOOKAHEAD))),
                    );
            }
            None => {
                removes.push("#next_run");
                removes.push("#due_key");
                removes.push("#due_at");
                b = b
                    .expression_attribute_names("#due_key", attr::DUE_KEY)
                    .expression_attribute_names("#due_at", attr::DUE_AT);
            }
        }
        if let Some((occurrence, job)) = fired {
            sets.push("#last_run = :last_run".to_owned());
            sets.push("#last_job = :last_job".to_owned());
            b = b
                .expression_attribute_names("#last_run", LAST_RUN)
                .expression_attribute_names("#last_job", LAST_JOB)
                .expression_attribute_values(":last_run", n(to_millis(occurrence)))
                .expression_attribute_values(":last_job", s(job.as_str()));
        }
        let mut expr = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        b.update_expression(expr)
            .build()
            .map_err(|e| Error::aws("DynamoDB", "UpdateItem", e))
    }

    async fn advance(
        &self,
        rec: &RecurringJob,
        expected: DateTime<Utc>,
        next: Option<DateTime<Utc>>,
        fired: Option<(DateTime<Utc>, &JobId)>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let u = self.advance_update(rec, expected, next, fired, now)?;
        let res = self
            .core
            .store
            .dynamodb()
            .update_item()
            .table_name(u.table_name())
            .set_key(Some(u.key().clone()))
            .update_expression(u.update_expression())
            .set_condition_expression(u.condition_expression().map(str::to_owned))
            .set_expression_attribute_names(u.expression_attribute_names().cloned())
            .set_expression_attribute_values(u.expression_attribute_values().cloned())
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(Error::aws("DynamoDB", "UpdateItem", e)),
        }
    }

    async fn recurring_error(
        &self,
        rec: &RecurringJob,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // Look again in an hour; the error is on the record for the dashboard.
        let retry_at = now + chrono::Duration::hours(1);
        self.core
            .store
            .dynamodb()
            .update_item()
            .table_name(self.core.store.table())
            .key(attr::PK, s(recurring::recurring_key(&rec.id)))
            .update_expression("SET #err = :err, #due_at = :due")
            .expression_attribute_names("#err", attr::LAST_ERROR)
            .expression_attribute_names("#due_at", attr::DUE_AT)
            .expression_attribute_values(":err", s(message))
            .expression_attribute_values(":due", n(to_millis(retry_at)))
            .send()
            .await
            .map_err(|e| Error::aws("DynamoDB", "UpdateItem", e))?;
        Ok(())
    }
}
