//! Progress: a running handler's reports, written at most once every
//! `PROGRESS_EVERY` of its run without changing the job's version, the
//! latest one kept with the run's end.

use std::sync::Arc;

use hangar::{JobContext, JobFailure, NewJob, Registry, State};
use hangar_integration_tests::TestEnv;
use serde_json::json;
use tokio::sync::Notify;

use crate::support::SHORT;

/// A step of the handler: it says it got there, then waits to be let on.
#[derive(Default)]
struct Step {
    reached: Notify,
    go: Notify,
}

impl Step {
    async fn pass(&self) {
        self.reached.notify_one();
        self.go.notified().await;
    }
}

#[tokio::test]
async fn progress_is_written_at_most_every_few_seconds_and_kept_with_the_end() {
    let env = TestEnv::new().await;
    let steps: Arc<[Step; 2]> = Arc::new(Default::default());
    let registry = Registry::new().raw("steps", {
        let steps = steps.clone();
        move |_, ctx: JobContext| {
            let steps = steps.clone();
            async move {
                ctx.progress(0.1, "starting").await?;
                steps[0].pass().await;
                ctx.progress(0.5, "half way").await?;
                steps[1].pass().await;
                ctx.progress(0.9, "almost").await?;
                Ok::<_, JobFailure>(())
            }
        }
    });
    let poller = env.poller(registry);
    let id = env
        .client
        .enqueue(NewJob::new("steps", json!({})))
        .await
        .unwrap();
    let run = tokio::spawn({
        let poller = poller.clone();
        async move { poller.poll_once().await }
    });

    // Within the first seconds of the run: kept for later, not written.
    steps[0].reached.notified().await;
    let job = env.job(&id).await;
    assert_eq!((job.state, &job.progress), (State::Processing, &None));
    tokio::time::sleep(hangar::handler::PROGRESS_EVERY).await;
    steps[0].go.notify_one();

    // Seconds later: written, the version unchanged.
    steps[1].reached.notified().await;
    let job = env.job(&id).await;
    let p = job.progress.clone().expect("written");
    assert_eq!((p.fraction, p.message.as_str()), (0.5, "half way"));
    assert_eq!(job.state, State::Processing);
    let shown = serde_json::to_value(hangar::json::JobJson::from(&job)).unwrap();
    assert_eq!(shown["progress"]["message"], "half way", "{shown}");
    steps[1].go.notify_one();

    // The last report, seconds apart from no write, rides on the end.
    tokio::time::timeout(SHORT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let job = env.job(&id).await;
    assert_eq!(job.state, State::Succeeded, "the run's version held");
    let p = job.progress.expect("kept with the end");
    assert_eq!((p.fraction, p.message.as_str()), (0.9, "almost"));
}
