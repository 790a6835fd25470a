//! A worker process for tests that run several: it polls the stack named
//! by the environment (as `hangar::run::worker` does outside Lambda) and
//! runs `ledger.run` jobs, each appending one JSON line to the file named
//! by `HANGAR_TEST_LEDGER`: the job id, its attempt, the run's start and
//! end (epoch ms), this process's id and the job's arguments. A job sleeps
//! `args.ms` milliseconds. Lines are short single writes to a file opened
//! for appending, so processes do not interleave them.

use std::io::Write;
use std::time::Duration;

use hangar::Registry;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), hangar::run::BoxError> {
    let ledger = std::env::var("HANGAR_TEST_LEDGER")?;
    let registry = Registry::new().raw("ledger.run", move |args, ctx| {
        let ledger = ledger.clone();
        async move {
            let start = chrono::Utc::now().timestamp_millis();
            let ms = args["ms"].as_u64().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let end = chrono::Utc::now().timestamp_millis();
            let line = json!({
                "job": ctx.id().as_str(),
                "attempt": ctx.attempt(),
                "start": start,
                "end": end,
                "pid": std::process::id(),
                "args": args,
            });
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&ledger)?;
            file.write_all(format!("{line}\n").as_bytes())?;
            Ok(())
        }
    });
    hangar::run::worker(registry).await
}
