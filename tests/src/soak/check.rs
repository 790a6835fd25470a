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
    let mut report = promises::check(plan, jobs, &runs, &observed).await;
    check_logs(stack, jobs, &runs, &mut report).await;
    report
}

/// Jobs whose log lines are read back: a sample, the ones with the most
/// runs first.
const LOG_SAMPLE: usize = 25;

/// A run's line is found by its job's id in the worker log group: for a
/// sample of jobs, every run that ended has its `ledger run started` line
/// (logged before its end), with its attempt, and no line names an attempt
/// that never started.
async fn check_logs(
    stack: &Stack,
    jobs: &HashMap<JobId, JobRecord>,
    runs: &[Run],
    report: &mut Report,
) {
    let ended: HashSet<(JobId, u32)> = read_lines(&stack.ledger)
        .iter()
        .filter_map(|l| {
            let job = JobId::parse(l["job"].as_str()?).ok()?;
            Some((job, l["attempt"].as_u64()? as u32))
        })
        .collect();
    let mut by_job: HashMap<&JobId, Vec<u32>> = HashMap::new();
    for r in runs {
        by_job.entry(&r.job).or_default().push(r.attempt);
    }
    let mut sample: Vec<(&JobId, &Vec<u32>)> = by_job.iter().map(|(j, a)| (*j, a)).collect();
    sample.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    sample.truncate(LOG_SAMPLE);
    let logs = stack.env.run_logs();
    let (mut read, mut found) = (0, 0);
    for (id, started) in sample {
        let Some(job) = jobs.get(id) else { continue };
        let mut seen = HashSet::new();
        let mut cursor = None;
        loop {
            let page = match logs.read(job, chrono::Utc::now(), cursor.as_deref()).await {
                Ok(p) => p,
                Err(e) => {
                    report
                        .violations
                        .push(format!("log lines of {id} not read: {e}"));
                    break;
                }
            };
            for line in page
                .lines
                .iter()
                .filter(|l| l.message == "ledger run started")
            {
                seen.extend(line.attempt.map(|a| a as u32));
            }
            cursor = page.cursor;
            if cursor.is_none() {
                break;
            }
        }
        read += 1;
        found += seen.len();
        for attempt in started
            .iter()
            .filter(|a| ended.contains(&((*id).clone(), **a)))
        {
            if !seen.contains(attempt) {
                report.violations.push(format!(
                    "run {attempt} of {id} ended, but its log line is not found"
                ));
            }
        }
        for attempt in seen.iter().filter(|a| !started.contains(a)) {
            report.violations.push(format!(
                "a log line of {id} names run {attempt}, which never started"
            ));
        }
    }
    report.text.push_str(&format!(
        "\nlog lines: {found} runs found by job id, of {read} jobs read"
    ));
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
