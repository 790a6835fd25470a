//! `hangar workers`: who ran what in the last minutes.

use std::time::Duration;

use clap::Args;
use hangar::Client;

use super::Error;
use super::common::Format;
use crate::output::{self, Out};
use crate::parse;

#[derive(Args)]
pub struct WorkersArgs {
    /// How far back: 30s, 15m, 2h (at most 1d).
    #[arg(long, default_value = "15m", value_parser = parse::duration)]
    since: Duration,
    #[command(flatten)]
    fmt: Format,
}

pub async fn run(client: &Client, a: WorkersArgs) -> Result<(), Error> {
    if a.since.is_zero() || a.since > Duration::from_secs(86_400) {
        return Err(Error::Fail(output::Fail::usage(format!(
            "--since {}s: give 1s to 1d",
            a.since.as_secs()
        ))));
    }
    let since = client.now() - chrono::TimeDelta::from_std(a.since).expect("at most a day");
    let seen = client.workers(since).await?;
    if a.fmt.json {
        Out::json(&seen);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = seen
        .workers
        .iter()
        .map(|w| {
            vec![
                w.name.clone(),
                w.runs.to_string(),
                w.succeeded.to_string(),
                w.failed.to_string(),
                w.lost.to_string(),
                w.running.len().to_string(),
                (w.kinds.iter())
                    .map(|(k, n)| format!("{k}×{n}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                w.last_started.map(output::short_time).unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &[
            "WORKER",
            "RUNS",
            "OK",
            "FAILED",
            "LOST",
            "RUNNING",
            "KINDS",
            "LAST START",
        ],
        &rows,
    );
    if seen.workers.is_empty() {
        eprintln!("no run started since {}", output::short_time(since));
    }
    if !seen.complete {
        eprintln!("more jobs finished than were read: the counts are of the latest");
    }
    Ok(())
}
