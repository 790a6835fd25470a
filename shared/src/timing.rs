//! Where a delayed job waits: in SQS with `DelaySeconds` when it is due
//! within 15 minutes, otherwise in DynamoDB until the timer hands it to SQS
//! (design invariant 5).

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The longest SQS `DelaySeconds`.
pub const MAX_SQS_DELAY: Duration = Duration::from_secs(900);

/// How early a delayed message may arrive and still start its job (SQS
/// delays are whole seconds).
pub const EARLY_TOLERANCE: Duration = Duration::from_secs(1);

/// How far ahead of its due time the timer hands a Scheduled job to SQS.
/// With a tick every minute, a job is handed off when 780 to 840 s remain,
/// always under SQS's 900 s limit.
pub const LOOKAHEAD: Duration = Duration::from_secs(14 * 60);

/// How far ahead of an occurrence the timer fires a recurring job (creates
/// the occurrence's job, handed off with the remaining seconds as delay).
/// Longer than the tick interval, so every occurrence is created before its
/// time and starts on the second; short, so that disabling or removing a
/// recurring job stops its occurrences within two minutes and a
/// every-few-seconds schedule does not create a backlog of future jobs.
pub const RECURRING_LOOKAHEAD: Duration = Duration::from_secs(2 * 60);

/// How a job due at `run_at`, seen at `now`, is delivered: sent now with
/// the remaining time as its delay (the job is "handed off"), or None: left
/// to the timer, which hands it off [`LOOKAHEAD`] before it is due.
pub fn send_delay(now: DateTime<Utc>, run_at: DateTime<Utc>) -> Option<Duration> {
    let remaining = (run_at - now).to_std().unwrap_or(Duration::ZERO);
    (remaining <= MAX_SQS_DELAY).then_some(remaining)
}

/// When a scheduled job runs: after a delay or at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// After this long.
    In(Duration),
    /// At this instant (in the past: as soon as possible).
    At(DateTime<Utc>),
}

impl From<Duration> for When {
    fn from(d: Duration) -> Self {
        When::In(d)
    }
}

impl From<DateTime<Utc>> for When {
    fn from(t: DateTime<Utc>) -> Self {
        When::At(t)
    }
}

impl When {
    pub(crate) fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            When::In(d) => now + chrono_dur(d),
            When::At(t) => t,
        }
    }
}

pub(crate) fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn boundaries_0_900_901() {
        let now = at(0);
        assert_eq!(send_delay(now, at(0)), Some(Duration::ZERO));
        assert_eq!(send_delay(now, at(900)), Some(Duration::from_secs(900)));
        assert_eq!(send_delay(now, at(901)), None);
    }

    #[test]
    fn past_due_is_sent_at_once() {
        assert_eq!(send_delay(at(100), at(0)), Some(Duration::ZERO));
    }

    #[test]
    fn sub_second_remainders_are_kept() {
        let now = at(0);
        let run_at = now + chrono::Duration::milliseconds(2500);
        assert_eq!(send_delay(now, run_at), Some(Duration::from_millis(2500)));
    }
}
