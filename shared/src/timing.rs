//! Where a delayed job waits: in SQS with `DelaySeconds` when it is due
//! within 15 minutes, otherwise in DynamoDB until the timer hands it to SQS
//! (design invariant 5).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::queue::MAX_SQS_DELAY;

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

/// How a job due at some instant is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Send now with this delay (the job is "handed off"); None: leave it to
    /// the timer.
    pub send_delay: Option<Duration>,
    /// When the timer must look at the job: to hand it off, or, once it is in
    /// SQS, to re-send it if it has not started by then.
    pub due_at: DateTime<Utc>,
}

/// Plans the delivery of a job due at `run_at`, seen at `now`.
pub fn plan(now: DateTime<Utc>, run_at: DateTime<Utc>, grace: Duration) -> Plan {
    let remaining = (run_at - now).to_std().unwrap_or(Duration::ZERO);
    if remaining <= MAX_SQS_DELAY {
        Plan {
            send_delay: Some(remaining),
            due_at: run_at + chrono_dur(grace),
        }
    } else {
        Plan {
            send_delay: None,
            due_at: run_at - chrono_dur(LOOKAHEAD),
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
        let grace = Duration::from_secs(600);
        let now = at(0);
        let p = plan(now, at(0), grace);
        assert_eq!(p.send_delay, Some(Duration::ZERO));
        assert_eq!(p.due_at, at(600));

        let p = plan(now, at(900), grace);
        assert_eq!(p.send_delay, Some(Duration::from_secs(900)));
        assert_eq!(p.due_at, at(1500));

        let p = plan(now, at(901), grace);
        assert_eq!(p.send_delay, None);
        assert_eq!(p.due_at, at(901 - 840));
    }

    #[test]
    fn past_due_is_sent_at_once() {
        let p = plan(at(100), at(0), Duration::from_secs(60));
        assert_eq!(p.send_delay, Some(Duration::ZERO));
    }

    #[test]
    fn sub_second_remainders_are_kept() {
        let now = at(0);
        let run_at = now + chrono::Duration::milliseconds(2500);
        let p = plan(now, run_at, Duration::ZERO);
        assert_eq!(p.send_delay, Some(Duration::from_millis(2500)));
    }
}
