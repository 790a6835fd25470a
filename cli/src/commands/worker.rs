//! `hangar worker`: the example worker (functions/worker's job kinds),
//! polling SQS as the Lambda event source does.

use clap::Args;
use hangar::Client;

use super::Error;

#[derive(Args)]
pub struct WorkerArgs {
    /// Queues to poll.
    #[arg(long, value_delimiter = ',', default_value = "default")]
    queues: Vec<String>,
    /// Concurrent pollers per queue.
    #[arg(long, default_value_t = 4)]
    pollers: usize,
}

pub async fn run(client: &Client, WorkerArgs { queues, pollers }: WorkerArgs) -> Result<(), Error> {
    hangar::run::init_tracing();
    let worker = hangar::Worker::new(client, hangar_worker::jobs::registry());
    eprintln!(
        "worker polling {} on stack {} (Ctrl-C stops)",
        queues.join(","),
        client.config().stack
    );
    hangar::run::poll(&worker, &queues, pollers.max(1), hangar::run::shutdown()).await;
    Ok(())
}
