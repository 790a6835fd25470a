//! `hangar delete`.

use clap::Args;
use hangar::Client;

use super::Error;
use super::common::{Format, job_id};
use crate::output;

#[derive(Args)]
pub struct DeleteArgs {
    /// Job id.
    id: String,
    #[command(flatten)]
    fmt: Format,
}

pub async fn run(client: &Client, DeleteArgs { id, fmt }: DeleteArgs) -> Result<(), Error> {
    let id = job_id(&id)?;
    let job = client.delete(&id).await?;
    output::changed(&job, fmt.json, || println!("{id} deleted"));
    Ok(())
}
