//! Recurring jobs through the API: the listing and the actions.

use crate::common::Api;
use axum::http::StatusCode;
use hangar::{NewJob, RecurringOptions};
use serde_json::json;

/// Recurring jobs: listed with their last job's state; trigger, disable,
/// enable, remove; unknown ones and actions are refused.
#[tokio::test]
async fn recurring() {
    let api = Api::new().await;
    api.env
        .client
        .recurring()
        .add_or_update(
            "nightly",
            NewJob::new("k", json!({})),
            "0 3 * * *",
            RecurringOptions::default(),
        )
        .await
        .unwrap();
    let (status, v) = api.post("/api/recurring/nightly/trigger", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let job = v["job"].as_str().unwrap().to_owned();
    let (_, list) = api.get("/api/recurring").await;
    assert_eq!(list[0]["id"], "nightly");
    assert_eq!(list[0]["last_job_id"], job.as_str());
    assert_eq!(list[0]["last_job_state"], "Enqueued");
    assert_eq!(list[0]["cron"], "0 3 * * *");

    let (status, _) = api.post("/api/recurring/nightly/disable", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = api.get("/api/recurring").await;
    assert_eq!(list[0]["enabled"], false);
    let (status, _) = api.post("/api/recurring/nightly/enable", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = api.post("/api/recurring/nightly/explode", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, _) = api.post("/api/recurring/nightly/remove", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.post("/api/recurring/nightly/remove", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.post("/api/recurring/bad%20id/trigger", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
