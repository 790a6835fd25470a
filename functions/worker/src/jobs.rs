//! Example jobs. Copy this file's pattern for your own: a serde struct, a
//! kind name, and an async handler.

use std::time::Duration;

use hangar::{HandlerResult, Job, JobContext, JobFailure, Registry};
use serde::{Deserialize, Serialize};

/// Logs its arguments and succeeds, returning its greeting (kept with the
/// job as its result).
#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    /// Who to greet.
    #[serde(default = "world")]
    pub name: String,
}

fn world() -> String {
    "world".to_owned()
}

impl Job for Hello {
    const KIND: &'static str = "hello";
}

/// Sleeps, then succeeds; stops early if the job is deleted meanwhile.
#[derive(Debug, Serialize, Deserialize)]
pub struct Sleep {
    /// How long, in milliseconds.
    pub ms: u64,
}

impl Job for Sleep {
    const KIND: &'static str = "sleep";
}

/// Fails its first `fail_times` runs, then succeeds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Flaky {
    /// How many runs fail.
    pub fail_times: u32,
}

impl Job for Flaky {
    const KIND: &'static str = "flaky";
}

/// Always fails: returns an error, or panics when `panic` is set (a panic
/// is a failure like any other).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Fail {
    /// The error message.
    #[serde(default)]
    pub message: Option<String>,
    /// Panic with the message instead of returning it.
    #[serde(default)]
    pub panic: bool,
}

impl Job for Fail {
    const KIND: &'static str = "fail";
}

/// What `hello` returns.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Greeting {
    pub greeting: String,
}

async fn hello(args: Hello, ctx: JobContext) -> Result<Greeting, JobFailure> {
    let greeting = format!("hello, {}", args.name);
    tracing::info!(job = %ctx.id(), attempt = ctx.attempt(), "{greeting}");
    Ok(Greeting { greeting })
}

async fn sleep(args: Sleep, ctx: JobContext) -> HandlerResult {
    let total = Duration::from_millis(args.ms);
    let step = Duration::from_millis(500);
    let mut slept = Duration::ZERO;
    while slept < total {
        let nap = step.min(total - slept);
        tokio::time::sleep(nap).await;
        slept += nap;
        if slept < total && ctx.is_cancelled().await.unwrap_or(false) {
            tracing::info!(job = %ctx.id(), "deleted while sleeping; stopping early");
            return Ok(());
        }
    }
    Ok(())
}

async fn flaky(args: Flaky, ctx: JobContext) -> HandlerResult {
    if ctx.attempt() <= args.fail_times {
        return Err(JobFailure::msg(format!(
            "flaky: run {} of {} planned failures",
            ctx.attempt(),
            args.fail_times
        )));
    }
    tracing::info!(job = %ctx.id(), attempt = ctx.attempt(), "flaky job succeeded");
    Ok(())
}

async fn fail(args: Fail, _ctx: JobContext) -> HandlerResult {
    let message = args
        .message
        .unwrap_or_else(|| "this job always fails".to_owned());
    if args.panic {
        panic!("{message}");
    }
    Err(JobFailure::msg(message))
}

/// The registry of the example worker.
pub fn registry() -> Registry {
    Registry::new()
        .job_with_result(hello)
        .job(sleep)
        .job(flaky)
        .job(fail)
}
