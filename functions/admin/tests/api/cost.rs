//! What each page costs in AWS requests, on a store of a few jobs and on
//! one of 11,000: bounded, never growing with the number of jobs.

use std::collections::BTreeMap;

use crate::common::Api;
use axum::http::StatusCode;
use hangar::State;

pub(crate) use hangar_integration_tests::finished;

/// Requests per page: for each page, the AWS calls it made.
async fn page_costs(api: &Api, pages: &[String]) -> Vec<(String, BTreeMap<String, usize>, u128)> {
    let mut out = Vec::new();
    for page in pages {
        api.env.calls.reset();
        let started = std::time::Instant::now();
        let (status, body) = api.page(page).await;
        let elapsed = started.elapsed().as_millis();
        assert_eq!(status, StatusCode::OK, "{page}: {body}");
        out.push((page.clone(), api.env.calls.counts(), elapsed));
    }
    out
}

/// With 10,000 Succeeded and 1,000 Failed jobs every page costs what it
/// costs with a handful: a listing page is one query per index shard, all
/// at once, and one BatchGetItem; the overview's counts stop at a bounded
/// number of index entries per shard. Nothing reads per job.
#[tokio::test]
async fn pages_on_a_big_store_cost_a_bounded_number_of_requests() {
    let api = Api::new().await;
    let shards = api.env.config.shards as usize;
    let now = chrono::Utc::now();
    let (succeeded, failed) = (10_000, 1_000);
    let jobs: Vec<hangar::JobRecord> = (0..succeeded)
        .map(|i| finished(i, State::Succeeded, now))
        .chain((0..failed).map(|i| finished(i, State::Failed, now)))
        .collect();
    // A few of each first, measured; then all of them, measured again.
    let (few, rest): (Vec<_>, Vec<_>) = jobs
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| *i % 500 == 0);
    let few: Vec<_> = few.into_iter().map(|(_, j)| j).collect();
    let rest: Vec<_> = rest.into_iter().map(|(_, j)| j).collect();
    api.env.client.seed(&few).await.unwrap();
    let failed_id = few
        .iter()
        .find(|j| j.state == State::Failed)
        .unwrap()
        .id
        .clone();
    let (_, first) = api.get("/api/jobs?state=succeeded&limit=5").await;
    let cursor = first["next"].as_str().expect("a second page").to_owned();
    let since =
        (now - chrono::Duration::hours(6)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let pages = vec![
        "/".to_owned(),
        "/jobs/succeeded".to_owned(),
        "/jobs/failed".to_owned(),
        format!("/jobs/succeeded?cursor={cursor}"),
        "/jobs/succeeded?kind=kind-3".to_owned(),
        format!("/jobs/failed?since={since}"),
        "/jobs/enqueued".to_owned(),
        format!("/job/{failed_id}"),
        "/metrics".to_owned(),
        "/recurring".to_owned(),
        "/queues".to_owned(),
    ];
    let small = page_costs(&api, &pages).await;

    let started = std::time::Instant::now();
    api.env.client.seed(&rest).await.unwrap();
    let seeded = started.elapsed();
    let big = page_costs(&api, &pages).await;

    println!(
        "{succeeded} Succeeded + {failed} Failed jobs ({shards} shards), seeded in {:.1}s",
        seeded.as_secs_f64()
    );
    println!(
        "{:<44} {:>8} {:>8}  requests with {} jobs",
        "page",
        "few",
        "all",
        jobs.len()
    );
    for ((page, few, _), (_, all, ms)) in small.iter().zip(&big) {
        let total = |c: &BTreeMap<String, usize>| c.values().sum::<usize>();
        let page = if page.len() > 44 {
            format!("{}…", &page[..43])
        } else {
            page.clone()
        };
        println!(
            "{page:<44} {:>8} {:>8}  {all:?} ({ms} ms on the emulator)",
            total(few),
            total(all)
        );
    }
    for ((page, few, _), (_, all, _)) in small.iter().zip(&big) {
        let total = |c: &BTreeMap<String, usize>| c.values().sum::<usize>();
        if page.starts_with("/jobs/") {
            // One query per shard, all at once, then one batch read of
            // what the page shows (none when nothing matched).
            // (A later page skips the shards its cursor marks as done.)
            // Enqueued jobs sit in two buckets (Active, Parked), so their
            // pages query each shard of both.
            let queries = all.get("Query").copied().unwrap_or(0);
            let reads = all.get("BatchGetItem").copied().unwrap_or(0);
            let later = page.contains("cursor=");
            let buckets = if page.starts_with("/jobs/enqueued") {
                2
            } else {
                1
            };
            // Enqueued's first page also looks for keys with waiting jobs
            // (one query per shard of the Limits bucket; none wait here).
            let keys = if page.starts_with("/jobs/enqueued") && !later {
                shards
            } else {
                0
            };
            assert!(
                queries == shards * buckets + keys || (later && queries <= shards * buckets),
                "{page}: {all:?}"
            );
            assert!(
                reads <= 1 && total(all) == queries + reads,
                "{page}: {all:?}"
            );
        } else if page == "/" {
            // Counting a shard past its first page of entries takes one
            // more query (the extrapolation); no more however full it is.
            assert!(
                total(all) <= total(few) + shards * 2,
                "{page}: {few:?} → {all:?}"
            );
        } else {
            assert_eq!(all, few, "{page} costs the same on a big store");
        }
    }
    let (_, html) = api.page("/jobs/succeeded").await;
    let rows = html.matches(r#"type="checkbox" name="id""#).count();
    assert_eq!(rows, 50, "a full first page");
}
