//! The job state machine: which state changes are allowed.
//!
//! This is the one place the rules live. Every write in [`crate::store`] checks
//! its transition here before it is sent, and the write itself is conditional
//! on the state and version it was computed from, so a refused or raced
//! transition never reaches DynamoDB.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The state of a job, after Hangfire's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum State {
    /// Waiting in an SQS queue for a worker.
    Enqueued,
    /// Waiting for its due time (a delayed job or a retry).
    Scheduled,
    /// A continuation waiting for its parent to finish.
    Awaiting,
    /// Claimed by a worker that holds a lease on it.
    Processing,
    /// Ran to completion. Final; expires after the retention period.
    Succeeded,
    /// Failed for good (retries exhausted, or a failure that is not retried).
    /// Never expires; can be requeued.
    Failed,
    /// Deleted by a user or by a retry policy. Final; expires after the
    /// retention period.
    Deleted,
}

impl State {
    /// Every state, in display order.
    pub const ALL: [State; 7] = [
        State::Enqueued,
        State::Scheduled,
        State::Awaiting,
        State::Processing,
        State::Succeeded,
        State::Failed,
        State::Deleted,
    ];

    /// The name used in DynamoDB, messages, the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Enqueued => "Enqueued",
            State::Scheduled => "Scheduled",
            State::Awaiting => "Awaiting",
            State::Processing => "Processing",
            State::Succeeded => "Succeeded",
            State::Failed => "Failed",
            State::Deleted => "Deleted",
        }
    }

    /// Succeeded and Deleted are final: the job is done, its continuations are
    /// released and the item expires after the retention period. Failed is not
    /// final (Hangfire's rule): it stays until someone requeues or deletes it.
    pub fn is_final(self) -> bool {
        matches!(self, State::Succeeded | State::Deleted)
    }

    /// Whether an item in this state expires by TTL.
    pub fn expires(self) -> bool {
        self.is_final()
    }

    /// States a job can be created in.
    pub fn is_initial(self) -> bool {
        matches!(
            self,
            State::Enqueued | State::Scheduled | State::Awaiting | State::Failed
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`State::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown job state {0:?} (expected one of Enqueued, Scheduled, Awaiting, Processing, Succeeded, Failed, Deleted)"
)]
pub struct UnknownState(pub String);

impl FromStr for State {
    type Err = UnknownState;

    /// Case-insensitive, so the CLI can take `--state failed`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// Whether a job may move from `from` to `to`.
///
/// | from | to |
/// |---|---|
/// | Enqueued | Processing (claim), Scheduled (reschedule), Deleted |
/// | Scheduled | Enqueued (due, or requeue), Scheduled (reschedule), Deleted |
/// | Awaiting | Enqueued (parent finished, or requeue), Deleted |
/// | Processing | Processing (reclaim after the lease expired), Succeeded, Failed, Scheduled (retry), Deleted |
/// | Succeeded, Failed, Deleted | Enqueued (requeue), Scheduled (reschedule); Succeeded and Failed also Deleted |
///
/// A Scheduled job reaches Processing through Enqueued: the worker records
/// both entries in its one claim write. Processing never goes back to
/// Enqueued: that would let a second worker start while the first still holds
/// its lease.
pub fn can_transition(from: State, to: State) -> bool {
    use State::*;
    match from {
        Enqueued => matches!(to, Processing | Scheduled | Deleted),
        Scheduled => matches!(to, Enqueued | Scheduled | Deleted),
        Awaiting => matches!(to, Enqueued | Deleted),
        Processing => matches!(to, Processing | Succeeded | Failed | Scheduled | Deleted),
        Succeeded | Failed => matches!(to, Enqueued | Scheduled | Deleted),
        Deleted => matches!(to, Enqueued | Scheduled),
    }
}

#[cfg(test)]
mod tests {
    use super::State::*;
    use super::*;

    /// The full 7×7 table, written out so that a change to the rules has to
    /// change this test too.
    #[test]
    fn every_state_pair_is_allowed_or_refused_as_documented() {
        let allowed: &[(State, &[State])] = &[
            (Enqueued, &[Processing, Scheduled, Deleted]),
            (Scheduled, &[Enqueued, Scheduled, Deleted]),
            (Awaiting, &[Enqueued, Deleted]),
            (
                Processing,
                &[Processing, Succeeded, Failed, Scheduled, Deleted],
            ),
            (Succeeded, &[Enqueued, Scheduled, Deleted]),
            (Failed, &[Enqueued, Scheduled, Deleted]),
            (Deleted, &[Enqueued, Scheduled]),
        ];
        let mut checked = 0;
        for (from, tos) in allowed {
            for to in State::ALL {
                assert_eq!(
                    can_transition(*from, to),
                    tos.contains(&to),
                    "{from} -> {to}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 49);
    }

    #[test]
    fn nothing_enters_awaiting_after_creation() {
        for from in State::ALL {
            assert!(!can_transition(from, Awaiting), "{from} -> Awaiting");
        }
    }

    #[test]
    fn only_a_claim_leads_to_a_result() {
        for from in State::ALL {
            let reaches_result = can_transition(from, Succeeded);
            assert_eq!(reaches_result, from == Processing, "{from} -> Succeeded");
        }
    }

    #[test]
    fn final_states_and_expiry() {
        let finals: Vec<_> = State::ALL.into_iter().filter(|s| s.is_final()).collect();
        assert_eq!(finals, vec![Succeeded, Deleted]);
        assert!(!Failed.expires());
    }

    #[test]
    fn names_round_trip_case_insensitively() {
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>().unwrap(), s);
            assert_eq!(s.as_str().to_lowercase().parse::<State>().unwrap(), s);
        }
        let err = "done".parse::<State>().unwrap_err();
        assert!(err.to_string().contains("\"done\""));
    }
}
