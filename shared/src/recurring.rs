//! Recurring jobs: a cron schedule that creates an ordinary job at each
//! occurrence.
//!
//! A recurring job is one item, `pk = "recurring#<id>"`, in the index's
//! Recurring bucket, due `RECURRING_LOOKAHEAD` before its next occurrence:
//! the timer fires an occurrence ahead of time as a handed-off Scheduled
//! job, so it starts on the second, like any delayed job. Each firing is one
//! transaction that creates the job, whose id is derived from the recurring
//! id and the occurrence (`<id>:<YYYYMMDDTHHMMSSZ>`), and advances the
//! recurring job on the condition that it is still at the version read: a
//! repeated or overlapping tick cannot fire it twice.
//!
//! Changing a recurring job never stalls it. An update that changes nothing
//! (the same definition registered again at every application start) writes
//! nothing. An update that changes the definition, a disable and a removal
//! delete the occurrences fired ahead that have not started, so the change
//! applies from the next occurrence; a firing that finds its occurrence's
//! job deleted before it ever ran replaces it, and one that finds it run or
//! running counts it as fired and moves on.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cron::Schedule;
use crate::error::{Error, Result};
use crate::job::{HistoryEntry, JobId, JobOptions, JobRecord};
use crate::state::State;
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
    pub(crate) fn as_str(self) -> &'static str {
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

/// A recurring job as a person reads it (Hangfire's "last execution" and
/// "next execution"): the last occurrence that came due, with its job's
/// state, and the next one. The stored `last_run` and `next_run` are the
/// timer's bookkeeping: an occurrence is fired a few minutes ahead, so
/// `last_run` can be one that has not come due, and `next_run` the one
/// after it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecurringStatus {
    /// The recurring job as stored.
    pub recurring: RecurringJob,
    /// The last occurrence that came due (or the last trigger), if any.
    pub last_started: Option<LastStarted>,
    /// The next occurrence after now, fired ahead or not; None when
    /// disabled.
    pub next: Option<DateTime<Utc>>,
    /// The state of the job fired last (`last_job_id`), if it exists.
    pub last_job_state: Option<State>,
}

/// The last occurrence of a recurring job that came due.
#[derive(Debug, Clone, PartialEq)]
pub struct LastStarted {
    /// The occurrence (or the instant of a trigger).
    pub occurrence: DateTime<Utc>,
    /// The job it created.
    pub job_id: JobId,
    /// That job's state; None once the job has expired or was never
    /// created (a skipped occurrence).
    pub state: Option<State>,
}

impl RecurringJob {
    /// The last occurrence due by `now` and the id of its job: the last one
    /// fired if it is due, else (fired ahead) the occurrence before it, if
    /// that came after the recurring job was created.
    pub fn last_due(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, JobId)> {
        let last = self.last_run?;
        if last <= now {
            return Some((last, self.last_job_id.clone()?));
        }
        let previous = Schedule::parse(&self.cron, &self.tz)
            .ok()?
            .last_at_or_before(now)?;
        (previous >= self.created_at).then(|| (previous, occurrence_job_id(&self.id, previous)))
    }

    /// The next occurrence after `now` (None when disabled).
    pub fn next_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.enabled {
            return None;
        }
        Schedule::parse(&self.cron, &self.tz).ok()?.next_after(now)
    }

    /// Whether two records describe the same schedule and job (an update
    /// between them changes nothing).
    pub(crate) fn same_definition(&self, other: &RecurringJob) -> bool {
        self.kind == other.kind
            && self.args == other.args
            && self.options == other.options
            && self.cron == other.cron
            && self.tz == other.tz
            && self.misfire == other.misfire
    }
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
        crate::clock::fmt_time(occurrence)
    );
    if missed {
        reason.push_str(&format!(" (missed; misfire policy {})", rec.misfire));
    }
    let mut job = JobRecord::new(
        occurrence_job_id(&rec.id, occurrence),
        rec.kind.clone(),
        rec.args.clone(),
        rec.options.clone(),
        HistoryEntry::new(state, now, Some(reason))
            .with("recurring", rec.id.as_str())
            .due(run_at),
    );
    job.run_at = (!due_now).then_some(run_at);
    job.handed_off = !due_now;
    job
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
