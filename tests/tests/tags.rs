//! Tags: jobs found by an exact tag, whatever their state, from every way
//! a job is created (the client, a schedule, a batch, a continuation, an
//! intake message); pointers that outlive their job left out, and deleted
//! once old.

use std::collections::BTreeSet;
use std::time::Duration;

use hangar::{ContinueOn, JobId, NewJob, OffsetClock, State};
use hangar_integration_tests::{EnvOptions, TestEnv};
use serde_json::json;

use crate::support::*;

/// Every job listed for `tag` (in `state`, if given), `size` pointers a
/// page, and the pages it took.
async fn all_tagged(
    client: &hangar::Client,
    tag: &str,
    state: Option<State>,
    size: usize,
) -> (Vec<JobId>, usize) {
    let (mut ids, mut cursor, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = client
            .tagged(tag, state, size, cursor.as_ref())
            .await
            .unwrap();
        pages += 1;
        ids.extend(page.jobs.into_iter().map(|j| j.id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return (ids, pages),
        }
    }
}

#[tokio::test]
async fn jobs_are_found_by_their_tags_however_they_were_created() {
    let env = TestEnv::new().await;
    let runs = Runs::default();
    let poller = env.poller(registry(&runs));
    let tagged = |n: u32| NewJob::of(&Ok1 { n }).unwrap().tag("customer:42");
    let mut ours = Vec::new();
    ours.push(env.client.enqueue(tagged(1).tag("import:7")).await.unwrap());
    ours.push(
        env.client
            .schedule(tagged(2), Duration::from_secs(3600))
            .await
            .unwrap(),
    );
    let parent = ours[0].clone();
    ours.push(
        env.client
            .continue_with(&parent, tagged(3), ContinueOn::Succeeded)
            .await
            .unwrap(),
    );
    ours.extend(
        env.client
            .enqueue_many(vec![tagged(4), tagged(5)])
            .await
            .unwrap(),
    );
    let msg = env
        .send_raw(
            "default",
            &json!({"hangar_intake": 1, "kind": "ok", "args": {"n": 6},
                    "tags": ["customer:42", "via:intake"]})
            .to_string(),
        )
        .await;
    let bad = env
        .send_raw(
            "default",
            &json!({"hangar_intake": 1, "kind": "ok", "args": {"n": 7},
                    "tags": ["has space"]})
            .to_string(),
        )
        .await;
    // Others' jobs: another tag, and none.
    let other = env
        .client
        .enqueue(NewJob::of(&Ok1 { n: 8 }).unwrap().tag("customer:7"))
        .await
        .unwrap();
    env.client.enqueue(&Ok1 { n: 9 }).await.unwrap();
    while poller.poll_once().await.unwrap() > 0 {}
    let from_intake = JobId::parse(format!("msg-{msg}")).unwrap();
    ours.push(from_intake.clone());

    let want: BTreeSet<JobId> = ours.iter().cloned().collect();
    let (found, _) = all_tagged(&env.client, "customer:42", None, 100).await;
    assert_eq!(found.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(found.len(), want.len(), "each once: {found:?}");
    // Newest first, by creation.
    let mut created = Vec::new();
    for id in &found {
        created.push(env.job(id).await.created_at);
    }
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");
    // Pages of two reach every one.
    let (paged, pages) = all_tagged(&env.client, "customer:42", None, 2).await;
    assert_eq!(paged, found);
    assert!(pages >= want.len() / 2, "{pages} pages");
    // A state narrows it: the scheduled job is the one not yet run.
    let (scheduled, _) = all_tagged(&env.client, "customer:42", Some(State::Scheduled), 100).await;
    assert_eq!(scheduled, vec![ours[1].clone()]);
    let (succeeded, _) = all_tagged(&env.client, "customer:42", Some(State::Succeeded), 100).await;
    assert_eq!(succeeded.len(), want.len() - 1, "{succeeded:?}");
    // The other tags.
    assert_eq!(
        all_tagged(&env.client, "customer:7", None, 100).await.0,
        vec![other]
    );
    assert_eq!(
        all_tagged(&env.client, "import:7", None, 100).await.0,
        vec![ours[0].clone()]
    );
    assert_eq!(
        all_tagged(&env.client, "via:intake", None, 100).await.0,
        vec![from_intake.clone()]
    );
    assert!(
        all_tagged(&env.client, "customer:4", None, 100)
            .await
            .0
            .is_empty(),
        "exact, not a prefix"
    );
    // Tags are shown with the job, and a bad one is a visible failure.
    assert_eq!(
        env.job(&from_intake).await.tags,
        vec!["customer:42", "via:intake"]
    );
    let refused = env.job(&JobId::parse(format!("msg-{bad}")).unwrap()).await;
    assert_eq!(refused.state, State::Failed);
    assert!(
        refused.last_error.as_deref().unwrap_or("").contains("tag"),
        "{:?}",
        refused.last_error
    );
    // From the client, a bad tag or too many is an error before any write.
    let e = env.client.enqueue(tagged(10).tag("a#b")).await.unwrap_err();
    assert!(e.to_string().contains("tag"), "{e}");
    let six = (0..6).fold(NewJob::of(&Ok1 { n: 11 }).unwrap(), |j, i| {
        j.tag(format!("t{i}"))
    });
    let e = env.client.enqueue(six).await.unwrap_err();
    assert!(e.to_string().contains("at most 5"), "{e}");
    let e = env.client.tagged("a b", None, 10, None).await.unwrap_err();
    assert!(e.to_string().contains("tag"), "{e}");
}

/// A pointer whose job did not come to carry the tag (its creation was
/// refused: the id was taken) is left out of the listing, and deleted by
/// the first listing that meets it an hour later; the job it named is
/// untouched.
#[tokio::test]
async fn a_pointer_that_outlives_its_job_is_left_out_then_deleted() {
    let clock = OffsetClock::default();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let id = JobId::parse("tags-taken").unwrap();
    env.client
        .enqueue(NewJob::of(&Ok1 { n: 1 }).unwrap().id(id.clone()))
        .await
        .unwrap();
    let e = env
        .client
        .enqueue(
            NewJob::of(&Ok1 { n: 2 })
                .unwrap()
                .id(id.clone())
                .tag("orphan:1"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, hangar::Error::AlreadyExists { .. }), "{e}");
    let pointer = |env: &TestEnv| {
        env.ddb
            .get_item()
            .table_name(&env.config.table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("tag#tags-taken#orphan:1".into()),
            )
            .consistent_read(true)
            .send()
    };
    assert!(
        pointer(&env).await.unwrap().item.is_some(),
        "written before the job"
    );
    let page = env.client.tagged("orphan:1", None, 10, None).await.unwrap();
    assert!(page.jobs.is_empty() && page.read == 1, "{page:?}");
    assert!(
        pointer(&env).await.unwrap().item.is_some(),
        "too young to delete"
    );
    clock.advance(Duration::from_secs(3601));
    let page = env.client.tagged("orphan:1", None, 10, None).await.unwrap();
    assert!(page.jobs.is_empty(), "{page:?}");
    assert!(
        pointer(&env).await.unwrap().item.is_none(),
        "deleted once old"
    );
    assert!(env.job(&id).await.tags.is_empty());
}
