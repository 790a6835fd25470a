//! The checker the soak and the simulation share: the runs the workers
//! saw and the store's final word on every job of the [`Plan`], held to
//! Hangar's promises (../shared/DESIGN.md): every job where it must end
//! and none lost, no two runs of a job at once, every run claimed before
//! its job ended, no more attempts than its policy allows, continuations
//! and batches after their parents, the concurrency key and the rate
//! limit held, bad messages visible as Failed jobs, nothing left in
//! flight or dead-lettered.

use std::collections::{BTreeMap, HashMap, HashSet};

use hangar::{Client, JobId, JobRecord, State};

use crate::mix::{CONC_LIMIT, Plan, RATE, Tags, Want};

/// One run of a job as its worker saw it (ms since the epoch): from its
/// start to its end, or to the moment its process died or its timeout cut
/// it short.
#[derive(Debug, Clone)]
pub struct Run {
    pub job: JobId,
    pub attempt: u32,
    pub start: i64,
    pub end: i64,
    /// The run ended and its handler succeeded.
    pub ok: bool,
    /// The start as the worker's host clock read it (the rate limit holds
    /// in the hosts' clocks, which may be off by a second).
    pub host_start: i64,
}

/// Where the checker reads the stack: a client and the default queue and
/// its dead-letter queue, past any injected fault.
pub struct Stack<'a> {
    pub client: &'a Client,
    pub sqs: &'a aws_sdk_sqs::Client,
    pub queue_url: &'a str,
    pub dlq_url: &'a str,
    /// How far apart two hosts' clocks may be, ms.
    pub skew_ms: i64,
}

pub struct Report {
    /// The figures, one a line, ending with the count of violations.
    pub text: String,
    pub violations: Vec<String>,
    /// Enqueue-to-start latencies of the jobs created Enqueued, ms,
    /// sorted.
    pub latencies: Vec<i64>,
    /// Due-to-start latencies of the jobs created Scheduled, ms, sorted.
    pub lateness: Vec<i64>,
}

/// The runs of each job, by job id.
type ByJob<'a> = HashMap<&'a JobId, Vec<&'a Run>>;

/// Checks the final read of every job (`jobs`) and the `runs` against the
/// plan, then the batches, the bad bodies and the queues.
pub async fn check(
    plan: &Plan,
    jobs: &HashMap<JobId, JobRecord>,
    runs: &[Run],
    stack: &Stack<'_>,
) -> Report {
    let mut v = Vec::new();
    let mut by_job: ByJob = HashMap::new();
    for r in runs {
        by_job.entry(&r.job).or_default().push(r);
    }
    let (mut latencies, mut lateness) = (Vec::new(), Vec::new());
    for (id, (want, tags)) in &plan.want {
        let Some(job) = jobs.get(id) else {
            v.push(format!("lost: job {id} is not in the store"));
            continue;
        };
        let mut mine: Vec<&Run> = by_job.get(id).cloned().unwrap_or_default();
        mine.sort_by_key(|r| r.start);
        check_job(job, *want, tags, &mine, stack.skew_ms, &mut v);
        // From its enqueue (or its due time) to the start of its first
        // run, for the jobs created Enqueued or Scheduled.
        if let (Some(first), Some(created)) = (
            mine.iter().map(|r| r.start).min(),
            job.history.first().filter(|_| !tags.occurrence),
        ) {
            match (created.state, created.due_at()) {
                (State::Enqueued, _) => {
                    latencies.push(first - job.created_at.timestamp_millis());
                }
                (State::Scheduled, Some(due)) => lateness.push(first - due.timestamp_millis()),
                _ => {}
            }
        }
    }
    latencies.sort_unstable();
    lateness.sort_unstable();
    let most = most_at_once(runs, plan, &mut v);
    let busiest = busiest_window(runs, plan, &mut v);
    crate::features::check_results(plan, jobs, &mut v);
    crate::features::check_keys(plan, jobs, stack.skew_ms, &mut v);
    crate::features::check_search(jobs, stack.client, &mut v).await;
    crate::features::check_tags(plan, stack.client, &mut v).await;
    crate::features::check_concurrency_key(stack.client, &mut v).await;
    crate::features::check_traces(plan, jobs, &mut v);
    check_batches(plan, &by_job, stack.client, &mut v).await;
    check_bad_bodies(plan, stack.client, &mut v).await;
    check_dead_letters(stack, &mut v).await;
    check_queue(stack, &mut v).await;
    let text = summary(
        plan,
        jobs,
        runs.len(),
        [&latencies, &lateness],
        most,
        busiest,
        v.len(),
    );
    Report {
        text,
        violations: v,
        latencies,
        lateness,
    }
}

/// One job against what it must end as and its runs (`mine`, by start):
/// its end state, no run if it must never run, a successful run if it
/// Succeeded, no more attempts than its policy allows, no two runs at
/// once, and each run claimed before the job ended.
fn check_job(
    job: &JobRecord,
    want: Want,
    tags: &Tags,
    mine: &[&Run],
    skew_ms: i64,
    v: &mut Vec<String>,
) {
    let id = &job.id;
    if !want.reached(job) {
        v.push(format!(
            "job {id} is {}, must end {want:?}; run_at {:?}, handed off {}, parked {:?}, waiting for {:?}:\n{}",
            job.state,
            job.run_at,
            job.handed_off,
            job.parked_at,
            job.waiting_for,
            history(job)
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
    let attempts: HashSet<u32> = mine.iter().map(|r| r.attempt).collect();
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
        check_claims(job, mine, skew_ms, v);
    }
}

/// A job's history, one entry a line.
pub fn history(job: &JobRecord) -> String {
    job.history
        .iter()
        .map(|h| format!("  {} {} {:?} {:?}", h.at, h.state, h.reason, h.data))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each run of a job that Succeeded or was Deleted must have been claimed
/// (a Processing entry at or before its start) before the job reached its
/// end: a run claimed just before a deletion may start just after it.
/// Entries of one history may come from hosts whose clocks differ by up
/// to `skew_ms`.
fn check_claims(job: &JobRecord, mine: &[&Run], skew_ms: i64, v: &mut Vec<String>) {
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
            .take_while(|at| *at <= r.host_start)
            .last();
        match claim {
            None if truncated => {}
            None => v.push(format!(
                "job {id}: run {} started at {} without a claim",
                r.attempt, r.start
            )),
            Some(at) if at > done + skew_ms => v.push(format!(
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
    plan: &'a Plan,
    tagged: impl Fn(&Tags) -> bool + 'a,
) -> impl Iterator<Item = &'a Run> {
    runs.iter()
        .filter(move |r| plan.want.get(&r.job).is_some_and(|(_, t)| tagged(t)))
}

/// Concurrency key: runs at once never over the limit. Returns the most
/// at once.
fn most_at_once(runs: &[Run], plan: &Plan, v: &mut Vec<String>) -> i32 {
    let mut edges: Vec<(i64, i32)> = runs_tagged(runs, plan, |t| t.conc)
        .flat_map(|r| [(r.start, 1), (r.end, -1)])
        .collect();
    edges.sort_unstable();
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

/// Rate limit: starts per window never over n, in the hosts' clocks.
/// Returns the most starts in a window.
fn busiest_window(runs: &[Run], plan: &Plan, v: &mut Vec<String>) -> u32 {
    let mut windows: BTreeMap<i64, u32> = BTreeMap::new();
    for r in runs_tagged(runs, plan, |t| t.rate) {
        *windows
            .entry(r.host_start.div_euclid(RATE.1 as i64))
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

/// Each batch's continuation ran after every job of its batch ended, and
/// its counters say every job succeeded.
async fn check_batches(plan: &Plan, by_job: &ByJob<'_>, client: &Client, v: &mut Vec<String>) {
    for batch in &plan.batches {
        let last_end = batch
            .jobs
            .iter()
            .flat_map(|id| by_job.get(id).cloned().unwrap_or_default())
            .map(|r| r.end)
            .max()
            .unwrap_or(0);
        for r in by_job.get(&batch.then).cloned().unwrap_or_default() {
            if r.start < last_end {
                v.push(format!(
                    "batch {}: its continuation started at {} before its last run ended at {last_end}",
                    batch.id, r.start
                ));
            }
        }
        match client.batch(&batch.id).await {
            Ok(Some(b)) if b.succeeded == b.total && b.open == 0 => {}
            Ok(b) => v.push(format!("batch {} counters: {b:?}", batch.id)),
            Err(e) => v.push(format!("batch {} unreadable: {e}", batch.id)),
        }
    }
}

/// Bad bodies: each a visible Failed job.
async fn check_bad_bodies(plan: &Plan, client: &Client, v: &mut Vec<String>) {
    let invalid = match client.list(State::Failed, None, 1_000_000).await {
        Ok(failed) => failed
            .into_iter()
            .filter(|j| j.kind == hangar::worker::INVALID_MESSAGE_KIND)
            .count(),
        Err(e) => {
            v.push(format!("Failed jobs unreadable: {e}"));
            return;
        }
    };
    // None lost. A send whose answer was lost is sent again by the SDK:
    // its body is then two messages, each recorded once (by its message
    // id); more than that is not a duplicate but a fault.
    if invalid < plan.bad_bodies || invalid > 2 * plan.bad_bodies {
        v.push(format!(
            "{invalid} bad messages recorded as Failed jobs, {} sent",
            plan.bad_bodies
        ));
    }
}

/// A queue's messages visible and in flight.
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("a queue's attributes");
    let count = |a: A| {
        out.attributes()
            .and_then(|m| m.get(&a))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (
        count(A::ApproximateNumberOfMessages),
        count(A::ApproximateNumberOfMessagesNotVisible),
    )
}

/// Nothing in the dead-letter queue; what is there is described, for
/// whoever reads the failure.
async fn check_dead_letters(stack: &Stack<'_>, v: &mut Vec<String>) {
    let (visible, in_flight) = depth(stack.sqs, stack.dlq_url).await;
    if visible + in_flight == 0 {
        return;
    }
    v.push(format!(
        "dead-letter queue: {visible} messages visible, {in_flight} in flight"
    ));
    let out = stack
        .sqs
        .receive_message()
        .queue_url(stack.dlq_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(
            aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
        )
        .send()
        .await
        .expect("a receive");
    for m in out.messages() {
        let body = m.body().unwrap_or_default();
        let job = woken(stack, body)
            .await
            .map(|(j, _)| format!("its job {} is {} (v{})", j.id, j.state, j.version));
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
async fn check_queue(stack: &Stack<'_>, v: &mut Vec<String>) {
    let (visible, in_flight) = depth(stack.sqs, stack.queue_url).await;
    if in_flight > 0 {
        v.push(format!(
            "queue: {in_flight} messages in flight after the workers stopped"
        ));
    }
    if visible == 0 {
        return;
    }
    let out = stack
        .sqs
        .receive_message()
        .queue_url(stack.queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(60)
        .send()
        .await
        .expect("a receive");
    for m in out.messages() {
        let body = m.body().unwrap_or_default();
        let live = match woken(stack, body).await {
            Some((j, v)) => !j.state.is_final() && j.state != State::Failed && j.version == v,
            // Not a wake-up: a request nothing consumed.
            None => !matches!(
                hangar::message::parse_body(body),
                hangar::message::Body::WakeUp(_)
            ),
        };
        if live {
            v.push(format!("queue: a message left unconsumed: {body}"));
        }
    }
}

/// The job a wake-up message names, as it is now, and the version the
/// message was sent for.
async fn woken(stack: &Stack<'_>, body: &str) -> Option<(JobRecord, u64)> {
    match hangar::message::parse_body(body) {
        hangar::message::Body::WakeUp(w) => {
            let job = stack.client.get(&w.job).await.ok().flatten()?;
            Some((job, w.v))
        }
        hangar::message::Body::Invalid(_) => None,
    }
}

/// The value at fraction `p` of sorted figures.
pub fn percentile(sorted: &[i64], p: f64) -> i64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p) as usize)
        .copied()
        .unwrap_or(0)
}

/// The figures: jobs, occurrences and runs, latency from enqueue (or
/// from the due time) to the first start, the concurrency key's and the rate limit's peaks, the jobs
/// moved after creation, and the count of violations.
fn summary(
    plan: &Plan,
    jobs: &HashMap<JobId, JobRecord>,
    runs: usize,
    [latencies, lateness]: [&[i64]; 2],
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
    format!(
        "jobs: {} and {} occurrences ({} runs in the ledger)\nrecurring: {} occurrences fired ({} ran, {} deleted with the recurring job), {} missed ones skipped by the misfire policy\nenqueue-to-start latency ms: p50 {} p90 {} p99 {} max {}\ndue-to-start latency of scheduled jobs ms: p50 {} p90 {} p99 {} max {}\nmost runs at once under the concurrency key: {most} (limit {CONC_LIMIT}); most rate-limited starts in a window: {busiest} (limit {})\nmoved after creation: {:?}; creations tried again after an error: {}\nbulk delete: {} of {} doomed jobs\nviolations: {}",
        plan.want.len() - occurrences.len(),
        occurrences.len(),
        runs,
        occurrences.len(),
        ended(State::Succeeded),
        ended(State::Deleted),
        plan.skipped,
        percentile(latencies, 0.5),
        percentile(latencies, 0.9),
        percentile(latencies, 0.99),
        latencies.last().copied().unwrap_or(0),
        percentile(lateness, 0.5),
        percentile(lateness, 0.9),
        percentile(lateness, 0.99),
        lateness.last().copied().unwrap_or(0),
        RATE.0,
        plan.moved,
        plan.retried,
        plan.bulk_deleted,
        plan.doomed.len(),
        violations
    )
}
