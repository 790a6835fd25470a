//! Where the library's randomness and its ids' times come from: job ids,
//! claim tokens and jitter draw here. Outside a simulation that is the
//! thread's generator and the system clock; a deterministic simulation
//! installs a seeded generator and its virtual clock on its one thread,
//! so the same seed gives the same ids, tokens and delays.

use std::cell::RefCell;

use rand::rngs::StdRng;
use rand::{Rng, RngCore};

use crate::clock::SharedClock;

/// A seeded thread's generator, clock, and the last id's (ms, counter).
type Seeded = (StdRng, SharedClock, (i64, u16));

thread_local! {
    static SEEDED: RefCell<Option<Seeded>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's generator: the seeded one if installed.
pub fn with_rng<T>(f: impl FnOnce(&mut dyn RngCore) -> T) -> T {
    SEEDED.with(|s| match s.borrow_mut().as_mut() {
        Some((rng, _, _)) => f(rng),
        None => f(&mut rand::rng()),
    })
}

/// A random `u64`.
pub fn u64() -> u64 {
    with_rng(|rng| rng.next_u64())
}

/// A random number in `0..=max`.
pub fn up_to(max: u64) -> u64 {
    with_rng(|rng| rng.random_range(0..=max))
}

/// A new time-ordered id (UUIDv7): from the system clock, or on a seeded
/// thread from its clock and generator, with a counter within a
/// millisecond so that ids sort by creation as `Uuid::now_v7` does.
pub fn uuid_v7() -> uuid::Uuid {
    SEEDED.with(|s| match s.borrow_mut().as_mut() {
        None => uuid::Uuid::now_v7(),
        Some((rng, clock, last)) => {
            let ms = clock.now().timestamp_millis().max(last.0);
            let counter = if ms == last.0 { last.1 + 1 } else { 0 };
            *last = (ms, counter);
            let mut bytes = [0u8; 10];
            rng.fill_bytes(&mut bytes);
            // The counter in the 12 bits after the version.
            bytes[0] = (counter >> 8) as u8 & 0x0f;
            bytes[1] = counter as u8;
            uuid::Builder::from_unix_timestamp_millis(ms.max(0) as u64, &bytes).into_uuid()
        }
    })
}

/// Installs a generator seeded with `seed` and `clock` as the time of new
/// ids, on this thread, for the rest of its life.
#[cfg(any(test, feature = "testing"))]
pub fn install(seed: u64, clock: SharedClock) {
    use rand::SeedableRng;
    SEEDED.with(|s| *s.borrow_mut() = Some((StdRng::seed_from_u64(seed), clock, (i64::MIN, 0))));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_thread_draws_the_same_numbers() {
        let draw = |seed| {
            std::thread::spawn(move || {
                let clock: SharedClock = std::sync::Arc::new(crate::clock::ManualClock::new(
                    chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
                ));
                install(seed, clock);
                (u64(), up_to(100), [uuid_v7(), uuid_v7()])
            })
            .join()
            .unwrap()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7).0, draw(8).0);
        let [a, b] = draw(7).2;
        assert!(a < b, "ids of one millisecond sort by creation");
        let (secs, _) = a.get_timestamp().expect("a v7 id").to_unix();
        assert_eq!(secs, 1_700_000_000);
    }
}
