//! The checker's promises of the features beyond a job's life (see
//! [`crate::promises`] for the rest): results and progress, the search,
//! unique and debounce keys, tags, trace contexts.

use std::collections::{HashMap, HashSet};

use hangar::{Client, JobId, JobRecord, State};

use crate::mix::Plan;
use crate::promises::history;

/// Every job that Succeeded kept its run's last progress report and the
/// result of the run that succeeded
/// ([`crate::mix::result_of`]): its id and attempt; a continuation of a
/// job what its parent had returned by then (the parent's id, an attempt
/// no later than the parent's last); a batch's continuation a result of
/// every job of its batch.
pub(crate) fn check_results(plan: &Plan, jobs: &HashMap<JobId, JobRecord>, v: &mut Vec<String>) {
    let batch_sizes: HashMap<&JobId, usize> = plan
        .batches
        .iter()
        .map(|b| (&b.then, b.jobs.len()))
        .collect();
    for job in jobs.values().filter(|j| j.state == State::Succeeded) {
        let id = &job.id;
        if !job
            .progress
            .as_ref()
            .is_some_and(|p| p.fraction == 1.0 && p.message == "done")
        {
            v.push(format!(
                "job {id} Succeeded with the progress {:?}, not its run's last report",
                job.progress
            ));
        }
        let Some(result) = &job.result else {
            v.push(format!("job {id} Succeeded without its result"));
            continue;
        };
        if result["id"] != id.as_str() || result["attempt"] != job.attempt {
            v.push(format!(
                "job {id} Succeeded on attempt {} but kept the result {result}",
                job.attempt
            ));
        }
        match &job.parent {
            Some(p) if p.batch => {
                let size = batch_sizes.get(id).copied();
                if size.is_some_and(|n| result["batch_results"] != n) {
                    v.push(format!(
                        "batch continuation {id} read {} results of its batch's {size:?} jobs",
                        result["batch_results"]
                    ));
                }
            }
            Some(p) => {
                let parent = jobs.get(&p.id);
                let seen = &result["parent"];
                let fits = parent.is_some_and(|parent| {
                    parent.state != State::Succeeded
                        || (seen["id"] == parent.id.as_str()
                            && seen["attempt"]
                                .as_u64()
                                .is_some_and(|a| a <= u64::from(parent.attempt)))
                });
                if !fits {
                    v.push(format!(
                        "continuation {id} read {seen} as its parent {}'s result",
                        p.id
                    ));
                }
            }
            None => {}
        }
    }
}

/// Unique keys: a creation made a new job only once the one before had
/// ended (by its history, within the hosts' clock skew). The key is taken
/// between the creation's call and its return; the job's `created_at` is
/// stamped as the call begins, and a creation slowed by throttles may
/// find the holder ended after that, so the bound is the return. Debounce keys: a
/// job kept the arguments of the last creation that returned it.
pub(crate) fn check_keys(
    plan: &Plan,
    jobs: &HashMap<JobId, JobRecord>,
    skew_ms: i64,
    v: &mut Vec<String>,
) {
    for ids in &plan.uniques {
        for pair in ids.windows(2) {
            let ((a, _), (b, returned)) = (&pair[0], &pair[1]);
            let (Some(ja), true) = (jobs.get(a), jobs.contains_key(b)) else {
                continue;
            };
            if a == b {
                continue;
            }
            let ended = ja
                .history
                .iter()
                .find(|h| matches!(h.state, State::Succeeded | State::Failed | State::Deleted));
            let by = returned.timestamp_millis() + skew_ms;
            if ended.is_none_or(|h| h.at.timestamp_millis() > by) {
                v.push(format!(
                    "unique key: job {b} was created (returned at {}) while {a} held the key ({})",
                    returned,
                    history(ja)
                ));
            }
        }
    }
    for made in &plan.debounces {
        // The last creation that returned each job, newest first.
        let mut last: Vec<&(JobId, u64)> = Vec::new();
        for m in made.iter().rev() {
            if !last.iter().any(|(id, _)| *id == m.0) {
                last.push(m);
            }
        }
        for (id, n) in last {
            let Some(job) = jobs.get(id) else { continue };
            if job.args["n"] != *n {
                v.push(format!(
                    "debounced job {id} kept the arguments {}, not those of the last creation that returned it (n = {n})",
                    job.args
                ));
            }
        }
    }
}

/// A search of the Failed jobs for the mix's planned failures, in
/// another case, page after page, finds exactly the jobs that Failed with
/// one.
pub(crate) async fn check_search(
    jobs: &HashMap<JobId, JobRecord>,
    client: &Client,
    v: &mut Vec<String>,
) {
    let want: HashSet<&JobId> = jobs
        .values()
        .filter(|j| {
            j.state == State::Failed
                && j.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("planned failure"))
        })
        .map(|j| &j.id)
        .collect();
    let query = hangar::ListQuery {
        search: Some("PLANNED Failure".into()),
        ..hangar::ListQuery::state(State::Failed)
    };
    let Some(found) = every_page("search", v, |c| {
        let query = &query;
        async move { client.list_page(query, 100, c.as_ref()).await }
    })
    .await
    else {
        return;
    };
    let found: HashSet<&JobId> = found.iter().map(|j| &j.id).collect();
    if found != want {
        v.push(format!(
            "search for planned failures: missed {:?}, found besides {:?}",
            want.difference(&found).collect::<Vec<_>>(),
            found.difference(&want).collect::<Vec<_>>()
        ));
    }
}

/// Each tag of the mix ([`Plan::labelled`]) lists exactly the jobs
/// created with it, each once, each carrying it, page by page.
pub(crate) async fn check_tags(plan: &Plan, client: &Client, v: &mut Vec<String>) {
    // In tag order: the checker's calls are part of the seed's trace.
    let mut want: std::collections::BTreeMap<&str, HashSet<&JobId>> = Default::default();
    for (tag, id) in &plan.labelled {
        want.entry(tag).or_default().insert(id);
    }
    for (tag, want) in want {
        let what = format!("tag {tag}");
        let Some(found) = every_page(&what, v, |c| async move {
            client.tagged(tag, None, 100, c.as_ref()).await
        })
        .await
        else {
            continue;
        };
        for job in found.iter().filter(|j| !j.tags.iter().any(|t| t == tag)) {
            v.push(format!("{what}: listed job {} without it", job.id));
        }
        let found: HashSet<&JobId> = found.iter().map(|j| &j.id).collect();
        if found != want {
            v.push(format!(
                "tag {tag}: missed {:?}, found besides {:?}",
                want.difference(&found).collect::<Vec<_>>(),
                found.difference(&want).collect::<Vec<_>>()
            ));
        }
    }
}

/// Every job a listing lists, page after page (`None`, and the error
/// noted, if a page fails); a job listed twice is a violation.
async fn every_page<F, Fut>(what: &str, v: &mut Vec<String>, mut page: F) -> Option<Vec<JobRecord>>
where
    F: FnMut(Option<hangar::Cursor>) -> Fut,
    Fut: std::future::Future<Output = hangar::Result<hangar::Page>>,
{
    let (mut jobs, mut seen, mut cursor) = (Vec::new(), HashSet::new(), None);
    loop {
        match page(cursor.take()).await {
            Ok(p) => {
                for job in p.jobs {
                    if seen.insert(job.id.clone()) {
                        jobs.push(job);
                    } else {
                        v.push(format!("{what}: job {} listed twice", job.id));
                    }
                }
                match p.next {
                    Some(next) => cursor = Some(next),
                    None => return Some(jobs),
                }
            }
            Err(e) => {
                v.push(format!("{what}: {e}"));
                return None;
            }
        }
    }
}

/// Each job an intake request with a `traceparent` created carries that
/// context ([`Plan::traced`]).
pub(crate) fn check_traces(plan: &Plan, jobs: &HashMap<JobId, JobRecord>, v: &mut Vec<String>) {
    for (id, tp) in &plan.traced {
        let carried = jobs
            .get(id)
            .and_then(|j| j.trace.as_ref())
            .map(|t| t.as_str());
        if carried != Some(tp.as_str()) {
            v.push(format!(
                "trace: job {id} carries {carried:?}, its request sent {tp}"
            ));
        }
    }
}

/// The concurrency key once every job ended: nobody listed as waiting,
/// and a count a race left over (a hint) still under the timer's eye, so
/// its next look clears it.
pub(crate) async fn check_concurrency_key(client: &Client, v: &mut Vec<String>) {
    let key = crate::mix::CONC_KEY;
    match client.waiting_jobs(key, 10, None).await {
        Ok(page) if page.jobs.is_empty() => {}
        Ok(page) => v.push(format!(
            "concurrency key: {} jobs still wait on it, first {}",
            page.jobs.len(),
            page.jobs[0].id
        )),
        Err(e) => v.push(format!("concurrency key: waiting jobs unread: {e}")),
    }
    match client.concurrency_key(key).await {
        Ok(state) => {
            let soon =
                client.now().timestamp_millis() + hangar::limits::SLOT_RECHECK.as_millis() as i64;
            if state.waiting > 0 && state.look_ms.is_none_or(|at| at > soon) {
                v.push(format!(
                    "concurrency key: counts {} waiting with no look of the timer due: {state:?}",
                    state.waiting
                ));
            }
        }
        Err(e) => v.push(format!("concurrency key: unread: {e}")),
    }
}
