//! A job's log lines through the API and on its page: read from the
//! worker's CloudWatch Logs group by the job's id, escaped where shown.

use crate::common::{Api, error_of, get};
use axum::http::StatusCode;
use hangar::{JobContext, JobFailure, NewJob, Registry, State};
use serde_json::json;
use std::time::Duration;

fn registry() -> Registry {
    Registry::new().raw(
        "report",
        |args: serde_json::Value, _: JobContext| async move {
            tracing::info!(rows = 3, "exported <b>{}</b>", args["name"]);
            for i in 0..args["more"].as_u64().unwrap_or(0) {
                tracing::info!(i, "more");
            }
            Ok::<_, JobFailure>(())
        },
    )
}

#[tokio::test]
async fn a_jobs_lines_through_the_api_and_on_its_page() {
    let api = Api::new().await;
    let (shipper, _guard) = api.env.ship_logs().await;
    let poller = api.env.poller(registry());
    let id = api
        .env
        .client
        .enqueue(NewJob::new("report", json!({"name": "q3", "more": 120})))
        .await
        .unwrap();
    api.env
        .drive_to(&poller, &id, State::Succeeded, Duration::from_secs(15))
        .await;
    shipper.flush().await;

    let (status, page) = api.get(&format!("/api/jobs/{id}/logs")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["job"], id.as_str());
    assert_eq!(page["group"], api.env.config.worker_log_group());
    assert_eq!(page["group_found"], true);
    let lines = page["lines"].as_array().unwrap();
    assert_eq!(lines.len(), hangar::logs::MAX_LINES);
    assert_eq!(lines[0]["message"], "exported <b>\"q3\"</b>");
    assert_eq!(lines[0]["fields"], json!({"rows": "3"}));
    assert_eq!(lines[0]["attempt"], 1);
    assert_eq!(lines[0]["level"], "INFO");
    assert!(page["next"].is_string(), "a second page: {page}");

    // The page: the lines as text (the markup escaped), and a link on.
    let (status, html) = get(&api.router, &format!("/job/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("exported &lt;b&gt;&quot;q3&quot;&lt;/b&gt;"),
        "{html}"
    );
    assert!(!html.contains("<b>\"q3\"</b>"));
    assert!(html.contains("Later lines"));
    // The page's link carries the API's cursor, encoded for a URL.
    let link = html
        .split("?logs=")
        .nth(1)
        .and_then(|rest| rest.split('#').next())
        .expect("a link to the later lines");
    let (status, rest) = api.get(&format!("/api/jobs/{id}/logs?cursor={link}")).await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    assert_eq!(
        rest["lines"].as_array().unwrap().len(),
        121 - hangar::logs::MAX_LINES,
        "{rest:#}"
    );
    assert_eq!(rest["next"], serde_json::Value::Null);

    // A bad cursor is refused; an unknown job is a 404.
    let (status, v) = api.get(&format!("/api/jobs/{id}/logs?cursor=x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(error_of(&v).contains("log cursor"), "{v}");
    // Shaped like one, but not a token CloudWatch gave.
    let (status, v) = api
        .get(&format!("/api/jobs/{id}/logs?cursor=1000.2000.nope"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(error_of(&v).contains("log cursor"), "{v}");
    let (status, _) = api.get("/api/jobs/nope/logs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_job_waiting_for_its_time_reads_no_logs_for_its_page() {
    let api = Api::new().await;
    let id = (api.env.client)
        .schedule(NewJob::new("report", json!({})), Duration::from_secs(3600))
        .await
        .unwrap();
    api.env.calls.reset();
    let (status, html) = get(&api.router, &format!("/job/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("None yet: the job has not run."), "{html}");
    assert_eq!(api.env.calls.count("FilterLogEvents"), 0);
    // Asked through the API: a group that does not exist yet reads as
    // no lines.
    let (status, page) = api.get(&format!("/api/jobs/{id}/logs")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["group_found"], false);
    assert_eq!(page["lines"], json!([]));
}
