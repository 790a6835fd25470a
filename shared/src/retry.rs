//! Automatic retries, after Hangfire's `AutomaticRetryAttribute`.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Hangfire's default number of retries.
pub const DEFAULT_RETRY_ATTEMPTS: u32 = 10;

/// What happens to a job whose retries are used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OnExhausted {
    /// Move it to Failed, where it stays until requeued or deleted (default).
    #[default]
    Fail,
    /// Move it to Deleted, which expires like Succeeded.
    Delete,
}

/// How a job is retried when its handler fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// How many times a failed job is run again (Hangfire's `Attempts`). A job
    /// runs at most `attempts + 1` times; 0 turns retries off.
    pub attempts: u32,
    /// Fixed delays in seconds, one per retry; the last one repeats. Empty
    /// means Hangfire's back-off (see [`RetryPolicy::delay_before_retry`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delays_secs: Vec<u32>,
    /// What to do when the retries are used up.
    #[serde(default)]
    pub on_exhausted: OnExhausted,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: DEFAULT_RETRY_ATTEMPTS,
            delays_secs: Vec::new(),
            on_exhausted: OnExhausted::Fail,
        }
    }
}

impl RetryPolicy {
    /// No retries: the first failure is final.
    pub fn none() -> Self {
        RetryPolicy {
            attempts: 0,
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (1 for the first retry, that is
    /// the job's second run): the configured delays if any, otherwise
    /// Hangfire's `(retry − 1)^4 + 15 + rand(0..30) · retry` seconds.
    pub fn delay_before_retry(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let retry = retry.max(1);
        if let Some(last) = self.delays_secs.last() {
            let secs = self
                .delays_secs
                .get(retry as usize - 1)
                .copied()
                .unwrap_or(*last);
            return Duration::from_secs(u64::from(secs));
        }
        let n = u64::from(retry);
        let jitter: u64 = rng.random_range(0..30);
        Duration::from_secs((n - 1).saturating_pow(4).saturating_add(15 + jitter * n))
    }

    /// Whether a job that has just failed its `attempt`-th run (1-based) gets
    /// another one.
    pub fn has_retry_after(&self, attempt: u32) -> bool {
        attempt <= self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// The back-off stays inside Hangfire's bounds for every retry number.
    #[test]
    fn default_delay_bounds() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        for retry in 1..=10u64 {
            let low = (retry - 1).pow(4) + 15;
            let high = low + 29 * retry;
            let mut seen_low = u64::MAX;
            let mut seen_high = 0;
            for _ in 0..2_000 {
                let d = policy.delay_before_retry(retry as u32, &mut rng).as_secs();
                assert!(
                    (low..=high).contains(&d),
                    "retry {retry}: {d} not in {low}..={high}"
                );
                seen_low = seen_low.min(d);
                seen_high = seen_high.max(d);
            }
            // The jitter really varies: both ends of the range are reached.
            assert_eq!((seen_low, seen_high), (low, high), "retry {retry}");
        }
    }

    #[test]
    fn first_retries_fit_an_sqs_delay_and_later_ones_do_not() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        // Retry 6: at most 5^4 + 15 + 29*6 = 814 s, always an SQS delay.
        assert!(policy.delay_before_retry(6, &mut rng).as_secs() <= 900);
        // Retry 7: at least 6^4 + 15 = 1311 s, always a timer hand-off.
        assert!(policy.delay_before_retry(7, &mut rng).as_secs() > 900);
    }

    #[test]
    fn custom_delays_repeat_the_last_one() {
        let policy = RetryPolicy {
            attempts: 5,
            delays_secs: vec![1, 5, 60],
            on_exhausted: OnExhausted::Delete,
        };
        let mut rng = StdRng::seed_from_u64(0);
        let got: Vec<u64> = (1..=5)
            .map(|r| policy.delay_before_retry(r, &mut rng).as_secs())
            .collect();
        assert_eq!(got, vec![1, 5, 60, 60, 60]);
    }

    #[test]
    fn attempts_count_retries_not_runs() {
        let policy = RetryPolicy {
            attempts: 2,
            ..RetryPolicy::default()
        };
        assert!(policy.has_retry_after(1));
        assert!(policy.has_retry_after(2));
        assert!(!policy.has_retry_after(3));
        assert!(!RetryPolicy::none().has_retry_after(1));
    }
}
