//! The SAM template: valid, and in step with what the code expects (the
//! table and its indexes, the timer schedule and its target, the worker's
//! event source, least-privilege policies).

use hangar_integration_tests::template::{granted, needed, resource, template};
use hangar_integration_tests::{TestEnv, run_python, workspace_root};
use serde_json::json;

#[test]
fn template_passes_cfn_lint() {
    let path = workspace_root().join("infra/template.yaml");
    let out = run_python(
        "import sys; from cfnlint.runner import main; sys.argv = ['cfn-lint', sys.argv[1]]; main()",
        &[path.to_str().unwrap()],
    );
    assert_eq!(out.trim(), "", "cfn-lint findings");
}

#[test]
fn timer_schedule_fires_the_scheduler_every_minute() {
    let t = template();
    let s = &resource(&t, "TimerSchedule")["Properties"];
    assert_eq!(
        resource(&t, "TimerSchedule")["Type"],
        "AWS::Scheduler::Schedule"
    );
    assert_eq!(s["ScheduleExpression"], "rate(1 minute)");
    assert_eq!(s["State"], "ENABLED");
    assert_eq!(s["FlexibleTimeWindow"]["Mode"], "OFF");
    assert_eq!(
        s["Target"]["Arn"],
        json!({"Fn::GetAtt": ["SchedulerFunction", "Arn"]})
    );
    assert_eq!(
        s["Target"]["RoleArn"],
        json!({"Fn::GetAtt": ["TimerScheduleRole", "Arn"]})
    );
    // The role may invoke the scheduler function and nothing else.
    let role = &resource(&t, "TimerScheduleRole")["Properties"];
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        "scheduler.amazonaws.com"
    );
    let statements = role["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Action"], "lambda:InvokeFunction");
    assert_eq!(
        statements[0]["Resource"],
        json!({"Fn::GetAtt": ["SchedulerFunction", "Arn"]})
    );
    let f = &resource(&t, "SchedulerFunction")["Properties"];
    assert_eq!(f["Timeout"], 60);
    assert_eq!(
        resource(&t, "SchedulerFunction")["Metadata"]["BuildProperties"]["Binary"],
        "hangar-scheduler"
    );
}

#[test]
fn worker_reports_partial_batch_failures() {
    let t = template();
    let w = resource(&t, "WorkerFunction");
    assert_eq!(w["Metadata"]["BuildProperties"]["Binary"], "hangar-worker");
    let event = &w["Properties"]["Events"]["Default"];
    assert_eq!(event["Type"], "SQS");
    let p = &event["Properties"];
    assert_eq!(p["Queue"], json!({"Fn::GetAtt": ["DefaultQueue", "Arn"]}));
    assert_eq!(
        p["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(p["BatchSize"], 10);
    // A message is not redelivered while its invocation may still run.
    let q = &resource(&t, "DefaultQueue")["Properties"];
    assert_eq!(q["VisibilityTimeout"], json!({"Ref": "WorkerTimeout"}));
    assert_eq!(
        q["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"Fn::GetAtt": ["DefaultDeadLetterQueue", "Arn"]})
    );
    assert_eq!(
        q["QueueName"],
        json!({"Fn::Sub": "${AWS::StackName}-default"})
    );
}

/// No statement grants `*` actions or resources, and the scheduler may query
/// only the due index (which actions each function gets is checked against
/// its calls in `policies_grant_exactly_what_the_code_calls`).
#[test]
fn policies_are_scoped() {
    let t = template();
    for function in ["WorkerFunction", "SchedulerFunction", "AdminFunction"] {
        let policies = resource(&t, function)["Properties"]["Policies"]
            .as_array()
            .unwrap();
        for policy in policies {
            for st in policy["Statement"].as_array().unwrap() {
                let text = st.to_string();
                assert!(!text.contains("\"*\""), "{function}: wildcard in {text}");
            }
        }
    }
    // The scheduler queries only the due index, never the table or others.
    let sched = resource(&t, "SchedulerFunction")["Properties"]["Policies"][0]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Action"] == "dynamodb:Query")
        .unwrap()
        .clone();
    assert_eq!(
        sched["Resource"],
        json!({"Fn::Sub": "${JobsTable.Arn}/index/by-bucket"})
    );
}

/// The template's table is the one `hangar::setup` creates (and the code
/// queries): same keys, indexes, projections and TTL attribute.
#[tokio::test]
async fn template_table_matches_the_code() {
    let t = template();
    let table = &resource(&t, "JobsTable")["Properties"];
    let env = TestEnv::new().await;
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
        if received == 0 && finished(&fanout).await && finished(&parent).await {
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

    let t = template();
    let extra: std::collections::BTreeSet<String> = ["sqs:GetQueueUrl".to_owned()].into();
    for (function, calls) in [
        ("WorkerFunction", &worker_calls),
        ("SchedulerFunction", &timer_calls),
    ] {
        let mut want = needed(calls);
        want.extend(extra.iter().cloned());
        assert_eq!(
            granted(&t, function),
            want,
            "{function}: the policy (left) should grant what the code calls (right), from {calls:?}"
        );
    }
}
