//! What finished, and how fast: Succeeded and Failed jobs per minute and
//! per hour, and per kind the runs, failures and durations. The timer rolls
//! them up (see `store/metrics.rs`); the client, the CLI and the dashboard
//! read them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Upper bounds of the duration histogram, ms (the last bucket is above).
pub const DURATION_BOUNDS_MS: [u64; 19] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000,
    200_000, 500_000, 1_000_000,
];
/// Succeeded and Failed jobs in one minute or hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Jobs that Succeeded.
    pub s: u64,
    /// Jobs that Failed.
    pub f: u64,
}

/// One kind's outcomes in an hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindTally {
    /// Jobs that finished.
    pub jobs: u64,
    /// Runs they took (a retry is a run).
    pub runs: u64,
    /// Runs that failed (every run of a Failed job, every run but the last
    /// of a Succeeded one).
    pub failures: u64,
    /// Durations of the jobs' last runs: counts per [`DURATION_BOUNDS_MS`]
    /// bucket, and one above.
    pub hist: Vec<u64>,
}

impl KindTally {
    /// Counts a job that finished (`succeeded` or Failed) after `runs`
    /// runs, its last taking `duration_ms`.
    pub(crate) fn add(&mut self, succeeded: bool, runs: u32, duration_ms: Option<u64>) {
        self.jobs += 1;
        self.runs += u64::from(runs);
        self.failures += u64::from(if succeeded {
            runs.saturating_sub(1)
        } else {
            runs
        });
        if self.hist.len() != DURATION_BOUNDS_MS.len() + 1 {
            self.hist = vec![0; DURATION_BOUNDS_MS.len() + 1];
        }
        if let Some(d) = duration_ms {
            let i = DURATION_BOUNDS_MS
                .iter()
                .position(|b| d <= *b)
                .unwrap_or(DURATION_BOUNDS_MS.len());
            self.hist[i] += 1;
        }
    }

    /// Adds another tally (another hour) to this one.
    pub fn merge(&mut self, other: &KindTally) {
        self.jobs += other.jobs;
        self.runs += other.runs;
        self.failures += other.failures;
        if self.hist.len() < other.hist.len() {
            self.hist.resize(other.hist.len(), 0);
        }
        for (a, b) in self.hist.iter_mut().zip(&other.hist) {
            *a += b;
        }
    }

    /// The duration under which a share `q` (0.5, 0.95) of the timed runs
    /// fell: the upper bound of its histogram bucket, ms (None: no run was
    /// timed; `u64::MAX`: above the last bound).
    pub fn quantile_ms(&self, q: f64) -> Option<u64> {
        let total: u64 = self.hist.iter().sum();
        if total == 0 {
            return None;
        }
        let target = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.hist.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Some(DURATION_BOUNDS_MS.get(i).copied().unwrap_or(u64::MAX));
            }
        }
        None
    }
}

/// Finished jobs over time (see [`Client::throughput`](crate::client::Client::throughput)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throughput {
    /// The last 60 minutes, oldest first: each minute's start and counts.
    pub minutes: Vec<(DateTime<Utc>, Tally)>,
    /// The last 24 hours, oldest first.
    pub hours: Vec<(DateTime<Utc>, Tally)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_tallies_count_runs_failures_and_quantiles() {
        let mut t = KindTally::default();
        for ms in [3, 4, 4, 40, 40, 40, 40, 40, 40, 900] {
            t.add(true, 1, Some(ms));
        }
        t.add(true, 3, Some(15));
        t.add(false, 11, Some(1_500));
        assert_eq!((t.jobs, t.runs, t.failures), (12, 24, 13));
        assert_eq!(
            t.quantile_ms(0.5),
            Some(50),
            "the median run took 40 ms: bucket 20-50"
        );
        assert_eq!(t.quantile_ms(0.95), Some(2_000));
        let mut other = KindTally::default();
        other.add(true, 1, Some(10_000_000));
        t.merge(&other);
        assert_eq!(t.jobs, 13);
        assert_eq!(t.quantile_ms(1.0), Some(u64::MAX), "above the last bound");
        assert_eq!(KindTally::default().quantile_ms(0.5), None);
    }
}
