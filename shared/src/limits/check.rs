//! The timer's look at the keys with waiting jobs whose look is due: frees
//! slots whose lease passed (a crashed run) and wakes waiting jobs for the
//! free slots, in case an ending run's wake-up was missed.

use chrono::{DateTime, Utc};

use super::{SLOT_RECHECK, slots};
use crate::core::Core;
use crate::error::Result;
use crate::timing::chrono_dur;

/// Looks at every key due (one query per shard of the Limits bucket);
/// returns how many waiting jobs were woken.
pub(crate) async fn look_at_keys(core: &Core, now: DateTime<Utc>) -> Result<usize> {
    let mut woken = 0;
    for shard in 0..core.store.shards() {
        for key in core.store.due_limits(shard, now).await? {
            let mut state = core.store.slot_state(&key, now).await?;
            if state
                .look_ms
                .is_some_and(|at| at > crate::clock::to_millis(now))
            {
                // Counted again since the query: not due yet.
                continue;
            }
            if !state.expired.is_empty() {
                core.store.drop_holders(&key, &state.expired).await?;
                state.expired.clear();
            }
            // The count is a hint (a change written twice after a lost
            // answer drifts it); the key's list is the truth. One read of
            // the list serves the check and the wake-ups.
            let listed = core.store.waiters(&key, 100).await?;
            if listed.is_empty() {
                core.store.clear_waiting(&key, &state).await?;
                continue;
            }
            if state.waiting == 0 {
                let count = listed.len() as u64;
                tracing::warn!(
                    key,
                    listed = count,
                    "jobs wait on a concurrency key whose count is 0; counting them again"
                );
                let look = now + chrono_dur(SLOT_RECHECK);
                core.store.recount_waiting(&key, count, look).await?;
                state.waiting = count;
            }
            woken += slots::wake_waiters(core, &key, &state, Some(listed)).await?;
        }
    }
    Ok(woken)
}
