//! `hangar requeue`: one job, or every job in a state.

use clap::Args;
use hangar::{Client, JobId, State};

use super::Error;
use super::common::{Format, job_id};
use crate::output::{self, Fail, Out};
use crate::parse;

#[derive(Args)]
pub struct RequeueArgs {
    /// Job id; or use --state to requeue every job in a state.
    #[arg(required_unless_present = "state", conflicts_with = "state")]
    id: Option<String>,
    /// Requeue every job in this state (e.g. failed).
    #[arg(long, value_parser = parse::state)]
    state: Option<State>,
    /// With --state: at most this many.
    #[arg(long, default_value_t = 10_000)]
    limit: usize,
    #[command(flatten)]
    fmt: Format,
}

pub async fn run(client: &Client, args: RequeueArgs) -> Result<(), Error> {
    let RequeueArgs {
        id,
        state,
        limit,
        fmt,
    } = args;
    if let Some(id) = id {
        let id = job_id(&id)?;
        let job = client.requeue(&id).await?;
        output::changed(&job, fmt.json, || println!("{id} requeued"));
    } else if let Some(state) = state {
        let jobs = client.list(state, None, limit).await?;
        let bar = output::progress(jobs.len() as u64, "requeuing");
        let ids: Vec<JobId> = jobs.into_iter().map(|j| j.id).collect();
        let results = client
            .requeue_many(&ids, 16, |id, res| {
                if let Err(e) = res {
                    bar.suspend(|| eprintln!("{id}: {e}"));
                }
                bar.inc(1);
            })
            .await;
        bar.finish_and_clear();
        let outcome = output::Requeued::of(&results);
        let failed = outcome.failed.len();
        if fmt.json {
            Out::json(&outcome);
        } else {
            println!("{} requeued, {failed} failed", outcome.requeued.len());
        }
        if failed > 0 {
            return Err(Fail::new(format!("{failed} jobs could not be requeued")).into());
        }
    }
    Ok(())
}
