//! `sim [--seeds N | --seed S] [--jobs J] [--twice] [--parallel P]`: runs
//! seeds of the simulation and prints each one's figures; a failing seed
//! prints the tail of its trace and the command that replays it. Seeds
//! run on P threads at once (each seed on one thread, deterministic
//! whatever P is).
//!
//! `sim --cost`: the cost table's scenarios, billed by the model.
//! `sim --tick-table N`: the timer's tick on a table of N finished jobs.
//! `sim --bulk N [--rate R]`: a bulk requeue of N Failed jobs at R jobs a
//! second (default 100), then their runs.
//! `sim --sdk-floor N`: N calls through the SDK and N straight to the
//! models: the SDK's own time per call, and the speed it bounds.
//!
//! `sim --scale [--shards S] [--rates R,R..] [--seconds D] [--concurrency
//! C]`: fire-and-forget jobs at each rate for D seconds (virtual) on a
//! stack of S shards, a line a rate: what was started, what throttled.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use hangar_sim::run::{Options, Report, run};

// A run allocates and frees small objects at a high rate (every request
// and answer is JSON, every item a map): with mimalloc a run takes about
// a tenth less time than with the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| {
                v.parse::<u64>()
                    .unwrap_or_else(|_| panic!("{name} takes a number"))
            })
    };
    if let Some(size) = value("--bulk") {
        let rate = value("--rate").unwrap_or(100) as f64;
        let r = hangar_sim::bulk::run(size as usize, rate);
        let per = |x: f64| x / r.changed.max(1) as f64;
        println!(
            "a bulk requeue of {} Failed jobs at {rate} a second: {} requeued, {} refused, in {} steps; {:.1} s simulated, {:.1} s wall; {} throttled requests",
            r.jobs,
            r.changed,
            r.refused,
            r.steps,
            r.simulated.as_secs_f64(),
            r.wall.as_secs_f64(),
            r.throttled
        );
        println!(
            "per job requeued: {:.2} write units ({:.2} table + {:.2} index), {:.2} read units; requests {:?}",
            per(r.table_write_units + r.index_write_units),
            per(r.table_write_units),
            per(r.index_write_units),
            per(r.read_units),
            r.requests
        );
        println!(
            "then run: {} of {} Succeeded with one more run",
            r.succeeded, r.jobs
        );
        return;
    }
    if let Some(size) = value("--tick-table") {
        for items in [0, size as usize] {
            let r = hangar_sim::tick::run(items);
            println!(
                "a tick on a table of {} items: {:?} ({} requests), {:.1} read and {:.1} write units, {} handed off, {} ms simulated, {:.1} ms wall",
                r.items,
                r.requests,
                r.requests.values().sum::<u64>(),
                r.read_units,
                r.write_units,
                r.handed_off,
                r.simulated.as_millis(),
                r.wall.as_secs_f64() * 1000.0
            );
        }
        return;
    }
    if let Some(calls) = value("--sdk-floor") {
        let f = hangar_sim::floor::measure(calls as usize);
        // Calls a job of the mix makes (a seed's calls over its jobs).
        let per_job = 7.4;
        println!(
            "{} calls each: GetItem {:.1} µs through the SDK, {:.1} µs in the model; SendMessage {:.1} µs through the SDK, {:.1} µs in the model",
            f.calls, f.get_item_sdk_us, f.get_item_model_us, f.send_sdk_us, f.send_model_us
        );
        println!(
            "the SDK's own part: {:.1} µs a call; at {per_job} calls a job, at most {:.0} jobs a minute on one core with the models and the library costing nothing",
            f.sdk_us(),
            f.jobs_a_minute_at_most(per_job)
        );
        return;
    }
    if args.iter().any(|a| a == "--cost") {
        for s in hangar_sim::cost::Scenario::ALL {
            let c = hangar_sim::cost::measure(s);
            println!(
                "| {} | {:.2} | {:.2} | {:.2} DynamoDB, {:.2} SQS |",
                s.row(),
                c.write_units,
                c.read_units,
                c.dynamodb_requests,
                c.sqs_requests
            );
        }
        return;
    }
    if args.iter().any(|a| a == "--scale") {
        let list = args
            .iter()
            .position(|a| a == "--rates")
            .and_then(|i| args.get(i + 1))
            .map_or("250,500,1000,2000,4000", String::as_str);
        let rates: Vec<u32> = list
            .split(',')
            .map(|r| r.parse().expect("--rates takes numbers"))
            .collect();
        scale(
            value("--shards").unwrap_or(1) as u32,
            &rates,
            value("--seconds").unwrap_or(10),
            value("--concurrency").unwrap_or(1_000) as usize,
        );
        return;
    }
    let jobs = value("--jobs").unwrap_or(1_000) as usize;
    let seeds: Vec<u64> = match (value("--seed"), value("--seeds")) {
        (Some(s), _) => vec![s],
        (None, n) => (1..=n.unwrap_or(10)).collect(),
    };
    let twice = args.iter().any(|a| a == "--twice");
    let parallel = value("--parallel").unwrap_or(1).max(1) as usize;
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<(u64, usize, bool)>> = Mutex::default();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..parallel.min(seeds.len()) {
            scope.spawn(|| {
                while let Some(&seed) = seeds.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let t0 = Instant::now();
                    let report = run(&Options::new(seed, jobs));
                    let again = twice.then(|| run(&Options::new(seed, jobs)));
                    let planned = report.figures["jobs"].parse().unwrap_or(0);
                    let ok = print(&report, again.as_ref(), jobs, t0.elapsed().as_secs_f64());
                    // One seed: its checker's summary too, pass or fail.
                    if seeds.len() == 1 && ok {
                        println!("{}", report.summary);
                    }
                    outcomes.lock().unwrap().push((seed, planned, ok));
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap();
    let wall = started.elapsed().as_secs_f64();
    let total: usize = outcomes.iter().map(|o| o.1).sum();
    let mut failed: Vec<u64> = outcomes.iter().filter(|o| !o.2).map(|o| o.0).collect();
    failed.sort_unstable();
    let runs = if twice { " (each seed run twice)" } else { "" };
    println!(
        "{} seeds, {total} jobs in {wall:.1} s on {parallel} thread(s){runs}: {:.0} jobs a minute of wall time; failed seeds: {failed:?}",
        outcomes.len(),
        total as f64 / wall * 60.0 * if twice { 2.0 } else { 1.0 },
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}

/// Prints a seed's line, and what failed with the command that replays
/// it; whether it passed.
fn print(report: &Report, again: Option<&Report>, jobs: usize, wall: f64) -> bool {
    let figures: Vec<String> = report
        .figures
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let seed = report.seed;
    let mut out = format!(
        "seed {seed}: {} calls, trace {:016x}, {wall:.1} s wall, {}\n",
        report.calls,
        report.hash,
        figures.join(" ")
    );
    let mut bad = report.violations.clone();
    if let Some(again) = again
        && again.hash != report.hash
    {
        bad.push(format!(
            "not deterministic: trace {:016x} then {:016x}",
            report.hash, again.hash
        ));
    }
    if !bad.is_empty() {
        out.push_str(&format!("{}\nseed {seed} FAILED:\n", report.summary));
        for v in bad.iter().take(20) {
            out.push_str(&format!("  {v}\n"));
        }
        out.push_str("  last calls:\n");
        for line in report.tail.iter().rev().take(30).rev() {
            out.push_str(&format!(
                "    {}\n",
                line.chars().take(300).collect::<String>()
            ));
        }
        out.push_str(&format!(
            "  replay: bash tests/sim.sh --seed {seed} --jobs {jobs}\n"
        ));
    }
    print!("{out}");
    bad.is_empty()
}

/// The scale figures: a line a rate, until a rate is not sustained.
fn scale(shards: u32, rates: &[u32], seconds: u64, concurrency: usize) {
    for &rate in rates {
        let t0 = Instant::now();
        let r = hangar_sim::scale::run(&hangar_sim::scale::Options {
            seed: 1,
            shards,
            rate,
            duration: std::time::Duration::from_secs(seconds),
            concurrency,
        });
        let jobs = r.created.max(1) as f64;
        let top: Vec<String> = r
            .throttled_at
            .iter()
            .take(3)
            .map(|(at, n)| format!("{at} x{n}"))
            .collect();
        println!(
            "shards {shards} rate {rate}/s: {} created, {} started by the end, {} a second after ({}); per job {:.2} WCU {:.2} RCU {:.2} DynamoDB and {:.2} SQS requests; {} throttled{}; {:.0} s wall",
            r.created,
            r.started,
            r.started_a_second_after,
            if r.sustained(rate) {
                "sustained"
            } else {
                "NOT sustained"
            },
            r.write_units / jobs,
            r.read_units / jobs,
            r.requests as f64 / jobs,
            r.sqs_requests as f64 / jobs,
            r.throttled,
            if top.is_empty() {
                String::new()
            } else {
                format!(": {}", top.join("; "))
            },
            t0.elapsed().as_secs_f64()
        );
        if !r.sustained(rate) {
            break;
        }
    }
}
