//! A batch through the API and the dashboard.

use crate::common::Api;
use axum::http::StatusCode;
use hangar::JobId;
use serde_json::json;

/// A batch through the API and the dashboard: its progress, a page of its
/// jobs, the job's link to its batch, the description escaped, and an
/// unknown batch a 404.
#[tokio::test]
async fn batch_progress_in_the_api_and_the_dashboard() {
    let api = Api::new().await;
    let evil = "<script>alert(1)</script>";
    let batch = (0..3).fold(hangar::Batch::new().description(evil), |b, n| {
        b.enqueue(hangar::NewJob::new("hello", json!({ "n": n })))
            .unwrap()
    });
    let batch = batch
        .continue_with(
            hangar::NewJob::new("hello", json!({})),
            hangar::ContinueOn::AnyFinished,
        )
        .unwrap();
    let id = api.env.client.start_batch(batch).await.unwrap();
    api.env
        .client
        .delete(&JobId::parse(format!("{id}.2")).unwrap())
        .await
        .unwrap();

    let (status, list) = api.get("/api/batches").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    let (status, b) = api.get(&format!("/api/batches/{id}?from=2&limit=1")).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["batch"]["total"], 3);
    assert_eq!(
        (
            b["batch"]["pending"].as_u64(),
            b["batch"]["deleted"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(b["batch"]["continuations"][0]["on"], "any_finished");
    assert_eq!(b["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(b["jobs"][0]["id"], format!("{id}.2"));
    assert_eq!(b["jobs"][0]["state"], "Deleted");
    assert_eq!(b["next"], 3);

    for page in ["/batches".to_owned(), format!("/batches/{id}")] {
        let (status, html) = api.page(&page).await;
        assert_eq!(status, StatusCode::OK, "{page}: {html}");
        assert!(!html.contains(evil), "{page} escapes the description");
        assert!(html.contains("&lt;script&gt;"), "{page}: {html}");
        assert!(html.contains(&format!("href=\"/batches/{id}\"")) || page != "/batches");
    }
    let (_, html) = api.page(&format!("/batches/{id}")).await;
    assert!(html.contains(&format!("href=\"/job/{id}.3\"")), "{html}");
    assert!(
        html.contains("2 pending") || html.contains("Pending"),
        "{html}"
    );
    let (_, html) = api.page(&format!("/job/{id}.1")).await;
    assert!(html.contains(&format!("href=\"/batches/{id}\"")), "{html}");

    let (status, v) = api.get("/api/batches/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("batch nope not found"),
        "{v}"
    );
    let (status, _) = api.page("/batches/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
