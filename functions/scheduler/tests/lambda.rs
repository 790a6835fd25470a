//! The real scheduler bootstrap as Lambda runs it: started under a local
//! stub of the Lambda Runtime API and fed the event the template's
//! EventBridge Scheduler schedule sends, and one it must refuse.

use hangar::{NewJob, RecurringOptions};
use hangar_integration_tests::TestEnv;
use hangar_integration_tests::runtime_api::RuntimeApi;
use hangar_integration_tests::template::Deploy;
use serde_json::{Value, json};

/// The schedule's own input runs a tick that fires a due recurring job; an
/// EventBridge event of another source is refused as an invocation error.
#[tokio::test]
async fn scheduler_bootstrap_runs_a_tick_for_the_schedule_event() {
    let env = TestEnv::new().await;
    env.client
        .recurring()
        .add_or_update(
            "every-minute",
            NewJob::new("hello", json!({})),
            "* * * * *",
            RecurringOptions::default(),
        )
        .await
        .unwrap();

    let t = Deploy::Sam.template();
    let schedules = hangar_integration_tests::template::of_type(&t, "AWS::Scheduler::Schedule");
    let input: Value = serde_json::from_str(
        schedules[0].1["Properties"]["Target"]["Input"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let mut api = RuntimeApi::start(vec![
        ("tick".into(), input),
        ("other".into(), json!({"source": "aws.events"})),
    ])
    .await;
    let child = api
        .command(env!("CARGO_BIN_EXE_hangar-scheduler"), "scheduler", &env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the scheduler bootstrap starts");
    let answers = api.answers(2).await;
    // Every line it wrote, the refused event's error included, is JSON.
    RuntimeApi::stop(child).await;

    let report = &answers["response:tick"];
    assert_eq!(report["complete"], true, "{answers:?}");
    assert_eq!(report["errors"], 0, "{report}");
    let fired = report["fired"]
        .as_array()
        .expect("the report lists fired jobs");
    assert!(!fired.is_empty(), "the recurring job fired: {report}");
    let id = hangar::JobId::parse(fired[0].as_str().unwrap()).unwrap();
    assert_eq!(env.job(&id).await.kind, "hello");
    let error = answers["error:other"].to_string();
    assert!(error.contains("not a Hangar timer event"), "{error}");
}

/// The timer's info-level output names jobs by id, never by their
/// arguments: a tick that fires a recurring job with a marker in its
/// arguments does not log it.
#[tokio::test]
async fn scheduler_logs_no_arguments() {
    const MARKER: &str = "pii-2b8e41-marker";
    let env = TestEnv::new().await;
    env.client
        .recurring()
        .add_or_update(
            "every-minute",
            NewJob::new("hello", json!({ "email": MARKER })),
            "* * * * *",
            RecurringOptions::default(),
        )
        .await
        .unwrap();
    let mut api = RuntimeApi::start(vec![("tick".into(), json!({"source": "hangar.timer"}))]).await;
    let child = api
        .command(env!("CARGO_BIN_EXE_hangar-scheduler"), "scheduler", &env)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the scheduler bootstrap starts");
    let answers = api.answers(1).await;
    let report = &answers["response:tick"];
    assert!(!report["fired"].as_array().unwrap().is_empty(), "{report}");
    let logs = RuntimeApi::stop(child).await;
    assert!(
        logs.contains("tick"),
        "the info-level output was captured: {logs}"
    );
    assert!(
        !logs.contains(MARKER),
        "a marker from the arguments was logged:\n{logs}"
    );
}

/// In Lambda an error that stops the scheduler before its first event (a
/// queue name the library refuses) is a JSON line too, and the process
/// exits with status 1.
#[tokio::test]
async fn scheduler_bootstrap_reports_a_refused_configuration_as_json() {
    RuntimeApi::refused_start(env!("CARGO_BIN_EXE_hangar-scheduler"), "scheduler").await;
}
