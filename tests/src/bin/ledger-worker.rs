//! A worker process for tests that run several: it polls the stack named
//! by the environment (as `hangar::run::worker` does outside Lambda) and
//! runs `ledger.run` jobs, each appending one JSON line to the file named
//! by `HANGAR_TEST_LEDGER` when it ends: the job id, its attempt, the run's
//! start and end (epoch ms), this process's id, whether it succeeded and
//! the job's arguments. With `HANGAR_TEST_STARTS` set, each run also
//! appends a line to that file when it starts (a run killed midway has no
//! end line). A job sleeps `args.ms` milliseconds, then fails if
//! `args.fail` is true or its attempt is at most `args.fail_first`, and
//! else returns what `hangar_sim::mix::result_of` makes of its run. Lines
//! are short single writes to a file opened for appending, so processes do
//! not interleave them. Each run also logs `ledger run started` through
//! `tracing` (JSON lines with `HANGAR_LOG_FORMAT=json`), which the soak
//! ships to the stack's worker log group and finds by the job's id.

use std::io::Write;
use std::time::Duration;

use hangar::{JobFailure, Registry};
use serde_json::json;

fn append(path: &str, line: serde_json::Value) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{line}\n").as_bytes())
}

#[tokio::main]
async fn main() -> Result<(), hangar::run::BoxError> {
    let ledger = std::env::var("HANGAR_TEST_LEDGER")?;
    let starts = std::env::var("HANGAR_TEST_STARTS").ok();
    let registry = Registry::new().raw_with_result(hangar_sim::mix::KIND, move |args, ctx| {
        let (ledger, starts) = (ledger.clone(), starts.clone());
        async move {
            let start = chrono::Utc::now().timestamp_millis();
            if let Some(path) = &starts {
                append(
                    path,
                    json!({"job": ctx.id().as_str(), "attempt": ctx.attempt(), "start": start, "pid": std::process::id()}),
                )?;
            }
            let ms = args["ms"].as_u64().unwrap_or(0);
            // Inside the run's span: found by the job's id in the logs.
            tracing::info!(ms, "ledger run started");
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let fails = args["fail"].as_bool().unwrap_or(false)
                || u64::from(ctx.attempt()) <= args["fail_first"].as_u64().unwrap_or(0);
            let outcome = if fails {
                Err(JobFailure::msg(format!("planned failure of run {}", ctx.attempt())))
            } else {
                hangar_sim::mix::result_of(&ctx).await
            };
            let end = chrono::Utc::now().timestamp_millis();
            let line = json!({
                "job": ctx.id().as_str(),
                "attempt": ctx.attempt(),
                "start": start,
                "end": end,
                "pid": std::process::id(),
                "ok": outcome.is_ok(),
                "args": args,
            });
            append(&ledger, line)?;
            outcome
        }
    });
    hangar::run::worker(registry).await
}
