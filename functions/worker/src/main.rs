//! The example worker: in Lambda it runs Hangar jobs delivered by SQS (one
//! event source mapping per queue, with `ReportBatchItemFailures`);
//! anywhere else it polls the Hangar queues itself.

#[tokio::main]
async fn main() -> Result<(), hangar::run::BoxError> {
    hangar::run::worker(hangar_worker::jobs::registry()).await
}
