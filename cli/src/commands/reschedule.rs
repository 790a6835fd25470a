//! `hangar reschedule`: a job's new run time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use hangar::{Client, When};

use super::Error;
use super::common::{Format, job_id, stored};
use crate::output::Out;
use crate::parse;

#[derive(Args)]
pub struct RescheduleArgs {
    /// Job id.
    id: String,
    #[command(flatten)]
    when: WhenArgs,
    #[command(flatten)]
    fmt: Format,
}

/// `--delay` or `--at`, one of them required (`hangar enqueue` has its own
/// pair, where both are optional).
#[derive(Args)]
#[group(required = true, multiple = false)]
struct WhenArgs {
    /// Delay from now: 30s, 10m, 2h, 1d, 1h30m.
    #[arg(long, value_parser = parse::duration)]
    delay: Option<Duration>,
    /// Absolute time, RFC 3339 (2026-01-01T09:00:00Z).
    #[arg(long, value_parser = parse::time)]
    at: Option<DateTime<Utc>>,
}

pub async fn run(
    client: &Client,
    RescheduleArgs { id, when, fmt }: RescheduleArgs,
) -> Result<(), Error> {
    let id = job_id(&id)?;
    let w = when
        .delay
        .map(When::In)
        .or(when.at.map(When::At))
        .expect("clap requires one");
    let at = client.reschedule(&id, w).await?.to_rfc3339();
    if fmt.json {
        // The library gives the new due time; the job is read back.
        let job = stored(client, &id).await?;
        Out::json(&hangar::json::JobJson::from(&job));
    } else {
        println!("{id} rescheduled to {at}");
    }
    Ok(())
}
