//! `GET /api/stats`: counts per state and the queues' depths.

use crate::common::Api;
use axum::http::StatusCode;
use hangar::NewJob;
use serde_json::json;

/// Stats: counts per state and the queues, dead-letter queue included.
#[tokio::test]
async fn stats() {
    let api = Api::new().await;
    // More Enqueued jobs than the counts read: the Active bucket is split by
    // the queue depths, read once for the whole response.
    let jobs: Vec<NewJob> = (0..60)
        .map(|n| NewJob::new("k", json!({ "n": n })))
        .collect();
    api.env.client.enqueue_many(jobs).await.unwrap();
    api.env.calls.reset();
    let (status, v) = api.get("/api/stats").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        api.env.calls.count("GetQueueAttributes"),
        2,
        "default and its dead-letter queue, once each"
    );
    assert_eq!(v["states"]["enqueued"], 60);
    assert!(
        v["estimated"]
            .as_array()
            .unwrap()
            .contains(&json!("enqueued"))
    );
    assert_eq!(v["states"]["failed"], 0);
    let names: Vec<&str> = v["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "default-dlq"]);
}
