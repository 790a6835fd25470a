//! Ordering keys: jobs of one key run one at a time, in the order they
//! were created. Each job gets its number at creation; the key lets the
//! next number start when the one before it ends.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::SlotState;
use crate::core::Core;
use crate::error::Result;
use crate::job::{JobId, JobRecord};
use crate::timing::chrono_dur;

/// Gives each ordered job its place in its key's sequence, in the order
/// given (one write per key).
pub(crate) async fn number(core: &Core, records: &mut [JobRecord]) -> Result<()> {
    let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
    for r in records.iter() {
        if let Some(key) = &r.options.ordered {
            *counts.entry(key.clone()).or_default() += 1;
        }
    }
    let now = core.now();
    for (key, count) in counts {
        let mut seq = core.store.allocate_seq(&key, count, now).await?;
        for r in records
            .iter_mut()
            .filter(|r| r.options.ordered.as_deref() == Some(key.as_str()))
        {
            r.sequence = Some(seq);
            seq += 1;
        }
    }
    Ok(())
}

/// An ordering key's waiting jobs: the one numbered `next` may start when
/// no run holds the key. If the lowest waiting number is past `next` and
/// `next` has not moved for the grace period, the job numbered `next` is
/// taken as missing (its creation cut short, or deleted before it ran) and
/// skipped.
pub(super) async fn wake_next(
    core: &Core,
    key: &str,
    state: &SlotState,
    next: u64,
    look: DateTime<Utc>,
    listed: Option<Vec<(JobId, i64)>>,
) -> Result<usize> {
    let now = core.now();
    if !state.live.is_empty() {
        core.store.adjust_waiting(key, 0, look).await?;
        return Ok(0);
    }
    let listed = match listed {
        Some(l) => l,
        None => core.store.waiters(key, 1).await?,
    };
    let Some((id, seq)) = listed.into_iter().next() else {
        // As for a concurrency key: the timer decides.
        core.store.adjust_waiting(key, 0, look).await?;
        return Ok(0);
    };
    let seq = seq.max(0) as u64;
    if seq > next {
        let stuck = state
            .next_since
            .is_some_and(|t| now - t > chrono_dur(core.config.grace));
        if !stuck {
            core.store.adjust_waiting(key, 0, look).await?;
            return Ok(0);
        }
        tracing::warn!(
            key,
            missing = next,
            skip_to = seq,
            "ordered job missing past the grace period; skipped"
        );
        core.store.skip_to(key, next, seq, now).await?;
    }
    let mut woken = 0;
    if let Some(job) = core.store.stop_waiting(&id, now).await? {
        woken = 1;
        core.wake(&job, Duration::ZERO).await;
    }
    core.store
        .adjust_waiting(key, -(woken as i64), look)
        .await?;
    Ok(woken)
}
