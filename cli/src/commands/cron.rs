//! `hangar cron next`: a cron expression's next occurrences, computed by
//! the scheduler's own code. Needs no stack.

use chrono::{DateTime, Utc};
use clap::Subcommand;

use super::common::Format;
use crate::output::{Fail, Out};
use crate::parse;

#[derive(Subcommand)]
pub enum CronCommand {
    /// Print the next occurrences strictly after an instant, one RFC 3339
    /// timestamp (with the zone's offset) per line.
    Next {
        /// Cron expression.
        expr: String,
        /// IANA time zone.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// Start instant, RFC 3339 (default now).
        #[arg(long, value_parser = parse::time)]
        after: Option<DateTime<Utc>>,
        /// How many occurrences.
        #[arg(long, default_value_t = 5)]
        count: usize,
        #[command(flatten)]
        fmt: Format,
    },
}

pub fn run(cmd: CronCommand) -> Result<(), Fail> {
    let CronCommand::Next {
        expr,
        tz,
        after,
        count,
        fmt,
    } = cmd;
    let schedule = hangar::cron::Schedule::parse(&expr, &tz).map_err(Fail::usage)?;
    let times = schedule.upcoming(after.unwrap_or_else(Utc::now), count);
    let zone = schedule.tz();
    let out: Vec<String> = times
        .iter()
        .map(|t| t.with_timezone(&zone).to_rfc3339())
        .collect();
    if fmt.json {
        Out::json(&out);
    } else {
        for t in out {
            println!("{t}");
        }
    }
    Ok(())
}
