//! The checker: every job where it must end and none lost, no two runs of
//! one job at once, no more runs than its retries allow, the concurrency
//! key never over its limit, the rate key never over its starts a second.

use std::collections::BTreeMap;

use hangar::{JobId, JobRecord, State};

use crate::run::{CONC_LIMIT, RATE_LIMIT};

/// A job the mix created and what it must end as.
#[derive(Debug, Clone)]
pub struct Planned {
    pub id: JobId,
    pub want: State,
    pub max_runs: u32,
    pub tags: &'static str,
}

impl Planned {
    pub fn new(id: JobId, want: State, max_runs: u32, tags: &'static str) -> Self {
        Planned {
            id,
            want,
            max_runs,
            tags,
        }
    }
}

/// One run as its handler saw it (ms of virtual time).
#[derive(Debug, Clone)]
pub struct Run {
    pub job: JobId,
    pub attempt: u32,
    pub start: i64,
    /// The start as its host's clock read it (off by up to a second).
    pub host_start: i64,
    pub end: i64,
    pub ok: bool,
}

pub fn check(planned: &[Planned], jobs: &BTreeMap<JobId, JobRecord>, runs: &[Run]) -> Vec<String> {
    let mut v = Vec::new();
    let mut by_job: BTreeMap<&JobId, Vec<&Run>> = BTreeMap::new();
    for r in runs {
        by_job.entry(&r.job).or_default().push(r);
    }
    for p in planned {
        let Some(job) = jobs.get(&p.id) else {
            v.push(format!("lost: job {} is not in the store", p.id));
            continue;
        };
        if job.state != p.want {
            v.push(format!("job {} is {}, must be {}", p.id, job.state, p.want));
        }
        let mut mine = by_job.get(&p.id).cloned().unwrap_or_default();
        mine.sort_by_key(|r| r.start);
        if mine.len() as u32 > p.max_runs {
            v.push(format!(
                "job {} ran {} times, at most {}",
                p.id,
                mine.len(),
                p.max_runs
            ));
        }
        for pair in mine.windows(2) {
            if pair[1].start < pair[0].end {
                v.push(format!(
                    "job {} ran twice at once: {}..{} and {}..{}",
                    p.id, pair[0].start, pair[0].end, pair[1].start, pair[1].end
                ));
            }
        }
        if p.want == State::Succeeded && !mine.iter().any(|r| r.ok) {
            v.push(format!(
                "job {} Succeeded with no successful run seen",
                p.id
            ));
        }
    }
    let tagged = |tag: &str| -> Vec<&Run> {
        let ids: std::collections::BTreeSet<&JobId> = planned
            .iter()
            .filter(|p| p.tags == tag)
            .map(|p| &p.id)
            .collect();
        runs.iter().filter(|r| ids.contains(&r.job)).collect()
    };
    let conc = tagged("conc");
    let mut edges: Vec<(i64, i32)> = conc
        .iter()
        .flat_map(|r| [(r.start, 1), (r.end, -1)])
        .collect();
    edges.sort();
    let (mut now, mut max) = (0, 0);
    for (_, d) in edges {
        now += d;
        max = max.max(now);
    }
    if max > CONC_LIMIT as i32 {
        v.push(format!(
            "{max} runs of the concurrency key at once, limit {CONC_LIMIT}"
        ));
    }
    let mut per_second: BTreeMap<i64, u32> = BTreeMap::new();
    for r in tagged("rate") {
        // The limit holds in the library's clocks, which are the hosts'.
        *per_second.entry(r.host_start.div_euclid(1000)).or_default() += 1;
    }
    if let Some((s, n)) = per_second.iter().find(|(_, n)| **n > RATE_LIMIT) {
        v.push(format!(
            "{n} starts of the rate key in second {s}, limit {RATE_LIMIT}"
        ));
    }
    v
}
