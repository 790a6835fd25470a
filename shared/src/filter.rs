//! Job filters: hooks around a job's life, in the style of Hangfire's
//! filters and tower's layers.
//!
//! - [`ClientFilter`], registered on a [`crate::Client`] with
//!   [`crate::Client::with_filter`]: runs before a job is created; it can
//!   add or check parameters and options, or refuse the job.
//! - [`WorkerFilter`], registered on a [`crate::Worker`] with
//!   [`crate::Worker::with_filter`]: wraps each run ([`WorkerFilter::around`]:
//!   spans, timing, context such as a tenant id), decides what a failed run
//!   leads to ([`WorkerFilter::elect`]), and hears of each state the worker
//!   writes ([`WorkerFilter::on_state`]: a failed job posts an alert).
//!
//! The automatic retry policy is itself a filter, [`AutomaticRetry`], which
//! every worker consults after its own filters: a filter that elects an
//! outcome for a failure overrides it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::error::Result;
use crate::handler::{HandlerResult, JobContext, JobFailure};
use crate::job::{JobRecord, NewJob, truncate};
use crate::retry::OnExhausted;
use crate::state::State;

/// A run as a filter sees it: the handler's future (and the filters
/// inside this one).
pub type Run = Pin<Box<dyn Future<Output = HandlerResult> + Send + 'static>>;

/// A future a filter returns from [`WorkerFilter::on_state`].
pub type Notify = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs before a job is created by the client it is registered on.
pub trait ClientFilter: Send + Sync + 'static {
    /// Adds or checks parameters and options; an error refuses the job
    /// (nothing is written). Use [`crate::Error::refused`] to say why.
    fn on_create(&self, job: &mut NewJob) -> Result<()>;
}

/// What a failed run leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Election {
    /// Run again after this long (the job is Scheduled meanwhile).
    Retry {
        /// The wait.
        after: Duration,
        /// The history entry's reason.
        reason: String,
    },
    /// Failed: kept until requeued or deleted.
    Fail {
        /// The history entry's reason.
        reason: String,
    },
    /// Deleted.
    Delete {
        /// The history entry's reason.
        reason: String,
    },
}

/// Hooks on the worker it is registered on. Every method has a default
/// that does nothing, so a filter implements only what it needs.
pub trait WorkerFilter: Send + Sync + 'static {
    /// Wraps a run: do something before, `run.await`, do something after
    /// (or return a result without running). Filters wrap in the order
    /// registered, the first outermost.
    fn around(&self, ctx: &JobContext, run: Run) -> Run {
        let _ = ctx;
        run
    }

    /// What a failed run leads to; `None` leaves it to the next filter and
    /// finally to [`AutomaticRetry`]. A permanent failure
    /// ([`JobFailure::permanent`]) is Failed without asking.
    fn elect(&self, job: &JobRecord, failure: &JobFailure) -> Option<Election> {
        let _ = (job, failure);
        None
    }

    /// Called after the worker wrote a job's new state (`job` as written,
    /// `from` the state it left): Succeeded, Failed, Deleted, or Scheduled
    /// for a retry. The message is acknowledged only after this returns, so
    /// keep it short (spawn slow work).
    fn on_state(&self, job: &JobRecord, from: State) -> Notify {
        let _ = (job, from);
        Box::pin(async {})
    }
}

/// The automatic retry policy (Hangfire's `AutomaticRetryAttribute`): the
/// job's [`crate::RetryPolicy`] decides between a retry after its delay
/// and, once the retries are used up, Failed or Deleted.
#[derive(Debug, Clone, Copy, Default)]
pub struct AutomaticRetry;

impl WorkerFilter for AutomaticRetry {
    fn elect(&self, job: &JobRecord, failure: &JobFailure) -> Option<Election> {
        let policy = &job.options.retry;
        let n = job.attempt;
        if policy.has_retry_after(n) {
            let after = crate::entropy::with_rng(|mut rng| policy.delay_before_retry(n, &mut rng));
            return Some(Election::Retry {
                after,
                reason: format!(
                    "Retry {n} of {} in {}s: {}",
                    policy.attempts,
                    after.as_secs(),
                    truncate(&failure.message, 200)
                ),
            });
        }
        let reason = format!(
            "Retries exhausted ({} of {})",
            policy.attempts, policy.attempts
        );
        Some(match policy.on_exhausted {
            OnExhausted::Fail => Election::Fail { reason },
            OnExhausted::Delete => Election::Delete { reason },
        })
    }
}
