//! The checker: holds the run ledger and the final store to Hangar's
//! promises, and sums up what the soak did.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use hangar::{Client, JobId, JobRecord, State};
use serde_json::Value;

use super::plan::{CONC_LIMIT, Plan, RATE, TIMEOUT, Tags, Want};
use super::run::Stack;
use crate::TestEnv;

pub(super) struct Report {
    /// The figures, one a line, ending with the count of violations.
    pub(super) text: String,
    pub(super) violations: Vec<String>,
}

/// A run: from its start line, ended by its end line, by its process's
/// kill, or by its timeout.
#[derive(Debug, Clone)]
struct Run {
    job: String,
    attempt: u64,
    start: i64,
    end: i64,
    /// Its end line says it succeeded.
    ok: bool,
}

/// The runs of each job, by job id.
type ByJob<'a> = HashMap<&'a str, Vec<&'a Run>>;

/// Checks the final read of every job (`jobs`), the runs of the ledger
/// (with the workers' `kills`), the batch, the bad bodies and the queues.
pub(super) async fn check(
    stack: &Stack,
    plan: &Plan,
    jobs: &HashMap<JobId, JobRecord>,
    kills: &[(u32, i64)],
    batch: &JobId,
) -> Report {
    let mut v = Vec::new();
    let runs = read_runs(&stack.ledger, &stack.starts, kills);
    let mut by_job: ByJob = HashMap::new();
    for r in &runs {
        by_job.entry(r.job.as_str()).or_default().push(r);
    }
    let mut latencies = Vec::new();
    for (id, (want, tags)) in &plan.want {
        let Some(job) = jobs.get(id) else {
            v.push(format!("lost: job {id} is not in the store"));
            continue;
        };
        let mut mine: Vec<&Run> = by_job.get(id.as_str()).cloned().unwrap_or_default();
        mine.sort_by_key(|r| r.start);
        check_job(job, *want, tags, &mine, &mut v);
        if let Some(first) = mine.first().filter(|_| !tags.occurrence) {
            latencies.push(first.start - job.created_at.timestamp_millis());
        }
    }
    let most = most_at_once(&runs, plan, &mut v);
    let busiest = busiest_window(&runs, plan, &mut v);
    check_batch(plan, &by_job, &stack.direct, batch, &mut v).await;
    check_bad_bodies(plan, &stack.direct, &mut v).await;
    check_dead_letters(&stack.env, &stack.direct, &mut v).await;
    check_queue(&stack.env, &stack.direct, &mut v).await;
    let text = summary(plan, jobs, runs.len(), latencies, most, busiest, v.len());
    Report {
        text,
        violations: v,
    }
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
            attempt,
            start,
            end,
            ok,
        });
    }
    runs
}

/// One job against what it must end as and its runs (`mine`, by start):
/// its end state, no run if it must never run, a successful run if it
/// Succeeded, no more attempts than its policy allows, no two runs at
/// once, and each run claimed before the job ended.
fn check_job(job: &JobRecord, want: Want, tags: &Tags, mine: &[&Run], v: &mut Vec<String>) {
    let id = &job.id;
    if !want.reached(job) {
        v.push(format!(
            "job {id} is {}, must end {want:?}; run_at {:?}, handed off {}, parked {:?}, waiting for {:?}:\n{}",
            job.state,
            job.run_at,
            job.handed_off,
            job.parked_at,
            job.waiting_for,
            crate::history(job)
        ));
    }
    if tags.never_runs && !mine.is_empty() {
        v.push(format!(
            "job {id} ran {} times; its condition did not hold or it was deleted first",
            mine.len()
        ));
    }
    if job.state == State::Succeeded && !mine.iter().any(|r| r.ok) {
        v.push(format!(
            "job {id} Succeeded without a successful run in the ledger"
        ));
    }
    let attempts: HashSet<u64> = mine.iter().map(|r| r.attempt).collect();
    if attempts.len() as u32 > tags.max_runs.max(1) && !tags.never_runs {
        v.push(format!(
            "job {id} ran {} attempts, its policy allows {}",
            attempts.len(),
            tags.max_runs
        ));
    }
    for w in mine.windows(2) {
        if w[1].start < w[0].end {
            v.push(format!(
                "job {id}: runs {} and {} overlap ({}..{} and {}..{})",
                w[0].attempt, w[1].attempt, w[0].start, w[0].end, w[1].start, w[1].end
            ));
        }
    }
    if matches!(job.state, State::Succeeded | State::Deleted) {
        check_claims(job, mine, v);
    }
}

/// Each run of a job that Succeeded or was Deleted must have been claimed
/// (a Processing entry at or before its start) before the job reached its
/// end: a run claimed just before a deletion may start just after it.
fn check_claims(job: &JobRecord, mine: &[&Run], v: &mut Vec<String>) {
    let id = &job.id;
    let done = job
        .history
        .iter()
        .rev()
        .find(|h| h.state == job.state)
        .map_or(i64::MAX, |h| h.at.timestamp_millis());
    // A long history keeps its first and last entries only.
    let truncated = job
        .history
        .first()
        .is_some_and(|h| h.data.contains_key("history_truncated"));
    for r in mine {
        let claim = job
            .history
            .iter()
            .filter(|h| h.state == State::Processing)
            .map(|h| h.at.timestamp_millis())
            .take_while(|at| *at <= r.start)
            .last();
        match claim {
            None if truncated => {}
            None => v.push(format!(
                "job {id}: run {} started at {} without a claim",
                r.attempt, r.start
            )),
            Some(at) if at > done => v.push(format!(
                "job {id}: run {} was claimed after it was {}",
                r.attempt, job.state
            )),
            Some(_) => {}
        }
    }
}

/// The runs of the jobs whose tags `tagged` picks.
fn runs_tagged<'a>(
    runs: &'a [Run],
    plan: &Plan,
    tagged: impl Fn(&Tags) -> bool,
) -> impl Iterator<Item = &'a Run> {
    runs.iter().filter(move |r| {
        JobId::parse(&r.job)
            .ok()
            .and_then(|id| plan.want.get(&id))
            .is_some_and(|(_, t)| tagged(t))
    })
}

/// Concurrency key: runs at once never over the limit. Returns the most
/// at once.
fn most_at_once(runs: &[Run], plan: &Plan, v: &mut Vec<String>) -> i32 {
    let mut edges: Vec<(i64, i32)> = runs_tagged(runs, plan, |t| t.conc)
        .flat_map(|r| [(r.start, 1), (r.end, -1)])
        .collect();
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    if most > CONC_LIMIT as i32 {
        v.push(format!(
            "concurrency key: {most} runs at once, limit {CONC_LIMIT}"
        ));
    }
    most
}

/// Rate limit: starts per window never over n. Returns the most starts in
/// a window.
fn busiest_window(runs: &[Run], plan: &Plan, v: &mut Vec<String>) -> u32 {
    let mut windows: BTreeMap<i64, u32> = BTreeMap::new();
    for r in runs_tagged(runs, plan, |t| t.rate) {
        *windows
            .entry(r.start.div_euclid(RATE.1 as i64))
            .or_default() += 1;
    }
    let busiest = windows.values().max().copied().unwrap_or(0);
    if busiest > RATE.0 {
        v.push(format!(
            "rate limit: {busiest} starts in one window, limit {}",
            RATE.0
        ));
    }
    busiest
}

/// The batch's continuation ran after every batch job ended, and its
/// counters say every job succeeded.
async fn check_batch(
    plan: &Plan,
    by_job: &ByJob<'_>,
    direct: &Client,
    batch: &JobId,
    v: &mut Vec<String>,
) {
    let last_batch_end = plan
        .batch_jobs
        .iter()
        .flat_map(|id| by_job.get(id.as_str()).cloned().unwrap_or_default())
        .map(|r| r.end)
        .max()
        .unwrap_or(0);
    if let Some(then) = &plan.batch_then {
        for r in by_job.get(then.as_str()).cloned().unwrap_or_default() {
            if r.start < last_batch_end {
                v.push(format!("batch continuation started at {} before the batch's last run ended at {last_batch_end}", r.start));
            }
        }
    }
    if let Some(b) = direct.batch(batch).await.unwrap()
        && !(b.succeeded == b.total && b.open == 0)
    {
        v.push(format!("batch counters: {b:?}"));
    }
}

/// Bad bodies: each a visible Failed job.
async fn check_bad_bodies(plan: &Plan, direct: &Client, v: &mut Vec<String>) {
    let invalid = direct
        .list(State::Failed, None, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == hangar::worker::INVALID_MESSAGE_KIND)
        .count();
    if invalid != plan.bad_bodies {
        v.push(format!(
            "{invalid} bad messages recorded as Failed jobs, {} sent",
            plan.bad_bodies
        ));
    }
}

/// Nothing in the dead-letter queue; what is there is described, for
/// whoever reads the failure.
async fn check_dead_letters(env: &TestEnv, direct: &Client, v: &mut Vec<String>) {
    let dlq = env.dlq_url("default").await;
    let (visible, in_flight, _) = env.queue_depth_at(&dlq).await;
    if visible + in_flight == 0 {
        return;
    }
    v.push(format!(
        "default-dlq: {visible} messages visible, {in_flight} in flight"
    ));
    let out = env
        .sqs
        .receive_message()
        .queue_url(&dlq)
        .max_number_of_messages(10)
        .message_system_attribute_names(
            aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
        )
        .send()
        .await
        .unwrap();
    for m in out.messages() {
        let body = m.body().unwrap_or_default();
        let job = match hangar::message::parse_body(body) {
            hangar::message::Body::WakeUp(w) => direct
                .get(&w.job)
                .await
                .unwrap()
                .map(|j| format!("its job {} is {} (v{})", j.id, j.state, j.version)),
            _ => None,
        };
        v.push(format!(
            "  dead letter after {} receives: {}; {}",
            m.attributes()
                .and_then(|a| a
                    .get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
                .map_or("?", String::as_str),
            body.chars().take(160).collect::<String>(),
            job.unwrap_or_else(|| "not a wake-up of a known job".into())
        ));
    }
}

/// Nothing in the queue but stale wake-ups (for a job that has moved on
/// since, which a worker drops), and nothing in flight.
async fn check_queue(env: &TestEnv, direct: &Client, v: &mut Vec<String>) {
    let (visible, in_flight, _) = env.queue_depth("default").await;
    if in_flight > 0 {
        v.push(format!(
            "default: {in_flight} messages in flight after the workers stopped"
        ));
    }
    if visible == 0 {
        return;
    }
    let out = env
        .sqs
        .receive_message()
        .queue_url(&env.config.queue_urls["default"])
        .max_number_of_messages(10)
        .visibility_timeout(60)
        .send()
        .await
        .unwrap();
    for m in out.messages() {
        let body = m.body().unwrap_or_default();
        let live = match hangar::message::parse_body(body) {
            hangar::message::Body::WakeUp(w) => {
                direct.get(&w.job).await.unwrap().is_some_and(|j| {
                    !j.state.is_final() && j.state != State::Failed && j.version == w.v
                })
            }
            hangar::message::Body::Invalid(_) => true,
        };
        if live {
            v.push(format!("default: a message left unconsumed: {body}"));
        }
    }
}

/// The figures: jobs, occurrences and runs, latency from enqueue to the
/// first start, the concurrency key's and the rate limit's peaks, the jobs
/// moved after creation, and the count of violations.
fn summary(
    plan: &Plan,
    jobs: &HashMap<JobId, JobRecord>,
    runs: usize,
    mut latencies: Vec<i64>,
    most: i32,
    busiest: u32,
    violations: usize,
) -> String {
    let occurrences: Vec<&JobRecord> = plan
        .want
        .iter()
        .filter(|(_, (_, t))| t.occurrence)
        .filter_map(|(id, _)| jobs.get(id))
        .collect();
    let ended = |state: State| occurrences.iter().filter(|j| j.state == state).count();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    format!(
        "jobs: {} and {} occurrences ({} runs in the ledger)\nrecurring: {} occurrences fired ({} ran, {} deleted with the recurring job), {} missed ones skipped by the misfire policy\nenqueue-to-start latency ms: p50 {} p90 {} p99 {} max {}\nmost runs at once under the concurrency key: {most} (limit {CONC_LIMIT}); most rate-limited starts in a window: {busiest} (limit {})\nmoved after creation: {:?}\nviolations: {}",
        plan.want.len() - occurrences.len(),
        occurrences.len(),
        runs,
        occurrences.len(),
        ended(State::Succeeded),
        ended(State::Deleted),
        plan.skipped,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        latencies.last().copied().unwrap_or(0),
        RATE.0,
        plan.moved,
        violations
    )
}
