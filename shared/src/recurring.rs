//! Recurring jobs: a cron schedule that creates an ordinary job at each
//! occurrence.
//!
//! A recurring job is one item, `pk = "recurring#<id>"`, on the same `by-due`
//! index as jobs, with `due_at = next_run − RECURRING_LOOKAHEAD`: the timer fires an
//! occurrence ahead of time as a handed-off Scheduled job, so it starts on
//! the second, like any delayed job. Each firing is one transaction that
//! creates the job, whose id is derived from the recurring id and the
//! occurrence (`<id>:<YYYYMMDDTHHMMSSZ>`), and advances `next_run` on the
//! condition that it still holds the occurrence being fired: a repeated or
//! overlapping tick cannot fire it twice.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::clock::{from_millis, to_millis};
use crate::cron::Schedule;
use crate::error::{Error, Result};
use crate::job::{HistoryEntry, IntoNewJob, JobId, JobOptions, JobRecord};
use crate::retry::RetryPolicy;
use crate::state::State;
use crate::store::{attr, n, s, shard_of};
use crate::timing::{RECURRING_LOOKAHEAD, chrono_dur};

/// How far past an occurrence the timer may be and still run it as on time;
/// older occurrences are "missed" and handled by the [`Misfire`] policy.
/// One timer period and some slack.
pub const MISFIRE_TOLERANCE: Duration = Duration::from_secs(90);
/// Most missed occurrences a Strict job catches up on; older ones are skipped.
pub const MAX_STRICT_CATCH_UP: usize = 100;
/// How far back missed occurrences are looked for.
pub const MAX_LOOKBACK: Duration = Duration::from_secs(24 * 3600);

/// What to do about occurrences missed while the timer could not run them
/// (an outage, a disabled period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Misfire {
    /// Run once for any number of missed occurrences (default).
    #[default]
    Relaxed,
    /// Run once per missed occurrence, up to [`MAX_STRICT_CATCH_UP`].
    Strict,
    /// Skip missed occurrences.
    Ignorable,
}

impl Misfire {
    fn as_str(self) -> &'static str {
        match self {
            Misfire::Relaxed => "Relaxed",
            Misfire::Strict => "Strict",
            Misfire::Ignorable => "Ignorable",
        }
    }
}

impl fmt::Display for Misfire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Misfire {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        [Misfire::Relaxed, Misfire::Strict, Misfire::Ignorable]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::invalid(
                    "misfire policy",
                    format!("{s:?} (use Relaxed, Strict or Ignorable)"),
                )
            })
    }
}

/// Options of a recurring job beyond those of the jobs it creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurringOptions {
    /// IANA time zone of the cron expression (default `UTC`).
    pub tz: String,
    /// Missed occurrences.
    pub misfire: Misfire,
}

impl Default for RecurringOptions {
    fn default() -> Self {
        RecurringOptions {
            tz: "UTC".to_owned(),
            misfire: Misfire::Relaxed,
        }
    }
}

impl RecurringOptions {
    /// Sets the time zone.
    pub fn tz(mut self, tz: impl Into<String>) -> Self {
        self.tz = tz.into();
        self
    }
    /// Sets the misfire policy.
    pub fn misfire(mut self, misfire: Misfire) -> Self {
        self.misfire = misfire;
        self
    }
}

/// A recurring job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RecurringJob {
    /// Its id, chosen by the caller.
    pub id: String,
    /// Kind of the jobs it creates.
    pub kind: String,
    /// Arguments of the jobs it creates.
    pub args: serde_json::Value,
    /// Queue, retries and timeout of the jobs it creates.
    pub options: JobOptions,
    /// The cron expression.
    pub cron: String,
    /// Its time zone.
    pub tz: String,
    /// Missed occurrences.
    pub misfire: Misfire,
    /// Disabled jobs do not fire (trigger still works).
    pub enabled: bool,
    /// The next occurrence not yet fired.
    pub next_run: Option<DateTime<Utc>>,
    /// The last occurrence fired (or trigger).
    pub last_run: Option<DateTime<Utc>>,
    /// The job created last.
    pub last_job_id: Option<JobId>,
    /// What went wrong last time it fired, if anything.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Version, for conditional writes.
    pub version: u64,
}

/// Checks a recurring id: 1 to 100 characters of `[A-Za-z0-9._-]`.
pub fn validate_recurring_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "recurring job id",
            format!("{id:?} (use 1 to 100 characters of A-Z a-z 0-9 . _ -)"),
        ))
    }
}

pub(crate) fn recurring_key(id: &str) -> String {
    format!("recurring#{id}")
}

/// The id of the job created for an occurrence.
pub fn occurrence_job_id(recurring_id: &str, occurrence: DateTime<Utc>) -> JobId {
    JobId::parse(format!(
        "{recurring_id}:{}",
        occurrence.format("%Y%m%dT%H%M%SZ")
    ))
    .expect("recurring ids and timestamps make valid job ids")
}

/// What one tick does for one recurring job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirePlan {
    /// Occurrences to fire and when each job runs (now for missed ones).
    pub fire: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Missed occurrences not fired (by policy, or beyond the catch-up bound).
    pub skipped: usize,
    /// The next occurrence after everything fired or skipped.
    pub next_run: Option<DateTime<Utc>>,
}

/// Plans the firings of a recurring job whose next occurrence is `next_run`,
/// at `now`: every occurrence up to `now + RECURRING_LOOKAHEAD`, missed ones by policy.
pub fn plan_firings(
    schedule: &Schedule,
    next_run: DateTime<Utc>,
    now: DateTime<Utc>,
    misfire: Misfire,
) -> FirePlan {
    let horizon = now + chrono_dur(RECURRING_LOOKAHEAD);
    let missed_before = now - chrono_dur(MISFIRE_TOLERANCE);
    let lookback = now - chrono_dur(MAX_LOOKBACK);
    let mut skipped = 0;
    let mut cursor = Some(next_run);
    // Occurrences older than the look-back window are skipped uncounted
    // beyond the first: walking a per-second schedule over a month of
    // downtime would cost more than it tells.
    if next_run < lookback {
        skipped += 1;
        cursor = schedule.next_after(lookback);
    }
    let mut missed = Vec::new();
    let mut on_time = Vec::new();
    while let Some(occ) = cursor {
        if occ > horizon {
            break;
        }
        if occ < missed_before {
            missed.push(occ);
        } else {
            on_time.push((occ, occ));
        }
        cursor = schedule.next_after(occ);
    }
    let mut fire = Vec::new();
    match misfire {
        Misfire::Relaxed => {
            if let Some(last) = missed.last() {
                fire.push((*last, now));
                skipped += missed.len() - 1;
            }
        }
        Misfire::Strict => {
            let keep = missed.len().min(MAX_STRICT_CATCH_UP);
            skipped += missed.len() - keep;
            fire.extend(missed[missed.len() - keep..].iter().map(|o| (*o, now)));
        }
        Misfire::Ignorable => skipped += missed.len(),
    }
    fire.extend(on_time);
    FirePlan {
        fire,
        skipped,
        next_run: cursor,
    }
}

/// Recurring-job operations of a [`Client`].
#[derive(Debug, Clone, Copy)]
pub struct Recurring<'a> {
    client: &'a Client,
}

impl Client {
    /// Recurring-job operations.
    pub fn recurring(&self) -> Recurring<'_> {
        Recurring { client: self }
    }
}

impl Recurring<'_> {
    /// Creates or updates a recurring job. An invalid cron expression or time
    /// zone is refused here. An update keeps the run history and the
    /// enabled flag, and recomputes the next occurrence from now.
    pub async fn add_or_update(
        &self,
        id: &str,
        job: impl IntoNewJob,
        cron: &str,
        options: RecurringOptions,
    ) -> Result<RecurringJob> {
        validate_recurring_id(id)?;
        let job = job.into_new_job()?;
        job.validate()?;
        let schedule = Schedule::parse(cron, &options.tz)?;
        let core = &self.client.core;
        core.queues.url(&job.options.queue).await?;
        let now = core.now();
        let existing = self.get(id).await?;
        let record = RecurringJob {
            id: id.to_owned(),
            kind: job.kind,
            args: job.args,
            options: job.options,
            cron: schedule.expr().to_owned(),
            tz: schedule.tz().name().to_owned(),
            misfire: options.misfire,
            enabled: existing.as_ref().is_none_or(|e| e.enabled),
            next_run: schedule.next_after(now),
            last_run: existing.as_ref().and_then(|e| e.last_run),
            last_job_id: existing.as_ref().and_then(|e| e.last_job_id.clone()),
            last_error: None,
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
            version: existing.as_ref().map_or(1, |e| e.version + 1),
        };
        let mut put = core
            .store
            .dynamodb()
            .put_item()
            .table_name(core.store.table())
            .set_item(Some(self.item(&record)));
        put = match &existing {
            None => put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", attr::PK),
            Some(e) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", attr::VERSION)
                .expression_attribute_values(":v", n(e.version)),
        };
        put.send().await.map_err(|e| put_conflict(id, e))?;
        Ok(record)
    }

    /// Reads a recurring job.
    pub async fn get(&self, id: &str) -> Result<Option<RecurringJob>> {
        validate_recurring_id(id)?;
        let core = &self.client.core;
        let out = core
            .store
            .dynamodb()
            .get_item()
            .table_name(core.store.table())
            .key(attr::PK, s(recurring_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::aws("DynamoDB", "GetItem", e))?;
        out.item.map(|i| parse_recurring(&i)).transpose()
    }

    async fn must_get(&self, id: &str) -> Result<RecurringJob> {
        self.get(id)
            .await?
            .ok_or_else(|| Error::RecurringNotFound { id: id.to_owned() })
    }

    /// Every recurring job, by id.
    pub async fn list(&self) -> Result<Vec<RecurringJob>> {
        let core = &self.client.core;
        let mut ids = Vec::new();
        for shard in 0..core.store.shards() {
            let mut start = None;
            loop {
                let out = core
                    .store
                    .dynamodb()
                    .query()
                    .table_name(core.store.table())
                    .index_name(crate::store::INDEX_BY_STATE)
                    .key_condition_expression("#k = :k")
                    .expression_attribute_names("#k", attr::STATE_KEY)
                    .expression_attribute_values(":k", s(format!("Recurring#{shard}")))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| Error::aws("DynamoDB", "Query", e))?;
                for item in out.items() {
                    if let Some(AttributeValue::S(pk)) = item.get(attr::PK)
                        && let Some(id) = pk.strip_prefix("recurring#")
                    {
                        ids.push(id.to_owned());
                    }
                }
                start = out.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        ids.sort();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(r) = self.get(&id).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Creates a job from the recurring job now, whatever its schedule or
    /// enabled flag; the schedule is unchanged.
    pub async fn trigger(&self, id: &str) -> Result<JobId> {
        let rec = self.must_get(id).await?;
        let job = crate::job::NewJob::new(rec.kind.clone(), rec.args.clone())
            .options(rec.options.clone());
        let job_id = self.client.enqueue(job).await?;
        let core = &self.client.core;
        let now = core.now();
        core.store
            .dynamodb()
            .update_item()
            .table_name(core.store.table())
            .key(attr::PK, s(recurring_key(id)))
            .update_expression("SET #last_run = :now, #last_job = :job, #updated = :now")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#last_run", LAST_RUN)
            .expression_attribute_names("#last_job", LAST_JOB)
            .expression_attribute_names("#updated", attr::UPDATED)
            .expression_attribute_values(":now", n(to_millis(now)))
            .expression_attribute_values(":job", s(job_id.as_str()))
            .send()
            .await
            .map_err(|e| Error::aws("DynamoDB", "UpdateItem", e))?;
        Ok(job_id)
    }

    /// Deletes a recurring job; jobs it already created are not touched.
    /// Returns whether it existed.
    pub async fn remove(&self, id: &str) -> Result<bool> {
        validate_recurring_id(id)?;
        let core = &self.client.core;
        let out = core
            .store
            .dynamodb()
            .delete_item()
            .table_name(core.store.table())
            .key(attr::PK, s(recurring_key(id)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| Error::aws("DynamoDB", "DeleteItem", e))?;
        Ok(out.attributes.is_some())
    }

    /// Stops a recurring job from firing (it leaves the timer's index).
    pub async fn disable(&self, id: &str) -> Result<()> {
        self.set_enabled(id, false).await
    }

    /// Lets a disabled recurring job fire again, from its next occurrence
    /// after now (occurrences while disabled are not caught up).
    pub async fn enable(&self, id: &str) -> Result<()> {
        self.set_enabled(id, true).await
    }

    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<()> {
        let mut rec = self.must_get(id).await?;
        let now = self.client.core.now();
        if enabled && !rec.enabled {
            rec.next_run = Schedule::parse(&rec.cron, &rec.tz)?.next_after(now);
        }
        rec.enabled = enabled;
        rec.updated_at = now;
        let old_version = rec.version;
        rec.version += 1;
        let core = &self.client.core;
        core.store
            .dynamodb()
            .put_item()
            .table_name(core.store.table())
            .set_item(Some(self.item(&rec)))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", attr::VERSION)
            .expression_attribute_values(":v", n(old_version))
            .send()
            .await
            .map_err(|e| put_conflict(id, e))?;
        Ok(())
    }

    pub(crate) fn item(&self, r: &RecurringJob) -> HashMap<String, AttributeValue> {
        recurring_item(r, self.client.core.store.shards())
    }
}

const CRON: &str = "cron";
const TZ: &str = "tz";
const MISFIRE: &str = "misfire";
const ENABLED: &str = "enabled";
pub(crate) const NEXT_RUN: &str = "next_run";
pub(crate) const LAST_RUN: &str = "last_run";
pub(crate) const LAST_JOB: &str = "last_job";

pub(crate) fn recurring_item(r: &RecurringJob, shards: u32) -> HashMap<String, AttributeValue> {
    let shard = shard_of(&r.id, shards);
    let mut item = HashMap::from([
        (attr::PK.to_owned(), s(recurring_key(&r.id))),
        (attr::KIND.to_owned(), s(&r.kind)),
        (attr::ARGS.to_owned(), s(r.args.to_string())),
        (attr::QUEUE.to_owned(), s(&r.options.queue)),
        (
            attr::RETRY.to_owned(),
            serde_dynamo::to_attribute_value(&r.options.retry).expect("plain data"),
        ),
        (attr::TIMEOUT.to_owned(), n(r.options.timeout.as_secs())),
        (CRON.to_owned(), s(&r.cron)),
        (TZ.to_owned(), s(&r.tz)),
        (MISFIRE.to_owned(), s(r.misfire.as_str())),
        (ENABLED.to_owned(), AttributeValue::Bool(r.enabled)),
        (attr::CREATED.to_owned(), n(to_millis(r.created_at))),
        (attr::UPDATED.to_owned(), n(to_millis(r.updated_at))),
        (attr::VERSION.to_owned(), n(r.version)),
        (attr::STATE_KEY.to_owned(), s(format!("Recurring#{shard}"))),
        (attr::STATE_AT.to_owned(), n(to_millis(r.created_at))),
    ]);
    if let Some(t) = r.next_run {
        item.insert(NEXT_RUN.to_owned(), n(to_millis(t)));
        if r.enabled {
            item.insert(attr::DUE_KEY.to_owned(), s(format!("due#{shard}")));
            item.insert(
                attr::DUE_AT.to_owned(),
                n(to_millis(t - chrono_dur(RECURRING_LOOKAHEAD))),
            );
        }
    }
    if let Some(t) = r.last_run {
        item.insert(LAST_RUN.to_owned(), n(to_millis(t)));
    }
    if let Some(keep) = r.options.retention {
        item.insert(attr::KEEP.to_owned(), n(keep.as_secs()));
    }
    if let Some(j) = &r.last_job_id {
        item.insert(LAST_JOB.to_owned(), s(j.as_str()));
    }
    if let Some(e) = &r.last_error {
        item.insert(attr::LAST_ERROR.to_owned(), s(e));
    }
    item
}

pub(crate) fn parse_recurring(item: &HashMap<String, AttributeValue>) -> Result<RecurringJob> {
    let key = item
        .get(attr::PK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let corrupt = |m: String| Error::Corrupt {
        key: key.clone(),
        message: m,
    };
    let get_s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let req_s = |k: &str| get_s(k).ok_or_else(|| corrupt(format!("missing {k}")));
    let get_ms = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .map(from_millis)
    };
    let id = key
        .strip_prefix("recurring#")
        .ok_or_else(|| corrupt("key is not recurring#<id>".into()))?
        .to_owned();
    let retry: RetryPolicy = match item.get(attr::RETRY) {
        Some(v) => serde_dynamo::from_attribute_value(v.clone())
            .map_err(|e| corrupt(format!("retry: {e}")))?,
        None => RetryPolicy::default(),
    };
    Ok(RecurringJob {
        id,
        kind: req_s(attr::KIND)?,
        args: serde_json::from_str(&req_s(attr::ARGS)?)
            .map_err(|e| corrupt(format!("args: {e}")))?,
        options: JobOptions {
            queue: req_s(attr::QUEUE)?,
            retry,
            timeout: Duration::from_secs(
                item.get(attr::TIMEOUT)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(crate::job::DEFAULT_TIMEOUT.as_secs()),
            ),
            retention: item
                .get(attr::KEEP)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .map(Duration::from_secs),
        },
        cron: req_s(CRON)?,
        tz: req_s(TZ)?,
        misfire: req_s(MISFIRE)?.parse()?,
        enabled: matches!(item.get(ENABLED), Some(AttributeValue::Bool(true))),
        next_run: get_ms(NEXT_RUN),
        last_run: get_ms(LAST_RUN),
        last_job_id: get_s(LAST_JOB).and_then(|j| JobId::parse(j).ok()),
        last_error: get_s(attr::LAST_ERROR),
        created_at: get_ms(attr::CREATED).ok_or_else(|| corrupt("missing created".into()))?,
        updated_at: get_ms(attr::UPDATED).ok_or_else(|| corrupt("missing updated".into()))?,
        version: item
            .get(attr::VERSION)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
    })
}

/// The job record a firing creates.
pub(crate) fn occurrence_job(
    rec: &RecurringJob,
    occurrence: DateTime<Utc>,
    run_at: DateTime<Utc>,
    now: DateTime<Utc>,
    missed: bool,
) -> JobRecord {
    let due_now = run_at <= now;
    let state = if due_now {
        State::Enqueued
    } else {
        State::Scheduled
    };
    let mut reason = format!(
        "Recurring job {}, occurrence {}",
        rec.id,
        crate::client::fmt_time(occurrence)
    );
    if missed {
        reason.push_str(&format!(" (missed; misfire policy {})", rec.misfire));
    }
    let mut job = JobRecord::new(
        occurrence_job_id(&rec.id, occurrence),
        rec.kind.clone(),
        rec.args.clone(),
        rec.options.clone(),
        HistoryEntry::new(state, now, Some(reason)).with("recurring", rec.id.as_str()),
    );
    job.run_at = (!due_now).then_some(run_at);
    job.handed_off = !due_now;
    job
}

/// A failed conditional put of a recurring record is a concurrent change
/// ([`Error::Conflict`]); anything else is an AWS error.
fn put_conflict(id: &str, e: SdkError<PutItemError, HttpResponse>) -> Error {
    if e.as_service_error()
        .is_some_and(PutItemError::is_conditional_check_failed_exception)
    {
        Error::Conflict {
            id: JobId::parse(id).expect("recurring ids are valid job ids"),
        }
    } else {
        Error::aws("DynamoDB", "PutItem", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hourly() -> Schedule {
        Schedule::parse("0 * * * *", "UTC").unwrap()
    }

    #[test]
    fn on_time_occurrences_within_the_lookahead_fire_at_their_time() {
        let plan = plan_firings(
            &hourly(),
            utc("2026-01-01T10:00:00Z"),
            utc("2026-01-01T09:58:30Z"),
            Misfire::Relaxed,
        );
        assert_eq!(
            plan.fire,
            vec![(utc("2026-01-01T10:00:00Z"), utc("2026-01-01T10:00:00Z"))]
        );
        assert_eq!(plan.next_run, Some(utc("2026-01-01T11:00:00Z")));
        assert_eq!(plan.skipped, 0);
    }

    #[test]
    fn nothing_fires_before_the_lookahead() {
        let plan = plan_firings(
            &hourly(),
            utc("2026-01-01T10:00:00Z"),
            utc("2026-01-01T09:57:00Z"),
            Misfire::Strict,
        );
        assert!(plan.fire.is_empty());
        assert_eq!(plan.next_run, Some(utc("2026-01-01T10:00:00Z")));
    }

    /// After a 3-hour gap: 10:00, 11:00, 12:00 were missed at 12:59, and
    /// 13:00 is on time within the lookahead.
    #[test]
    fn misfire_policies_after_a_three_hour_gap() {
        let next = utc("2026-01-01T10:00:00Z");
        let now = utc("2026-01-01T12:59:00Z");
        let relaxed = plan_firings(&hourly(), next, now, Misfire::Relaxed);
        assert_eq!(
            relaxed.fire,
            vec![
                (utc("2026-01-01T12:00:00Z"), now),
                (utc("2026-01-01T13:00:00Z"), utc("2026-01-01T13:00:00Z")),
            ]
        );
        assert_eq!(relaxed.skipped, 2);

        let strict = plan_firings(&hourly(), next, now, Misfire::Strict);
        assert_eq!(strict.fire.len(), 4);
        assert_eq!(strict.fire[0], (utc("2026-01-01T10:00:00Z"), now));
        assert_eq!(strict.skipped, 0);

        let ignorable = plan_firings(&hourly(), next, now, Misfire::Ignorable);
        assert_eq!(
            ignorable.fire,
            vec![(utc("2026-01-01T13:00:00Z"), utc("2026-01-01T13:00:00Z"))]
        );
        assert_eq!(ignorable.skipped, 3);
        for p in [relaxed, strict, ignorable] {
            assert_eq!(p.next_run, Some(utc("2026-01-01T14:00:00Z")));
        }
    }

    #[test]
    fn strict_catch_up_is_bounded() {
        let every_minute = Schedule::parse("* * * * *", "UTC").unwrap();
        let plan = plan_firings(
            &every_minute,
            utc("2026-01-01T00:00:00Z"),
            utc("2026-01-01T05:00:00Z"),
            Misfire::Strict,
        );
        let missed_fired = plan
            .fire
            .iter()
            .filter(|(o, _)| *o < utc("2026-01-01T04:58:30Z"))
            .count();
        assert_eq!(missed_fired, MAX_STRICT_CATCH_UP);
        assert!(
            plan.skipped >= 298 - MAX_STRICT_CATCH_UP,
            "{}",
            plan.skipped
        );
    }

    #[test]
    fn a_slightly_late_occurrence_is_on_time() {
        let plan = plan_firings(
            &hourly(),
            utc("2026-01-01T10:00:00Z"),
            utc("2026-01-01T10:01:00Z"),
            Misfire::Ignorable,
        );
        assert_eq!(
            plan.fire,
            vec![(utc("2026-01-01T10:00:00Z"), utc("2026-01-01T10:00:00Z"))]
        );
        assert_eq!(plan.skipped, 0);
    }

    #[test]
    fn occurrence_ids_are_deterministic() {
        let id = occurrence_job_id("nightly-report", utc("2026-11-24T00:00:00Z"));
        assert_eq!(id.as_str(), "nightly-report:20261124T000000Z");
    }

    #[test]
    fn recurring_ids_and_policies() {
        validate_recurring_id("nightly.report_v2-x").unwrap();
        assert!(validate_recurring_id("a:b").is_err());
        assert!(validate_recurring_id("").is_err());
        assert_eq!("strict".parse::<Misfire>().unwrap(), Misfire::Strict);
        assert!("sometimes".parse::<Misfire>().is_err());
    }
}
