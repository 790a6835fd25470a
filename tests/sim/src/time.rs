//! Virtual time: tokio's clock, paused, moves only when every task waits
//! (the runtime advances it to the next timer). The library's clock and
//! the SDK's time source both read it, from an epoch the run chooses.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

/// The virtual clock: the epoch plus the time tokio's paused clock has
/// moved since the run began.
#[derive(Debug, Clone, Copy)]
pub struct VirtualClock {
    epoch: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl VirtualClock {
    /// A clock reading `epoch` now. Call inside the paused runtime.
    pub fn start(epoch: DateTime<Utc>) -> Self {
        VirtualClock {
            epoch,
            start: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.epoch + chrono::Duration::from_std(self.start.elapsed()).expect("in range")
    }

    pub fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }
}

impl hangar::Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        VirtualClock::now(self)
    }
}

impl aws_smithy_async::time::TimeSource for VirtualClock {
    fn now(&self) -> SystemTime {
        let ms = self.now_ms().max(0) as u64;
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }
}

/// A clock `skew` ahead of (or behind) the virtual one: a host whose clock
/// is off, as EC2's and Lambda's can be by a little.
#[derive(Debug, Clone, Copy)]
pub struct SkewedClock {
    pub base: VirtualClock,
    pub skew_ms: i64,
}

impl hangar::Clock for SkewedClock {
    fn now(&self) -> DateTime<Utc> {
        self.base.now() + chrono::Duration::milliseconds(self.skew_ms)
    }
}
