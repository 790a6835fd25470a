//! The run's pause of its queue, and the promise it is held to: once the
//! queue is resumed, no worker parks a job later than its trust of a
//! "paused" reading allows ([`hangar::worker::PAUSED_TRUST`]). A job
//! parked after the resume waits for the timer's next tick, up to a
//! minute or more, where a job whose wake-up arrives then should start at
//! once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hangar::Client;

use crate::dynamodb::value::Av;
use crate::time::VirtualClock;
use crate::world::SharedWorld;

/// How long a worker may go on parking jobs after it last read "paused",
/// ms: the promise of docs/architecture.md (a second of trust in a
/// reading that may itself be up to a stale read old), held here as a
/// figure of its own so that a library that trusted a reading longer
/// fails the check (`hangar::worker::PAUSED_TRUST` is that trust).
const PROMISED_TRUST_MS: i64 = 1_000;

/// How long the queue stays paused.
const PAUSED_FOR: Duration = Duration::from_secs(5);

/// How long after the resume the store is watched for late parks, how
/// often it is looked at, and how often the control is looked at for the
/// resume (virtual time; an observer's looks are neither requests nor
/// billed).
const WATCH_FOR: Duration = Duration::from_secs(10);
const LOOK_EVERY: Duration = Duration::from_millis(250);
const SEE_RESUME_EVERY: Duration = Duration::from_millis(50);

/// Watches the store for jobs parked too long after the resume.
#[derive(Clone)]
pub struct ParkWatch {
    pub world: SharedWorld,
    pub table: String,
    pub clock: VirtualClock,
    /// How far a host's clock may be off, ms.
    pub skew_ms: i64,
    /// What it found, one line a job.
    pub late: Arc<Mutex<Vec<String>>>,
}

impl ParkWatch {
    /// Whether the store holds the queue's control (item `key`) as
    /// `paused`.
    fn paused_is(&self, key: &str, paused: bool) -> bool {
        let w = self.world.lock().expect("one thread");
        matches!(
            w.dynamodb
                .peek(&self.table, key)
                .and_then(|i| i.get("paused")),
            Some(Av::Bool(p)) if *p == paused
        )
    }

    /// The latest a job may be parked, in a host's clock, when the resume's
    /// write was applied at `resumed_ms`: the promised trust of a "paused"
    /// reading, counted from a reading that may be a stale read old, on a
    /// host whose clock may be off by `skew_ms`.
    fn latest_park(&self, resumed_ms: i64) -> i64 {
        let stale_ms = self
            .world
            .lock()
            .expect("one thread")
            .dynamodb
            .staleness()
            .0;
        resumed_ms + stale_ms + PROMISED_TRUST_MS + self.skew_ms
    }

    /// Jobs whose `parked` time is past `latest`, not already reported.
    fn look(&self, latest: i64) {
        let w = self.world.lock().expect("one thread");
        let mut late = self.late.lock().expect("one thread");
        for (key, item) in w.dynamodb.peek_prefix(&self.table, "job#") {
            let Some(Av::N(at)) = item.get("parked") else {
                continue;
            };
            let at = at.to_i64().unwrap_or(i64::MAX);
            let seen = |l: &String| l.strip_prefix(key).is_some_and(|r| r.starts_with(' '));
            if at > latest && !late.iter().any(seen) {
                late.push(format!(
                    "{key} parked at {at} ms, {} ms after the resume allows",
                    at - latest
                ));
            }
        }
    }

    /// Waits for the pause, then, from the moment the resume's write is
    /// seen applied (looked for every [`SEE_RESUME_EVERY`], so at most that
    /// late: the bound errs towards allowing), watches the store for late
    /// parks for [`WATCH_FOR`]. A task of its own, beside the run's
    /// creators, so that it changes nothing they do.
    pub async fn watch(self) {
        let control = format!("queue#{}", crate::stack::QUEUE);
        while !self.paused_is(&control, true) {
            tokio::time::sleep(SEE_RESUME_EVERY).await;
        }
        while !self.paused_is(&control, false) {
            tokio::time::sleep(SEE_RESUME_EVERY).await;
        }
        let latest = self.latest_park(self.clock.now_ms());
        let looks = WATCH_FOR.as_millis() / LOOK_EVERY.as_millis();
        for _ in 0..looks {
            tokio::time::sleep(LOOK_EVERY).await;
            self.look(latest);
        }
    }
}

/// A pause mid-run: starts stop for 5 s, creation goes on.
pub async fn pause_for_a_while(client: &Client) {
    while client.pause_queue(crate::stack::QUEUE).await.is_err() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(PAUSED_FOR).await;
    while client.resume_queue(crate::stack::QUEUE).await.is_err() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
