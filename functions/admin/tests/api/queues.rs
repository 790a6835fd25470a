//! The queues through the API and their pages: pause and resume, and the
//! dead-letter queues' messages.

use crate::common::{Api, TOKEN};
use axum::http::StatusCode;
use hangar::State;
use hangar_admin::TOKEN_HEADER;
use serde_json::json;

/// The dead-letter queue: peeked without consuming, chosen messages moved
/// back to the queue or deleted; bad input refused.
#[tokio::test]
async fn dead_letters() {
    let api = Api::new().await;
    let ids = api.dead_letters(&["first <b>", "second"]).await;
    for _ in 0..2 {
        let (status, v) = api.get("/api/queues/default/dead-letters").await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(
            v.as_array().unwrap().len(),
            2,
            "peeking consumes nothing: {v}"
        );
    }
    let (_, page) = api.page("/queues/default").await;
    assert!(page.contains("first &lt;b&gt;"), "{page}");

    let (status, v) = api
        .post("/api/queues/default/redrive", json!({"ids": [ids[0]]}))
        .await;
    assert_eq!(
        (status, v["count"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    assert_eq!(
        api.env.queue_depth("default").await.0,
        1,
        "moved back to the queue"
    );
    let (status, v) = api
        .post(
            "/api/queues/default/dead-letters/delete",
            json!({"ids": [ids[1]]}),
        )
        .await;
    assert_eq!(
        (status, v["count"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    let (_, v) = api.get("/api/queues/default/dead-letters").await;
    assert!(v.as_array().unwrap().is_empty(), "{v}");
    // A redrive without a body moves them all.
    api.dead_letters(&["third"]).await;
    let (status, body) = api
        .send_with(
            "POST",
            "/api/queues/default/redrive",
            &[(TOKEN_HEADER, TOKEN)],
        )
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"count":1}"#));

    let (status, _) = api
        .post("/api/queues/default/dead-letters/delete", json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .post("/api/queues/default/redrive", json!({"ids": []}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, v) = api.get("/api/queues/Bad%20Name/dead-letters").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(v.to_string().contains("invalid queue name"), "{v}");
    let (status, v) = api.get("/api/queues/nosuchqueue/dead-letters").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
}
/// Pause and resume through the API and the queues page: the page shows the
/// state and the button for the other action; jobs that arrive while paused
/// are parked, shown on their page, and woken by the resume.
#[tokio::test]
async fn pause_and_resume_a_queue() {
    let api = Api::new().await;
    // A dead-letter queue, listed by the stats, is not a queue the queue
    // routes act on: not found, as for any other name.
    for path in [
        "/api/queues/default-dlq/pause",
        "/api/queues/default-dlq/redrive",
    ] {
        let (status, body) = api.post(path, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, control) = api.post("/api/queues/default/pause", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{control}");
    assert_eq!(control["paused"], true);
    let (_, rows) = api.get("/api/queues").await;
    let default = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "default")
        .unwrap()
        .clone();
    assert_eq!(default["paused"], true, "{rows}");
    let (_, page) = api.page("/queues").await;
    assert!(
        page.contains("paused") && page.contains("/api/queues/default/resume"),
        "{page}"
    );

    let id = api.enqueued().await;
    let poller = api
        .env
        .poller(hangar::Registry::new().raw("k", |_, _| async { Ok(()) }));
    while poller.poll_once().await.unwrap() > 0 {}
    let (_, job) = api.get(&format!("/api/jobs/{id}")).await;
    assert_eq!(job["state"], "Enqueued", "{job}");
    let (_, page) = api.page(&format!("/job/{id}")).await;
    assert!(page.contains("Parked"), "{page}");

    let (status, resumed) = api.post("/api/queues/default/resume", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["woken"], 1);
    assert_eq!(resumed["control"]["paused"], false);
    let (_, page) = api.page("/queues").await;
    assert!(page.contains("/api/queues/default/pause"), "{page}");
    let poller = api
        .env
        .poller(hangar::Registry::new().raw("k", |_, _| async { Ok(()) }));
    while poller.poll_once().await.unwrap() > 0 {}
    assert_eq!(api.env.job(&id).await.state, State::Succeeded);

    // An unknown queue is a 404 that names what was looked for.
    // (The read-only admin refuses every POST; see token_and_read_only in
    // auth.rs.)
    let (status, body) = api.post("/api/queues/nosuch/pause", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.to_string().contains("no SQS queue named"), "{body}");
}
