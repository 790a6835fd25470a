//! The scheduler Lambda, fired every minute by an EventBridge Scheduler
//! `rate(1 minute)` schedule. Outside Lambda it ticks every
//! `HANGAR_TICK_SECONDS` (default 60).

#[tokio::main]
async fn main() -> Result<(), hangar::run::BoxError> {
    hangar::run::scheduler().await
}
