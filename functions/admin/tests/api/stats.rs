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

/// `GET /api/workers` and the Workers page: each worker's runs in the
/// last minutes, by how they ended, from what the runs wrote anyway; the
/// page shows a worker's name as text.
#[tokio::test]
async fn workers_are_listed_with_what_they_ran() {
    let api = Api::new().await;
    let registry = || {
        hangar::Registry::new().raw("k", |args, _| async move {
            if args["fail"] == true {
                Err(hangar::JobFailure::msg("no"))
            } else {
                Ok(())
            }
        })
    };
    for (name, fail) in [("worker-a", false), ("worker-a", false), ("<i>b</i>", true)] {
        let worker = hangar::Worker::new(&api.env.client, registry()).with_name(name);
        let poller = hangar::Poller::new(worker, "default").wait(std::time::Duration::from_secs(1));
        let id = api
            .env
            .client
            .enqueue(NewJob::new("k", json!({ "fail": fail })).retries(0))
            .await
            .unwrap();
        let state = if fail {
            hangar::State::Failed
        } else {
            hangar::State::Succeeded
        };
        api.env
            .drive_to(&poller, &id, state, std::time::Duration::from_secs(15))
            .await;
    }
    api.env.calls.reset();
    let (status, v) = api.get("/api/workers?minutes=5").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true, "{v}");
    let workers = v["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{v}");
    assert_eq!(
        (
            &workers[0]["name"],
            &workers[0]["runs"],
            &workers[0]["succeeded"],
            &workers[0]["kinds"]["k"]
        ),
        (&json!("worker-a"), &json!(2), &json!(2), &json!(2)),
        "{v}"
    );
    assert_eq!(
        (
            &workers[1]["name"],
            &workers[1]["runs"],
            &workers[1]["failed"]
        ),
        (&json!("<i>b</i>"), &json!(1), &json!(1)),
        "{v}"
    );
    assert!(
        api.env.calls.count("PutItem") + api.env.calls.count("UpdateItem") == 0,
        "reading the workers writes nothing: {:?}",
        api.env.calls.counts()
    );
    let (status, _) = api.get("/api/workers?minutes=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, page) = api.page("/workers").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<code>worker-a</code>"), "{page}");
    assert!(page.contains("<code>&lt;i&gt;b&lt;/i&gt;</code>"), "{page}");
    assert!(!page.contains("<i>b</i>"), "{page}");
}
