//! A stack on fresh models, and the clients of its simulated processes:
//! what a seed's run, the cost scenarios, the scale experiment and the
//! tick on a large table all start from.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hangar::Client;

use crate::dynamodb::DynamoDb;
use crate::net::{Faults, Network};
use crate::sqs::Sqs;
use crate::time::VirtualClock;
use crate::world::{SharedWorld, World};

/// The instant every run starts at.
pub const EPOCH: &str = "2026-01-05T00:00:00Z";
/// The stack's one queue.
pub const QUEUE: &str = "default";

/// Runs `f` to its end on a runtime of its own, one thread, whose clock
/// is paused.
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
        .block_on(f)
}

/// A stack on fresh models: the virtual clock (the library's ids and
/// draws seeded on this thread), the world, an SDK configuration whose
/// requests meet `faults`, and the stack named `name` made by the
/// library's own setup with the queue `default`.
pub struct Stack {
    pub clock: VirtualClock,
    pub world: SharedWorld,
    pub sdk: aws_config::SdkConfig,
    pub config: hangar::Config,
    pub settings: hangar::setup::QueueSettings,
    /// The run's number in this process, naming its SDK retry partitions.
    pub run_no: usize,
}

impl Stack {
    pub async fn new(name: &str, seed: u64, faults: Faults) -> Stack {
        let epoch: DateTime<Utc> = EPOCH.parse().expect("an instant");
        let clock = VirtualClock::start(epoch);
        hangar::entropy::install(seed, Arc::new(clock));
        fastrand::seed(seed);
        let world: SharedWorld = Arc::new(Mutex::new(World::new(
            seed,
            DynamoDb::new(Default::default()),
            Sqs::new(Default::default()),
        )));
        let sdk = crate::net::sdk_config(Network::new(world.clone(), clock, faults), clock);
        let settings = hangar::setup::QueueSettings {
            visibility_timeout: Duration::from_secs(960),
            max_receive_count: 5,
        };
        let mut config = hangar::Config::new(name);
        let urls = hangar::setup::ensure_with(&sdk, &config, &[QUEUE], &settings)
            .await
            .expect("the stack is set up");
        config.queue_urls = urls.into_iter().collect();
        Stack {
            clock,
            world,
            sdk,
            config,
            settings,
            run_no: RUNS.fetch_add(1, Ordering::SeqCst),
        }
    }

    /// A client of the process `name` (its own retry partition), with the
    /// virtual clock.
    pub fn client(&self, name: &str) -> (Client, aws_sdk_sqs::Client) {
        let process = format!("{}-{}-{name}", self.config.stack, self.run_no);
        sim_client(
            &self.sdk,
            self.config.clone(),
            Arc::new(self.clock),
            &process,
        )
    }
}

/// A client on the simulated SDK with the virtual clock, retrying as
/// Hangar's clients do, and its process's SQS client.
pub fn sim_client(
    sdk: &aws_config::SdkConfig,
    config: hangar::Config,
    clock: hangar::clock::SharedClock,
    process: &str,
) -> (Client, aws_sdk_sqs::Client) {
    // The SDK's retry token bucket is shared by every client of a
    // partition in a process; each simulated process has its own, and no
    // run inherits another's.
    let (ddb, sqs) = crate::sdk::clients(
        sdk,
        Some(crate::sdk::Retries {
            config: hangar::config::retry_config(),
            partition: aws_smithy_runtime::client::retries::RetryPartition::new(process.to_owned()),
        }),
    );
    (Client::from_clients(ddb, sqs.clone(), config, clock), sqs)
}

/// Runs started in this process, to keep each run's SDK state its own.
pub static RUNS: AtomicUsize = AtomicUsize::new(0);
