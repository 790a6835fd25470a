//! The soak: thousands of jobs of every kind run by several worker
//! processes and the timer while the fault proxy breaks requests and a
//! chaos loop kills workers mid-job; then a checker holds the run ledger
//! and the store to Hangar's promises. `bash tests/soak.sh [SIZE]` runs it
//! (the `soak` binary).
//!
//! Workers are `ledger-worker` processes (their runs go to a ledger:
//! start lines, and end lines with the outcome), pointed at the proxy;
//! their output is shipped to the stack's worker log group as Lambda
//! ships a function's, and the check reads a sample of jobs' lines back. The
//! timer ticks in this process, through the proxy too, with a 15 s grace
//! period so that repairs happen within the run.
//!
//! The mix of jobs and the checker are the simulation's
//! ([`hangar_sim::mix`], [`hangar_sim::promises`]): `run` drives the stack,
//! `check` reads the workers' ledger and hands it to the checker.

use std::sync::{Arc, Mutex};
use std::time::Instant;

mod check;
mod run;

/// Runs the soak with `size` jobs of the mix (plus the continuations, the
/// batch's continuation and the recurring job's occurrences) and prints
/// its figures; on a violation, prints the first 50 to stderr. Returns
/// whether it passed.
pub async fn soak(size: usize) -> bool {
    let mut stack = run::Stack::start(size).await;
    let started = Instant::now();
    let plan = Arc::new(Mutex::new(hangar_sim::mix::Plan::default()));
    stack.create_mix(size, &plan).await;
    println!("created in {:.1} s", started.elapsed().as_secs_f64());
    let mut jobs = stack.wait_for_ends(size, &plan, started).await;
    let ran_for = started.elapsed();
    let kills = stack.stop().await;

    let mut plan = std::mem::take(&mut *plan.lock().unwrap());
    let planned = plan.want.len();
    for job in stack.fired_occurrences().await {
        plan.add_occurrence(job.id.clone());
        jobs.insert(job.id.clone(), job);
    }
    plan.skipped = stack.skipped();
    let report = check::check(&stack, &plan, &jobs, &kills).await;
    println!("{}", report.text);
    println!("faults injected: {:?}", stack.faults());
    println!("kills: {}", kills.len());
    println!(
        "throughput: {:.1} jobs/s ({} jobs in {:.0} s)",
        planned as f64 / ran_for.as_secs_f64(),
        planned,
        ran_for.as_secs_f64()
    );
    stack.clean_up();
    if !report.violations.is_empty() {
        eprintln!("soak FAILED: {} violations", report.violations.len());
        for v in report.violations.iter().take(50) {
            eprintln!("  {v}");
        }
        return false;
    }
    println!("soak passed");
    true
}
