//! The timer tick, run every minute by the scheduler Lambda (or every few
//! seconds by `hangar dev`). One pass over the watched buckets of the index
//! (Scheduled, Active, Recurring), reading the items whose time came:
//!
//! - a Scheduled job coming due within [`crate::timing::LOOKAHEAD`] is handed to SQS with
//!   the remaining seconds as `DelaySeconds` and moves to the Active bucket;
//! - an Enqueued or handed-off job that has not started within the grace
//!   period gets its wake-up sent again (a lost send);
//! - a Processing job whose lease expired a grace period ago gets a wake-up
//!   for the claiming version, which the worker treats as a redelivery and
//!   reclaims (a crashed worker whose message is gone); one still within its
//!   lease is looked at again when the lease and the grace period are over;
//! - a Succeeded or Deleted job whose continuations were not all released
//!   (its worker or client stopped in between) has them released;
//! - a recurring job fires the occurrences coming due.
//!
//! The index holds only keys, so the tick reads the items it found (one
//! `BatchGetItem` per page): a read on this rare path instead of an index
//! write on every job. Each action is a conditional write on the version
//! read, then the send, so an overlapping tick or a concurrent reschedule or
//! delete makes the write fail and nothing is sent twice for the same
//! version. The worker decides from DynamoDB anyway (design invariant 2).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::{Core, Wakes};
use crate::cron::Schedule;
use crate::error::{Result, error_chain};
use crate::job::JobId;
use crate::message::WakeUp;
use crate::recurring::{self, MISFIRE_TOLERANCE, RecurringJob, plan_firings};
use crate::state::State;
use crate::store::{Bucket, Due, Fire, Mark};
use crate::timing::{RECURRING_LOOKAHEAD, chrono_dur};

/// Actions run at once within a page.
const CONCURRENCY: usize = 16;

/// How long after a queue's resume the timer keeps looking for jobs parked
/// on it: well past [`crate::worker::PAUSE_CHECK`], the longest a worker
/// may act on a pause it read before the resume.
pub const DRAIN_QUIET: Duration = Duration::from_secs(60);

/// Longest wait between two repair re-sends of the same job.
pub const MAX_RESEND_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Scheduled jobs handed to SQS, with the delay each was sent with.
    pub handed_off: Vec<(JobId, Duration)>,
    /// Enqueued or handed-off jobs whose wake-up was sent again.
    pub resent: Vec<JobId>,
    /// Processing jobs with an expired lease, sent for reclaim.
    pub lease_expired: Vec<JobId>,
    /// Processing jobs still within their lease, looked at again later.
    pub rechecked: usize,
    /// Finished jobs whose continuations the timer released.
    pub released: Vec<JobId>,
    /// Jobs created by recurring jobs.
    pub fired: Vec<JobId>,
    /// Missed recurring occurrences skipped by their misfire policy.
    pub skipped: usize,
    /// Parked jobs of resumed queues woken.
    pub unparked: usize,
    /// Jobs waiting on a concurrency key woken by the timer's look.
    pub slots_woken: usize,
    /// Batches whose creation was cut short, started with the jobs written.
    pub batches_cut_short: usize,
    /// Completed batches whose continuations the timer released.
    pub batches_released: usize,
    /// Index entries that needed nothing (already acted on by another tick).
    pub stale: usize,
    /// Actions that failed; their items stay due and are retried next tick.
    pub errors: usize,
    /// Index queries made (one per page of each watched bucket's shards).
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
        let batches = self.batches_cut_short + self.batches_released;
        if h + r + l + c + f + self.rechecked + self.skipped + self.errors + self.unparked + batches
            == 0
            && self.complete
        {
            tracing::debug!(queries = self.queries, "tick: nothing due");
            return;
        }
        tracing::info!(
            handed_off = h,
            resent = r,
            lease_expired = l,
            released = c,
            rechecked = self.rechecked,
            fired = f,
            skipped = self.skipped,
            unparked = self.unparked,
            batches,
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
    /// Embedded-metric lines (see [`crate::emf`]).
    emf: Arc<crate::emf::Emf>,
}

enum Action {
    HandOff(JobId, Duration),
    Resent(JobId),
    LeaseExpired(JobId),
    Rechecked,
    /// Continuations released; false if some failed (logged by the release;
    /// the job stays watched and the next look retries).
    Released(JobId, bool),
    Fired(Vec<JobId>, usize),
    Stale,
}

type Send = Option<(String, WakeUp, Duration)>;

impl Timer {
    /// A timer sharing a client's clients, clock and configuration.
    pub fn new(client: &crate::client::Client) -> Self {
        Timer {
            emf: Arc::new(crate::emf::Emf::from_env(&client.core.config.stack)),
            core: client.core.clone(),
        }
    }

    /// Writes metrics through `emf` instead of as the environment says.
    pub fn with_metrics(mut self, emf: crate::emf::Emf) -> Self {
        self.emf = Arc::new(emf);
        self
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
        let mut wakes = Wakes::default();
        // Start at a different shard each tick so a backlog in one shard
        // cannot starve the others when the budget runs out.
        let shards = self.core.store.shards();
        let first = (now.timestamp() / 60).rem_euclid(i64::from(shards)) as u32;
        'buckets: for bucket in Bucket::WATCHED {
            for shard in (0..shards).map(|i| (first + i) % shards) {
                let mut start = None;
                loop {
                    if started.elapsed() >= budget {
                        report.complete = false;
                        break 'buckets;
                    }
                    let (items, next) = self.core.store.due_page(bucket, shard, now, start).await?;
                    report.queries += 1;
                    for chunk in items.chunks(CONCURRENCY) {
                        // Items left on this page stay due and come back on
                        // the next tick.
                        if started.elapsed() >= budget {
                            report.complete = false;
                            break;
                        }
                        let mut set = tokio::task::JoinSet::new();
                        for due in chunk {
                            let this = self.clone();
                            let due = due.clone();
                            set.spawn(async move { this.act(due, bucket, now).await });
                        }
                        while let Some(res) = set.join_next().await {
                            match res.expect("timer action does not panic") {
                                Ok((action, send)) => {
                                    if let Some((queue, msg, delay)) = send {
                                        wakes.message(queue, msg, delay);
                                    }
                                    report.record(action);
                                }
                                Err(e) => {
                                    report.errors += 1;
                                    tracing::error!(error = %error_chain(&e), "timer action failed; retried next tick");
                                }
                            }
                        }
                    }
                    if !report.complete {
                        break 'buckets;
                    }
                    start = next;
                    if start.is_none() {
                        break;
                    }
                }
            }
        }
        // Every write above happened before its send (design invariant 4): a
        // failed send leaves the job due again after the grace period.
        report.errors += self.core.send(wakes).await;
        match crate::limits::check::look_at_keys(&self.core, now).await {
            Ok(woken) => report.slots_woken += woken,
            Err(e) => {
                report.errors += 1;
                tracing::error!(error = %error_chain(&e), "concurrency keys not checked; retried next tick");
            }
        }
        if let Err(e) = self.check_batches(now, &mut report).await {
            report.errors += 1;
            tracing::error!(error = %error_chain(&e), "batches not checked; retried next tick");
        }
        if let Err(e) = self.drain_resumed(now, &mut report).await {
            report.errors += 1;
            tracing::error!(error = %error_chain(&e), "parked jobs of resumed queues not woken; retried next tick");
        }
        if self.emf.enabled() {
            let n = |v: usize| v as u64;
            let counts = [
                ("HandedOff", n(report.handed_off.len())),
                ("Resent", n(report.resent.len())),
                ("LeaseExpired", n(report.lease_expired.len())),
                ("Fired", n(report.fired.len())),
                ("Released", n(report.released.len())),
                ("Unparked", n(report.unparked)),
                ("TickErrors", n(report.errors)),
            ];
            self.emf
                .write(self.emf.tick_line(&counts, now).into_iter().collect());
        }
        Ok(report)
    }

    /// Looks at the batches whose look came (one query): a creation cut
    /// short (no heartbeat for a grace period) starts with the jobs it
    /// wrote; a completed batch whose continuations were not all released
    /// (its last job's writer stopped first) has them released.
    async fn check_batches(&self, now: DateTime<Utc>, report: &mut TickReport) -> Result<()> {
        use crate::batch::BatchStatus;
        let grace = chrono_dur(self.core.config.grace);
        for (batch, seen_at) in self.core.store.due_batches(now).await? {
            match batch.status {
                BatchStatus::Creating => {
                    let ids: Vec<JobId> = (1..=batch.total).map(|n| batch.job_id(n)).collect();
                    let written = self.core.store.existing_batch_jobs(&ids).await?.len() as u64;
                    let Some(started) = self
                        .core
                        .store
                        .start_cut_short(&batch, seen_at, written, now)
                        .await?
                    else {
                        continue;
                    };
                    tracing::warn!(batch = %batch.id, written, total = batch.total, "batch creation cut short; started with the jobs written");
                    report.batches_cut_short += 1;
                    self.core.settle_batch(&started).await;
                }
                BatchStatus::Completed => {
                    if !self.core.store.look_again(&batch, now + grace * 2).await? {
                        continue;
                    }
                    tracing::warn!(batch = %batch.id, "continuations of a completed batch were not all released; releasing them");
                    if self.core.settle_batch(&batch).await {
                        report.batches_released += 1;
                    }
                }
                BatchStatus::Started => {}
            }
        }
        Ok(())
    }

    /// Wakes the jobs still parked on queues resumed lately (a worker that
    /// read the control just before the resume may park a job after it),
    /// and ends a queue's draining once [`DRAIN_QUIET`] has passed since
    /// its resume. One `BatchGetItem` of the stack's queue controls per
    /// tick; the parked bucket is read only for a queue that is draining.
    async fn drain_resumed(&self, now: DateTime<Utc>, report: &mut TickReport) -> Result<()> {
        let names: Vec<String> = self.core.config.queue_urls.keys().cloned().collect();
        if names.is_empty() {
            return Ok(());
        }
        for control in self.core.store.queue_controls(&names).await? {
            let (false, true, Some(resumed_at)) =
                (control.paused, control.draining, control.resumed_at)
            else {
                continue;
            };
            report.unparked += self.core.wake_parked(&control.name).await?;
            if now - resumed_at > chrono_dur(DRAIN_QUIET) {
                self.core.store.drained(&control.name, resumed_at).await?;
            }
        }
        Ok(())
    }

    /// Rolls the jobs that finished since the last roll-up into the metrics
    /// (see [`crate::store::metrics`]); the scheduler runs it after each
    /// tick.
    pub async fn roll_up(&self) -> Result<crate::store::metrics::Rolled> {
        self.core.store.roll_up(self.core.now()).await
    }

    async fn act(&self, due: Due, queried: Bucket, now: DateTime<Utc>) -> Result<(Action, Send)> {
        let d = match due {
            Due::Recurring(rec) => return Ok((self.fire_recurring(rec, now).await?, None)),
            Due::Job(d) => d,
        };
        // The index is eventually consistent: act only on what the item
        // itself says.
        if d.bucket != queried || d.at > now {
            return Ok((Action::Stale, None));
        }
        let job = &d.job;
        let (id, version, state) = (job.id.clone(), job.version, job.state);
        let queue = job.options.queue.clone();
        let grace = chrono_dur(self.core.config.grace);
        // Repair backs off: a job is first re-sent a grace period after it
        // should have started, and each further re-send without the job
        // moving on waits twice as long as the one before (2×, 4×, … at
        // most MAX_RESEND_INTERVAL), so a job behind a deep backlog is not
        // sent again every grace period.
        let resends = d.resends.min(15) + 1;
        let interval = (self.core.config.grace * 2u32.pow(resends)).min(MAX_RESEND_INTERVAL);
        let backoff = now + chrono_dur(interval);
        let wake = |v: u64, st: State| WakeUp {
            timeout_s: Some(job.options.timeout.as_secs()),
            rate: job.options.rate.clone(),
            concurrency: job.options.concurrency.clone(),
            order: crate::message::OrderSlot::of(job),
            ..WakeUp::new(id.clone(), v, st)
        };
        let marked = |how: Mark, next: DateTime<Utc>| self.core.store.mark(&d, how, next, now);
        match state {
            State::Scheduled if !job.handed_off => {
                let run_at = job.run_at.unwrap_or(now);
                let delay = (run_at - now).to_std().unwrap_or(Duration::ZERO);
                // An overdue job (after an outage) is sent now; either way it
                // becomes due for repair a grace period after it should start.
                if !marked(Mark::HandOff, run_at.max(now) + grace).await? {
                    return Ok((Action::Stale, None));
                }
                Ok((
                    Action::HandOff(id.clone(), delay),
                    Some((queue, wake(version, state), delay)),
                ))
            }
            State::Scheduled | State::Enqueued => {
                if !marked(Mark::Backoff, backoff).await? {
                    return Ok((Action::Stale, None));
                }
                tracing::warn!(job = %id, %state, "job has not started within the grace period; sending its wake-up again");
                Ok((
                    Action::Resent(id.clone()),
                    Some((queue, wake(version, state), Duration::ZERO)),
                ))
            }
            State::Processing => {
                let lease = job.lease_until.unwrap_or(now);
                if lease + grace > now {
                    // Still running (a long job): look again once its lease
                    // and the grace period are over.
                    return Ok(if marked(Mark::Recheck, lease + grace).await? {
                        (Action::Rechecked, None)
                    } else {
                        (Action::Stale, None)
                    });
                }
                let Some(claimed) = job.claimed_version else {
                    return Ok((Action::Stale, None));
                };
                if !marked(Mark::Backoff, backoff).await? {
                    return Ok((Action::Stale, None));
                }
                tracing::warn!(job = %id, "lease expired and the job was not reclaimed; sending a wake-up for its claim");
                Ok((
                    Action::LeaseExpired(id.clone()),
                    Some((queue, wake(claimed, State::Enqueued), Duration::ZERO)),
                ))
            }
            State::Succeeded | State::Deleted if !job.continuations.is_empty() => {
                // Its final write kept it watched because it has
                // continuations, and whoever wrote it did not finish
                // releasing them. The mark moves the next look out (with the
                // same back-off) in case this release fails too.
                if !marked(Mark::Backoff, backoff).await? {
                    return Ok((Action::Stale, None));
                }
                tracing::warn!(job = %id, %state, "continuations of a finished job were not all released; releasing them");
                let done = self.core.release(job).await;
                Ok((Action::Released(id.clone(), done), None))
            }
            // Not a state the timer watches: move it where it rests.
            _ => {
                self.core.store.released(job).await?;
                Ok((Action::Stale, None))
            }
        }
    }

    async fn fire_recurring(&self, rec: RecurringJob, now: DateTime<Utc>) -> Result<Action> {
        let Some(next_run) = rec.next_run.filter(|_| rec.enabled) else {
            return Ok(Action::Stale);
        };
        if next_run - chrono_dur(RECURRING_LOOKAHEAD) > now {
            return Ok(Action::Stale);
        }
        let store = &self.core.store;
        let schedule = match Schedule::parse(&rec.cron, &rec.tz) {
            Ok(s) => s,
            Err(e) => {
                let message = format!("cannot fire: {e}");
                tracing::error!(recurring = %rec.id, error = %message, "recurring job not fired; looking again in an hour");
                store
                    .recurring_error(&rec.id, &message, now + chrono::Duration::hours(1), now)
                    .await?;
                return Ok(Action::Stale);
            }
        };
        let plan = plan_firings(&schedule, next_run, now, rec.misfire);
        let mut fired = Vec::new();
        let missed_before = now - chrono_dur(MISFIRE_TOLERANCE);
        if plan.fire.is_empty() {
            // Everything missed was skipped: just move on.
            store
                .advance_recurring(&rec, plan.next_run, None, now)
                .await?;
            return Ok(Action::Fired(fired, plan.skipped));
        }
        let mut rec = rec;
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
            match store
                .fire_occurrence(&rec, &job, *occurrence, following, now)
                .await
            {
                Ok(Fire::Fired(version)) => {
                    rec.version = version;
                    rec.next_run = following;
                    self.core.wake(&job, delay).await;
                    fired.push(job.id.clone());
                }
                Ok(Fire::Exists(existing)) => {
                    // Fired before (an update re-read the schedule, or the
                    // record was put back): it counts as fired.
                    tracing::info!(recurring = %rec.id, job = %existing.id, state = %existing.state, "occurrence already fired; moving on");
                    match store
                        .advance_recurring(&rec, following, Some((*occurrence, &job.id)), now)
                        .await?
                    {
                        Some(version) => {
                            rec.version = version;
                            rec.next_run = following;
                        }
                        None => break,
                    }
                }
                // Another tick fired it, or it was updated, disabled or
                // removed meanwhile: whoever changed it decides.
                Ok(Fire::Changed) => {
                    tracing::debug!(recurring = %rec.id, "recurring job changed while firing; leaving it");
                    break;
                }
                Err(e) => {
                    let message = format!(
                        "occurrence {} not fired: {}",
                        crate::clock::fmt_time(*occurrence),
                        error_chain(&e)
                    );
                    tracing::error!(recurring = %rec.id, error = %message, "recurring job not fired; retried next tick");
                    store.recurring_error(&rec.id, &message, now, now).await?;
                    return Err(e);
                }
            }
            if following.is_none() {
                break;
            }
        }
        Ok(Action::Fired(fired, plan.skipped))
    }
}

impl TickReport {
    fn record(&mut self, action: Action) {
        match action {
            Action::HandOff(id, d) => self.handed_off.push((id, d)),
            Action::Resent(id) => self.resent.push(id),
            Action::LeaseExpired(id) => self.lease_expired.push(id),
            Action::Rechecked => self.rechecked += 1,
            Action::Released(id, true) => self.released.push(id),
            Action::Released(_, false) => self.errors += 1,
            Action::Fired(ids, skipped) => {
                self.fired.extend(ids);
                self.skipped += skipped;
            }
            Action::Stale => self.stale += 1,
        }
    }
}
