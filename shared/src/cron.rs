//! Cron expressions in a time zone: the one place recurring jobs, the timer
//! and `hangar cron next` compute occurrences.
//!
//! Parsing and matching are croner's. Semantics, checked against Hangfire's
//! Cronos and pinned by the tests below:
//!
//! - 5 fields (`min hour dom month dow`) or 6 with seconds first
//!   (`sec min hour dom month dow`); macros `@yearly`, `@annually`,
//!   `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
//! - Occurrences are computed in the job's IANA time zone (UTC by default).
//! - A fixed time that does not exist (the clock springs forward over it)
//!   runs once, at the first instant after the gap.
//! - A fixed time that happens twice (the clock falls back) runs once, at the
//!   first of the two instants. Interval patterns (`*/15 * * * *`) run on
//!   both passes through the repeated hour, as wall clock time says they
//!   should.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

use crate::error::{Error, Result};

/// A parsed cron expression in a time zone.
#[derive(Clone)]
pub struct Schedule {
    expr: String,
    cron: Cron,
    tz: Tz,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?} in {})", self.expr, self.tz)
    }
}

impl Schedule {
    /// Parses an expression and an IANA zone name (`UTC`, `Europe/Berlin`).
    pub fn parse(expr: &str, tz: &str) -> Result<Self> {
        let tz = parse_tz(tz)?;
        let trimmed = expr.trim();
        let fields = trimmed.split_whitespace().count();
        if !trimmed.starts_with('@') && !(5..=6).contains(&fields) {
            return Err(Error::invalid(
                "cron expression",
                format!(
                    "{expr:?} has {fields} fields; use 5 (min hour dom month dow) or 6 (sec min hour dom month dow)"
                ),
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(trimmed)
            .map_err(|e| {
                Error::invalid(
                    "cron expression",
                    format!(
                        "{expr:?}: {e} (fields: [sec] min hour dom month dow, e.g. \"0 3 * * *\" for 03:00 daily)"
                    ),
                )
            })?;
        let schedule = Schedule {
            expr: trimmed.to_owned(),
            cron,
            tz,
        };
        // An expression that can never fire (`0 0 30 2 *`) is refused now
        // rather than silently never running.
        if schedule.next_after(Utc::now()).is_none() {
            return Err(Error::invalid(
                "cron expression",
                format!("{expr:?} never matches a date"),
            ));
        }
        Ok(schedule)
    }

    /// The expression as given.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The time zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The first occurrence strictly after `t`, if any within croner's search
    /// horizon.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The last occurrence at or before `t`, if any within croner's search
    /// horizon.
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz);
        self.cron
            .find_previous_occurrence(&local, true)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// Up to `count` occurrences strictly after `t`.
    pub fn upcoming(&self, t: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(count);
        let mut at = t;
        while out.len() < count {
            match self.next_after(at) {
                Some(next) => {
                    out.push(next);
                    at = next;
                }
                None => break,
            }
        }
        out
    }
}

/// Parses an IANA time zone name.
pub fn parse_tz(name: &str) -> Result<Tz> {
    Tz::from_str(name.trim()).map_err(|_| {
        Error::invalid(
            "time zone",
            format!(
                "{name:?} is not an IANA time zone name (e.g. UTC, Europe/Berlin, America/New_York)"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next_n(expr: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
        Schedule::parse(expr, tz)
            .unwrap()
            .upcoming(utc(after), n)
            .into_iter()
            .map(|t| t.to_rfc3339())
            .collect()
    }

    /// Looking back finds exactly the occurrences looking forward gives,
    /// across both DST changes of a year (the recurring page's "last
    /// started" derives a job id from it).
    #[test]
    fn looking_back_finds_the_occurrences_looking_forward_gives() {
        for (expr, tz, from) in [
            ("30 2 * * *", "Europe/Berlin", "2026-01-01T00:00:00Z"),
            ("*/15 * * * *", "Europe/Berlin", "2026-03-28T20:00:00Z"),
            ("*/15 * * * *", "Europe/Berlin", "2026-10-24T20:00:00Z"),
            ("0 9 * * 1-5", "America/New_York", "2026-01-01T00:00:00Z"),
            ("0 0 1 * *", "UTC", "2026-01-01T00:00:00Z"),
        ] {
            let s = Schedule::parse(expr, tz).unwrap();
            let all = s.upcoming(utc(from), 400);
            for pair in all.windows(2) {
                let (o, next) = (pair[0], pair[1]);
                assert_eq!(s.last_at_or_before(o), Some(o), "{expr} {tz} at {o}");
                let between = o + (next - o) / 2;
                assert_eq!(
                    s.last_at_or_before(between),
                    Some(o),
                    "{expr} {tz} after {o}"
                );
            }
        }
    }

    #[test]
    fn five_and_six_fields_and_macros() {
        assert_eq!(
            next_n("*/15 * * * *", "UTC", "2026-01-01T00:00:00Z", 2),
            ["2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00"]
        );
        // Six fields: seconds first, as in Cronos' IncludeSeconds format.
        assert_eq!(
            next_n("30 */10 * * * *", "UTC", "2026-01-01T00:00:00Z", 2),
            ["2026-01-01T00:00:30+00:00", "2026-01-01T00:10:30+00:00"]
        );
        assert_eq!(
            next_n("@hourly", "UTC", "2026-01-01T00:00:00Z", 1),
            ["2026-01-01T01:00:00+00:00"]
        );
        assert_eq!(
            next_n("@daily", "UTC", "2026-01-01T00:00:00Z", 1),
            ["2026-01-02T00:00:00+00:00"]
        );
        assert_eq!(
            next_n("0 9 * * MON-FRI", "UTC", "2026-01-02T10:00:00Z", 1),
            ["2026-01-05T09:00:00+00:00"],
            "Friday after 9 → Monday"
        );
    }

    #[test]
    fn next_is_strictly_after() {
        assert_eq!(
            next_n("0 * * * *", "UTC", "2026-01-01T01:00:00Z", 1),
            ["2026-01-01T02:00:00+00:00"]
        );
    }

    #[test]
    fn invalid_expressions_are_clear_errors() {
        for (expr, want) in [
            ("* * *", "has 3 fields"),
            ("* * * * * * *", "has 7 fields"),
            ("61 * * * *", "cron expression"),
            ("0 0 30 2 *", "never matches"),
            ("@often", "cron expression"),
        ] {
            let err = Schedule::parse(expr, "UTC").unwrap_err().to_string();
            assert!(err.contains(want), "{expr}: {err}");
        }
        let err = Schedule::parse("* * * * *", "Mars/Olympus")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an IANA time zone"), "{err}");
    }

    #[test]
    fn time_zone_shifts_occurrences() {
        // 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer.
        assert_eq!(
            next_n("0 9 * * *", "Europe/Berlin", "2026-01-10T00:00:00Z", 1),
            ["2026-01-10T08:00:00+00:00"]
        );
        assert_eq!(
            next_n("0 9 * * *", "Europe/Berlin", "2026-07-10T00:00:00Z", 1),
            ["2026-07-10T07:00:00+00:00"]
        );
    }

    /// Berlin springs forward on 2026-03-29 at 02:00 → 03:00: 02:30 does not
    /// exist and runs once at 03:00 (Cronos: the first valid instant after
    /// the gap); the next day runs at 02:30 again.
    #[test]
    fn berlin_spring_forward_gap_runs_once_after_the_gap() {
        let got = next_n("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 3);
        let berlin = chrono_tz::Europe::Berlin;
        let expect = [
            berlin.with_ymd_and_hms(2026, 3, 29, 3, 0, 0).unwrap(),
            berlin.with_ymd_and_hms(2026, 3, 30, 2, 30, 0).unwrap(),
            berlin.with_ymd_and_hms(2026, 3, 31, 2, 30, 0).unwrap(),
        ];
        let expect: Vec<String> = expect
            .iter()
            .map(|t| t.with_timezone(&Utc).to_rfc3339())
            .collect();
        assert_eq!(got, expect);
    }

    /// Berlin falls back on 2026-10-25 at 03:00 → 02:00: 02:30 happens twice
    /// and a daily job runs once, at the first (CEST, 00:30 UTC).
    #[test]
    fn berlin_fall_back_overlap_runs_once() {
        let got = next_n("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2);
        assert_eq!(
            got,
            ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"]
        );
    }

    /// New York springs forward on 2026-03-08 at 02:00 → 03:00 and falls
    /// back on 2026-11-01 at 02:00 → 01:00.
    #[test]
    fn new_york_transitions() {
        // 02:15 does not exist on March 8: runs at 03:00 EDT (07:00 UTC).
        assert_eq!(
            next_n("15 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2),
            ["2026-03-08T07:00:00+00:00", "2026-03-09T06:15:00+00:00"]
        );
        // 01:30 happens twice on November 1: once, at 01:30 EDT (05:30 UTC).
        assert_eq!(
            next_n("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2),
            ["2026-11-01T05:30:00+00:00", "2026-11-02T06:30:00+00:00"]
        );
        // An interval job runs on both passes through the repeated hour.
        let got = next_n(
            "0,30 * * * *",
            "America/New_York",
            "2026-11-01T04:50:00Z",
            4,
        );
        assert_eq!(
            got,
            [
                "2026-11-01T05:00:00+00:00", // 01:00 EDT
                "2026-11-01T05:30:00+00:00", // 01:30 EDT
                "2026-11-01T06:00:00+00:00", // 01:00 EST
                "2026-11-01T06:30:00+00:00", // 01:30 EST
            ]
        );
    }

    /// An hourly job across the Berlin gap skips the hour that does not
    /// exist rather than running twice at 03:00.
    #[test]
    fn hourly_across_the_gap_does_not_double_fire() {
        let got = next_n("0 * * * *", "Europe/Berlin", "2026-03-29T00:30:00Z", 3);
        // 01:00 CET = 00:00 UTC has passed; next: 03:00 CEST = 01:00 UTC.
        assert_eq!(
            got,
            [
                "2026-03-29T01:00:00+00:00",
                "2026-03-29T02:00:00+00:00",
                "2026-03-29T03:00:00+00:00"
            ]
        );
    }
}
