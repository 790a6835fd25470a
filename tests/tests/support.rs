//! Test jobs whose handlers record how often they ran.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hangar::{HandlerResult, Job, JobContext, JobFailure, Registry, RetryPolicy};
use serde::{Deserialize, Serialize};

/// Succeeds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ok1 {
    pub n: u32,
}
impl Job for Ok1 {
    const KIND: &'static str = "ok";
}

/// Fails its first `fail_times` runs.
#[derive(Debug, Serialize, Deserialize)]
pub struct Flaky {
    pub fail_times: u32,
}
impl Job for Flaky {
    const KIND: &'static str = "flaky";
    fn options() -> hangar::JobOptions {
        hangar::JobOptions {
            retry: RetryPolicy {
                delays_secs: vec![1],
                ..RetryPolicy::default()
            },
            ..Default::default()
        }
    }
}

/// Sleeps `ms`, then succeeds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Slow {
    pub ms: u64,
}
impl Job for Slow {
    const KIND: &'static str = "slow";
}

/// Panics.
#[derive(Debug, Serialize, Deserialize)]
pub struct Boom {}
impl Job for Boom {
    const KIND: &'static str = "boom";
}

/// Runs per kind.
#[derive(Debug, Clone, Default)]
pub struct Runs {
    pub ok: Arc<AtomicU32>,
    pub flaky: Arc<AtomicU32>,
    pub slow: Arc<AtomicU32>,
    pub boom: Arc<AtomicU32>,
}

impl Runs {
    pub fn get(c: &AtomicU32) -> u32 {
        c.load(Ordering::SeqCst)
    }
}

pub fn registry(runs: &Runs) -> Registry {
    let (ok, flaky, slow, boom) = (
        runs.ok.clone(),
        runs.flaky.clone(),
        runs.slow.clone(),
        runs.boom.clone(),
    );
    Registry::new()
        .job(move |_: Ok1, _ctx: JobContext| {
            let ok = ok.clone();
            async move {
                ok.fetch_add(1, Ordering::SeqCst);
                HandlerResult::Ok(())
            }
        })
        .job(move |args: Flaky, ctx: JobContext| {
            let flaky = flaky.clone();
            async move {
                flaky.fetch_add(1, Ordering::SeqCst);
                if ctx.attempt() <= args.fail_times {
                    return Err(JobFailure::msg(format!(
                        "planned failure {}",
                        ctx.attempt()
                    )));
                }
                Ok(())
            }
        })
        .job(move |args: Slow, _ctx: JobContext| {
            let slow = slow.clone();
            async move {
                slow.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(args.ms)).await;
                Ok(())
            }
        })
        .job(move |_: Boom, _ctx: JobContext| {
            let boom = boom.clone();
            async move {
                boom.fetch_add(1, Ordering::SeqCst);
                panic!("kaboom");
            }
        })
}

pub const SHORT: Duration = Duration::from_secs(15);

/// A delivery of `body` from the default queue, as a poller hands it over.
pub fn delivery(id: &str, body: String) -> hangar::Delivery {
    hangar::Delivery {
        message_id: id.to_owned(),
        body,
        queue: "default".to_owned(),
        attributes: Default::default(),
    }
}
