//! Rate limits, concurrency keys and ordering: the decisions.
//!
//! - `rate`: at most `n` starts per period per key; a start reserves a
//!   slot in a window and, if the window is later, waits for it in SQS.
//! - `slots`: at most `n` runs at once per key (an ordering key: one, in
//!   sequence); a job that finds no slot waits on the key's list without a
//!   worker and is woken when a run of the key ends.
//! - `order`: an ordering key's numbers, given at creation.
//! - `check`: the timer's look at keys with waiting jobs, in case a
//!   wake-up was missed or a run crashed holding a slot.
//!
//! The items they read and write are the store's (`store/rate.rs`,
//! `store/slots.rs`); the options a job carries are in [`crate::job`].

pub(crate) mod check;
pub(crate) mod order;
pub(crate) mod rate;
pub(crate) mod slots;

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How often the timer looks at a concurrency key that has waiting jobs,
/// behind the wake-ups each ending run sends.
pub const SLOT_RECHECK: Duration = Duration::from_secs(60);

/// The part of a rate-limit window (at most this, or a tenth of the
/// period) left unused at its end, so that a start claimed in a window also
/// begins in it.
pub const RATE_MARGIN: Duration = Duration::from_millis(500);

/// A concurrency or ordering key as it is now.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlotState {
    /// Holders whose lease has not passed.
    pub live: Vec<String>,
    /// Holders whose lease has passed.
    pub expired: Vec<String>,
    /// Jobs waiting, as counted: a hint (a count written twice after a
    /// lost answer drifts), the key's list is the truth.
    pub waiting: u64,
    /// When the timer looks at the key next (ms), as stored.
    pub look_ms: Option<i64>,
    pub limit: u32,
    /// An ordering key's sequence number allowed to start.
    pub next: Option<u64>,
    /// Since when `next` has been what it is.
    pub next_since: Option<DateTime<Utc>>,
}
