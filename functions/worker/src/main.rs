//! The worker Lambda: runs Hangar jobs delivered by SQS (one event source
//! mapping per queue, with `ReportBatchItemFailures`).

use hangar::{Client, Worker};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .init();
    let client = Client::from_env().await?;
    let worker = Worker::new(&client, hangar_worker::jobs::registry());
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        worker.handle_lambda(event)
    }))
    .await
}
