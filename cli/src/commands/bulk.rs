//! `hangar requeue --state S` and `hangar delete --state S`: every job a
//! filter lists, step by step at a bounded rate ([`hangar::Client::bulk`]),
//! with a bar on a terminal (a line a step otherwise). A stop (Ctrl-C, or
//! an error) prints the `--resume` that goes on from there.

use std::io::IsTerminal;

use clap::Args;
use hangar::{BulkAction, BulkProgress, Client, ListQuery, State};

use super::Error;
use super::common::{Format, ago, cursor_text, read_position};
use crate::output::{Fail, Out};
use crate::parse;

/// Which jobs: a state and a filter (or a `--resume` that carries them).
#[derive(Args)]
pub struct BulkArgs {
    /// Every job in this state (e.g. failed) that the filter lists.
    #[arg(long, value_parser = parse::state, conflicts_with = "resume")]
    state: Option<State>,
    /// With --state: only jobs of this queue.
    #[arg(long, requires = "state")]
    queue: Option<String>,
    /// With --state: only jobs of this kind.
    #[arg(long, requires = "state")]
    kind: Option<String>,
    /// With --state: only jobs whose arguments, parameters or last error
    /// contain this text, in any case.
    #[arg(long, value_name = "TEXT", requires = "state")]
    grep: Option<String>,
    /// With --state scheduled: only retries.
    #[arg(long, requires = "state")]
    retries: bool,
    /// With --state: only jobs that entered it this long ago or less.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration, requires = "state")]
    since: Option<std::time::Duration>,
    /// At most this many jobs changed a second (the table's capacity is
    /// shared with the workers).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Stop after about this many jobs.
    #[arg(long)]
    limit: Option<usize>,
    /// Go on from where a stopped run got (the token it printed).
    #[arg(long, value_name = "TOKEN")]
    resume: Option<String>,
}

impl BulkArgs {
    fn query(&self) -> Result<(ListQuery, Option<hangar::Cursor>), Fail> {
        if let Some(text) = &self.resume {
            let position = read_position(text).map_err(|_| {
                Fail::usage("--resume: not a token a bulk run printed (cut or edited)")
            })?;
            return Ok((position.query, Some(position.cursor)));
        }
        let state = self.state.expect("--state or --resume");
        let query = ListQuery {
            queue: self.queue.clone(),
            kind: self.kind.clone(),
            search: self.grep.clone(),
            retries: self.retries,
            since: self.since.map(ago),
            ..ListQuery::state(state)
        };
        Ok((query, None))
    }
}

/// Runs `action` on every job `args` lists.
pub async fn run(
    client: &Client,
    action: BulkAction,
    args: &BulkArgs,
    fmt: Format,
) -> Result<(), Error> {
    let (query, from) = args.query()?;
    let unfiltered = ListQuery::state(query.state) == query;
    // The bar's length: the state's count, when every job of it is meant.
    let total = if unfiltered && from.is_none() {
        let counts = client.counts().await?;
        counts
            .iter()
            .find(|(s, _)| *s == query.state)
            .map(|(_, c)| c.n)
    } else {
        None
    };
    let verb = match action {
        BulkAction::Requeue => "requeued",
        BulkAction::Delete => "deleted",
    };
    let bar = crate::output::progress(total, verb);
    let mut changed = Vec::new();
    let mut refused = Vec::new();
    let mut run = client.bulk(action, query.clone()).rate(args.rate);
    // Where a stop goes on from: the cursor of the last step done.
    let mut reached = BulkProgress {
        next: from.clone(),
        ..BulkProgress::default()
    };
    if let Some(from) = from {
        run = run.resume(from);
    }
    if let Some(limit) = args.limit {
        run = run.limit(limit);
    }
    let terminal = std::io::stderr().is_terminal();
    let stepping = run.run(|step, total| {
        for (id, why) in &step.refused {
            bar.suspend(|| eprintln!("{id}: {why}"));
        }
        changed.extend(step.changed.iter().map(|id| id.to_string()));
        refused.extend(step.refused.iter().cloned());
        bar.inc(step.changed.len() as u64);
        reached = total.clone();
        if !terminal {
            eprintln!(
                "{verb} {}, refused {}, read {}",
                total.changed, total.refused, total.read
            );
        }
    });
    let (progress, error) = tokio::select! {
        done = stepping => match done {
            Ok(p) => (p, None),
            Err((e, p)) => (p, Some(e.to_string())),
        },
        _ = tokio::signal::ctrl_c() => {
            bar.abandon();
            return Err(Fail::new(format!(
                "stopped after {} {verb} (the step under way may be in part){}",
                reached.changed,
                resume_hint(&query, &reached)
            ))
            .into());
        }
    };
    bar.finish_and_clear();
    if fmt.json {
        let refused: Vec<_> = refused
            .iter()
            .map(|(id, error)| serde_json::json!({ "id": id.to_string(), "error": error }))
            .collect();
        Out::json(&serde_json::json!({ verb: changed, "failed": refused }));
    } else {
        println!("{} {verb}, {} refused", changed.len(), refused.len());
    }
    if let Some(e) = error {
        return Err(Fail::new(format!("stopped: {e}{}", resume_hint(&query, &progress))).into());
    }
    if progress.next.is_some() {
        eprintln!("stopped at the limit{}", resume_hint(&query, &progress));
    }
    if !refused.is_empty() {
        return Err(Fail::new(format!("{} jobs could not be {verb}", refused.len())).into());
    }
    Ok(())
}

fn resume_hint(query: &ListQuery, progress: &BulkProgress) -> String {
    match &progress.next {
        Some(next) => format!("; go on with --resume {}", cursor_text(query, next.clone())),
        None => String::new(),
    }
}
