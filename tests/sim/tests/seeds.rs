//! A few seeds end to end: every job where it must end, the checker's
//! invariants held, and a seed replayed gives the same trace bit for bit.

use hangar_sim::run::{Options, run};

#[test]
fn seeds_hold_the_invariants_and_replay_bit_for_bit() {
    for seed in [11, 12] {
        let first = run(&Options::new(seed, 150));
        assert!(
            first.violations.is_empty(),
            "seed {seed}: {:?}\nreplay: bash tests/sim.sh --seed {seed} --jobs 150",
            first.violations
        );
        let jobs: usize = first.figures["jobs"].parse().expect("a count");
        assert!(jobs >= 150, "seed {seed}: {jobs} jobs in the plan");
        let again = run(&Options::new(seed, 150));
        assert_eq!(
            (first.hash, first.calls),
            (again.hash, again.calls),
            "seed {seed} did not replay bit for bit"
        );
    }
    let other = run(&Options::new(13, 150));
    assert_ne!(
        other.hash,
        run(&Options::new(11, 150)).hash,
        "a seed changes the run"
    );
}
