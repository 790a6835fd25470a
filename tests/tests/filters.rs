//! Job filters and parameters: client filters before a job is created,
//! worker filters around runs, on failures and on state changes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hangar::filter::{ClientFilter, Election, Notify, Run, WorkerFilter};
use hangar::handler::{JobContext, JobFailure};
use hangar::{Error, JobRecord, NewJob, Registry, State};
use hangar_integration_tests::{TestEnv, history};
use serde_json::json;

/// Stamps every job with the tenant, and refuses jobs without a tenant in
/// their arguments.
struct Tenant;

impl ClientFilter for Tenant {
    fn on_create(&self, job: &mut NewJob) -> hangar::Result<()> {
        let tenant = job.args()["tenant"]
            .as_str()
            .ok_or_else(|| Error::refused("every job needs a tenant in its arguments"))?
            .to_owned();
        job.set_param("tenant", tenant);
        Ok(())
    }
}

/// Records the order runs are entered and left, and sets a parameter.
struct Trace(&'static str, Arc<Mutex<Vec<String>>>);

impl WorkerFilter for Trace {
    fn around(&self, ctx: &JobContext, run: Run) -> Run {
        let (name, log, ctx) = (self.0, self.1.clone(), ctx.clone());
        Box::pin(async move {
            log.lock().unwrap().push(format!("{name} in"));
            let started = std::time::Instant::now();
            let result = run.await;
            ctx.set_param(
                format!("{name}_ms"),
                started.elapsed().as_millis().to_string(),
            )
            .unwrap();
            log.lock().unwrap().push(format!("{name} out"));
            result
        })
    }
}

/// Deletes jobs whose failure says "gone" instead of retrying them, and
/// records every state the worker writes.
struct Policy(Arc<Mutex<Vec<(String, State, State)>>>);

impl WorkerFilter for Policy {
    fn elect(&self, _job: &JobRecord, failure: &JobFailure) -> Option<Election> {
        failure.message.contains("gone").then(|| Election::Delete {
            reason: "the resource is gone; no point retrying".into(),
        })
    }

    fn on_state(&self, job: &JobRecord, from: State) -> Notify {
        self.0
            .lock()
            .unwrap()
            .push((job.kind.clone(), from, job.state));
        Box::pin(async {})
    }
}

fn registry(log: Arc<Mutex<Vec<String>>>) -> Registry {
    Registry::new()
        .raw("f.ok", move |_, ctx| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(format!(
                    "handler (tenant {})",
                    ctx.param("tenant").unwrap_or_default()
                ));
                ctx.set_param("result", "fine").map_err(JobFailure::from)?;
                Ok(())
            }
        })
        .raw("f.gone", |_, _| async {
            Err(JobFailure::msg("the record is gone"))
        })
        .raw("f.flaky", |_, _| async {
            Err(JobFailure::msg("try later"))
        })
}

#[tokio::test]
async fn filters_stamp_wrap_elect_and_hear_state_changes() {
    let env = TestEnv::new().await;
    let client = env.client.clone().with_filter(Tenant);
    let err = client
        .enqueue(NewJob::new("f.ok", json!({})))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("every job needs a tenant"),
        "{err}"
    );
    assert_eq!(env.item_count().await, 0, "a refused job writes nothing");

    let ok = client
        .enqueue(NewJob::new("f.ok", json!({"tenant": "acme"})))
        .await
        .unwrap();
    let gone = client
        .enqueue(NewJob::new("f.gone", json!({"tenant": "acme"})))
        .await
        .unwrap();
    let flaky = client
        .enqueue(
            NewJob::new("f.flaky", json!({"tenant": "acme"})).retry(hangar::RetryPolicy {
                delays_secs: vec![600],
                ..Default::default()
            }),
        )
        .await
        .unwrap();

    let log = Arc::new(Mutex::new(Vec::new()));
    let states = Arc::new(Mutex::new(Vec::new()));
    let worker = env
        .worker(registry(log.clone()))
        .with_filter(Trace("outer", log.clone()))
        .with_filter(Trace("inner", log.clone()))
        .with_filter(Policy(states.clone()));
    let poller = hangar::Poller::new(worker, "default").wait(Duration::from_secs(1));
    let mut seen = 0;
    while seen < 3 {
        seen += poller.poll_once().await.unwrap();
    }

    // Around: the first registered outermost; the handler sees the
    // tenant the client filter set; parameters set by the handler and the
    // filters are stored with the result.
    let ok_job = env.job(&ok).await;
    assert_eq!(ok_job.state, State::Succeeded);
    assert_eq!(ok_job.params["tenant"], "acme");
    assert_eq!(ok_job.params["result"], "fine");
    assert!(ok_job.params.contains_key("outer_ms") && ok_job.params.contains_key("inner_ms"));
    let log = log.lock().unwrap().clone();
    let i = log
        .iter()
        .position(|l| l == "handler (tenant acme)")
        .unwrap();
    assert_eq!(
        &log[i - 2..=i + 2],
        [
            "outer in",
            "inner in",
            "handler (tenant acme)",
            "inner out",
            "outer out"
        ],
        "{log:?}"
    );

    // Elect: the filter deletes "gone" failures; others fall through to
    // the automatic retry policy.
    let gone_job = env.job(&gone).await;
    assert_eq!(gone_job.state, State::Deleted, "{}", history(&gone_job));
    assert_eq!(
        gone_job.history.last().unwrap().reason.as_deref(),
        Some("the resource is gone; no point retrying")
    );
    let flaky_job = env.job(&flaky).await;
    assert_eq!(flaky_job.state, State::Scheduled, "{}", history(&flaky_job));
    assert!(
        flaky_job
            .history
            .last()
            .unwrap()
            .reason
            .as_deref()
            .unwrap()
            .starts_with("Retry 1 of")
    );

    // On state: every state the worker wrote, once.
    let mut states = states.lock().unwrap().clone();
    states.sort();
    assert_eq!(
        states,
        [
            ("f.flaky".to_owned(), State::Processing, State::Scheduled),
            ("f.gone".to_owned(), State::Processing, State::Deleted),
            ("f.ok".to_owned(), State::Processing, State::Succeeded),
        ]
    );
}

#[tokio::test]
async fn parameters_are_bounded_and_shown() {
    let env = TestEnv::new().await;
    let err = env
        .client
        .enqueue(NewJob::new("k", json!({})).param("bad name", "x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("job parameter name"), "{err}");
    let err = env
        .client
        .enqueue(NewJob::new("k", json!({})).param("big", "x".repeat(257)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most 256"), "{err}");
    let id = env
        .client
        .enqueue(NewJob::new("k", json!({})).param("tenant", "acme"))
        .await
        .unwrap();
    assert_eq!(env.job(&id).await.params["tenant"], "acme");
}
