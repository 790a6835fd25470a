//! `hangar stats`.

use clap::Args;
use hangar::Client;

use super::Error;
use super::common::Format;
use crate::output::{self, Out};

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    fmt: Format,
}

pub async fn run(client: &Client, StatsArgs { fmt }: StatsArgs) -> Result<(), Error> {
    let stats = output::Stats::collect(client).await?;
    if fmt.json {
        Out::json(stats.json());
    } else {
        stats.print();
    }
    Ok(())
}
