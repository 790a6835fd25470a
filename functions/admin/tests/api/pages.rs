//! The dashboard's pages render, show user data as text, and lead from
//! the search box to a job.

use crate::common::Api;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;

/// The pages render, and show user data as text: a job whose arguments and
/// error hold markup shows it escaped.
#[tokio::test]
async fn pages_escape_what_they_show() {
    let api = Api::new().await;
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let id = api.failed_job(json!({ "note": evil })).await;
    let (status, page) = api.page(&format!("/job/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(page.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(!page.contains("<script>alert"));
    assert!(!page.contains("<img src=x"));
    assert!(page.contains("hangar::UnknownKind"), "the error is shown");

    for uri in [
        "/",
        "/jobs/failed",
        "/jobs/processing",
        "/recurring",
        "/queues",
        "/metrics",
    ] {
        let (status, page) = api.page(uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {page}");
        assert!(page.contains("<title>"), "{uri}");
    }
    let (_, overview) = api.page("/").await;
    assert!(overview.contains("Finished per minute") && overview.contains("<svg"));
    let (_, failed) = api.page("/jobs/failed").await;
    // A time window that holds the job, and one that does not.
    let (_, within) = api
        .page("/jobs/failed?since=2020-01-01T00:00:00Z&until=2100-01-01T00:00:00Z")
        .await;
    assert!(within.contains(id.as_str()));
    let (_, before) = api.page("/jobs/failed?until=2020-01-01T00:00:00Z").await;
    assert!(!before.contains(&format!("/job/{id}")), "{before}");
    assert!(failed.contains(id.as_str()));
    let (status, page) = api.page("/jobs/sleeping").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("unknown state"));
    let resp = api
        .router
        .clone()
        .oneshot(
            Request::get(format!("/search?id={id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], format!("/job/{id}").as_str());
    let (status, _) = api.page("/job/no-such-job").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A unique or debounced job's page names its key (escaped), and the JSON
/// carries it in the creation's history entry; a debounced job's page
/// lists each later creation that pushed it back.
#[tokio::test]
async fn a_keyed_job_s_page_names_its_key() {
    let api = Api::new().await;
    let unique = api
        .env
        .client
        .schedule(
            hangar::NewJob::new("hello", json!({}))
                .unique("<b>k</b>", hangar::UniqueUntil::Finished),
            std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let (_, page) = api.page(&format!("/job/{unique}")).await;
    assert!(page.contains("<th>Unique</th>"), "{page}");
    assert!(page.contains("<code>&lt;b&gt;k&lt;/b&gt;</code>"), "{page}");
    let debounced = |n: u32| {
        hangar::NewJob::new("hello", json!({ "n": n })).debounce(
            "sync-1",
            std::time::Duration::from_secs(60),
            std::time::Duration::from_secs(600),
        )
    };
    let id = api.env.client.enqueue(debounced(1)).await.unwrap();
    assert_eq!(api.env.client.enqueue(debounced(2)).await.unwrap(), id);
    let (_, page) = api.page(&format!("/job/{id}")).await;
    assert!(
        page.contains("<th>Debounced</th>") && page.contains("<code>sync-1</code>"),
        "{page}"
    );
    assert!(
        page.contains("Debounced: a later creation replaced the arguments"),
        "{page}"
    );
    let (status, body) = api.get(&format!("/api/jobs/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["args"], json!({ "n": 2 }), "{body}");
    assert_eq!(body["history"][0]["data"]["debounce"], "sync-1", "{body}");
}
