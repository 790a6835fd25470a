//! Finding jobs by what they carry (`q`): a case-insensitive match on
//! arguments, parameters and the last error, a bounded number of jobs
//! read a page, and a cursor that goes on from where the page stopped.

use std::collections::BTreeSet;

use crate::common::{Api, ids};
use crate::cost::finished;
use axum::http::StatusCode;
use hangar::{JobRecord, State};
use serde_json::{Value, json};

/// 600 Failed jobs, newest first by index; eight carry "customer-42" in
/// some case: six in their arguments, one in its last error, one in a
/// parameter; one carries only "customer-4".
fn store(now: chrono::DateTime<chrono::Utc>) -> (Vec<JobRecord>, Vec<usize>) {
    let mut jobs: Vec<JobRecord> = (0..600).map(|i| finished(i, State::Failed, now)).collect();
    let mut carrying: Vec<usize> = (7..600).step_by(100).collect();
    for &i in &carrying {
        jobs[i].args = json!({ "customer": "Customer-42", "n": i });
    }
    jobs[250].last_error = Some("card declined for CUSTOMER-42".into());
    jobs[550]
        .params
        .insert("tenant".into(), "customer-42".into());
    jobs[300].args = json!({ "customer": "customer-4" });
    carrying.extend([250, 550]);
    carrying.sort_unstable();
    (jobs, carrying)
}

#[tokio::test]
async fn a_search_finds_jobs_by_what_they_carry_a_bounded_page_at_a_time() {
    let api = Api::new().await;
    let now = chrono::Utc::now();
    let (jobs, carrying) = store(now);
    api.env.client.seed(&jobs).await.unwrap();
    let id_of = |i: usize| jobs[i].id.to_string();

    let (status, first) = api
        .get("/api/jobs?state=failed&q=customer-42&limit=50")
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let read = first["searched"]["read"].as_u64().unwrap() as usize;
    assert!(
        (450..=hangar::store::MAX_SEARCHED).contains(&read),
        "a page reads at most {} jobs: {first}",
        hangar::store::MAX_SEARCHED
    );
    // Newest first: the page holds the carriers among the jobs it read,
    // and says how far back it got.
    let expected: Vec<String> = carrying
        .iter()
        .filter(|&&i| i < read)
        .map(|&i| id_of(i))
        .collect();
    assert_eq!(ids(&first), expected, "{first}");
    let to: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(first["searched"]["to"].clone()).unwrap();
    assert!(to < now, "{first}");
    let cursor = first["next"].as_str().expect("more to search");

    let (_, rest) = api
        .get(&format!("/api/jobs?state=failed&cursor={cursor}"))
        .await;
    assert_eq!(
        rest["searched"]["read"].as_u64().unwrap() as usize,
        600 - read,
        "{rest}"
    );
    assert_eq!(rest["next"], Value::Null, "{rest}");
    let all: BTreeSet<String> = ids(&first).into_iter().chain(ids(&rest)).collect();
    let want: BTreeSet<String> = carrying.iter().map(|&i| id_of(i)).collect();
    assert_eq!(all, want, "each carrier once, and nothing else");

    // Within a time window: only the newest 100 are searched.
    let since = (jobs[99].updated_at - chrono::Duration::milliseconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (_, windowed) = api
        .get(&format!(
            "/api/jobs?state=failed&q=CUSTOMER-42&since={since}"
        ))
        .await;
    assert_eq!(ids(&windowed), [id_of(7)], "{windowed}");
    assert_eq!(windowed["next"], Value::Null, "{windowed}");

    // Too long a text is refused; a blank one is no search.
    let (status, v) = api
        .get(&format!("/api/jobs?state=failed&q={}", "x".repeat(201)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (_, blank) = api.get("/api/jobs?state=failed&q=%20&limit=3").await;
    assert_eq!(ids(&blank).len(), 3, "{blank}");
    assert!(blank.get("searched").is_none(), "{blank}");

    // The state page's search box does the same, and says how far it got.
    let (status, page) = api.page("/jobs/failed?q=Customer-42").await;
    assert_eq!(status, StatusCode::OK);
    for id in &expected {
        assert!(page.contains(id.as_str()), "{id} listed");
    }
    assert!(!page.contains(id_of(300).as_str()), "the near miss is not");
    assert!(
        page.contains(&format!(
            "{} of {read} jobs read contain “Customer-42”",
            expected.len()
        )),
        "{page}"
    );
    assert!(page.contains("Search further"), "{page}");
}

/// The Retries view: the Scheduled jobs that wait for another run after a
/// failed one, with their last error; a job scheduled for later that never
/// ran is not one.
#[tokio::test]
async fn retries_are_the_scheduled_jobs_that_failed_a_run() {
    let api = Api::new().await;
    let client = &api.env.client;
    let poller = api
        .env
        .poller(hangar::Registry::new().raw("flaky", |_, _| async {
            Err(hangar::JobFailure::msg("the upstream said <b>503</b>"))
        }));
    let retry = client
        .enqueue(hangar::NewJob::new("flaky", json!({})))
        .await
        .unwrap();
    api.env
        .drive_until(&poller, &retry, std::time::Duration::from_secs(15), |j| {
            j.state == State::Scheduled
        })
        .await;
    let later = client
        .schedule(
            hangar::NewJob::new("flaky", json!({})),
            std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();

    let (status, v) = api.get("/api/jobs?state=scheduled&retries=true").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), [retry.to_string()], "{v}");
    assert_eq!(v["jobs"][0]["last_error"], "the upstream said <b>503</b>");
    assert_eq!(v["searched"]["read"], 2, "{v}");
    let (_, all) = api.get("/api/jobs?state=scheduled").await;
    assert_eq!(ids(&all).len(), 2, "{all}");

    let (status, page) = api.page("/jobs/scheduled?retries=1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>Retries</h1>"), "{page}");
    assert!(page.contains(retry.as_str()), "{page}");
    assert!(!page.contains(later.as_str()), "{page}");
    assert!(
        page.contains("the upstream said &lt;b&gt;503&lt;/b&gt;"),
        "{page}"
    );
    assert!(
        page.contains(r#"href="/jobs/scheduled?retries=1""#),
        "the navigation links it"
    );
}

/// A search walked a small page at a time over 400 Failed jobs, where the
/// carriers are sparse (every 40th) and then dense (a run of 30): every
/// carrier is listed once, in the listing's order, no page holds more than
/// it asked for, and the sparse stretches cost a few queries per shard
/// (each read grows while matches are rare), not one per page's worth of
/// jobs read.
#[tokio::test]
async fn a_search_walked_page_by_page_lists_each_carrier_once() {
    let api = Api::new().await;
    let shards = api.env.config.shards as usize;
    let now = chrono::Utc::now();
    let mut jobs: Vec<JobRecord> = (0..400).map(|i| finished(i, State::Failed, now)).collect();
    let carrying: Vec<usize> = (0..400)
        .filter(|i| i % 40 == 13 || (200..230).contains(i))
        .collect();
    for &i in &carrying {
        jobs[i].args = json!({ "order": format!("Needle-{i}") });
    }
    api.env.client.seed(&jobs).await.unwrap();

    let mut query = hangar::ListQuery::state(State::Failed);
    query.search = Some("needle".into());
    let (size, mut cursor, mut listed, mut pages) = (4, None, Vec::new(), 0);
    api.env.calls.reset();
    loop {
        let page = api
            .env
            .client
            .list_page(&query, size, cursor.as_ref())
            .await
            .unwrap();
        assert!(
            page.jobs.len() <= size,
            "{} jobs on a page",
            page.jobs.len()
        );
        listed.extend(page.jobs.iter().map(|j| j.id.to_string()));
        pages += 1;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let want: Vec<String> = carrying.iter().map(|&i| jobs[i].id.to_string()).collect();
    assert_eq!(listed, want, "each carrier once, in order");
    let queries = api.env.calls.counts().get("Query").copied().unwrap_or(0);
    // Reading `size` jobs at a time would take a round of queries for
    // every 4 jobs read: 100 rounds over the 400.
    let rounds = queries / shards;
    println!(
        "figure: a search of 400 jobs for {} carriers, 4 a page: {pages} pages, {queries} queries ({rounds} rounds of {shards} shards)",
        carrying.len()
    );
    assert!(rounds < 40, "{rounds} rounds of queries");
}
