//! The job author's API: a [`Registry`] of handlers by kind, the
//! [`JobContext`] a running handler sees, and the [`JobFailure`] it returns.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::Core;
use crate::error::{Result, error_chain};
use crate::job::{Job, JobId, MAX_RESULT_BYTES, Params, Parent};
use crate::state::State;

/// Why a job run failed, as its handler reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// Skip the retries: the failure will not go away by itself.
    pub permanent: bool,
    /// The error's type, e.g. `std::io::Error`.
    pub error_type: String,
    /// The error's message.
    pub message: String,
    /// The error with its source chain and debug form.
    pub detail: String,
}

impl JobFailure {
    /// A failure with a message, retried per the job's policy.
    pub fn msg(message: impl Into<String>) -> Self {
        let message = message.into();
        JobFailure {
            permanent: false,
            error_type: "hangar::JobFailure".to_owned(),
            detail: message.clone(),
            message,
        }
    }

    /// A failure that is not retried: the job goes straight to Failed.
    pub fn permanent(message: impl Into<String>) -> Self {
        JobFailure {
            permanent: true,
            ..Self::msg(message)
        }
    }

    /// Marks this failure as not worth retrying.
    pub fn into_permanent(mut self) -> Self {
        self.permanent = true;
        self
    }

    pub(crate) fn typed(error_type: &str, message: String) -> Self {
        JobFailure {
            permanent: false,
            error_type: error_type.to_owned(),
            detail: message.clone(),
            message,
        }
    }
}

impl<E> From<E> for JobFailure
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(err: E) -> Self {
        JobFailure {
            permanent: false,
            error_type: std::any::type_name::<E>().to_owned(),
            message: err.to_string(),
            detail: format!("{}\n\n{err:?}", error_chain(&err)),
        }
    }
}

/// What a handler returns.
pub type HandlerResult = std::result::Result<(), JobFailure>;

type BoxFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;
pub(crate) type Handler = Arc<dyn Fn(serde_json::Value, JobContext) -> BoxFuture + Send + Sync>;

/// A handler that returns a value, as one that keeps it as its run's
/// result ([`JobContext::keep_result`]).
fn keeping<A, R, F, Fut>(handler: F) -> impl Fn(A, JobContext) -> BoxFuture + Send + Sync + 'static
where
    A: Send + 'static,
    R: serde::Serialize + Send + 'static,
    F: Fn(A, JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<R, JobFailure>> + Send + 'static,
{
    let handler = Arc::new(handler);
    move |args, ctx| {
        let handler = handler.clone();
        Box::pin(async move {
            let value = handler(args, ctx.clone()).await?;
            ctx.keep_result(&value)
        })
    }
}

/// Handlers by kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.kinds())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the handler of a typed job. Arguments that do not decode as
    /// `J` fail the job at once, without retries.
    pub fn job<J, F, Fut>(mut self, handler: F) -> Self
    where
        J: Job,
        F: Fn(J, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.handlers.insert(
            J::KIND.to_owned(),
            Arc::new(move |args, ctx| {
                let handler = handler.clone();
                Box::pin(async move {
                    let args: J = serde_json::from_value(args).map_err(|e| {
                        JobFailure::typed(
                            "serde_json::Error",
                            format!("arguments do not match kind {}: {e}", J::KIND),
                        )
                        .into_permanent()
                    })?;
                    handler(args, ctx).await
                })
            }),
        );
        self
    }

    /// Registers the handler of a typed job that returns a value: on
    /// success the value is kept with the job, in the finishing write (no
    /// extra request), for [`crate::Client::result`], the CLI, the
    /// dashboard and the job's continuations
    /// ([`JobContext::parent_result`]). A value whose JSON is larger than
    /// [`crate::job::MAX_RESULT_BYTES`] fails the run, without retries.
    pub fn job_with_result<J, R, F, Fut>(self, handler: F) -> Self
    where
        J: Job,
        R: serde::Serialize + Send + 'static,
        F: Fn(J, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<R, JobFailure>> + Send + 'static,
    {
        self.job(keeping(handler))
    }

    /// [`Registry::job_with_result`] for an untyped handler.
    pub fn raw_with_result<R, F, Fut>(self, kind: impl Into<String>, handler: F) -> Self
    where
        R: serde::Serialize + Send + 'static,
        F: Fn(serde_json::Value, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<R, JobFailure>> + Send + 'static,
    {
        self.raw(kind, keeping(handler))
    }

    /// Registers an untyped handler that receives the JSON arguments.
    pub fn raw<F, Fut>(mut self, kind: impl Into<String>, handler: F) -> Self
    where
        F: Fn(serde_json::Value, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.handlers.insert(
            kind.into(),
            Arc::new(move |args, ctx| Box::pin(handler(args, ctx))),
        );
        self
    }

    pub(crate) fn handler(&self, kind: &str) -> Option<&Handler> {
        self.handlers.get(kind)
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        let mut kinds: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        kinds.sort_unstable();
        kinds
    }
}

/// What a running handler knows about its job.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub(crate) id: JobId,
    pub(crate) kind: String,
    pub(crate) queue: String,
    pub(crate) attempt: u32,
    pub(crate) version: u64,
    pub(crate) deadline: DateTime<Utc>,
    pub(crate) core: Arc<Core>,
    /// The job's parameters; changes are written with the run's result.
    pub(crate) params: Arc<std::sync::Mutex<(Params, bool)>>,
    /// What the run returned, as JSON text, written when it succeeds.
    pub(crate) result: Arc<std::sync::Mutex<Option<String>>>,
    /// The job (or batch) this continuation waited for.
    pub(crate) parent: Option<Parent>,
    /// The progress reported: when it was last written, and the latest not
    /// yet written.
    pub(crate) progress: Arc<std::sync::Mutex<Reported>>,
}

/// What a run has reported of its progress.
#[derive(Debug)]
pub(crate) struct Reported {
    /// When the run started or its progress was last written.
    pub(crate) written_at: tokio::time::Instant,
    /// The latest progress not yet written; the finishing write carries it.
    pub(crate) pending: Option<crate::job::Progress>,
}

impl Reported {
    pub(crate) fn new() -> Self {
        Reported {
            written_at: tokio::time::Instant::now(),
            pending: None,
        }
    }
}

impl JobContext {
    /// A parameter of the job (as created, or as set during this run).
    pub fn param(&self, name: &str) -> Option<String> {
        self.params
            .lock()
            .expect("not poisoned")
            .0
            .get(name)
            .cloned()
    }

    /// All the job's parameters.
    pub fn params(&self) -> Params {
        self.params.lock().expect("not poisoned").0.clone()
    }

    /// Sets a parameter, stored with the run's result (in the same write,
    /// at no extra cost), shown by the CLI and the dashboard. Refused past
    /// the limits of [`crate::job::validate_params`].
    pub fn set_param(&self, name: impl Into<String>, value: impl Into<String>) -> Result<()> {
        let mut params = self.params.lock().expect("not poisoned");
        let mut next = params.0.clone();
        next.insert(name.into(), value.into());
        crate::job::validate_params(&next)?;
        *params = (next, true);
        Ok(())
    }

    pub fn id(&self) -> &JobId {
        &self.id
    }
    pub fn kind(&self) -> &str {
        &self.kind
    }
    pub fn queue(&self) -> &str {
        &self.queue
    }
    /// The job or batch this continuation waited for; `None` for a job
    /// that is not a continuation.
    pub fn parent(&self) -> Option<&Parent> {
        self.parent.as_ref()
    }
    /// Which run this is: 1 for the first, 2 for the first retry, ...
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
    /// When this run is stopped (its timeout, or the Lambda invocation's end).
    pub fn deadline(&self) -> DateTime<Utc> {
        self.deadline
    }
    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        (self.deadline - self.core.now())
            .to_std()
            .unwrap_or(Duration::ZERO)
    }
    /// Reports how far the run has got: `fraction` of the work (0 to 1)
    /// and what it is doing, shown on the job's page, by `hangar job` and
    /// the API. Writes are coalesced: at most one every
    /// [`PROGRESS_EVERY`] of the run (one `UpdateItem` of the job, no
    /// change of its version); the latest report in between is written
    /// with the run's end at no extra cost, so a run shorter than
    /// [`PROGRESS_EVERY`] pays nothing for it. A message is cut at
    /// [`crate::job::MAX_PROGRESS_MESSAGE`] bytes; a fraction outside 0
    /// to 1 is clamped. A run that no longer owns its job writes nothing.
    pub async fn progress(&self, fraction: f64, message: impl Into<String>) -> Result<()> {
        let report = crate::job::Progress {
            fraction: if fraction.is_nan() {
                0.0
            } else {
                fraction.clamp(0.0, 1.0)
            },
            message: crate::job::truncate(&message.into(), crate::job::MAX_PROGRESS_MESSAGE),
            at: crate::clock::from_millis(crate::clock::to_millis(self.core.now())),
        };
        let due = {
            let mut reported = self.progress.lock().expect("not poisoned");
            let due = reported.written_at.elapsed() >= PROGRESS_EVERY;
            if due {
                reported.written_at = tokio::time::Instant::now();
                reported.pending = None;
            } else {
                reported.pending = Some(report.clone());
            }
            due
        };
        if due {
            self.core
                .store
                .set_progress(&self.id, self.version, &report, self.core.now())
                .await?;
        }
        Ok(())
    }

    /// Keeps `value` as the run's result, written with its success: the
    /// value returned by a handler registered `*_with_result`. Refused
    /// when its JSON is larger than [`MAX_RESULT_BYTES`] (a permanent
    /// failure, naming the size); `()` and `None` keep nothing.
    pub fn keep_result<R: serde::Serialize>(&self, value: &R) -> HandlerResult {
        let text = serde_json::to_string(value).map_err(|e| {
            JobFailure::typed(
                "hangar::Result",
                format!("the result does not serialize as JSON: {e}"),
            )
            .into_permanent()
        })?;
        if text.len() > MAX_RESULT_BYTES {
            return Err(JobFailure::typed(
                "hangar::ResultTooLarge",
                format!(
                    "the result is {} bytes of JSON; a job keeps at most {MAX_RESULT_BYTES} (keep a large output elsewhere, e.g. S3, and return its key)",
                    text.len()
                ),
            )
            .into_permanent());
        }
        *self.result.lock().expect("not poisoned") = (text != "null").then_some(text);
        Ok(())
    }

    /// What this continuation's parent job returned (see
    /// [`Registry::job_with_result`]): one consistent `GetItem`. `None`
    /// when the parent kept no result (it returned none, did not
    /// succeed, or is gone past its retention). An error for a job that
    /// is not a continuation of a job (a batch's: see
    /// [`JobContext::batch_results`]), or a result that does not decode as `T`.
    pub async fn parent_result<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>> {
        let parent = match &self.parent {
            Some(p) if !p.batch => &p.id,
            _ => {
                return Err(crate::error::Error::invalid(
                    "parent_result",
                    format!("job {} is not a continuation of a job", self.id),
                ));
            }
        };
        let job = self.core.store.get(parent, self.core.now()).await?;
        decode_result(parent, job.and_then(|j| j.result))
    }

    /// The results of jobs `from` to `from + limit - 1` (numbered from 1,
    /// in the order they were added) of the batch this continuation
    /// waited for: one `BatchGetItem` per 100 jobs; a job that kept no
    /// result is `None`, one gone past its retention is left out. An
    /// error for a job that is not a batch's continuation.
    pub async fn batch_results<T: serde::de::DeserializeOwned>(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(JobId, Option<T>)>> {
        let batch = match &self.parent {
            Some(p) if p.batch => &p.id,
            _ => {
                return Err(crate::error::Error::invalid(
                    "batch_results",
                    format!("job {} is not a continuation of a batch", self.id),
                ));
            }
        };
        let now = self.core.now();
        let Some(record) = self.core.store.get_batch(batch, now).await? else {
            return Ok(Vec::new());
        };
        let from = from.max(1);
        let to = (from + limit as u64).min(record.total + 1);
        let ids: Vec<JobId> = (from..to).map(|n| record.job_id(n)).collect();
        let jobs = self.core.store.get_many(&ids, now).await?;
        jobs.into_iter()
            .map(|j| Ok((j.id.clone(), decode_result(&j.id, j.result)?)))
            .collect()
    }

    /// Whether this run no longer owns the job: it was deleted, or its lease
    /// expired and another worker took it over. A long job should check now
    /// and then and stop early; its result would be discarded anyway.
    pub async fn is_cancelled(&self) -> Result<bool> {
        let now = self.core.now();
        let job = self.core.store.get(&self.id, now).await?;
        Ok(match job {
            Some(job) => {
                job.state != State::Processing
                    || job.version != self.version
                    || job.lease_until.is_some_and(|lease| lease < now)
            }
            None => true,
        })
    }

    /// Resolves soon after this run stops owning its job (deleted, taken
    /// over, or its lease over; a running job cannot be rescheduled): await
    /// it next to the work, e.g. in `tokio::select!`, to stop early. It
    /// reads the job (one consistent `GetItem`) every [`CANCEL_CHECK`], and
    /// only while it is being awaited; a failed read is logged and the next
    /// one tried.
    pub async fn cancelled(&self) {
        self.cancelled_every(CANCEL_CHECK).await
    }

    /// [`JobContext::cancelled`], reading the job every `every`.
    pub async fn cancelled_every(&self, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            match self.is_cancelled().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    job = %self.id,
                    error = %error_chain(&e),
                    "cancellation check failed; trying again"
                ),
            }
        }
    }
}

/// A kept result as `T`; one that does not decode is an error naming the job.
pub(crate) fn decode_result<T: serde::de::DeserializeOwned>(
    id: &JobId,
    result: Option<serde_json::Value>,
) -> Result<Option<T>> {
    result
        .map(|v| {
            serde_json::from_value(v).map_err(|e| {
                crate::error::Error::invalid(
                    "result",
                    format!("the result of job {id} does not decode as the type asked for: {e}"),
                )
            })
        })
        .transpose()
}

/// At most one progress write a run every this long
/// ([`JobContext::progress`]).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How often [`JobContext::cancelled`] reads its job.
pub const CANCEL_CHECK: Duration = Duration::from_secs(5);
