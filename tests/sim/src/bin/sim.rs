//! `sim [--seeds N | --seed S] [--jobs J] [--twice]`: runs seeds of the
//! simulation and prints each one's figures; a failing seed prints the
//! tail of its trace and the command that replays it.

use std::time::Instant;

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
    let jobs = value("--jobs").unwrap_or(1_000) as usize;
    let seeds: Vec<u64> = match (value("--seed"), value("--seeds")) {
        (Some(s), _) => vec![s],
        (None, n) => (1..=n.unwrap_or(10)).collect(),
    };
    let twice = args.iter().any(|a| a == "--twice");
    let (mut failed, mut total_jobs) = (0, 0);
    let started = Instant::now();
    for seed in seeds {
        let t0 = Instant::now();
        let report = hangar_sim::run::run(&hangar_sim::run::Options::new(seed, jobs));
        total_jobs += jobs;
        let wall = t0.elapsed();
        let figures: Vec<String> = report
            .figures
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "seed {seed}: {} calls, trace {:016x}, {:.1} s wall, {}",
            report.calls,
            report.hash,
            wall.as_secs_f64(),
            figures.join(" ")
        );
        let mut bad = report.violations.clone();
        if twice {
            let again = hangar_sim::run::run(&hangar_sim::run::Options::new(seed, jobs));
            if again.hash != report.hash {
                bad.push(format!(
                    "not deterministic: trace {:016x} then {:016x}",
                    report.hash, again.hash
                ));
            }
        }
        if !bad.is_empty() {
            failed += 1;
            println!("{}", report.summary);
            println!("seed {seed} FAILED:");
            for v in bad.iter().take(20) {
                println!("  {v}");
            }
            println!("  last calls:");
            for line in report.tail.iter().rev().take(30).rev() {
                println!("    {}", line.chars().take(300).collect::<String>());
            }
            println!("  replay: bash tests/sim.sh --seed {seed} --jobs {jobs}");
        }
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{total_jobs} jobs in {wall:.1} s: {:.0} jobs a minute of wall time; {failed} seed(s) failed",
        total_jobs as f64 / wall * 60.0
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
