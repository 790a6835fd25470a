//! `hangar job` (one job) and `hangar jobs` (the jobs in a state).

use clap::Args;
use hangar::{Client, State};

use super::Error;
use super::common::{Format, job_id};
use crate::output::{self, Fail, Out};
use crate::parse;

#[derive(Args)]
pub struct JobArgs {
    /// Job id.
    id: String,
    #[command(flatten)]
    fmt: Format,
}

#[derive(Args)]
pub struct JobsArgs {
    /// State: enqueued, scheduled, awaiting, processing, succeeded, failed, deleted.
    #[arg(long, default_value = "enqueued", value_parser = parse::state)]
    state: State,
    /// Only jobs of this queue.
    #[arg(long)]
    queue: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[command(flatten)]
    fmt: Format,
}

pub async fn show(client: &Client, JobArgs { id, fmt }: JobArgs) -> Result<(), Error> {
    let id = job_id(&id)?;
    let job = client
        .get(&id)
        .await?
        .ok_or_else(|| Fail::new(hangar::Error::NotFound { id: id.clone() }.to_string()))?;
    if fmt.json {
        Out::json(&hangar::json::JobJson::from(&job));
    } else {
        output::print_job(&job);
    }
    Ok(())
}

pub async fn list(client: &Client, args: JobsArgs) -> Result<(), Error> {
    let jobs = client
        .list(args.state, args.queue.as_deref(), args.limit)
        .await?;
    if args.fmt.json {
        let out: Vec<_> = jobs.iter().map(hangar::json::JobJson::from).collect();
        Out::json(&out);
    } else {
        output::print_jobs(&jobs);
    }
    Ok(())
}
