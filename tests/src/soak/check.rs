//! The soak's side of the check: the runs read from the workers' ledger
//! (their start and end lines, and the kills), then held to Hangar's
//! promises by the checker the simulation shares
//! ([`hangar_sim::promises`]).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use hangar::{JobId, JobRecord};
use hangar_sim::mix::{Plan, TIMEOUT};
use hangar_sim::promises::{self, Report, Run};
use serde_json::Value;

use super::run::Stack;

/// Checks the final read of every job (`jobs`) and the runs of the ledger
/// (with the workers' `kills`) against the plan.
pub(super) async fn check(
    stack: &Stack,
    plan: &Plan,
    jobs: &HashMap<JobId, JobRecord>,
    kills: &[(u32, i64)],
) -> Report {
    let runs = read_runs(&stack.ledger, &stack.starts, kills);
    let dlq_url = stack.env.dlq_url("default").await;
    let observed = promises::Stack {
        client: &stack.direct,
        sqs: &stack.env.sqs,
        queue_url: &stack.env.config.queue_urls["default"],
        dlq_url: &dlq_url,
        // One machine, one clock.
        skew_ms: 0,
    };
    promises::check(plan, jobs, &runs, &observed).await
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every run of the ledger, from its start lines: each ends with its end
/// line, else with its process's kill, else with its timeout (and a
/// second).
fn read_runs(ledger: &Path, starts: &Path, kills: &[(u32, i64)]) -> Vec<Run> {
    // A run is its job, attempt, process and start: a job rescheduled
    // after it ran runs attempt 1 again.
    type RunKey = (String, u64, u64, i64);
    let key = |l: &Value| -> RunKey {
        (
            l["job"].as_str().unwrap_or_default().to_owned(),
            l["attempt"].as_u64().unwrap_or(0),
            l["pid"].as_u64().unwrap_or(0),
            l["start"].as_i64().unwrap_or(0),
        )
    };
    let ends: HashMap<RunKey, Value> = read_lines(ledger)
        .into_iter()
        .map(|l| (key(&l), l))
        .collect();
    let killed: HashMap<u64, i64> = kills.iter().map(|(p, t)| (u64::from(*p), *t)).collect();
    let mut runs: Vec<Run> = Vec::new();
    let mut seen = HashSet::new();
    for s in read_lines(starts) {
        let run = key(&s);
        if !seen.insert(run.clone()) {
            continue;
        }
        let (job, attempt, pid, start) = run.clone();
        let Ok(job) = JobId::parse(job) else { continue };
        let ok = ends.get(&run).is_some_and(|e| e["ok"] == true);
        let end = match ends.get(&run) {
            Some(e) => e["end"].as_i64().unwrap_or(start),
            None => match killed.get(&pid) {
                Some(t) if *t >= start => *t,
                _ => start + TIMEOUT.as_millis() as i64 + 1_000,
            },
        };
        runs.push(Run {
            job,
            attempt: attempt as u32,
            start,
            end,
            ok,
            host_start: start,
        });
    }
    runs
}
