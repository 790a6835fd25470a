//! `hangar requeue`: one job, or every job a filter lists.

use clap::Args;
use hangar::{BulkAction, Client};

use super::Error;
use super::bulk::BulkArgs;
use super::common::{Format, job_id};
use crate::output;

#[derive(Args)]
pub struct RequeueArgs {
    /// Job id; or use --state (and a filter) to requeue every job it lists.
    #[arg(required_unless_present_any = ["state", "resume"], conflicts_with_all = ["state", "resume"])]
    id: Option<String>,
    #[command(flatten)]
    bulk: BulkArgs,
    #[command(flatten)]
    fmt: Format,
}

pub async fn run(client: &Client, args: RequeueArgs) -> Result<(), Error> {
    let RequeueArgs { id, bulk, fmt } = args;
    if let Some(id) = id {
        let id = job_id(&id)?;
        let job = client.requeue(&id).await?;
        output::changed(&job, fmt.json, || println!("{id} requeued"));
        return Ok(());
    }
    super::bulk::run(client, BulkAction::Requeue, &bulk, fmt).await
}
