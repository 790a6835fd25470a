//! `hangar job` (one job) and `hangar jobs` (the jobs in a state).

use clap::Args;
use hangar::{Client, State};

use super::Error;
use super::common::{Format, ago, cursor_text, job_id, read_cursor, read_position};
use crate::output::{self, Fail, Out};
use crate::parse;

#[derive(Args)]
pub struct JobArgs {
    /// Job id.
    id: String,
    #[command(flatten)]
    fmt: Format,
}

#[derive(Args)]
pub struct JobsArgs {
    /// State: enqueued (the default without --tag), scheduled, awaiting,
    /// processing, succeeded, failed, deleted.
    #[arg(long, value_parser = parse::state)]
    state: Option<State>,
    /// Only jobs with this tag, exact (`NewJob::tag`, `--tag` of `hangar
    /// enqueue`), newest first, in every state unless --state names one.
    #[arg(long, conflicts_with_all = ["queue", "grep", "retries", "since"])]
    tag: Option<String>,
    /// Only jobs of this queue.
    #[arg(long)]
    queue: Option<String>,
    /// Only jobs whose arguments, parameters or last error contain this
    /// text, in any case. A page reads at most 500 jobs of the state and
    /// says how far it searched; --cursor goes on.
    #[arg(long, value_name = "TEXT")]
    grep: Option<String>,
    /// Only retries: Scheduled jobs waiting for another run after a failed
    /// one (read like --grep).
    #[arg(long)]
    retries: bool,
    /// Only jobs that entered their state (Scheduled: are due) this long
    /// ago or less, e.g. 2h.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    since: Option<std::time::Duration>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Go on from where a previous listing stopped (the cursor it printed).
    #[arg(long)]
    cursor: Option<String>,
    #[command(flatten)]
    fmt: Format,
}

pub async fn show(client: &Client, JobArgs { id, fmt }: JobArgs) -> Result<(), Error> {
    let id = job_id(&id)?;
    let job = client
        .get(&id)
        .await?
        .ok_or_else(|| Fail::new(hangar::Error::NotFound { id: id.clone() }.to_string()))?;
    if fmt.json {
        Out::json(&hangar::json::JobJson::from(&job));
    } else {
        output::print_job(&job);
    }
    Ok(())
}

/// Pages of the listing until `--limit` jobs. What was left out is said on
/// standard error (standard output stays the list, or its JSON): the
/// cursor that goes on, and whether more keys had waiting jobs than a
/// listing reads.
pub async fn list(client: &Client, args: JobsArgs) -> Result<(), Error> {
    if let Some(tag) = &args.tag {
        return tagged(client, tag, &args).await;
    }
    let mut listing = hangar::ListQuery {
        queue: args.queue.clone(),
        search: args.grep.clone(),
        retries: args.retries,
        since: args.since.map(ago),
        ..hangar::ListQuery::state(args.state.unwrap_or(State::Enqueued))
    };
    // A cursor goes on with the same flags; the time `--since` meant is
    // the one its first page meant.
    let mut cursor = None;
    if let Some(text) = &args.cursor {
        let position = read_position(text)?;
        let same = hangar::ListQuery {
            since: position.query.since,
            ..listing.clone()
        };
        if position.query != same || args.since.is_some() != position.query.since.is_some() {
            return Err(Fail::usage(
                "--cursor: the cursor continues another listing; give the flags it was printed with",
            )
            .into());
        }
        listing = position.query;
        cursor = Some(position.cursor);
    }
    let mut jobs = Vec::new();
    let mut keys_left_out = false;
    let (mut read, mut searched_to) = (0, None);
    let next = if args.limit == 0 {
        None
    } else {
        loop {
            let page = client
                .list_page(&listing, args.limit - jobs.len(), cursor.as_ref())
                .await?;
            jobs.extend(page.jobs);
            keys_left_out |= page.keys_left_out;
            read += page.read;
            searched_to = page.searched_to.or(searched_to);
            match page.next {
                Some(next) if jobs.len() < args.limit => cursor = Some(next),
                next => break next,
            }
        }
    };
    print_listed(&jobs, args.fmt.json);
    if keys_left_out {
        eprintln!(
            "more keys have waiting jobs than a listing reads ({}): `hangar concurrency KEY` lists a key's",
            hangar::store::MAX_WAIT_KEYS
        );
    }
    if let Some(text) = &listing.search {
        eprintln!(
            "{} of {read} jobs read contain {text:?}{}",
            jobs.len(),
            searched_to
                .map(|t| format!(", searched to {}", output::short_time(t)))
                .unwrap_or_default()
        );
    }
    if let Some(next) = next {
        eprintln!("more: --cursor {}", cursor_text(&listing, next));
    }
    Ok(())
}

/// `hangar jobs --tag`: pages of the tag's listing until `--limit` jobs.
/// Its cursor names the tag (and state) it continues: another listing's
/// is refused.
async fn tagged(client: &Client, tag: &str, args: &JobsArgs) -> Result<(), Error> {
    // The cursor's listing names the state; the cursor itself names the
    // tag's partition, and the store refuses it for any other.
    let listing = hangar::ListQuery::state(args.state.unwrap_or(State::Enqueued));
    let mut cursor = args
        .cursor
        .as_deref()
        .map(|text| read_cursor(text, &listing))
        .transpose()?;
    let mut jobs = Vec::new();
    let next = if args.limit == 0 {
        None
    } else {
        loop {
            let page = client
                .tagged(tag, args.state, args.limit - jobs.len(), cursor.as_ref())
                .await?;
            jobs.extend(page.jobs);
            match page.next {
                Some(next) if jobs.len() < args.limit => cursor = Some(next),
                next => break next,
            }
        }
    };
    print_listed(&jobs, args.fmt.json);
    if let Some(next) = next {
        eprintln!("more: --cursor {}", cursor_text(&listing, next));
    }
    Ok(())
}

/// The jobs a listing found: their JSON, or a table.
fn print_listed(jobs: &[hangar::JobRecord], json: bool) {
    if json {
        let out: Vec<_> = jobs.iter().map(hangar::json::JobJson::from).collect();
        Out::json(&out);
    } else {
        output::print_jobs(jobs);
    }
}
