//! The scheduler that runs the timer: an EventBridge rule `rate(1 minute)`
//! invokes the scheduler function about once a minute, at no set second,
//! and (at least once, EventBridge's delivery) sometimes late or twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng;

use crate::world::SharedWorld;

#[derive(Debug, Clone, Copy)]
pub struct Ticks {
    /// The chance a tick comes late, by up to `late_by`.
    pub late_chance: f64,
    pub late_by: Duration,
    /// The chance a tick is delivered twice.
    pub double_chance: f64,
    /// The chance a tick is skipped.
    pub skip_chance: f64,
}

impl Default for Ticks {
    fn default() -> Self {
        Ticks {
            late_chance: 0.05,
            late_by: Duration::from_secs(40),
            double_chance: 0.02,
            skip_chance: 0.01,
        }
    }
}

/// What the ticks did.
#[derive(Debug, Default)]
pub struct Tally {
    pub ticks: AtomicUsize,
    /// Missed occurrences of recurring jobs the misfire policy skipped.
    pub skipped: AtomicUsize,
}

/// Ticks `timer` until `stop`: each minute at a seeded second.
pub async fn run(
    world: SharedWorld,
    timer: hangar::Timer,
    ticks: Ticks,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    while !stop.load(Ordering::SeqCst) {
        let (offset, late, double, skip) = {
            let mut w = world.lock().expect("one thread");
            let r = &mut w.rng;
            let offset = Duration::from_millis(r.random_range(0..60_000));
            let late = if r.random::<f64>() < ticks.late_chance {
                Duration::from_millis(r.random_range(0..ticks.late_by.as_millis() as u64))
            } else {
                Duration::ZERO
            };
            let double = r.random::<f64>() < ticks.double_chance;
            let skip = r.random::<f64>() < ticks.skip_chance;
            (offset, late, double, skip)
        };
        tokio::time::sleep(offset + late).await;
        if !skip {
            for _ in 0..if double { 2 } else { 1 } {
                tally.ticks.fetch_add(1, Ordering::SeqCst);
                match timer.tick(Duration::from_secs(50)).await {
                    Ok(report) => {
                        tally.skipped.fetch_add(report.skipped, Ordering::SeqCst);
                    }
                    Err(e) => tracing_note(
                        &world,
                        format!("tick failed: {}", hangar::error::error_chain(&e)),
                    ),
                }
                let _ = timer.roll_up().await;
            }
        }
        tokio::time::sleep(Duration::from_secs(60).saturating_sub(offset + late)).await;
    }
}

fn tracing_note(world: &SharedWorld, line: String) {
    world.lock().expect("one thread").trace.note(line);
}
