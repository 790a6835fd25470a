//! Where the library's randomness and its ids' times come from: job ids,
//! claim tokens and jitter draw here. Outside a simulation that is the
//! thread's generator and the system clock; a deterministic simulation
//! installs a seeded generator and its virtual clock on its one thread,
//! so the same seed gives the same ids, tokens and delays.

use std::cell::RefCell;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, RngCore};

use crate::clock::SharedClock;

thread_local! {
    static SEEDED: RefCell<Option<(StdRng, SharedClock)>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's generator: the seeded one if installed.
pub fn with_rng<T>(f: impl FnOnce(&mut dyn RngCore) -> T) -> T {
    SEEDED.with(|s| match s.borrow_mut().as_mut() {
        Some((rng, _)) => f(rng),
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

/// The time a new id carries (UUIDv7 ids are time-ordered).
pub fn id_time() -> DateTime<Utc> {
    SEEDED.with(|s| match s.borrow().as_ref() {
        Some((_, clock)) => clock.now(),
        None => Utc::now(),
    })
}

/// Installs a generator seeded with `seed` and `clock` as the time of new
/// ids, on this thread, for the rest of its life.
#[cfg(feature = "testing")]
pub fn install(seed: u64, clock: SharedClock) {
    use rand::SeedableRng;
    SEEDED.with(|s| *s.borrow_mut() = Some((StdRng::seed_from_u64(seed), clock)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_thread_draws_the_same_numbers() {
        let draw = |seed| {
            std::thread::spawn(move || {
                let clock: SharedClock = std::sync::Arc::new(crate::clock::ManualClock::new(
                    DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
                ));
                install(seed, clock);
                (u64(), up_to(100), id_time())
            })
            .join()
            .unwrap()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7).0, draw(8).0);
        assert_eq!(draw(7).2.timestamp(), 1_700_000_000);
    }
}
