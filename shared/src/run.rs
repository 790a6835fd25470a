//! Entry points for worker and scheduler binaries that run the same code in
//! Lambda and on a laptop.
//!
//! Inside Lambda (`AWS_LAMBDA_RUNTIME_API` is set) [`worker`] serves the SQS
//! event source mapping and [`scheduler`] serves the EventBridge Scheduler
//! invocation. Anywhere else [`worker`] polls the Hangar queues itself the
//! way the event source mapping would (batches of up to 10, partial batch
//! failures, visibility timeouts left to SQS) and [`scheduler`] ticks on an
//! interval, both until Ctrl-C or SIGTERM.

use std::time::Duration;

use crate::client::Client;
use crate::error::{Result, error_chain};
use crate::handler::Registry;
use crate::timer::Timer;
use crate::worker::{Poller, Worker};

/// The error type Lambda entry points return.
pub type BoxError = lambda_runtime::Error;

/// True inside a Lambda execution environment.
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Installs a `tracing` subscriber filtered by `RUST_LOG` (default `info`):
/// JSON lines without timestamps in Lambda (CloudWatch adds them) or when
/// `HANGAR_LOG_FORMAT=json` (a worker whose output is shipped as Lambda
/// would: `hangar dev --worker-cmd`), readable lines elsewhere. Does
/// nothing if a subscriber is already installed.
///
/// In Lambda every line the process writes is JSON (CloudWatch Logs
/// Insights and metric filters parse it): a panic, which Rust would report
/// in plain text, is logged as an `ERROR` line with its location (its
/// message, which may quote a job's data, only at `debug`; a handler's
/// panic message is stored with its job anyway), and an error that stops
/// the function is logged by [`exit_on_error`].
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let registry = tracing_subscriber::registry().with(log_filter());
    if in_lambda() || json_lines() {
        if registry
            .with(lambda_lines(std::io::stdout))
            .try_init()
            .is_ok()
        {
            std::panic::set_hook(Box::new(log_panic));
        }
    } else {
        let _ = registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init();
    }
}

/// The lines a process logs: `RUST_LOG`, default `info`.
pub fn log_filter() -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::EnvFilter;
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Lines as the functions write them in Lambda: JSON, without a time
/// (CloudWatch stamps each line), to `writer`. A run's lines carry its
/// `hangar.run` span, and so its job's id (see `logs`, which finds them).
pub fn lambda_lines<S, W>(
    writer: W,
) -> tracing_subscriber::fmt::Layer<
    S,
    tracing_subscriber::fmt::format::JsonFields,
    tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Json, ()>,
    W,
>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .without_time()
        .with_writer(writer)
}

/// `HANGAR_LOG_FORMAT=json`: log as in Lambda.
pub fn json_lines() -> bool {
    std::env::var("HANGAR_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
}

fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let location = info.location().map(ToString::to_string).unwrap_or_default();
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload");
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    tracing::error!(%location, thread, "panicked");
    tracing::debug!(%location, thread, message, "panic message");
}

/// What a Lambda entry point returns, with an error that stops the function
/// logged as a JSON line before the process exits with status 1 (Lambda
/// reports the exit); returned from `main`, Rust would print it as plain
/// text. Outside Lambda the result is returned as it is.
pub fn exit_on_error(
    function: &str,
    result: std::result::Result<(), BoxError>,
) -> std::result::Result<(), BoxError> {
    match result {
        Err(e) if in_lambda() => {
            tracing::error!(function, error = %error_chain(&*e), "the function stopped");
            std::process::exit(1);
        }
        other => other,
    }
}

/// Runs a worker for `registry` with configuration from the environment
/// ([`crate::Config::from_env`]).
///
/// Locally it polls every queue named in `HANGAR_WORKER_QUEUES`
/// (comma-separated; default: the queues in `HANGAR_QUEUE_URLS`, else
/// `default`) with `HANGAR_POLLERS` concurrent pollers per queue (default 4).
pub async fn worker(registry: Registry) -> std::result::Result<(), BoxError> {
    init_tracing();
    exit_on_error("worker", run_worker(registry).await)
}

async fn run_worker(registry: Registry) -> std::result::Result<(), BoxError> {
    let client = Client::from_env().await?;
    let worker = Worker::new(&client, registry);
    if in_lambda() {
        return lambda_runtime::run(lambda_runtime::service_fn(
            |event: lambda_runtime::LambdaEvent<_>| worker.handle_lambda(event),
        ))
        .await;
    }
    let queues = local_queues(&client);
    let pollers = env_number("HANGAR_POLLERS", 4)?.max(1);
    tracing::info!(stack = %client.config().stack, ?queues, pollers, "worker polling");
    poll(&worker, &queues, pollers as usize, shutdown()).await;
    tracing::info!("worker stopped");
    Ok(())
}

/// Polls `queues` with `pollers` concurrent pollers each until `stop`
/// resolves; in-flight batches finish first.
pub async fn poll(
    worker: &Worker,
    queues: &[String],
    pollers: usize,
    stop: impl Future<Output = ()>,
) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut set = tokio::task::JoinSet::new();
    for queue in queues {
        for _ in 0..pollers {
            let poller = Poller::new(worker.clone(), queue.clone());
            let mut rx = rx.clone();
            set.spawn(async move {
                let _ = poller
                    .run_until(async move {
                        let _ = rx.wait_for(|stop| *stop).await;
                    })
                    .await;
            });
        }
    }
    stop.await;
    let _ = tx.send(true);
    while set.join_next().await.is_some() {}
}

/// Runs the timer: one tick per invocation in Lambda, otherwise a tick every
/// `HANGAR_TICK_SECONDS` (default 60) until Ctrl-C or SIGTERM.
pub async fn scheduler() -> std::result::Result<(), BoxError> {
    init_tracing();
    exit_on_error("scheduler", run_scheduler().await)
}

async fn run_scheduler() -> std::result::Result<(), BoxError> {
    let client = Client::from_env().await?;
    let timer = Timer::new(&client);
    if in_lambda() {
        return lambda_runtime::run(lambda_runtime::service_fn(|event| {
            tick_handler(&timer, event)
        }))
        .await;
    }
    let every = Duration::from_secs(env_number("HANGAR_TICK_SECONDS", 60)?.max(1));
    tracing::info!(stack = %client.config().stack, ?every, "timer ticking");
    tick_every(&timer, every, shutdown()).await;
    Ok(())
}

/// What the stack's EventBridge Scheduler schedule sends the scheduler
/// Lambda every minute (its target's `Input` in `infra/`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TickEvent {
    /// Always [`TICK_SOURCE`].
    pub source: String,
}

/// The `source` of a [`TickEvent`].
pub const TICK_SOURCE: &str = "hangar.timer";

/// The scheduler Lambda's handler: one tick per invocation, within the
/// invocation's remaining time. Any other event is refused, so a
/// misconfigured trigger shows up as failed invocations instead of ticks
/// nobody asked for.
pub async fn tick_handler(
    timer: &Timer,
    event: lambda_runtime::LambdaEvent<TickEvent>,
) -> std::result::Result<crate::timer::TickReport, BoxError> {
    if event.payload.source != TICK_SOURCE {
        return Err(format!(
            "not a Hangar timer event (source {:?}, expected {TICK_SOURCE:?})",
            event.payload.source
        )
        .into());
    }
    let report = timer.tick(lambda_budget(event.context.deadline)).await?;
    report.log();
    roll_up(timer).await;
    Ok(report)
}

/// Ticks every `every` until `stop` resolves. A failed tick is logged and
/// the next one runs on schedule.
pub async fn tick_every(timer: &Timer, every: Duration, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = interval.tick() => {
                match timer.tick(every.max(Duration::from_secs(1))).await {
                    Ok(report) => report.log(),
                    Err(e) => tracing::error!(error = %error_chain(&e), "tick failed"),
                }
                roll_up(timer).await;
            }
        }
    }
}

/// Rolls finished jobs into the metrics; a failure only delays them to the
/// next tick.
async fn roll_up(timer: &Timer) {
    match timer.roll_up().await {
        Ok(r) if r.jobs > 0 => tracing::debug!(jobs = r.jobs, "metrics rolled up"),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "metrics not rolled up; the next tick tries again")
        }
    }
}

/// Time kept back from a Lambda invocation's deadline: a tick stops starting
/// new work this long before the function would be cut off.
pub const LAMBDA_RESERVE: Duration = Duration::from_secs(5);

/// The time a tick may use in an invocation ending at `deadline_ms` (Unix
/// milliseconds), leaving [`LAMBDA_RESERVE`]; at least one second.
// Lambda's deadline is wall time, whatever clock the library is given.
#[allow(clippy::disallowed_types)]
pub fn lambda_budget(deadline_ms: u64) -> Duration {
    let deadline = std::time::UNIX_EPOCH + Duration::from_millis(deadline_ms);
    deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default()
        .saturating_sub(LAMBDA_RESERVE)
        .max(Duration::from_secs(1))
}

fn local_queues(client: &Client) -> Vec<String> {
    if let Ok(list) = std::env::var("HANGAR_WORKER_QUEUES") {
        let queues: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_owned)
            .collect();
        if !queues.is_empty() {
            return queues;
        }
    }
    let configured: Vec<String> = client.config().queue_urls.keys().cloned().collect();
    if configured.is_empty() {
        vec![crate::job::DEFAULT_QUEUE.to_owned()]
    } else {
        configured
    }
}

fn env_number(name: &'static str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().map_err(|_| {
            crate::error::Error::invalid(name, format!("{v:?} is not a whole number"))
        }),
        Err(_) => Ok(default),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
