//! Jobs that wait without a worker (on a concurrency key's list, or parked
//! while their queue is paused) and the wake-ups that reach them more than
//! once: a job is held in one place, counted once, and listed once.

use std::time::Duration;

use hangar::message::WakeUp;
use hangar::{JobId, NewJob, Outcome, Registry, State};
use hangar_integration_tests::TestEnv;
use serde_json::json;

use crate::limits::{tick_wakes_and_runs, waiting_behind_a_ghost};
use crate::support::delivery;

fn registry() -> Registry {
    Registry::new().raw("m.job", |_, _| async { Ok(()) })
}

/// The wake-up the job would be sent now.
async fn wake_up_of(env: &TestEnv, id: &JobId) -> String {
    WakeUp::for_job(&env.job(id).await).to_body()
}

/// A wake-up delivered twice for a job that finds its key's slots taken:
/// the first lists the job as waiting; the second finds it already listed,
/// leaves it where it is and takes back the count it added, so the key
/// reads one waiting.
#[tokio::test]
async fn a_duplicate_wake_up_of_a_waiting_job_is_counted_once() {
    let env = TestEnv::new().await;
    env.client
        .take_slot_for_test("mutex", 1, "ghost", Duration::from_secs(40))
        .await
        .unwrap();
    let worker = env.worker(registry());
    let id = env
        .client
        .enqueue(NewJob::new("m.job", json!({})).concurrency("mutex", 1))
        .await
        .unwrap();
    let body = wake_up_of(&env, &id).await;
    for n in ["first", "second"] {
        let outcome = worker.handle(&delivery(n, body.clone()), None).await;
        assert_eq!(outcome, Outcome::Waiting, "{n}");
    }
    let key = env.client.concurrency_key("mutex").await.unwrap();
    assert_eq!((key.live.len(), key.waiting), (1, 1), "{key:?}");
    let listed = env.client.waiting_jobs("mutex", 10, None).await.unwrap();
    let ids: Vec<&JobId> = listed.jobs.iter().map(|j| &j.id).collect();
    assert_eq!(ids, [&id]);
}

/// A job waiting on a key whose queue is then paused, when a second
/// delivery of its wake-up arrives: it is parked (off the key's list), and
/// once the queue is resumed its wake-up finds the slot still taken and
/// lists it on the key again, where the timer's look wakes it and it runs.
#[tokio::test]
async fn a_waiting_job_parked_by_a_duplicate_waits_again_after_the_resume() {
    let (env, clock, poller, id) = waiting_behind_a_ghost(registry()).await;
    let body = wake_up_of(&env, &id).await;
    env.client.pause_queue("default").await.unwrap();
    let outcome = env
        .worker(registry())
        .handle(&delivery("dup", body), None)
        .await;
    assert_eq!(outcome, Outcome::Parked);
    let parked = env.job(&id).await;
    assert!(parked.parked_at.is_some(), "{parked:?}");
    assert_eq!(parked.waiting_for, None, "parked, off the key's list");

    let (_, woken) = env.client.resume_queue("default").await.unwrap();
    assert_eq!(woken, 1);
    while poller.poll_once().await.unwrap() > 0 {}
    let again = env.job(&id).await;
    assert_eq!(
        (again.state, again.waiting_for.as_deref(), again.parked_at),
        (State::Enqueued, Some("mutex"), None)
    );
    let listed = env.client.waiting_jobs("mutex", 10, None).await.unwrap();
    assert_eq!(listed.jobs.len(), 1, "{:?}", listed.jobs);

    tick_wakes_and_runs(&env, &clock, &poller, &id).await;
}

/// Two jobs on one key's list in the other order than they were created
/// (the newer one started waiting first) and a job enqueued later that
/// waits for nothing: the Enqueued listing, walked two jobs a page (the
/// first page ends between the two on the key's list), lists each once.
#[tokio::test]
async fn an_enqueued_listing_walked_page_by_page_lists_each_waiting_job_once() {
    let clock = hangar::OffsetClock::new();
    let env = TestEnv::with(hangar_integration_tests::EnvOptions::clock(clock.clone())).await;
    env.client
        .take_slot_for_test("mutex", 1, "ghost", Duration::from_secs(40))
        .await
        .unwrap();
    let worker = env.worker(registry());
    let mut ids = Vec::new();
    for n in 0..2 {
        let job = NewJob::new("m.job", json!({ "n": n })).concurrency("mutex", 1);
        ids.push(env.client.enqueue(job).await.unwrap());
        clock.advance(Duration::from_millis(10));
    }
    for id in ids.iter().rev() {
        let body = wake_up_of(&env, id).await;
        let outcome = worker.handle(&delivery(id.as_str(), body), None).await;
        assert_eq!(outcome, Outcome::Waiting);
        clock.advance(Duration::from_millis(10));
    }

    ids.push(
        env.client
            .enqueue(NewJob::new("m.job", json!({})))
            .await
            .unwrap(),
    );

    let query = hangar::ListQuery::state(State::Enqueued);
    let (mut seen, mut cursor) = (Vec::new(), None);
    loop {
        let page = env
            .client
            .list_page(&query, 2, cursor.as_ref())
            .await
            .unwrap();
        seen.extend(page.jobs.into_iter().map(|j| j.id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "each once");
}

/// A parked job whose move back to Active is written but its answer lost:
/// the SDK sends the same request again, which finds the job moved back by
/// it, so the resume still wakes the job (it runs at once, not after the
/// timer's grace period).
#[tokio::test]
async fn a_lost_answer_on_a_resume_still_wakes_the_parked_job() {
    use hangar_integration_tests::proxy::{Fault, Proxy, Rule};
    let env = TestEnv::new().await;
    env.client.pause_queue("default").await.unwrap();
    let id = env
        .client
        .enqueue(NewJob::new("m.job", json!({})))
        .await
        .unwrap();
    let poller = env.poller(registry());
    while poller.poll_once().await.unwrap() > 0 {}
    assert!(env.job(&id).await.parked_at.is_some(), "parked");

    let proxy = Proxy::start(&hangar_integration_tests::endpoint(), 0, vec![])
        .await
        .unwrap();
    let via_proxy = env.client_via(&proxy.url()).await;
    proxy.set_rules(vec![
        // The control's write goes through; the job's move back to
        // Active is written and its answer lost.
        Rule::new("DynamoDB", &["UpdateItem"], 1.0, Fault::Latency { ms: 0 }).times(1),
        Rule::new("DynamoDB", &["UpdateItem"], 1.0, Fault::Drop).times(1),
    ]);
    let (_, woken) = via_proxy.resume_queue("default").await.unwrap();
    assert_eq!(proxy.count("drop"), 1, "{:?}", proxy.requests());
    assert_eq!(woken, 1);
    while poller.poll_once().await.unwrap() > 0 {}
    assert_eq!(env.job(&id).await.state, State::Succeeded);
}
