//! Concurrency and ordering keys: a run holds one of its key's slots from
//! before its claim until its result is written. A job that finds every
//! slot taken (or, ordered, the jobs before it not done) waits on the key's
//! list without a worker; the run that gives a slot back wakes the oldest.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{SLOT_RECHECK, SlotState, order};
use crate::core::Core;
use crate::error::{Result, error_chain};
use crate::job::JobId;
use crate::message::WakeUp;
use crate::store::{Held, Hold};
use crate::timing::{EARLY_TOLERANCE, chrono_dur};

/// The slot a wake-up must hold before its claim: of a concurrency key, or
/// of an ordering key (one at a time, in sequence).
pub(crate) struct SlotNeed {
    key: String,
    limit: u32,
    seq: Option<u64>,
}

impl SlotNeed {
    pub(crate) fn of(w: &WakeUp) -> Option<Self> {
        if let Some(c) = &w.concurrency {
            return Some(SlotNeed {
                key: c.key.clone(),
                limit: c.limit,
                seq: None,
            });
        }
        w.order.as_ref().map(|o| SlotNeed {
            key: o.key.clone(),
            limit: 1,
            seq: Some(o.seq),
        })
    }
}

/// Takes a slot for `holder` (`<job id>@<lease ms>`), or lists the job as
/// waiting for one. True if taken.
pub(crate) async fn take(
    core: &Core,
    w: &WakeUp,
    need: &SlotNeed,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    if core
        .store
        .acquire_slot(&need.key, need.limit, holder, need.seq, now)
        .await?
    {
        return Ok(true);
    }
    wait(core, w, need, holder, now).await
}

/// A wake-up that found its key's slots taken (or, ordered, the jobs
/// before it not done): the job goes on the key's waiting list (no worker
/// waits) and the key counts it. A run that ended in between may have
/// missed it, so the slot is asked for once more; true if it was taken
/// then.
async fn wait(
    core: &Core,
    w: &WakeUp,
    need: &SlotNeed,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let order_at = match need.seq {
        Some(seq) => seq as i64,
        None => crate::clock::to_millis(now),
    };
    // Counted before it is listed: a job listed is always counted (or
    // over-counted), so the key stays under the timer's eye; a count
    // without a listed job is cleared by the timer.
    let next = now + chrono_dur(SLOT_RECHECK);
    core.store.adjust_waiting(&need.key, 1, next).await?;
    let mut hold = Hold::Stale;
    for held in Held::either(w.v, w.state, now + chrono_dur(EARLY_TOLERANCE)) {
        hold = core
            .store
            .wait_for_slot(&w.job, held, &need.key, order_at, now)
            .await?;
        if hold != Hold::Stale {
            break;
        }
    }
    if hold != Hold::Held {
        // A duplicate of a wake-up whose job already waits (counted when
        // it was listed), or a stale one (the job moved on): the count
        // this wake-up added is taken back (a count left over would only
        // send ending runs to look at an empty list until the timer
        // clears it).
        core.store.adjust_waiting(&need.key, -1, next).await?;
        if hold == Hold::Stale {
            return Ok(false);
        }
        // A duplicate asks for the slot once more, as the delivery that
        // listed the job did (or, its answer lost, did not).
    }
    if core
        .store
        .acquire_slot(&need.key, need.limit, holder, need.seq, now)
        .await?
    {
        // The slot is this delivery's now, and the caller gives it back
        // after the run: a failure to take the job off the list is logged,
        // not returned (the job would be retried holding a slot nobody
        // gives back). A job left listed gets a stale wake-up later; a
        // count left over is cleared by the timer.
        let unlisted = match core.store.stop_waiting(&w.job, now).await {
            Ok(job) => job.is_some(),
            Err(e) => {
                tracing::warn!(job = %w.job, key = need.key, error = %error_chain(&e), "job not taken off its key's list; it runs");
                false
            }
        };
        if unlisted && let Err(e) = core.store.adjust_waiting(&need.key, -1, next).await {
            tracing::warn!(key = need.key, error = %error_chain(&e), "waiting count not lowered; the timer sets it right");
        }
        return Ok(true);
    }
    tracing::debug!(job = %w.job, key = need.key, "no slot free; job waits for one");
    Ok(false)
}

/// Gives back a run's slot (an ordered job that `ended` also lets the next
/// one start) and wakes the waiting jobs that can start now. A failure is
/// logged: the slot frees itself when its lease passes, and the timer looks
/// at keys with waiting jobs.
pub(crate) async fn give_back(core: &Core, need: &SlotNeed, holder: &str, ended: bool) {
    let now = core.now();
    let res = async {
        let state = match need.seq {
            Some(seq) => {
                core.store
                    .release_ordered(&need.key, holder, seq, ended, now)
                    .await?
            }
            None => core.store.release_slot(&need.key, holder, now).await?,
        };
        wake_waiters(core, &need.key, &state, None).await
    }
    .await;
    if let Err(e) = res {
        tracing::warn!(key = need.key, error = %error_chain(&e), "slot not released; it frees itself when its lease passes");
    }
}

/// Wakes up to as many jobs waiting on a concurrency key as it has free
/// slots, oldest first (each is moved back to the Active bucket, then its
/// wake-up sent; it takes a slot like any arrival), from the key's list as
/// the caller read it (oldest first) or, with None, as read here when there
/// is a slot. Keeps the timer looking at the key while jobs still wait.
/// Returns how many were woken.
pub(crate) async fn wake_waiters(
    core: &Core,
    key: &str,
    state: &SlotState,
    listed: Option<Vec<(JobId, i64)>>,
) -> Result<usize> {
    if state.waiting == 0 {
        return Ok(0);
    }
    let now = core.now();
    let look = now + chrono_dur(SLOT_RECHECK);
    if let Some(next) = state.next {
        return order::wake_next(core, key, state, next, look, listed).await;
    }
    let free = (state.limit as usize).saturating_sub(state.live.len());
    let mut woken = 0;
    if free > 0 {
        let listed = match listed {
            Some(mut l) => {
                l.truncate(free);
                l
            }
            None => core.store.waiters(key, free).await?,
        };
        if listed.is_empty() {
            // Nobody listed: the count drifted (a waiting job deleted),
            // or a job that counted itself is being listed right now.
            // The timer looks at the list again and decides.
            core.store.adjust_waiting(key, 0, look).await?;
            return Ok(0);
        }
        for (id, _) in &listed {
            if let Some(job) = core.store.stop_waiting(id, now).await? {
                woken += 1;
                core.wake(&job, Duration::ZERO).await;
            }
        }
    }
    core.store
        .adjust_waiting(key, -(woken as i64), look)
        .await?;
    Ok(woken)
}
