//! Harness for the integration tests: every test gets its own stack (table
//! and queues with a random prefix) on the emulator named by
//! `AWS_ENDPOINT_URL`, so tests run in parallel without sharing state.

use std::sync::Arc;
use std::time::Duration;

use hangar::clock::SharedClock;
use hangar::setup::{self, QueueSettings};
use hangar::{Client, Config, JobId, JobRecord, Poller, Registry, State, SystemClock, Worker};

pub mod catalogue;
pub mod meter;
pub mod proxy;
pub mod runtime_api;
pub mod soak;
pub mod template;

mod calls;
mod emulator;
mod faults;

pub use calls::Calls;
pub use emulator::{
    TEST_CREDENTIALS, endpoint, python, run_python, run_python_with_input, sdk_config,
    sdk_config_at, workspace_root,
};
pub use faults::Faults;
pub use meter::{Bill, IndexDef, Meter};

/// Where metering started (see [`TestEnv::meter_start`]).
pub struct MeterStart {
    records: usize,
    indexes: Vec<IndexDef>,
}

/// Reads every record of a DynamoDB stream: `python - ENDPOINT ARN`. Stops
/// at the first page that brings no record it has not seen (the emulator's
/// iterators are not always careful about where they stand).
const READ_STREAM: &str = r#"
import json, sys, boto3
endpoint, arn = sys.argv[1], sys.argv[2]
s = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
out, seen = [], set()
for shard in s.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
    it = s.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while it:
        r = s.get_records(ShardIterator=it, Limit=1000)
        fresh = [x for x in r["Records"] if x["dynamodb"]["SequenceNumber"] not in seen]
        if not fresh:
            break
        for x in fresh:
            d = x["dynamodb"]
            seen.add(d["SequenceNumber"])
            out.append((int(d["SequenceNumber"]), {k: d.get(k) for k in ("Keys", "OldImage", "NewImage")}))
        it = r.get("NextShardIterator")
out.sort(key=lambda p: p[0])
print(json.dumps([r for _, r in out]))
"#;

/// One test's stack.
pub struct TestEnv {
    /// The configuration (unique stack name, queue URLs filled in).
    pub config: Config,
    /// A client on the stack.
    pub client: Client,
    /// DynamoDB client (counted).
    pub ddb: aws_sdk_dynamodb::Client,
    /// SQS client (counted).
    pub sqs: aws_sdk_sqs::Client,
    /// Every AWS call made through `ddb` and `sqs`.
    pub calls: Calls,
    /// Faults injected into calls through `ddb` and `sqs`.
    pub faults: Faults,
    /// What the calls through `ddb` and `sqs` cost (see [`TestEnv::bill`]).
    pub meter: Meter,
    /// The clock everything on this stack uses.
    pub clock: SharedClock,
}

/// Options for a test stack.
pub struct EnvOptions {
    /// Queues to create.
    pub queues: Vec<&'static str>,
    /// The clock (system clock by default).
    pub clock: Option<SharedClock>,
    /// SQS visibility timeout.
    pub visibility: Duration,
    /// Retention of final jobs.
    pub retention: Duration,
    /// Queues routed to a kind (`HANGAR_QUEUE_KINDS`).
    pub queue_kinds: Vec<(&'static str, &'static str)>,
    /// Turn on the table's stream (NEW_AND_OLD_IMAGES) for the cost meter.
    pub stream: bool,
    /// Index shards (default 8). The emulator's index queries scan the whole
    /// table, so a test that ticks hundreds of times and is not about
    /// sharding runs faster with fewer.
    pub shards: Option<u32>,
    /// Receives of a message before SQS moves it to the dead-letter queue.
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

    /// A fresh stack.
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
            calls,
            faults,
            meter,
            clock,
        }
    }

    /// The stack's table as DynamoDB describes it.
    pub async fn describe_table(&self) -> aws_sdk_dynamodb::types::TableDescription {
        self.ddb
            .describe_table()
            .table_name(&self.config.table)
            .send()
            .await
            .expect("describe table")
            .table
            .expect("table")
    }

    /// Every record of the table's stream so far, in DynamoDB's JSON form
    /// (`Keys`, `OldImage`, `NewImage`), read with boto3.
    pub async fn stream_records(&self) -> Vec<serde_json::Value> {
        let arn = self
            .describe_table()
            .await
            .latest_stream_arn()
            .expect("the table has a stream (EnvOptions::stream)")
            .to_owned();
        let out = run_python(READ_STREAM, &[&endpoint(), &arn]);
        serde_json::from_str(&out).expect("stream records as JSON")
    }

    /// Starts metering: what was recorded so far is forgotten.
    pub async fn meter_start(&self) -> MeterStart {
        let desc = self.describe_table().await;
        let indexes = desc
            .global_secondary_indexes()
            .iter()
            .map(|g| IndexDef {
                keys: g
                    .key_schema()
                    .iter()
                    .map(|k| k.attribute_name().to_owned())
                    .collect(),
                projected: g.projection().and_then(|p| match p.projection_type() {
                    Some(aws_sdk_dynamodb::types::ProjectionType::All) => None,
                    _ => Some(p.non_key_attributes().to_vec()),
                }),
            })
            .collect();
        let records = self.stream_records().await.len();
        self.meter.reset();
        MeterStart { records, indexes }
    }

    /// What the calls since `start` cost.
    pub async fn bill(&self, start: &MeterStart) -> Bill {
        let snapshot = self.meter.clone();
        let calls_done = snapshot.snapshot();
        let records = self.stream_records().await;
        calls_done.bill(
            &records[start.records..],
            &["pk".to_owned()],
            &start.indexes,
        )
    }

    /// How many items the stack's table holds (a scan; fine for a test's
    /// few hundred items).
    pub async fn item_count(&self) -> i32 {
        let mut count = 0;
        let mut start = None;
        loop {
            let out = self
                .ddb
                .scan()
                .table_name(&self.config.table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            count += out.count();
            start = out.last_evaluated_key;
            if start.is_none() {
                return count;
            }
        }
    }

    /// A worker on this stack.
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

    /// `n` jobs of kind `w` (arguments `{"n": i}`) waiting for a slot of
    /// `key` (limit 1), whose one slot a run that never ends holds; in the
    /// order created.
    pub async fn jobs_waiting_on(&self, key: &str, n: u32) -> Vec<JobId> {
        self.client
            .take_slot_for_test(key, 1, "holder", Duration::from_secs(60))
            .await
            .unwrap();
        let mut ids = Vec::new();
        for i in 0..n {
            let job = hangar::NewJob::new("w", serde_json::json!({ "n": i })).concurrency(key, 1);
            ids.push(self.client.enqueue(job).await.unwrap());
        }
        let poller = self.poller(Registry::new().raw("w", |_, _| async { Ok(()) }));
        while poller.poll_once().await.unwrap() > 0 {}
        ids
    }

    /// A poller of the `default` queue with a short long-poll.
    pub fn poller(&self, registry: Registry) -> Poller {
        Poller::new(self.worker(registry), "default").wait(Duration::from_secs(1))
    }

    /// Reads a job, which must exist.
    pub async fn job(&self, id: &JobId) -> JobRecord {
        self.client
            .get(id)
            .await
            .expect("get")
            .unwrap_or_else(|| panic!("job {id} not found"))
    }

    /// Polls until the job satisfies `done`, or panics after `timeout` with
    /// the job's history.
    pub async fn drive_until(
        &self,
        poller: &Poller,
        id: &JobId,
        timeout: Duration,
        done: impl Fn(&JobRecord) -> bool,
    ) -> JobRecord {
        let start = std::time::Instant::now();
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            if start.elapsed() > timeout {
                panic!(
                    "job {id} did not get there within {timeout:?}; it is {} with history:\n{}",
                    job.state,
                    history(&job)
                );
            }
            poller.poll_once().await.expect("poll");
        }
    }

    /// Polls until the job is in `state`.
    pub async fn drive_to(
        &self,
        poller: &Poller,
        id: &JobId,
        state: State,
        timeout: Duration,
    ) -> JobRecord {
        self.drive_until(poller, id, timeout, |j| j.state == state)
            .await
    }

    /// Messages currently in a queue: visible, in flight, delayed.
    pub async fn queue_depth(&self, queue: &str) -> (u64, u64, u64) {
        self.queue_depth_at(&self.config.queue_urls[queue]).await
    }

    /// The URL of a queue's dead-letter queue.
    pub async fn dlq_url(&self, queue: &str) -> String {
        self.sqs
            .get_queue_url()
            .queue_name(self.config.sqs_dlq_name(queue))
            .send()
            .await
            .expect("the dead-letter queue exists")
            .queue_url
            .expect("a URL")
    }

    /// [`TestEnv::queue_depth`] of the queue at `url`.
    pub async fn queue_depth_at(&self, url: &str) -> (u64, u64, u64) {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::All)
            .send()
            .await
            .expect("queue attributes");
        let attrs = out.attributes.unwrap_or_default();
        let get = |a: A| attrs.get(&a).and_then(|v| v.parse().ok()).unwrap_or(0);
        (
            get(A::ApproximateNumberOfMessages),
            get(A::ApproximateNumberOfMessagesNotVisible),
            get(A::ApproximateNumberOfMessagesDelayed),
        )
    }

    /// Deletes every message in a queue, as a lost send or a crashed
    /// consumer would leave it (`PurgeQueue`).
    pub async fn lose_messages(&self, queue: &str) {
        self.sqs
            .purge_queue()
            .queue_url(&self.config.queue_urls[queue])
            .send()
            .await
            .expect("purge");
    }

    /// Sends a raw message body to a queue, as any other producer would.
    pub async fn send_raw(&self, queue: &str, body: &str) -> String {
        self.sqs
            .send_message()
            .queue_url(&self.config.queue_urls[queue])
            .message_body(body)
            .send()
            .await
            .expect("send")
            .message_id
            .unwrap_or_default()
    }
}

/// The states of a job's history, in order.
pub fn states(job: &JobRecord) -> Vec<State> {
    job.history.iter().map(|h| h.state).collect()
}

/// A job's history, one entry a line.
pub fn history(job: &JobRecord) -> String {
    job.history
        .iter()
        .map(|h| format!("  {} {} {:?} {:?}", h.at, h.state, h.reason, h.data))
        .collect::<Vec<_>>()
        .join("\n")
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
