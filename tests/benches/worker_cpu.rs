//! The worker's own CPU per job, apart from any emulator: the worker runs
//! jobs (a wake-up each, a handler that does nothing) against a local
//! keep-alive stub in a separate process that answers DynamoDB with canned
//! responses, recorded once from the emulator for one real job. The floor
//! makes the same DynamoDB calls (the recorded requests, per job) through
//! the bare SDK, without Hangar, each built inside the clock as a copy of
//! a ready request. CPU is this process's user + system time
//! (/proc/self/stat), so the stub's is not counted.
//!
//! Run: `bash tests/bench.sh worker_cpu [JOBS]` (default 5,000; release
//! profile).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use hangar::message::WakeUp;
use hangar::{Client, Delivery, JobId, NewJob, Outcome, Registry, Worker};
use hangar_integration_tests::TestEnv;
use serde_json::{Value, json};

/// One recorded call: the operation, its request and its response.
type Recorded = Vec<(String, Value, Value)>;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--stub") {
        return stub(&args[i + 1]).await;
    }
    let jobs: usize = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5_000);

    // 1. One real job on the emulator, its worker calls recorded.
    let env = TestEnv::new().await;
    let template = env
        .client
        .enqueue(NewJob::new("bench.noop", json!({"n": 1})))
        .await
        .unwrap();
    let wake = WakeUp::for_job(&env.job(&template).await).to_body();
    let worker = Worker::new(&env.client, registry());
    env.meter.reset();
    let outcome = worker.handle(&delivery("m-template", &wake), None).await;
    assert!(matches!(outcome, Outcome::Ran(_)), "{outcome:?}");
    // The read of the queue's control (once per PAUSE_CHECK) is answered
    // by the stub as "never paused", not replayed per job.
    let mut recorded: Recorded = env.meter.calls();
    recorded.retain(|c| c.0 != "BatchGetItem");
    let ops: Vec<&str> = recorded.iter().map(|c| c.0.as_str()).collect();
    let file = std::env::temp_dir().join(format!("hangar-worker-cpu-{}.json", std::process::id()));
    std::fs::write(
        &file,
        json!({"template": template.as_str(), "calls": recorded}).to_string(),
    )
    .unwrap();

    // 2. The stub, in its own process.
    let mut stub = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--stub", file.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut line = String::new();
    {
        use tokio::io::AsyncBufReadExt;
        let mut out = tokio::io::BufReader::new(stub.stdout.take().unwrap());
        out.read_line(&mut line).await.unwrap();
    }
    let endpoint = line.trim().to_owned();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .load()
        .await;

    // 3. Alternating rounds, Hangar then the floor, each on fresh job ids,
    // so that warm-up, order and drift show as differences between rounds.
    let client = Client::new(&sdk, env.config.clone());
    let worker = Worker::new(&client, registry());
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let per_round = jobs.div_ceil(ROUNDS);
    let (mut hangar, mut floor) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let ids: Vec<JobId> = (0..per_round).map(|_| JobId::generate()).collect();
        // Every message and every floor request is made before the clocks
        // run; the floor copies each request inside them (see `send`).
        let batches: Vec<Vec<Delivery>> = ids
            .chunks(10)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|id| delivery(id.as_str(), &wake.replace(template.as_str(), id.as_str())))
                    .collect()
            })
            .collect();
        let requests: Vec<Vec<Vec<UpdateItem>>> = ids
            .chunks(10)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|id| {
                        recorded
                            .iter()
                            .map(|c| {
                                let text = c.1.to_string().replace(template.as_str(), id.as_str());
                                UpdateItem::from_json(&serde_json::from_str(&text).unwrap())
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        // Hangar: batches of 10, as the event source mapping delivers them.
        let before = stub_calls(&endpoint).await;
        let (cpu, wall) = measure(async {
            for batch in batches {
                let failed = worker.handle_batch(batch, None).await;
                assert!(failed.is_empty(), "{failed:?}");
            }
        })
        .await;
        let after = stub_calls(&endpoint).await;
        hangar.push(Figures {
            cpu,
            wall,
            jobs: per_round,
            calls: after - before,
        });
        // The floor: the same requests, per job, through the bare SDK.
        let (cpu, wall) = measure(async {
            for batch in requests {
                let mut set = tokio::task::JoinSet::new();
                for job in batch {
                    let ddb = ddb.clone();
                    set.spawn(async move {
                        for r in &job {
                            r.send(&ddb).await;
                        }
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
            }
        })
        .await;
        floor.push(Figures {
            cpu,
            wall,
            jobs: per_round,
            calls: stub_calls(&endpoint).await - after,
        });
    }
    let _ = std::fs::remove_file(&file);

    println!("worker calls per job: {ops:?}");
    println!("{ROUNDS} rounds of {per_round} jobs each, alternating");
    println!(
        "{:<28} {:>14} {:>12} {:>10}",
        "", "CPU per job", "jobs/s", "calls/job"
    );
    for (i, (h, f)) in hangar.iter().zip(&floor).enumerate() {
        h.print(&format!("round {}: Hangar worker", i + 1));
        f.print(&format!("round {}: bare SDK", i + 1));
    }
    let (h, f) = (Figures::sum(&hangar), Figures::sum(&floor));
    h.print("all rounds: Hangar worker");
    f.print("all rounds: bare SDK");
    println!(
        "ratio (CPU per job): {:.2}x",
        h.cpu_per_job() / f.cpu_per_job()
    );
}

/// Rounds per side.
const ROUNDS: usize = 5;

fn registry() -> Registry {
    Registry::new().raw("bench.noop", |_, _| async { Ok(()) })
}

fn delivery(id: &str, body: &str) -> Delivery {
    Delivery {
        message_id: format!("m-{id}"),
        body: body.to_owned(),
        queue: "default".to_owned(),
        attributes: Default::default(),
    }
}

struct Figures {
    cpu: f64,
    wall: f64,
    jobs: usize,
    /// Requests the stub answered.
    calls: usize,
}

impl Figures {
    fn sum(all: &[Figures]) -> Figures {
        Figures {
            cpu: all.iter().map(|f| f.cpu).sum(),
            wall: all.iter().map(|f| f.wall).sum(),
            jobs: all.iter().map(|f| f.jobs).sum(),
            calls: all.iter().map(|f| f.calls).sum(),
        }
    }

    fn cpu_per_job(&self) -> f64 {
        self.cpu / self.jobs as f64
    }

    fn print(&self, label: &str) {
        println!(
            "{label:<28} {:>11.3} ms {:>12.0} {:>10.2}",
            self.cpu_per_job() * 1000.0,
            self.jobs as f64 / self.wall,
            self.calls as f64 / self.jobs as f64
        );
    }
}

/// CPU seconds (user + system) of this process, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime and stime are fields 14 and 15 (11 and 12 after the name).
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

async fn measure(work: impl std::future::Future<Output = ()>) -> (f64, f64) {
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    work.await;
    (cpu_seconds() - cpu, wall.elapsed().as_secs_f64())
}

/// Requests the stub has answered (its `GET /__calls`), over a plain
/// connection of its own.
async fn stub_calls(endpoint: &str) -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET /__calls HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    response
        .rsplit("\r\n\r\n")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// An `UpdateItem` as recorded (JSON request), ready to send.
struct UpdateItem {
    table: String,
    key: HashMap<String, AttributeValue>,
    update: Option<String>,
    condition: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}

impl UpdateItem {
    fn from_json(r: &Value) -> Self {
        let map = |v: &Value| -> HashMap<String, AttributeValue> {
            v.as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), av(v))).collect())
                .unwrap_or_default()
        };
        UpdateItem {
            table: r["TableName"].as_str().unwrap().to_owned(),
            key: map(&r["Key"]),
            update: r["UpdateExpression"].as_str().map(str::to_owned),
            condition: r["ConditionExpression"].as_str().map(str::to_owned),
            names: r["ExpressionAttributeNames"].as_object().map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect()
            }),
            values: Some(map(&r["ExpressionAttributeValues"])).filter(|m| !m.is_empty()),
        }
    }

    /// Sends a copy: a request has to be built to be sent, and copying a
    /// built one is the least that can cost.
    async fn send(&self, ddb: &aws_sdk_dynamodb::Client) {
        ddb.update_item()
            .table_name(self.table.clone())
            .set_key(Some(self.key.clone()))
            .set_update_expression(self.update.clone())
            .set_condition_expression(self.condition.clone())
            .set_expression_attribute_names(self.names.clone())
            .set_expression_attribute_values(self.values.clone())
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .unwrap();
    }
}

/// An attribute value from DynamoDB's JSON form.
fn av(v: &Value) -> AttributeValue {
    let (t, x) = v.as_object().unwrap().iter().next().unwrap();
    match t.as_str() {
        "S" => AttributeValue::S(x.as_str().unwrap().to_owned()),
        "N" => AttributeValue::N(x.as_str().unwrap().to_owned()),
        "BOOL" => AttributeValue::Bool(x.as_bool().unwrap()),
        "NULL" => AttributeValue::Null(true),
        "M" => AttributeValue::M(
            x.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), av(v)))
                .collect(),
        ),
        "L" => AttributeValue::L(x.as_array().unwrap().iter().map(av).collect()),
        "SS" => AttributeValue::Ss(
            x.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect(),
        ),
        other => panic!("attribute type {other} not handled"),
    }
}

#[derive(Clone)]
struct Canned {
    template: String,
    calls: Arc<Vec<(String, Value, Value)>>,
    /// Calls answered so far, per item key.
    seen: Arc<Mutex<HashMap<String, usize>>>,
    /// Calls answered so far, in all (read at `GET /__calls`).
    answered: Arc<std::sync::atomic::AtomicUsize>,
}

/// The stub: answers each DynamoDB request with the response recorded for
/// the same call of the template job, the job id swapped.
async fn stub(file: &str) {
    let recorded: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let calls: Vec<(String, Value, Value)> =
        serde_json::from_value(recorded["calls"].clone()).unwrap();
    let canned = Canned {
        template: recorded["template"].as_str().unwrap().to_owned(),
        calls: Arc::new(calls),
        seen: Default::default(),
        answered: Default::default(),
    };
    let app = Router::new().fallback(answer).with_state(canned);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}

async fn answer(
    State(c): State<Canned>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    use std::sync::atomic::Ordering::Relaxed;
    if uri.path() == "/__calls" {
        let n = c.answered.load(Relaxed);
        return (
            StatusCode::OK,
            [("content-type", "text/plain")],
            n.to_string(),
        );
    }
    c.answered.fetch_add(1, Relaxed);
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split('.').nth(1))
        .unwrap_or("")
        .to_owned();
    if op == "BatchGetItem" {
        return (
            StatusCode::OK,
            [("content-type", "application/x-amz-json-1.0")],
            json!({"Responses": {}, "UnprocessedKeys": {}}).to_string(),
        );
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = request["Key"]["pk"]["S"].as_str().unwrap_or("").to_owned();
    let id = key.strip_prefix("job#").unwrap_or("").to_owned();
    let n = {
        let mut seen = c.seen.lock().unwrap();
        let n = seen.entry(key).or_default();
        *n += 1;
        // The floor replays the same jobs' calls after the worker's.
        (*n - 1) % c.calls.len()
    };
    match c.calls.get(n) {
        Some((recorded_op, _, response)) if *recorded_op == op => {
            let mut response: Value =
                serde_json::from_str(&response.to_string().replace(&c.template, &id)).unwrap();
            as_written(&mut response, &request);
            let text = response.to_string();
            (
                StatusCode::OK,
                [("content-type", "application/x-amz-json-1.0")],
                text,
            )
        }
        _ => (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.0")],
            json!({"__type": "bench#Unexpected", "message": format!("call {n} {op}")}).to_string(),
        ),
    }
}

/// Puts the values a request's plain assignments (`SET #a = :a`) wrote
/// into the recorded item it returns, as DynamoDB would: a recorded
/// response would otherwise carry the recording's times (its lease, for
/// one, which the worker checks against the one it just wrote).
fn as_written(response: &mut Value, request: &Value) {
    let Some(item) = response
        .get_mut("Attributes")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let update = request["UpdateExpression"].as_str().unwrap_or("");
    let set = update.strip_prefix("SET ").unwrap_or("");
    let set = set.split(" REMOVE ").next().unwrap_or("");
    for assignment in set.split(", ") {
        let Some((name, value)) = assignment.split_once(" = ") else {
            continue;
        };
        let name = &request["ExpressionAttributeNames"][name];
        let value = &request["ExpressionAttributeValues"][value];
        if let (Some(name), false) = (name.as_str(), value.is_null()) {
            item.insert(name.to_owned(), value.clone());
        }
    }
}
