//! Acting on every job a filter lists (`POST /api/jobs/bulk` with `state`
//! and a filter): a step at a time, each step's `next` going on where the
//! last stopped, each job changed by its own write, the others untouched.

use std::collections::BTreeSet;

use crate::common::{Api, error_of};
use crate::cost::finished;
use axum::http::StatusCode;
use hangar::{JobId, State};
use serde_json::{Value, json};

/// Posts the steps of a bulk action from `first` until its `next` is
/// null: the steps' answers.
async fn steps(api: &Api, first: Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut body = first;
    loop {
        let (status, v) = api.post("/api/jobs/bulk", body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}: {v}");
        out.push(v.clone());
        match v["next"].as_str() {
            Some(next) => {
                body = json!({"action": body["action"], "cursor": next, "limit": body["limit"]})
            }
            None => return out,
        }
    }
}

fn done(steps: &[Value]) -> u64 {
    steps.iter().map(|s| s["done"].as_u64().unwrap()).sum()
}

#[tokio::test]
async fn every_job_a_filter_lists_is_requeued_or_deleted_step_by_step() {
    let api = Api::new().await;
    let now = chrono::Utc::now();
    let mut jobs: Vec<hangar::JobRecord> =
        (0..250).map(|i| finished(i, State::Failed, now)).collect();
    // Nineteen carry "ACME" in some case, in their arguments or last error.
    let acme: BTreeSet<usize> = (3..250).step_by(13).collect();
    assert_eq!(acme.len(), 19);
    for &i in &acme {
        if i % 2 == 0 {
            jobs[i].args = json!({ "customer": "acme", "n": i });
        } else {
            jobs[i].last_error = Some(format!("ACME gateway timed out ({i})"));
        }
    }
    api.env.client.seed(&jobs).await.unwrap();
    let id = |i: usize| jobs[i].id.clone();

    // Requeue those that carry it, ten a step: past the first step.
    let requeued = steps(
        &api,
        json!({"action": "requeue", "state": "failed", "q": "acme", "limit": 10}),
    )
    .await;
    assert!(requeued.len() >= 2, "more than one step: {requeued:?}");
    assert_eq!(done(&requeued), 19, "{requeued:?}");
    let read: u64 = requeued.iter().map(|s| s["read"].as_u64().unwrap()).sum();
    assert!(read >= 250, "the search read the state: {requeued:?}");
    for (i, job) in jobs.iter().enumerate() {
        let want = if acme.contains(&i) {
            State::Enqueued
        } else {
            State::Failed
        };
        assert_eq!(api.env.job(&job.id).await.state, want, "job {i}");
    }

    // Delete the rest of the state, 100 a step: 231 in three steps.
    let deleted = steps(
        &api,
        json!({"action": "delete", "state": "failed", "limit": 100}),
    )
    .await;
    assert_eq!(done(&deleted), 231, "{deleted:?}");
    assert!(deleted.len() >= 3, "{deleted:?}");
    assert!(deleted.iter().all(|s| s["refused"] == json!([])));
    let left: Vec<JobId> = (0..250).filter(|i| !acme.contains(i)).map(id).collect();
    for job in api.env.client.get_many(&left).await.unwrap() {
        assert_eq!(job.state, State::Deleted, "{}", job.id);
    }
    assert_eq!(api.env.job(&id(3)).await.state, State::Enqueued);

    // A cursor carries its filter; another action's filter with it, or a
    // made-up cursor, is refused.
    for body in [
        json!({"action": "delete", "cursor": "made-up"}),
        json!({"action": "delete", "ids": ["a"], "cursor": "x"}),
        json!({"action": "delete", "ids": ["a"], "q": "acme"}),
        json!({"action": "delete", "cursor": "x", "q": "acme"}),
        json!({"action": "delete", "cursor": "x", "state": "failed"}),
    ] {
        let (status, v) = api.post("/api/jobs/bulk", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(!error_of(&v).is_empty());
    }
}
