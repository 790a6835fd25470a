//! A claimed job's run and its result: the handler in its own task under
//! its deadline, then one conditional write of Succeeded, a retry
//! (Scheduled) or Failed, on the version claimed; or, past its latency
//! timeout, Deleted unstarted.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use chrono::{DateTime, Utc};

use super::{FINISH_RESERVE, Worker};
use crate::error::Result;
use crate::filter::{AutomaticRetry, Election, WorkerFilter};
use crate::handler::{JobContext, JobFailure};
use crate::job::{HistoryEntry, JobRecord, Params, truncate};
use crate::state::State;
use crate::store::{Change, Expect, WriteError};
use crate::timing::chrono_dur;

impl Worker {
    /// Deletes a job claimed past its latency timeout instead of running
    /// it, and settles its continuations.
    pub(super) async fn give_up_late(&self, job: JobRecord, now: DateTime<Utc>) -> Result<State> {
        let (waited, within) = late_by(&job, now).expect("checked by the caller");
        let change = Change::new(
            State::Deleted,
            HistoryEntry::new(
                State::Deleted,
                now,
                Some(format!(
                    "Not started within {}s (waited {}s); given up (latency timeout)",
                    within.as_secs(),
                    waited.as_secs()
                )),
            )
            .with("error_type", "hangar::LatencyTimeout"),
        );
        match self
            .core
            .write(&job.id, &Expect::at(&job), change, now)
            .await
        {
            Ok(done) => {
                tracing::info!(job = %job.id, waited_s = waited.as_secs(), "latency timeout: job deleted unstarted");
                self.notify(&done, State::Processing).await;
                Ok(State::Deleted)
            }
            Err(WriteError::Condition(now_is)) => {
                Ok(self.discarded(&job, now_is.as_deref(), "Deleted"))
            }
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    /// Runs a claimed job and records the result. Returns the state written.
    pub(super) async fn run(
        &self,
        job: JobRecord,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<State> {
        let started = Instant::now();
        let now = self.core.now();
        let mut run_until = now + chrono_dur(job.options.timeout);
        if let Some(d) = deadline {
            let reserve = d - chrono_dur(FINISH_RESERVE);
            if reserve < run_until {
                run_until = reserve;
            }
        }
        let params = Arc::new(std::sync::Mutex::new((job.params.clone(), false)));
        let kept = Arc::new(std::sync::Mutex::new(None));
        let reported = Arc::new(std::sync::Mutex::new(crate::handler::Reported::new()));
        let result = match self.registry.handler(&job.kind) {
            None => Err(JobFailure::typed(
                "hangar::UnknownKind",
                format!(
                    "no handler for kind {:?} on this worker (it handles: {})",
                    job.kind,
                    self.registry.kinds().join(", ")
                ),
            )
            .into_permanent()),
            Some(handler) => {
                let ctx = JobContext {
                    id: job.id.clone(),
                    kind: job.kind.clone(),
                    queue: job.options.queue.clone(),
                    attempt: job.attempt,
                    version: job.version,
                    deadline: run_until,
                    core: self.core.clone(),
                    params: params.clone(),
                    result: kept.clone(),
                    parent: job.parent.clone(),
                    progress: reported.clone(),
                };
                let limit = (run_until - now).to_std().unwrap_or(Duration::ZERO);
                // The filters wrap the handler, the first registered outermost.
                let mut fut: crate::filter::Run = handler(job.args.clone(), ctx.clone());
                for filter in self.filters.iter().rev() {
                    fut = filter.around(&ctx, fut);
                }
                // The run's span: its job, and a link to the trace the job
                // was created in. At level ERROR so that it is on whenever
                // any line is: the job's id is on every line the run logs,
                // however `RUST_LOG` filters the library's own (`warn`).
                let span = tracing::error_span!(
                    "hangar.run",
                    job = %job.id,
                    kind = %job.kind,
                    attempt = job.attempt,
                    traceparent = job.trace.as_ref().map(|t| t.as_str()),
                );
                if let Some(trace) = &job.trace {
                    trace.link(&span);
                }
                // Its own task, so that a panic is caught and the timeout can
                // drop it.
                let task = tokio::spawn(tracing::Instrument::instrument(
                    tokio::time::timeout(limit, fut),
                    span,
                ));
                match task.await {
                    Ok(Ok(res)) => res,
                    Ok(Err(_elapsed)) => Err(JobFailure::typed(
                        "hangar::Timeout",
                        format!("timed out after {}s", limit.as_secs_f32()),
                    )),
                    Err(join) => Err(JobFailure::typed("panic", panic_message(join))),
                }
            }
        };
        let elapsed = started.elapsed();
        let (set, changed) = params.lock().expect("not poisoned").clone();
        let params = changed.then_some(set);
        let kept = kept.lock().expect("not poisoned").take();
        let progress = reported.lock().expect("not poisoned").pending.take();
        let written = match result {
            Ok(()) => self.succeed(&job, elapsed, params, kept, progress).await,
            Err(failure) => self.fail(&job, failure, elapsed, params, progress).await,
        };
        if let Ok(state) = &written {
            let latency =
                startable_since(&job).map(|since| (now - since).num_milliseconds().max(0));
            self.count(&job, |t| {
                t.started += 1;
                t.durations_ms.push(elapsed.as_secs_f64() * 1000.0);
                t.latencies_ms.extend(latency.map(|ms| ms as f64));
                match state {
                    State::Succeeded => t.succeeded += 1,
                    State::Scheduled => t.retried += 1,
                    State::Failed | State::Deleted => t.failed += 1,
                    _ => {}
                }
            });
        }
        written
    }

    async fn succeed(
        &self,
        job: &JobRecord,
        elapsed: Duration,
        params: Option<Params>,
        result: Option<String>,
        progress: Option<crate::job::Progress>,
    ) -> Result<State> {
        let now = self.core.now();
        let change = Change {
            params,
            result,
            progress,
            ..Change::new(
                State::Succeeded,
                HistoryEntry::new(State::Succeeded, now, None)
                    .with("duration_ms", elapsed.as_millis().to_string()),
            )
        };
        match self
            .core
            .write(&job.id, &Expect::at(job), change, now)
            .await
        {
            Ok(done) => {
                self.notify(&done, State::Processing).await;
                Ok(State::Succeeded)
            }
            Err(WriteError::Condition(now_is)) => {
                Ok(self.discarded(job, now_is.as_deref(), "Succeeded"))
            }
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    async fn fail(
        &self,
        job: &JobRecord,
        failure: JobFailure,
        elapsed: Duration,
        params: Option<Params>,
        progress: Option<crate::job::Progress>,
    ) -> Result<State> {
        let now = self.core.now();
        let with_error = |e: HistoryEntry| {
            e.with("error_type", failure.error_type.as_str())
                .with("error_message", failure.message.as_str())
                .with("error_detail", failure.detail.as_str())
                .with("duration_ms", elapsed.as_millis().to_string())
        };
        let last_error = Some(truncate(&failure.message, crate::job::MAX_DATA_VALUE_BYTES));
        // What the failure leads to: the worker's filters first, then the
        // automatic retry policy; a permanent failure is Failed at once.
        let election = if failure.permanent {
            Election::Fail {
                reason: format!("Failed without retry: {}", truncate(&failure.message, 300)),
            }
        } else {
            self.filters
                .iter()
                .find_map(|f| f.elect(job, &failure))
                .or_else(|| AutomaticRetry.elect(job, &failure))
                .expect("the automatic retry policy always elects")
        };
        let deleted = matches!(election, Election::Delete { .. });
        let change = match election {
            Election::Retry { after, reason } => {
                let run_at = now + chrono_dur(after);
                Change {
                    last_error,
                    params,
                    progress,
                    ..Change::scheduled(
                        with_error(HistoryEntry::new(State::Scheduled, now, Some(reason))),
                        run_at,
                        now,
                    )
                }
            }
            Election::Fail { reason } | Election::Delete { reason } => {
                let to = if deleted {
                    State::Deleted
                } else {
                    State::Failed
                };
                Change {
                    last_error,
                    params,
                    progress,
                    ..Change::new(to, with_error(HistoryEntry::new(to, now, Some(reason))))
                }
            }
        };
        match self
            .core
            .write(&job.id, &Expect::at(job), change, now)
            .await
        {
            Ok(written) => {
                self.notify(&written, State::Processing).await;
                tracing::info!(job = %job.id, kind = %job.kind, attempt = job.attempt, state = %written.state, error_type = %failure.error_type, "job failed");
                Ok(written.state)
            }
            Err(WriteError::Condition(now_is)) => {
                Ok(self.discarded(job, now_is.as_deref(), "failed"))
            }
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    fn discarded(&self, job: &JobRecord, now_is: Option<&JobRecord>, result: &str) -> State {
        let state = now_is.map(|j| j.state).unwrap_or(State::Deleted);
        tracing::warn!(
            job = %job.id,
            result,
            now = %state,
            "job changed while it ran (deleted, or its lease expired and another run took it); result discarded"
        );
        state
    }
}

/// How long a just-claimed job waited to start, and its latency timeout,
/// if it waited longer (see [`JobOptions::start_within`]). Only a first run
/// (since creation or a requeue) is checked. The wait counts from the time
/// the job was enqueued, requeued or released, or, claimed straight from
/// Scheduled, from its due time.
pub(super) fn late_by(job: &JobRecord, now: DateTime<Utc>) -> Option<(Duration, Duration)> {
    let within = job.options.start_within?;
    if job.attempt != 1 {
        return None;
    }
    let since = startable_since(job)?;
    let waited = (now - since).to_std().unwrap_or(Duration::ZERO);
    (waited > within).then_some((waited, within))
}

/// When a just-claimed job could have started: the time it was enqueued,
/// requeued, released or became due (a retry: its retry's due time). None
/// for a reclaim after a lost run.
fn startable_since(job: &JobRecord) -> Option<DateTime<Utc>> {
    // The newest entry is the claim's Processing; before it, Enqueued.
    let mut entries = job.history.iter().rev().skip(1);
    let enqueued = entries.next().filter(|e| e.state == State::Enqueued)?;
    Some(match entries.next() {
        Some(s) if s.state == State::Scheduled && enqueued.reason.as_deref() == Some("Due") => {
            s.due_at().unwrap_or(enqueued.at)
        }
        _ => enqueued.at,
    })
}

fn panic_message(err: tokio::task::JoinError) -> String {
    if !err.is_panic() {
        return "job task was cancelled".to_owned();
    }
    let payload = err.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    format!("handler panicked: {text}")
}
