//! The deploy templates, SAM and CDK, each as the CloudFormation it
//! deploys: lint-clean, and in step with what the code expects (names,
//! table keys and index, TTL, environment, the timer schedule, one event
//! source per queue, least-privilege policies that grant exactly what the
//! code calls).

use std::collections::BTreeSet;

use hangar_integration_tests::template::{
    Deploy, OWN_WORKER_BINARY, function, granted, needed, of_type, own_worker_crate, resource,
    sam_expand, statements,
};
use hangar_integration_tests::{TestEnv, workspace_root};
use serde_json::{Value, json};

fn tool(name: &str) -> std::path::PathBuf {
    workspace_root().join("infra/.venv/bin").join(name)
}

/// cfn-lint's exit code is a bitmask (2 errors, 4 warnings, 8 info): any
/// finding fails.
fn cfn_lint(path: &std::path::Path) {
    let out = std::process::Command::new(tool("cfn-lint"))
        .arg(path)
        .output()
        .expect("cfn-lint runs (tests/run.sh installs it)");
    assert!(
        out.status.success(),
        "cfn-lint on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn templates_pass_cfn_lint_and_sam_validate() {
    let root = workspace_root();
    cfn_lint(&root.join("infra/template.yaml"));
    cfn_lint(&Deploy::Cdk.cdk_template_path());
    cfn_lint(&Deploy::CdkQueues.cdk_template_path());
    let out = std::process::Command::new(tool("sam"))
        .args(["validate", "--lint", "--region", "us-east-1", "-t"])
        .arg(root.join("infra/template.yaml"))
        .env("SAM_CLI_TELEMETRY", "0")
        .output()
        .expect("sam runs (tests/run.sh installs it)");
    assert!(
        out.status.success(),
        "sam validate --lint: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of a property that may be a parameter default the SAM
/// expansion left as a string ("10") or the CDK wrote as a number.
fn num(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

fn env_of(t: &Value, name: &str) -> serde_json::Map<String, Value> {
    function(t, name).1["Properties"]["Environment"]["Variables"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn timer_schedule_fires_the_scheduler_every_minute() {
    for deploy in Deploy::ALL {
        let t = deploy.template();
        let schedules = of_type(&t, "AWS::Scheduler::Schedule");
        assert_eq!(schedules.len(), 1, "{deploy:?}");
        let s = &schedules[0].1["Properties"];
        assert_eq!(s["ScheduleExpression"], "rate(1 minute)");
        assert_eq!(s["State"], "ENABLED");
        assert_eq!(s["FlexibleTimeWindow"]["Mode"], "OFF");
        assert_eq!(s["Target"]["Input"], r#"{"source":"hangar.timer"}"#);
        assert_eq!(s["Target"]["RetryPolicy"]["MaximumRetryAttempts"], 0);
        let (sched_id, sched) = function(&t, "scheduler");
        assert_eq!(s["Target"]["Arn"], json!({"Fn::GetAtt": [sched_id, "Arn"]}));
        // The role may invoke the scheduler function and nothing else.
        let role_id = s["Target"]["RoleArn"]["Fn::GetAtt"][0].as_str().unwrap();
        let role = &resource(&t, role_id)["Properties"];
        let trust = &role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"];
        assert!(
            trust.to_string().contains("scheduler.amazonaws.com"),
            "{trust}"
        );
        let mut granted_to_role = Vec::new();
        for p in role["Policies"].as_array().cloned().unwrap_or_default() {
            granted_to_role.extend(
                p["PolicyDocument"]["Statement"]
                    .as_array()
                    .cloned()
                    .unwrap(),
            );
        }
        for (_, p) in of_type(&t, "AWS::IAM::Policy") {
            if p["Properties"]["Roles"].to_string().contains(role_id) {
                granted_to_role.extend(
                    p["Properties"]["PolicyDocument"]["Statement"]
                        .as_array()
                        .cloned()
                        .unwrap(),
                );
            }
        }
        assert_eq!(granted_to_role.len(), 1, "{deploy:?}: {granted_to_role:?}");
        assert_eq!(granted_to_role[0]["Action"], "lambda:InvokeFunction");
        assert_eq!(
            granted_to_role[0]["Resource"],
            json!({"Fn::GetAtt": [sched_id, "Arn"]})
        );
        assert_eq!(num(&sched["Properties"]["Timeout"]), 60);
        assert_eq!(num(&sched["Properties"]["ReservedConcurrentExecutions"]), 1);
    }
}

/// Every queue has its dead-letter queue and its own event source on the
/// worker with its own settings; visibility is six times the worker's
/// timeout; SAM takes the queues and per-queue settings as parameters, the
/// CDK app as context.
#[test]
fn every_queue_has_its_dead_letter_queue_and_event_source() {
    for deploy in Deploy::ALL {
        check_queues(&deploy.template(), deploy.queues());
    }
}

fn check_queues(t: &Value, expect: &[(&str, i64, i64, i64)]) {
    let outputs = t["Outputs"].as_object().unwrap();
    for (name, ..) in expect {
        for output in [
            format!("{name}QueueUrl"),
            format!("{name}DeadLetterQueueUrl"),
        ] {
            assert!(outputs.contains_key(&output), "no output {output}");
        }
    }
    let queues = of_type(t, "AWS::SQS::Queue");
    assert_eq!(queues.len(), expect.len() * 2, "{queues:?}");
    let (worker_id, worker) = function(t, "worker");
    let timeout = num(&worker["Properties"]["Timeout"]);
    let mappings = of_type(t, "AWS::Lambda::EventSourceMapping");
    assert_eq!(mappings.len(), expect.len());
    for (name, concurrency, batch, window) in expect {
        let by_name = |n: String| {
            queues
                .iter()
                .find(|(_, q)| {
                    q["Properties"]["QueueName"]
                        .to_string()
                        .contains(&format!("-{n}\""))
                })
                .unwrap_or_else(|| panic!("no queue named <stack>-{n}"))
        };
        let (qid, q) = by_name(name.to_string());
        let (dlq_id, _) = by_name(format!("{name}-dlq"));
        let q = &q["Properties"];
        assert_eq!(
            q["RedrivePolicy"]["deadLetterTargetArn"],
            json!({"Fn::GetAtt": [dlq_id, "Arn"]})
        );
        assert_eq!(num(&q["RedrivePolicy"]["maxReceiveCount"]), 5);
        assert_eq!(
            num(&q["VisibilityTimeout"]),
            6 * timeout,
            "{name}: six times the worker timeout"
        );
        let (_, m) = mappings
            .iter()
            .find(|(_, m)| m["Properties"]["EventSourceArn"] == json!({"Fn::GetAtt": [qid, "Arn"]}))
            .unwrap_or_else(|| panic!("no event source for {name}"));
        let m = &m["Properties"];
        assert_eq!(m["FunctionName"], json!({"Ref": worker_id}));
        assert_eq!(
            m["FunctionResponseTypes"],
            json!(["ReportBatchItemFailures"])
        );
        assert_eq!(num(&m["BatchSize"]), *batch, "{name}");
        let w = &m["MaximumBatchingWindowInSeconds"];
        assert_eq!(if w.is_null() { 0 } else { num(w) }, *window, "{name}");
        assert_eq!(
            num(&m["ScalingConfig"]["MaximumConcurrency"]),
            *concurrency,
            "{name}"
        );
    }
    // The functions know every queue by name.
    let names: Vec<&str> = expect.iter().map(|e| e.0).collect();
    for f in ["worker", "scheduler", "admin"] {
        let env = env_of(t, f);
        match &env["HANGAR_QUEUES"] {
            Value::String(listed) => assert_eq!(listed, &names.join(","), "{f}"),
            // SAM leaves the list parameter's join to CloudFormation.
            other => assert_eq!(other, &json!({"Fn::Join": [",", {"Ref": "Queues"}]})),
        }
        for var in [
            "HANGAR_STACK",
            "HANGAR_TABLE",
            "HANGAR_QUEUE_URL_PREFIX",
            "HANGAR_RETENTION_SECONDS",
            "HANGAR_QUEUE_KINDS",
            "RUST_LOG",
        ] {
            assert!(env.contains_key(var), "{f} lacks {var}");
        }
    }
    assert!(env_of(t, "admin").contains_key("HANGAR_ADMIN_READ_ONLY"));
}

/// No statement grants `*` actions or resources, the scheduler and the
/// admin may query only the `by-bucket` index, the admin's Function URL
/// takes only signed requests, and the client policy enqueues and reads.
#[test]
fn policies_are_scoped() {
    for deploy in Deploy::ALL {
        let t = deploy.template();
        for f in ["worker", "scheduler", "admin"] {
            for st in statements(&t, f) {
                let text = st.to_string();
                // X-Ray's actions take no resource but "*" (when tracing
                // is on).
                let actions = match &st["Action"] {
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    a => vec![a.as_str().unwrap_or_default()],
                };
                if actions.iter().all(|a| a.starts_with("xray:")) {
                    continue;
                }
                assert!(
                    !text.contains("\"*\""),
                    "{deploy:?} {f}: wildcard in {text}"
                );
                if st["Action"] == "dynamodb:Query" {
                    assert!(text.contains("/index/by-bucket"), "{deploy:?} {f}: {text}");
                }
            }
        }
        let urls = of_type(&t, "AWS::Lambda::Url");
        assert_eq!(urls.len(), 1);
        assert_eq!(urls[0].1["Properties"]["AuthType"], "AWS_IAM");
        let (admin_id, _) = function(&t, "admin");
        let target = urls[0].1["Properties"]["TargetFunctionArn"].to_string();
        assert!(target.contains(admin_id), "{deploy:?}: {target}");
        let client = of_type(&t, "AWS::IAM::ManagedPolicy");
        assert_eq!(client.len(), 1, "{deploy:?}: one client policy");
        let mut actions = BTreeSet::new();
        for st in client[0].1["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
        {
            match &st["Action"] {
                Value::Array(a) => actions.extend(a.iter().map(|a| a.as_str().unwrap().to_owned())),
                a => {
                    actions.insert(a.as_str().unwrap().to_owned());
                }
            }
        }
        let want: BTreeSet<String> = [
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:Query",
            "sqs:SendMessage",
            "sqs:GetQueueUrl",
        ]
        .map(str::to_owned)
        .into();
        assert_eq!(actions, want, "{deploy:?}");
        let outputs = t["Outputs"].as_object().unwrap();
        for o in [
            "Stack",
            "JobsTableName",
            "WorkerFunctionArn",
            "SchedulerFunctionArn",
            "AdminUrl",
            "ClientPolicyArn",
        ] {
            assert!(outputs.contains_key(o), "{deploy:?}: no output {o}");
        }
    }
}

/// One rule for queue names: the library (`validate_queue`), the SAM
/// template (its parameter constraints and the logical ids its expansion
/// makes, as CloudFormation checks them), the CDK construct (synth fails),
/// the intake schema and the API document give each name the same verdict;
/// and a name they accept deploys under the longest stack name whose
/// functions can be named: SQS names within 80 characters, Lambda's within
/// 64.
#[test]
fn queue_names_follow_one_rule_everywhere() {
    use std::collections::BTreeMap;

    let longest = "q".repeat(hangar::job::MAX_QUEUE_LEN);
    let too_long = "q".repeat(hangar::job::MAX_QUEUE_LEN + 1);
    let names: Vec<&str> = vec![
        "default",
        "emails",
        "a",
        "0",
        "reports2024",
        &longest,
        "",
        "Emails",
        "EMAILS",
        "e-mails",
        "e_mails",
        "a.b",
        "a b",
        "émails",
        "emails!",
        &too_long,
    ];
    let library: Vec<bool> = names
        .iter()
        .map(|n| hangar::job::validate_queue(n).is_ok())
        .collect();
    assert!(library.contains(&true) && library.contains(&false));

    // SAM: each name as the stack's one queue, expanded as CloudFormation
    // would (one process per name, in parallel).
    let sam: Vec<bool> = std::thread::scope(|s| {
        let runs: Vec<_> = names
            .iter()
            .map(|n| s.spawn(move || sam_expand(&json!({ "Queues": n })).is_ok()))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });

    // CDK: the construct with each name as its one queue.
    let out = std::process::Command::new("npx")
        .args(["tsx", "test/queue-names.ts"])
        .args(&names)
        .current_dir(workspace_root().join("infra/cdk"))
        .output()
        .expect("npx runs (tests/run.sh installs the CDK app's packages)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cdk: BTreeMap<String, Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["name"].as_str().unwrap().to_owned(), v)
        })
        .collect();

    // The documents: the intake schema's queue pattern, the API's.
    let documents = hangar_integration_tests::run_python(
        r#"
import json, re, sys, yaml
schema = json.load(open(sys.argv[1]))["$defs"]["job"]["properties"]["queue"]["pattern"]
api = yaml.safe_load(open(sys.argv[2]))["components"]["parameters"]["QueueName"]["schema"]["pattern"]
names = json.loads(sys.argv[3])
print(json.dumps([[bool(re.search(p, n)) for p in (schema, api)] for n in names]))
"#,
        &[
            workspace_root()
                .join("docs/intake.schema.json")
                .to_str()
                .unwrap(),
            workspace_root().join("docs/openapi.yaml").to_str().unwrap(),
            &serde_json::to_string(&names).unwrap(),
        ],
    );
    let documents: Vec<[bool; 2]> = serde_json::from_str(documents.trim()).unwrap();

    for (i, name) in names.iter().enumerate() {
        let verdict = library[i];
        assert_eq!(sam[i], verdict, "{name:?}: SAM (left) against the library");
        assert_eq!(
            cdk[*name]["ok"], verdict,
            "{name:?}: CDK (left) against the library: {}",
            cdk[*name]
        );
        assert_eq!(
            documents[i], [verdict; 2],
            "{name:?}: docs/intake.schema.json and docs/openapi.yaml against the library"
        );
    }

    // What the accepted names deploy, under the longest stack name.
    let good: Vec<&str> = names
        .iter()
        .zip(&library)
        .filter(|(_, ok)| **ok)
        .map(|(n, _)| *n)
        .collect();
    let stack = "p".repeat(54);
    let t = sam_expand(&json!({ "Queues": good.join(","), "AWS::StackName": stack })).unwrap();
    let named = |ty: &str, property: &str| -> Vec<String> {
        of_type(&t, ty)
            .iter()
            .map(|(_, r)| r["Properties"][property].as_str().unwrap().to_owned())
            .collect()
    };
    let mut queues = named("AWS::SQS::Queue", "QueueName");
    let mut functions = named("AWS::Lambda::Function", "FunctionName");
    for name in &good {
        for key in ["queueNames", "functionNames"] {
            let list = cdk[*name][key].as_array().unwrap();
            let list = list.iter().map(|n| n.as_str().unwrap().to_owned());
            if key == "queueNames" {
                queues.extend(list);
            } else {
                functions.extend(list);
            }
        }
    }
    assert!(
        queues
            .iter()
            .any(|q| q.ends_with(&format!("-{longest}-dlq")))
    );
    for q in &queues {
        assert!(q.len() <= 80, "SQS allows 80 characters: {q}");
    }
    for f in &functions {
        assert!(f.len() <= 64, "Lambda allows 64 characters: {f}");
    }
}

/// The CDK app deploys the worker of a crate outside this workspace
/// (`workerManifestPath`, `workerBinary`): the worker function's code is
/// what `cargo lambda build --bin <binary>` makes in that crate, the
/// scheduler's and the admin's Hangar's own, and the out-of-tree worker
/// gets the same role as Hangar's.
#[test]
fn cdk_app_deploys_an_out_of_tree_worker() {
    let deploy = Deploy::CdkQueues;
    let built = |function: &str| -> (String, Vec<String>) {
        let text = deploy.bootstrap(function);
        let mut lines = text.lines();
        let dir = lines.next().unwrap().to_owned();
        let args = lines
            .next()
            .unwrap()
            .split(' ')
            .map(str::to_owned)
            .collect();
        (dir, args)
    };
    let bin_of = |args: &[String]| -> String {
        let at = args.iter().position(|a| a == "--bin").expect("a --bin");
        args[at + 1].clone()
    };
    let (dir, args) = built("worker");
    assert_eq!(
        std::path::Path::new(&dir),
        own_worker_crate(),
        "the worker is built in its own crate"
    );
    assert_eq!(bin_of(&args), OWN_WORKER_BINARY, "{args:?}");
    assert!(
        args.iter().any(|a| a == "--release") && args.iter().any(|a| a == "--arm64"),
        "{args:?}"
    );
    for (function, binary) in [("scheduler", "hangar-scheduler"), ("admin", "hangar-admin")] {
        let (dir, args) = built(function);
        assert_eq!(std::path::Path::new(&dir), workspace_root(), "{function}");
        assert_eq!(bin_of(&args), binary, "{function}");
    }
    for function in ["worker", "scheduler", "admin"] {
        assert_eq!(
            granted(&deploy.template(), function),
            granted(&Deploy::Cdk.template(), function),
            "{function}: the same grants as with Hangar's worker and one queue"
        );
    }
}

/// The template's table is the one `hangar::setup` creates (and the code
/// queries): same keys, indexes, projections and TTL attribute.
#[tokio::test]
async fn template_table_matches_the_code() {
    let env = TestEnv::new().await;
    for deploy in Deploy::ALL {
        let t = deploy.template();
        let tables = of_type(&t, "AWS::DynamoDB::Table");
        assert_eq!(tables.len(), 1);
        let table = &tables[0].1["Properties"];
        assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
        assert_eq!(
            table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
            true
        );
        table_matches(&env, table).await;
    }
}

async fn table_matches(env: &TestEnv, table: &Value) {
    let desc = env
        .ddb
        .describe_table()
        .table_name(&env.config.table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();

    let mut defs: Vec<(String, String)> = desc
        .attribute_definitions()
        .iter()
        .map(|d| {
            (
                d.attribute_name().to_owned(),
                d.attribute_type().as_str().to_owned(),
            )
        })
        .collect();
    defs.sort();
    let mut tdefs: Vec<(String, String)> = table["AttributeDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["AttributeName"].as_str().unwrap().to_owned(),
                d["AttributeType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    tdefs.sort();
    assert_eq!(defs, tdefs);

    for gsi in desc.global_secondary_indexes() {
        let name = gsi.index_name().unwrap();
        let tgsi = table["GlobalSecondaryIndexes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["IndexName"] == name)
            .unwrap_or_else(|| panic!("template lacks index {name}"));
        let keys: Vec<(&str, &str)> = gsi
            .key_schema()
            .iter()
            .map(|k| (k.attribute_name(), k.key_type().as_str()))
            .collect();
        let tkeys: Vec<(&str, &str)> = tgsi["KeySchema"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap(),
                    k["KeyType"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(keys, tkeys, "{name} keys");
        let proj = gsi.projection().unwrap();
        assert_eq!(
            proj.projection_type().unwrap().as_str(),
            tgsi["Projection"]["ProjectionType"]
        );
        let mut attrs: Vec<&str> = proj
            .non_key_attributes()
            .iter()
            .map(|a| a.as_str())
            .collect();
        attrs.sort();
        let mut tattrs: Vec<&str> = tgsi["Projection"]["NonKeyAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        tattrs.sort();
        assert_eq!(attrs, tattrs, "{name} projection");
    }
    assert_eq!(
        desc.global_secondary_indexes().len(),
        table["GlobalSecondaryIndexes"].as_array().unwrap().len()
    );

    let ttl = env
        .ddb
        .describe_time_to_live()
        .table_name(&env.config.table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description().unwrap().attribute_name(),
        table["TimeToLiveSpecification"]["AttributeName"].as_str()
    );
}

/// Each function's policy grants exactly what its code calls: the worker
/// running every kind of message (wake-ups, a job request, a malformed body,
/// continuations, a handler that enqueues follow-up jobs in bulk and adds a
/// continuation), and the timer handing off, firing a recurring job,
/// re-sending a lost wake-up and finishing an interrupted release. Granted
/// beyond that: `GetQueueUrl`, for queues not named in `HANGAR_QUEUE_URLS`.
#[tokio::test]
async fn policies_grant_exactly_what_the_code_calls() {
    use std::time::Duration;

    use hangar::{ContinueOn, JobContext, ManualClock, NewJob, RecurringOptions, Registry, State};
    use hangar_integration_tests::EnvOptions;

    let clock = ManualClock::new(chrono::Utc::now());
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let client = env.client.clone();
    let registry = Registry::new().raw("ok", |_, _| async { Ok(()) }).raw(
        "fanout",
        move |_, ctx: JobContext| {
            let client = client.clone();
            async move {
                let fail = |e: hangar::Error| hangar::JobFailure::msg(e.to_string());
                let _ = ctx.is_cancelled().await.map_err(fail)?;
                let follow_ups = (0..2).map(|n| NewJob::new("ok", json!({ "n": n })));
                client.enqueue_many(follow_ups).await.map_err(fail)?;
                client
                    .continue_with(
                        ctx.id(),
                        NewJob::new("ok", json!({})),
                        ContinueOn::Succeeded,
                    )
                    .await
                    .map_err(fail)?;
                Ok(())
            }
        },
    );
    let poller = env.poller(registry);
    let parent = env
        .client
        .enqueue(NewJob::new("ok", json!({})))
        .await
        .unwrap();
    let child = env
        .client
        .continue_with(&parent, NewJob::new("ok", json!({})), ContinueOn::Succeeded)
        .await
        .unwrap();
    let fanout = env
        .client
        .enqueue(NewJob::new("fanout", json!({})))
        .await
        .unwrap();
    env.send_raw("default", r#"{"hangar_intake":1,"kind":"ok"}"#)
        .await;
    env.send_raw("default", "not a hangar message").await;
    // Two jobs under one mutex, in one batch: one waits, and the other's
    // end wakes it (a query of the key's waiting list).
    let mut mutexed = Vec::new();
    for _ in 0..2 {
        mutexed.push(
            env.client
                .enqueue(NewJob::new("ok", json!({})).concurrency("policy", 1))
                .await
                .unwrap(),
        );
    }
    // The child's release is cut short, for the timer to finish.
    env.faults.fail("UpdateItem", &format!("job#{child}"));

    // Only the worker's own calls count, not the test's reads in between.
    let mut worker_calls = std::collections::BTreeMap::<String, usize>::new();
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        env.calls.reset();
        let received = poller.poll_once().await.unwrap();
        for (op, n) in env.calls.counts() {
            *worker_calls.entry(op).or_default() += n;
        }
        let env = &env;
        let finished = |id| async move { env.job(id).await.state == State::Succeeded };
        if received == 0
            && finished(&fanout).await
            && finished(&parent).await
            && finished(&mutexed[0]).await
            && finished(&mutexed[1]).await
        {
            break;
        }
        assert!(std::time::Instant::now() < until, "jobs did not finish");
    }
    env.faults.clear();
    // Receive and delete are the event source mapping's, not the function's.
    worker_calls.retain(|op, _| op != "ReceiveMessage" && op != "DeleteMessageBatch");

    // The timer: a far job to hand off, a recurring job to fire, a lost
    // wake-up to re-send, the interrupted release to finish.
    env.client
        .schedule(NewJob::new("ok", json!({})), Duration::from_secs(3600))
        .await
        .unwrap();
    env.client
        .recurring()
        .add_or_update(
            "every-minute",
            NewJob::new("ok", json!({})),
            "* * * * *",
            RecurringOptions::default(),
        )
        .await
        .unwrap();
    env.client
        .enqueue(NewJob::new("ok", json!({})))
        .await
        .unwrap();
    env.lose_messages("default").await;
    clock.advance(Duration::from_secs(47 * 60));
    let timer = hangar::Timer::new(&env.client);
    env.calls.reset();
    let report = timer.tick(Duration::from_secs(50)).await.unwrap();
    // The scheduler rolls finished jobs into the metrics after each tick.
    let rolled = timer.roll_up().await.unwrap();
    assert!(rolled.jobs > 0, "{rolled:?}");
    let timer_calls = env.calls.counts();
    assert_eq!(report.released, vec![parent.clone()], "{report:?}");
    assert_eq!(report.handed_off.len(), 1, "{report:?}");
    assert!(
        !report.fired.is_empty() && !report.resent.is_empty(),
        "{report:?}"
    );

    // Granted beyond the code's calls: GetQueueUrl, and to the worker what
    // its event source mappings call as the function.
    let event_source = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
    ];
    for deploy in Deploy::ALL {
        let t = deploy.template();
        for (function, calls) in [("worker", &worker_calls), ("scheduler", &timer_calls)] {
            let mut want = needed(calls);
            want.insert("sqs:GetQueueUrl".to_owned());
            if function == "worker" {
                want.extend(event_source.map(str::to_owned));
            }
            assert_eq!(
                granted(&t, function),
                want,
                "{deploy:?} {function}: the policy (left) should grant what the code calls (right), from {calls:?}"
            );
        }
    }
}

/// X-Ray tracing is an option, off by default: the functions pass traces
/// through and their roles hold no X-Ray permission until a stack turns it
/// on (SAM `Tracing=Active`, the CDK app's `tracing=active`, as the CDK
/// way with several queues is synthesized).
#[test]
fn xray_tracing_is_an_option_off_by_default() {
    let active = hangar_integration_tests::template::sam_with(&json!({ "Tracing": "Active" }));
    let ways = [
        ("SAM", Deploy::Sam.template(), false),
        ("SAM Tracing=Active", active, true),
        ("CDK", Deploy::Cdk.template(), false),
        ("CDK tracing=active", Deploy::CdkQueues.template(), true),
    ];
    for (way, t, on) in ways {
        for f in ["worker", "scheduler", "admin"] {
            let (_, fun) = function(&t, f);
            let mode = &fun["Properties"]["TracingConfig"]["Mode"];
            if on {
                // SAM leaves the parameter for CloudFormation to resolve.
                assert!(
                    mode == "Active" || *mode == json!({ "Ref": "Tracing" }),
                    "{way} {f}: {mode}"
                );
            } else {
                // No setting is Lambda's default, PassThrough.
                assert!(mode.is_null() || mode == "PassThrough", "{way} {f}: {mode}");
            }
        }
        let text = t.to_string();
        let xray =
            text.contains("xray:PutTraceSegments") || text.contains("AWSXrayWriteOnlyAccess");
        assert_eq!(xray, on, "{way}: X-Ray permissions only when tracing");
    }
}

/// The README's "Hangar in your own crate" section, built as written: its
/// dependency lines (the clone's path made this repository's), its worker and its
/// enqueue-only application, as a crate outside this workspace.
#[test]
fn own_worker_crate_builds_from_the_readme() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("## Hangar in your own crate")
        .nth(1)
        .expect("the README has the section")
        .split("\n## ")
        .next()
        .unwrap();
    let block = |after: &str, lang: &str| -> String {
        let start = section.find(after).unwrap_or_else(|| panic!("no {after}")) + after.len();
        let open = format!("```{lang}\n");
        let body = &section[start..];
        let body = &body[body.find(&open).unwrap() + open.len()..];
        body[..body.find("```").unwrap()].to_owned()
    };
    let deps = block("", "toml");
    // A clone of this repository beside the user's crate.
    let clone = r#"hangar = { path = "../hangar/shared" }"#;
    assert!(deps.contains(clone), "{deps}");
    let deps = deps.replace(
        clone,
        &format!(
            "hangar = {{ path = {:?} }}",
            root.join("shared").display().to_string()
        ),
    );
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("own-worker-crate");
    std::fs::create_dir_all(dir.join("src/bin")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"my-worker\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n{deps}\n\
             [profile.dev]\ndebug = false\n\n[profile.dev.package.\"*\"]\nopt-level = 1\n"
        ),
    )
    .unwrap();
    let mut files = 0;
    for (i, _) in section.match_indices("<!-- own-worker: ") {
        let rest = &section[i + "<!-- own-worker: ".len()..];
        let path = &rest[..rest.find(" -->").unwrap()];
        std::fs::write(
            dir.join(path),
            block(&format!("<!-- own-worker: {path} -->"), "rust"),
        )
        .unwrap();
        files += 1;
    }
    assert_eq!(files, 2, "the worker and the enqueue-only application");
    // The same dependency versions as this workspace, offline.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let out = std::process::Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the README's crate does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for bin in ["my-worker", "enqueue"] {
        assert!(dir.join("target/debug").join(bin).exists(), "{bin} built");
    }
}
