//! A run's log lines: shipped to CloudWatch Logs as Lambda ships the
//! worker's JSON lines, and read back by job id and time, through the SDK
//! against the emulator.

use hangar::logs::{MAX_LINES, RunLogs};
use hangar::{JobContext, JobFailure, NewJob, Registry, State};
use hangar_integration_tests::TestEnv;
use serde_json::json;

use crate::support::SHORT;

fn registry() -> Registry {
    Registry::new()
        .raw(
            "mail",
            |args: serde_json::Value, ctx: JobContext| async move {
                tracing::info!(to = %args["to"], "sending");
                if ctx.attempt() == 1 && args["flaky"] == true {
                    tracing::warn!("the mail server said no");
                    return Err(JobFailure::msg("refused"));
                }
                tracing::info!("sent");
                Ok(())
            },
        )
        .raw(
            "chatty",
            |args: serde_json::Value, _ctx: JobContext| async move {
                for i in 0..args["lines"].as_u64().unwrap() {
                    tracing::info!(i, "line");
                }
                Ok::<_, JobFailure>(())
            },
        )
}

#[tokio::test]
async fn a_jobs_lines_are_read_back_by_its_id_over_its_runs() {
    let env = TestEnv::new().await;
    let (shipper, _guard) = env.ship_logs().await;
    let poller = env.poller(registry());
    let flaky = env
        .client
        .enqueue(
            NewJob::new("mail", json!({"to": "a@example.com", "flaky": true})).retry(
                hangar::RetryPolicy {
                    attempts: 2,
                    delays_secs: vec![1],
                    ..Default::default()
                },
            ),
        )
        .await
        .unwrap();
    let other = env
        .client
        .enqueue(NewJob::new("mail", json!({"to": "b@example.com"})))
        .await
        .unwrap();
    env.drive_to(&poller, &flaky, State::Succeeded, SHORT).await;
    env.drive_to(&poller, &other, State::Succeeded, SHORT).await;
    shipper.flush().await;
    let job = env.job(&flaky).await;
    env.calls.reset();
    let page = env
        .run_logs()
        .read(&job, env.clock.now(), None)
        .await
        .unwrap();
    assert!(page.group_found);
    assert_eq!(page.cursor, None);
    let seen: Vec<(Option<u64>, &str, &str)> = page
        .lines
        .iter()
        .map(|l| (l.attempt, l.level.as_str(), l.message.as_str()))
        .collect();
    // Both runs' lines, oldest first, and the worker's own line about the
    // failed attempt; none of the other job's.
    assert_eq!(
        seen,
        vec![
            (Some(1), "INFO", "sending"),
            (Some(1), "WARN", "the mail server said no"),
            (None, "INFO", "job failed"),
            (Some(2), "INFO", "sending"),
            (Some(2), "INFO", "sent"),
        ],
        "{page:#?}"
    );
    assert_eq!(
        page.lines[0].fields,
        vec![("to".to_owned(), "\"a@example.com\"".to_owned())]
    );
    assert!(page.lines[0].stream.contains("[$LATEST]"), "{page:?}");
    // One request: no write of any kind.
    assert_eq!(
        env.calls.counts().into_iter().collect::<Vec<_>>(),
        vec![("FilterLogEvents".to_owned(), 1)]
    );

    let other = env.job(&other).await;
    let page = env
        .run_logs()
        .read(&other, env.clock.now(), None)
        .await
        .unwrap();
    let messages: Vec<&str> = page.lines.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["sending", "sent"]);
}

#[tokio::test]
async fn a_long_run_reads_in_pages_from_a_cursor() {
    let env = TestEnv::new().await;
    let (shipper, _guard) = env.ship_logs().await;
    let poller = env.poller(registry());
    let id = env
        .client
        .enqueue(NewJob::new("chatty", json!({"lines": 130})))
        .await
        .unwrap();
    env.drive_to(&poller, &id, State::Succeeded, SHORT).await;
    shipper.flush().await;
    let job = env.job(&id).await;
    let logs = env.run_logs();
    let first = logs.read(&job, env.clock.now(), None).await.unwrap();
    assert_eq!(first.lines.len(), MAX_LINES);
    let cursor = first.cursor.clone().expect("more to read");
    let second = logs
        .read(&job, env.clock.now(), Some(&cursor))
        .await
        .unwrap();
    assert_eq!(second.cursor, None);
    let numbers: Vec<String> = first
        .lines
        .iter()
        .chain(&second.lines)
        .map(|l| l.fields[0].1.clone())
        .collect();
    let want: Vec<String> = (0..130).map(|i| i.to_string()).collect();
    assert_eq!(numbers, want);
    assert!(
        logs.read(&job, env.clock.now(), Some("nonsense"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_missing_group_reads_as_no_lines() {
    let env = TestEnv::new().await;
    let id = env
        .client
        .enqueue(NewJob::new("mail", json!({})))
        .await
        .unwrap();
    let job = env.job(&id).await;
    let logs = RunLogs::from_client(
        env.logs.clone(),
        format!("/aws/lambda/{}-nothing", env.config.stack),
    );
    let page = logs.read(&job, env.clock.now(), None).await.unwrap();
    assert!(!page.group_found);
    assert!(page.lines.is_empty());
}
