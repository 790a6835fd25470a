//! A test's own stack: a table and queues with a random prefix on the
//! emulator, and the clients on it, whose calls are counted, metered and
//! open to injected faults.

use std::sync::Arc;
use std::time::Duration;

use hangar::clock::SharedClock;
use hangar::setup::{self, QueueSettings};
use hangar::{Client, Config, Poller, Registry, SystemClock, Worker};

use crate::{Calls, Faults, Meter, endpoint, sdk_config, sdk_config_at};

/// One test's stack.
pub struct TestEnv {
    /// The configuration (unique stack name, queue URLs filled in).
    pub config: Config,
    /// Built on `ddb` and `sqs`, so its calls are counted, metered and
    /// open to `faults`.
    pub client: Client,
    /// DynamoDB client (counted).
    pub ddb: aws_sdk_dynamodb::Client,
    /// SQS client (counted).
    pub sqs: aws_sdk_sqs::Client,
    /// CloudWatch Logs client (counted): runs' log lines.
    pub logs: hangar::logs::LogsClient,
    /// Every AWS call made through `ddb`, `sqs` and `logs`.
    pub calls: Calls,
    /// Faults injected into calls through `ddb` and `sqs`.
    pub faults: Faults,
    /// What the calls through `ddb` and `sqs` cost (see [`TestEnv::bill`]).
    pub meter: Meter,
    /// The clock everything on this stack uses.
    pub clock: SharedClock,
}

/// What [`TestEnv::with`] makes; the default is one `default` queue and
/// the system clock.
pub struct EnvOptions {
    /// Queues to create, each with its dead-letter queue.
    pub queues: Vec<&'static str>,
    /// The clock (system clock by default).
    pub clock: Option<SharedClock>,
    /// The queues' visibility timeout (default 2 s).
    pub visibility: Duration,
    /// How long final jobs are kept (default a day).
    pub retention: Duration,
    /// Queues routed to a kind (`HANGAR_QUEUE_KINDS`).
    pub queue_kinds: Vec<(&'static str, &'static str)>,
    /// Turn on the table's stream (NEW_AND_OLD_IMAGES) for the cost meter.
    pub stream: bool,
    /// Index shards (default 8). The emulator's index queries scan the whole
    /// table, so a test that ticks hundreds of times and is not about
    /// sharding runs faster with fewer.
    pub shards: Option<u32>,
    /// Receives of a message before SQS moves it to the dead-letter queue
    /// (default 3; the templates deploy 5).
    pub max_receive_count: u32,
}

impl Default for EnvOptions {
    fn default() -> Self {
        EnvOptions {
            queues: vec!["default"],
            clock: None,
            visibility: Duration::from_secs(2),
            retention: Duration::from_secs(24 * 3600),
            queue_kinds: Vec::new(),
            stream: false,
            shards: None,
            max_receive_count: 3,
        }
    }
}

impl EnvOptions {
    /// Default options with this clock.
    pub fn clock(clock: impl hangar::Clock + 'static) -> Self {
        EnvOptions {
            clock: Some(Arc::new(clock)),
            ..Default::default()
        }
    }
}

impl TestEnv {
    /// A fresh stack with one `default` queue and the system clock.
    pub async fn new() -> Self {
        Self::with(EnvOptions::default()).await
    }

    /// A fresh stack under a new random name, created on the emulator
    /// (which must answer: this panics otherwise).
    pub async fn with(opts: EnvOptions) -> Self {
        init_tracing();
        let sdk = sdk_config().await;
        let calls = Calls::default();
        let faults = Faults::default();
        let meter = Meter::default();
        let ddb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .interceptor(calls.clone())
                .interceptor(faults.clone())
                .interceptor(meter.clone())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk)
                .interceptor(calls.clone())
                .interceptor(faults.clone())
                .interceptor(meter.clone())
                .build(),
        );
        let logs = hangar::logs::LogsClient::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(&sdk)
                .interceptor(calls.clone())
                .build(),
        );
        // The tail of a v7 uuid is random; its head is the time.
        let stack = format!("t{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
        let mut config = Config::new(stack);
        config.retention = opts.retention;
        if let Some(shards) = opts.shards {
            config.shards = shards;
        }
        for (queue, kind) in &opts.queue_kinds {
            config.queue_kinds.insert((*queue).into(), (*kind).into());
        }
        let settings = QueueSettings {
            visibility_timeout: opts.visibility,
            max_receive_count: opts.max_receive_count,
        };
        let urls = setup::ensure(&ddb, &sqs, &config, &opts.queues, &settings)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot create test resources at {} ({}); start the emulator with tests/run.sh",
                    endpoint(),
                    hangar::error::error_chain(&e)
                )
            });
        config.queue_urls.extend(urls);
        if opts.stream {
            ddb.update_table()
                .table_name(&config.table)
                .stream_specification(
                    aws_sdk_dynamodb::types::StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
                        .build()
                        .expect("stream fields set"),
                )
                .send()
                .await
                .expect("enable the table's stream");
        }
        let clock: SharedClock = opts.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let client = Client::from_clients(ddb.clone(), sqs.clone(), config.clone(), clock.clone());
        calls.reset();
        TestEnv {
            config,
            client,
            ddb,
            sqs,
            logs,
            calls,
            faults,
            meter,
            clock,
        }
    }

    /// A reader of this stack's worker log group (its calls counted).
    pub fn run_logs(&self) -> hangar::logs::RunLogs {
        hangar::logs::RunLogs::from_client(self.logs.clone(), self.config.worker_log_group())
    }

    /// The worker's lines as Lambda has them (JSON without time, `info`
    /// and up, as the functions log by default), shipped
    /// to this stack's worker log group while the guard lives. The
    /// subscriber is the thread's: a test's runtime is one thread, so it
    /// sees the worker's tasks.
    pub async fn ship_logs(&self) -> (hangar::logs::Shipper, tracing::subscriber::DefaultGuard) {
        use tracing_subscriber::Layer;
        use tracing_subscriber::layer::SubscriberExt;
        let mut shipper = hangar::logs::Shipper::new(self.clock.clone());
        shipper
            .start(self.logs.clone(), &self.config.worker_log_group())
            .await
            .expect("the group and a stream are made");
        let subscriber = tracing_subscriber::registry().with(
            hangar::run::lambda_lines(shipper.writer())
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
        );
        (shipper, tracing::subscriber::set_default(subscriber))
    }

    /// A worker on [`TestEnv::client`]: its calls are counted too.
    pub fn worker(&self, registry: Registry) -> Worker {
        Worker::new(&self.client, registry)
    }

    /// A client on this stack whose requests go to `endpoint` (the fault
    /// proxy) instead of the emulator, built as applications build theirs
    /// ([`Client::new`]: its retry settings, the system clock).
    pub async fn client_via(&self, endpoint: &str) -> Client {
        Client::new(&sdk_config_at(endpoint).await, self.config.clone())
    }

    /// The environment a separate process needs to work on this stack: the
    /// emulator, the stack, its table and its queues' URLs (with
    /// [`TEST_CREDENTIALS`]).
    pub fn stack_env(&self) -> Vec<(&'static str, String)> {
        let queues: Vec<String> = self
            .config
            .queue_urls
            .iter()
            .map(|(q, url)| format!("{q}={url}"))
            .collect();
        vec![
            ("AWS_ENDPOINT_URL", endpoint()),
            ("HANGAR_STACK", self.config.stack.clone()),
            ("HANGAR_TABLE", self.config.table.clone()),
            ("HANGAR_QUEUE_URLS", queues.join(",")),
            // Every process of a stack must agree on the index shards.
            ("HANGAR_SHARDS", self.config.shards.to_string()),
        ]
    }

    /// A poller of the `default` queue with a short long-poll.
    pub fn poller(&self, registry: Registry) -> Poller {
        Poller::new(self.worker(registry), "default").wait(Duration::from_secs(1))
    }
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}
