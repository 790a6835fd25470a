//! The figures and lists the documentation states, re-derived from the code
//! and the templates: each test fails when the text and what it describes
//! part.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hangar::emf::Emf;
use hangar::{NewJob, Registry, Timer, Worker};
use hangar_integration_tests::meter::PRICE_RRU;
use hangar_integration_tests::template::{Deploy, of_type, statements};
use hangar_integration_tests::{EnvOptions, TestEnv, workspace_root};
use serde_json::{Value, json};

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace_root().join(path)).unwrap()
}

/// Asserts that `doc` states `phrase` (as derived by the caller), however
/// its lines are wrapped.
fn states(doc: &str, path: &str, phrase: &str) {
    let flat = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat(doc).contains(&flat(phrase)),
        "{path} should say {phrase:?} (the figure as the code has it)"
    );
}

/// Small numbers as the documents write them.
fn word(n: usize) -> String {
    const WORDS: [&str; 13] = [
        "no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    WORDS
        .get(n)
        .map_or_else(|| n.to_string(), |w| (*w).to_owned())
}

/// What the scheduler does each minute on a stack with nothing due (a tick,
/// then the metrics roll-up), as docs/architecture.md states it: the calls
/// of each and the read units of the minute.
#[tokio::test]
async fn the_timer_figures_are_what_an_idle_minute_costs() {
    let env = TestEnv::with(EnvOptions {
        stream: true,
        ..Default::default()
    })
    .await;
    let timer = Timer::new(&env.client);
    // The first roll-up writes its starting point; the figures are of a
    // minute after that.
    timer.roll_up().await.unwrap();
    let start = env.meter_start().await;
    env.calls.reset();
    let report = timer.tick(Duration::from_secs(50)).await.unwrap();
    let tick = env.calls.counts();
    env.calls.reset();
    timer.roll_up().await.unwrap();
    let roll_up = env.calls.counts();
    let bill = env.bill(&start).await;
    println!("figure: an idle minute: tick {tick:?}, roll-up {roll_up:?}, {bill:?}");
    assert_eq!(bill.wru(), 0.0, "an idle minute writes nothing: {bill:?}");

    let only = |calls: &BTreeMap<String, usize>, ops: &[&str]| {
        let mut keys: Vec<&str> = calls.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ops, "{calls:?}");
    };
    only(&tick, &["BatchGetItem", "Query"]);
    only(&roll_up, &["GetItem", "Query"]);
    let units = bill.rru + bill.query_rru;
    let per_month = units * 60.0 * 24.0 * 30.0 * PRICE_RRU / 1e6;
    let path = "docs/architecture.md";
    let doc = read(path);
    for phrase in [
        format!(
            "a tick makes {} queries and {} `BatchGetItem`",
            tick["Query"],
            word(tick["BatchGetItem"])
        ),
        format!(
            "the metrics roll-up after it {} `GetItem` and {} queries",
            word(roll_up["GetItem"]),
            roll_up["Query"]
        ),
        format!("about {units:.0} read units a minute (${per_month:.2} a month"),
        format!("({} queries when nothing is due", report.queries),
        format!(
            "{} queries and one `BatchGetItem` of the queue controls",
            tick["Query"]
        ),
        format!("per minute {} index queries", roll_up["Query"]),
    ] {
        states(&doc, path, &phrase);
    }
}

/// The CloudWatch metric series the worker's and the timer's lines make,
/// counted from real lines, as docs/architecture.md states them.
#[tokio::test]
async fn the_metrics_series_are_what_the_lines_name() {
    let clock = hangar::OffsetClock::new();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let (emf, lines) = Emf::capture(&env.config.stack);
    let registry = Registry::new()
        .raw("m.a", |_, _| async { Ok(()) })
        .raw("m.b", |_, _| async { Ok(()) });
    let worker = Worker::new(&env.client, registry).with_metrics(emf.clone());
    let poller = hangar::Poller::new(worker, "default").wait(Duration::from_secs(1));
    for kind in ["m.a", "m.b"] {
        env.client
            .enqueue(NewJob::new(kind, json!({})))
            .await
            .unwrap();
    }
    let mut seen = 0;
    while seen < 2 {
        seen += poller.poll_once().await.unwrap();
    }
    // A tick that does something (a hand-off) writes the timer's line.
    env.client
        .schedule(NewJob::new("m.a", json!({})), Duration::from_secs(3600))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(50 * 60));
    let r = Timer::new(&env.client)
        .with_metrics(emf)
        .tick(Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(r.handed_off.len(), 1, "{r:?}");

    // A series is a metric name with one set of dimension values.
    let mut series: BTreeSet<(String, Vec<(String, String)>)> = BTreeSet::new();
    for line in lines.lock().unwrap().iter() {
        let v: Value = serde_json::from_str(line).unwrap();
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        for set in directive["Dimensions"].as_array().unwrap() {
            let dims: Vec<(String, String)> = set
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let d = d.as_str().unwrap();
                    (d.to_owned(), v[d].as_str().unwrap().to_owned())
                })
                .collect();
            for m in directive["Metrics"].as_array().unwrap() {
                series.insert((m["Name"].as_str().unwrap().to_owned(), dims.clone()));
            }
        }
    }
    let count = |names: &[&str], value: &str| {
        series
            .iter()
            .filter(|(_, dims)| {
                dims.iter()
                    .map(|(d, _)| d.as_str())
                    .eq(names.iter().copied())
                    && dims.iter().any(|(_, v)| v == value)
            })
            .count()
    };
    let per_pair = count(&["Stack", "Queue", "Kind"], "m.a");
    assert_eq!(per_pair, count(&["Stack", "Queue", "Kind"], "m.b"));
    let per_queue = count(&["Stack", "Queue"], "default");
    let per_stack = count(&["Stack"], &env.config.stack);
    println!(
        "figure: series per (queue, kind) {per_pair}, per queue {per_queue}, per stack {per_stack}"
    );
    let path = "docs/architecture.md";
    states(
        &read(path),
        path,
        &format!(
            "{} series per (queue, kind) pair (`[Stack, Queue, Kind]`), {} per queue (`[Stack, Queue]`, shared by its kinds) and {} per stack from the timer (`[Stack]`)",
            word(per_pair),
            word(per_queue),
            word(per_stack)
        ),
    );
}

/// The actions of a policy's statements by what they are granted on: the
/// table, its `by-bucket` index, the stack's queues (by ARN pattern, or
/// each queue by its ARN), or the worker's log group.
fn by_resource(t: &Value, statements: &[Value]) -> [BTreeSet<String>; 4] {
    let class = |resource: &Value| -> usize {
        let text = resource.to_string();
        let target = resource["Fn::GetAtt"][0]
            .as_str()
            .map(|id| t["Resources"][id]["Type"].as_str().unwrap_or_default());
        if text.contains("/index/by-bucket") {
            1
        } else if text.contains(":sqs:") || target == Some("AWS::SQS::Queue") {
            2
        } else if target == Some("AWS::DynamoDB::Table") {
            0
        } else if target == Some("AWS::Logs::LogGroup") {
            3
        } else {
            panic!("a resource neither the table, its index, a queue nor a log group: {text}")
        }
    };
    let mut out: [BTreeSet<String>; 4] = Default::default();
    // X-Ray's statement (with tracing on) takes no resource but "*".
    let xray = |st: &Value| st.to_string().contains("\"xray:");
    for st in statements.iter().filter(|st| !xray(st)) {
        let resources = match &st["Resource"] {
            Value::Array(r) => r.clone(),
            r => vec![r.clone()],
        };
        let actions = match &st["Action"] {
            Value::Array(a) => a.clone(),
            a => vec![a.clone()],
        };
        for resource in &resources {
            out[class(resource)].extend(actions.iter().map(|a| a.as_str().unwrap().to_owned()));
        }
    }
    out
}

/// docs/architecture.md's table of each function's permissions is what
/// both templates grant (which `tests/tests/infra.rs` holds to what the
/// code calls), on the table, the index and the queues.
#[test]
fn the_permissions_table_is_what_the_templates_grant() {
    let path = "docs/architecture.md";
    let doc = read(path);
    let header = "| role | the table | the `by-bucket` index | the stack's queues | the worker's log group |";
    let at = doc.find(header).expect("the permissions table");
    let rows: Vec<Vec<&str>> = doc[at..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    let mut roles = Vec::new();
    for row in &rows {
        let role = row[0].split_whitespace().next().unwrap();
        roles.push(role.to_owned());
        let mut stated: [BTreeSet<String>; 4] = Default::default();
        for (i, service) in ["dynamodb", "dynamodb", "sqs", "logs"].iter().enumerate() {
            stated[i] = row[i + 1]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(|a| format!("{service}:{a}"))
                .collect();
        }
        for deploy in Deploy::ALL {
            let t = deploy.template();
            let granted = if role == "client" {
                let policy = of_type(&t, "AWS::IAM::ManagedPolicy");
                by_resource(
                    &t,
                    policy[0].1["Properties"]["PolicyDocument"]["Statement"]
                        .as_array()
                        .unwrap(),
                )
            } else {
                by_resource(&t, &statements(&t, role))
            };
            assert_eq!(
                stated, granted,
                "{path}: the {role} row (left) against {deploy:?} (right)"
            );
        }
    }
    assert_eq!(roles, ["worker", "scheduler", "admin", "client"]);
}

/// Every file of the repository (what git would track: no build output,
/// installed packages or virtualenvs).
fn repository_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type().unwrap().is_dir() {
                if ![
                    ".git",
                    "target",
                    "node_modules",
                    ".venv",
                    "cdk.out",
                    ".aws-sam",
                ]
                .contains(&name.as_ref())
                {
                    walk(&path, out);
                }
            } else if entry.file_type().unwrap().is_file() {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&workspace_root(), &mut out);
    out
}

/// The AWS services the tests call on the emulator, from the code: the
/// AWS SDK crates the workspace depends on, and the boto3 clients its
/// Python snippets make. Each as docs/localstack.md names it and as
/// LocalStack's `SERVICES` does.
fn services_the_tests_call() -> BTreeMap<&'static str, &'static str> {
    let known = |id: &str| match id {
        "dynamodb" => ("DynamoDB", "dynamodb"),
        "dynamodbstreams" => ("DynamoDB Streams", "dynamodbstreams"),
        "sqs" => ("SQS", "sqs"),
        "cloudwatchlogs" => ("CloudWatch Logs", "logs"),
        other => panic!(
            "the tests call {other}: add it here, to docs/localstack.md and to localstack/docker-compose.yml"
        ),
    };
    let mut out = BTreeMap::new();
    for file in repository_files() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = match name.as_str() {
            "Cargo.toml" => std::fs::read_to_string(&file).unwrap(),
            _ if name.ends_with(".rs") => std::fs::read_to_string(&file).unwrap(),
            _ => continue,
        };
        let found: Vec<String> = if name == "Cargo.toml" {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("aws-sdk-"))
                .map(|rest| {
                    rest.split(|c: char| !c.is_ascii_alphanumeric())
                        .next()
                        .unwrap()
                        .to_owned()
                })
                .collect()
        } else {
            text.split("boto3.client(\"")
                .skip(1)
                .map(|rest| rest.split('"').next().unwrap().to_owned())
                .collect()
        };
        for id in found {
            let (doc_name, localstack) = known(&id);
            out.insert(doc_name, localstack);
        }
    }
    out
}

/// docs/localstack.md names the services the tests call, and LocalStack's
/// compose file starts each of them.
#[test]
fn localstack_md_names_the_services_the_tests_use() {
    let services = services_the_tests_call();
    let names: Vec<&str> = services.keys().copied().collect();
    let list = match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => panic!("the tests call no service?"),
    };
    let path = "docs/localstack.md";
    let doc = read(path);
    states(&doc, path, &format!("the tests call {list}"));
    let compose = read("localstack/docker-compose.yml");
    let started: BTreeSet<&str> = compose
        .lines()
        .find_map(|l| l.trim().strip_prefix("- SERVICES="))
        .expect("SERVICES in localstack/docker-compose.yml")
        .split(',')
        .collect();
    for (name, id) in &services {
        assert!(
            started.contains(id),
            "localstack/docker-compose.yml should start {id} ({name})"
        );
    }
}

/// Hangar has no published home yet: no file names the repository the
/// README once pointed at (a dependency on it could not resolve).
#[test]
fn no_file_names_a_repository_that_does_not_exist() {
    let gone = ["github.com", "hangar-jobs"].join("/");
    for file in repository_files() {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        assert!(
            !text.contains(&gone),
            "{} names {gone}, which does not exist",
            file.display()
        );
    }
}

/// The scripts find what cargo built where cargo put it: none names
/// `target/` itself (they ask `tests/target-dir.sh`, which honours
/// `CARGO_TARGET_DIR` as cargo does).
#[test]
fn scripts_honour_cargo_target_dir() {
    let root = workspace_root();
    let scripts: Vec<PathBuf> = repository_files()
        .into_iter()
        .filter(|f| {
            let rel = f
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            ["tests/", "infra/", "localstack/", ".ci/"]
                .iter()
                .any(|d| rel.starts_with(d))
                && (rel.ends_with(".sh") || rel == ".ci/run")
        })
        .collect();
    assert!(scripts.len() >= 8, "{scripts:?}");
    for script in &scripts {
        for (n, line) in std::fs::read_to_string(script).unwrap().lines().enumerate() {
            let code = line.trim_start();
            assert!(
                code.starts_with('#') || !code.contains("target/"),
                "{}:{}: names target/ instead of asking tests/target-dir.sh: {line}",
                script.display(),
                n + 1
            );
        }
    }
    let elsewhere = std::env::temp_dir().join("hangar-elsewhere");
    let out = std::process::Command::new(root.join("tests/target-dir.sh"))
        .env("CARGO_TARGET_DIR", &elsewhere)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        elsewhere.display().to_string()
    );
}

/// docs/architecture.md's "Where things live" table names files and
/// folders that exist, and the functions it places in a file are there.
#[test]
fn the_where_things_live_table_is_true() {
    let doc = read("docs/architecture.md");
    let section = doc
        .split("## Where things live")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/architecture.md has a Where things live section");
    let root = workspace_root();
    let mut checked = 0;
    for row in section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| What"))
    {
        let place = row.rsplit('|').nth(1).expect("a row has a place");
        // Paths are from the workspace root, or from shared/src; a name in
        // parentheses is inside the folder named before it.
        let mut folder: Option<PathBuf> = None;
        let mut in_parens = false;
        for (i, part) in place.split('`').enumerate() {
            if i % 2 == 0 {
                match (part.rfind('('), part.rfind(')')) {
                    (Some(open), close) if close.is_none_or(|c| c < open) => in_parens = true,
                    (_, Some(_)) => in_parens = false,
                    _ => {}
                }
                continue;
            }
            let is_path = part.ends_with(".rs") || part.ends_with('/');
            if !is_path {
                // `Type::function` or `function` placed in the file named next.
                continue;
            }
            let path = if in_parens && !part.contains('/') {
                folder
                    .clone()
                    .expect("a name in parentheses follows a path")
                    .join(part)
            } else if ["shared/", "functions/", "cli/", "tests/"]
                .iter()
                .any(|p| part.starts_with(p))
            {
                root.join(part)
            } else {
                root.join("shared/src").join(part)
            };
            // `commands/<command>.rs`: a file per command in that folder.
            let there = if part.contains('<') {
                path.parent()
                    .is_some_and(|d| d.read_dir().is_ok_and(|mut e| e.next().is_some()))
            } else {
                path.exists()
            };
            assert!(
                there,
                "{} names {part}, which is not there ({})",
                row.trim(),
                path.display()
            );
            folder = if part.ends_with('/') {
                Some(path)
            } else {
                path.parent().map(Path::to_path_buf)
            };
            checked += 1;
        }
    }
    assert!(checked > 30, "the table names {checked} paths");
    for (function, file) in [
        ("fn fire_recurring", "shared/src/timer.rs"),
        ("fn plan_firings", "shared/src/recurring.rs"),
        ("pub async fn write", "shared/src/core/mod.rs"),
        ("pub async fn send", "shared/src/core/mod.rs"),
        ("pub fn parse_message", "shared/src/intake/parse.rs"),
    ] {
        assert!(read(file).contains(function), "{file} has no {function}");
    }
}
