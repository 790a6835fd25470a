//! `hangar setup`: a stack's table and queues.

use clap::Args;
use hangar::Client;

use super::Error;
use crate::Ctx;

#[derive(Args)]
pub struct SetupArgs {
    /// Queues to create.
    #[arg(long, value_delimiter = ',', default_value = "default")]
    queues: Vec<String>,
}

pub async fn run(ctx: &Ctx, client: &Client, SetupArgs { queues }: SetupArgs) -> Result<(), Error> {
    let sdk = ctx.sdk().await;
    let names: Vec<&str> = queues.iter().map(String::as_str).collect();
    let urls = hangar::setup::ensure_with(
        &sdk,
        client.config(),
        &names,
        &hangar::setup::QueueSettings::default(),
    )
    .await?;
    println!("table  {}", client.config().table);
    for (name, url) in urls {
        println!("queue  {name}  {url}");
    }
    Ok(())
}
