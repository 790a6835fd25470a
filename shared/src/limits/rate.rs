//! A start under a rate limit: it needs a slot in a window first, reserved
//! now or carried by a message put back to wait for its window. A start
//! counts in the window it happens in, so a slot is used only while its
//! window has a margin ([`RATE_MARGIN`]) left; a message that came too late
//! for its window reserves again.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::RATE_MARGIN;
use crate::core::Core;
use crate::error::Result;
use crate::message::WakeUp;
use crate::timing::{MAX_SQS_DELAY, chrono_dur};

/// Whether a wake-up may start its job now.
pub(crate) enum RateStart {
    /// No rate limit, or a slot in the current window.
    Now,
    /// A slot in a later window: `message` (carrying the slot) is to be put
    /// back on the queue for `after`.
    Wait { message: WakeUp, after: Duration },
}

/// Reserves (or uses the carried) slot of a wake-up's rate limit.
pub(crate) async fn start(core: &Core, w: &WakeUp, now: DateTime<Utc>) -> Result<RateStart> {
    let Some(rate) = &w.rate else {
        return Ok(RateStart::Now);
    };
    let per = chrono_dur(rate.per());
    let margin = chrono_dur((rate.per() / 10).min(RATE_MARGIN));
    let reserved = w
        .slot
        .map(crate::clock::from_millis)
        .filter(|&start| now + margin < start + per);
    let slot = match reserved {
        Some(start) => start,
        None => {
            core.store
                .reserve_rate_slot(&w.job, &rate.key, rate.limit, rate.per(), now + margin)
                .await?
        }
    };
    if slot <= now {
        return Ok(RateStart::Now);
    }
    let wait = (slot - now).to_std().unwrap_or(Duration::ZERO);
    let message = WakeUp {
        slot: Some(crate::clock::to_millis(slot)),
        ..w.clone()
    };
    tracing::debug!(job = %w.job, key = rate.key, wait_s = wait.as_secs(), "rate limit: waiting for its slot");
    Ok(RateStart::Wait {
        message,
        after: wait.min(MAX_SQS_DELAY),
    })
}
