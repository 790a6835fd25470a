//! `hangar`: inspect and act on Hangar jobs in a deployed stack or a local
//! emulator, and run the whole system locally with `hangar dev`.

mod dev;
mod output;
mod parse;
mod proxy;

use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use hangar::{Client, ContinueOn, JobId, Misfire, NewJob, RecurringOptions, State, When};

use crate::output::{Fail, Out};

/// Hangfire-style background jobs on AWS: inspect and act on jobs.
///
/// Talks to the AWS endpoint in AWS_ENDPOINT_URL (AWS_ENDPOINT_URL_DYNAMODB
/// and AWS_ENDPOINT_URL_SQS per service), or --endpoint, with the usual AWS
/// credentials and region; resources are named after --stack.
#[derive(Parser)]
#[command(name = "hangar", version, propagate_version = true)]
struct Cli {
    /// Stack name: the table is <stack>-jobs, queues are <stack>-<queue>.
    #[arg(long, env = "HANGAR_STACK", default_value = "hangar", global = true)]
    stack: String,
    /// AWS endpoint of every service, e.g. http://127.0.0.1:4566 for an
    /// emulator. Without it the SDK's variables apply: AWS_ENDPOINT_URL, and
    /// AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS over it per service.
    #[arg(long, global = true)]
    endpoint: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a job; prints its id (--json: the job as stored).
    Enqueue(EnqueueArgs),
    /// Show one job: state, history, error.
    Job {
        /// Job id.
        id: String,
        #[command(flatten)]
        fmt: Format,
    },
    /// List jobs in a state, newest first.
    Jobs {
        /// State: enqueued, scheduled, awaiting, processing, succeeded, failed, deleted.
        #[arg(long, default_value = "enqueued", value_parser = parse::state)]
        state: State,
        /// Only jobs of this queue.
        #[arg(long)]
        queue: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        fmt: Format,
    },
    /// Run a job again (from Failed, Succeeded, Deleted or Scheduled).
    Requeue {
        /// Job id; or use --state to requeue every job in a state.
        #[arg(required_unless_present = "state", conflicts_with = "state")]
        id: Option<String>,
        /// Requeue every job in this state (e.g. failed).
        #[arg(long, value_parser = parse::state)]
        state: Option<State>,
        /// With --state: at most this many.
        #[arg(long, default_value_t = 10_000)]
        limit: usize,
        #[command(flatten)]
        fmt: Format,
    },
    /// Delete a job (it moves to Deleted and expires with the retention).
    Delete {
        /// Job id.
        id: String,
        #[command(flatten)]
        fmt: Format,
    },
    /// Move a job's run time.
    Reschedule {
        /// Job id.
        id: String,
        #[command(flatten)]
        when: WhenArgs,
        #[command(flatten)]
        fmt: Format,
    },
    /// Jobs per state, and messages per queue.
    Stats {
        #[command(flatten)]
        fmt: Format,
    },
    /// Recurring jobs.
    #[command(subcommand)]
    Recurring(RecurringCommand),
    /// Pause and resume queues.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Batches: jobs created together, with continuations that run when
    /// every job Succeeded or finished.
    #[command(subcommand)]
    Batch(BatchCommand),
    /// A concurrency or ordering key: the runs holding its slots and the
    /// jobs waiting, oldest first.
    Concurrency {
        /// The key.
        key: String,
        /// List at most this many waiting jobs.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        fmt: Format,
    },
    /// Cron expressions, evaluated exactly as the scheduler does.
    #[command(subcommand)]
    Cron(CronCommand),
    /// Create the table and queues of a stack (idempotent).
    Setup {
        /// Queues to create.
        #[arg(long, value_delimiter = ',', default_value = "default")]
        queues: Vec<String>,
    },
    /// Serve a deployed stack's dashboard on 127.0.0.1, forwarding each
    /// request to the admin Function URL signed with your AWS credentials.
    Dashboard(proxy::DashboardArgs),
    /// Run the whole system locally: emulator, resources, worker, timer, demo jobs.
    Dev(dev::DevArgs),
    /// Run the example worker (hello, sleep, flaky, fail) against the stack
    /// until Ctrl-C or SIGTERM, polling SQS like the Lambda event source.
    Worker {
        /// Queues to poll.
        #[arg(long, value_delimiter = ',', default_value = "default")]
        queues: Vec<String>,
        /// Concurrent pollers per queue.
        #[arg(long, default_value_t = 4)]
        pollers: usize,
    },
}

#[derive(Args)]
struct EnqueueArgs {
    /// Job kind, as the worker registers it (e.g. hello).
    kind: String,
    /// Arguments as JSON.
    #[arg(long, default_value = "{}", value_parser = parse::json)]
    args: serde_json::Value,
    /// Queue.
    #[arg(long, default_value = "default")]
    queue: String,
    #[command(flatten)]
    when: OptionalWhen,
    /// Run after this job finishes (a continuation).
    #[arg(long, conflicts_with_all = ["delay", "at"])]
    after: Option<String>,
    /// With --after: run whatever the parent's final state, not only on success.
    #[arg(long, requires = "after")]
    on_any_finished: bool,
    /// Retries after the first failure (default: the job's policy, 10).
    #[arg(long)]
    retries: Option<u32>,
    /// How long one run may take (default 5m; at most 7d); a run still
    /// going then is stopped and counts as a failure.
    #[arg(long, value_parser = parse::duration)]
    timeout: Option<Duration>,
    /// Keep the job this long once Succeeded or Deleted (default: the
    /// stack's retention).
    #[arg(long, value_parser = parse::duration)]
    retention: Option<Duration>,
    /// Give up (Deleted, with the reason) if the job has not started this
    /// long after it was enqueued or became due, e.g. 30s, 5m.
    #[arg(long, value_parser = parse::duration)]
    start_within: Option<Duration>,
    /// At most N starts per PERIOD among the jobs naming KEY, across all
    /// workers: KEY=N/PERIOD, e.g. stripe=25/1s.
    #[arg(long, value_parser = parse::rate)]
    rate: Option<(String, u32, Duration)>,
    /// At most N runs at once among the jobs naming KEY, across all
    /// workers: KEY=N (KEY=1: one at a time).
    #[arg(long, value_parser = parse::concurrency)]
    concurrency: Option<(String, u32)>,
    /// Jobs naming KEY run one at a time, in the order they were created.
    #[arg(long, conflicts_with = "concurrency")]
    ordered: Option<String>,
    /// A job parameter, NAME=VALUE (repeatable), shown with the job.
    #[arg(long = "param", value_parser = parse::param)]
    params: Vec<(String, String)>,
    /// Create this many identical jobs (batch writes; prints every id).
    #[arg(long, conflicts_with = "after", value_parser = parse::count)]
    count: Option<usize>,
    #[command(flatten)]
    fmt: Format,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct WhenArgs {
    /// Delay from now: 30s, 10m, 2h, 1d, 1h30m.
    #[arg(long, value_parser = parse::duration)]
    delay: Option<Duration>,
    /// Absolute time, RFC 3339 (2026-01-01T09:00:00Z).
    #[arg(long, value_parser = parse::time)]
    at: Option<DateTime<Utc>>,
}

#[derive(Args)]
#[group(required = false, multiple = false)]
struct OptionalWhen {
    /// Delay from now: 30s, 10m, 2h, 1d, 1h30m.
    #[arg(long, value_parser = parse::duration)]
    delay: Option<Duration>,
    /// Absolute time, RFC 3339 (2026-01-01T09:00:00Z).
    #[arg(long, value_parser = parse::time)]
    at: Option<DateTime<Utc>>,
}

impl OptionalWhen {
    fn when(&self) -> Option<When> {
        self.delay.map(When::In).or_else(|| self.at.map(When::At))
    }
}

#[derive(Args, Clone, Copy)]
struct Format {
    /// Machine-readable JSON output.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BatchCommand {
    /// Create a batch; prints its id (--json: the batch and its job ids).
    /// Its jobs are read as job requests
    /// (docs/intake.md, without hangar_intake and idempotency_key), one
    /// JSON object per line or one JSON array.
    Create {
        /// File of job requests; - reads standard input.
        #[arg(long, default_value = "-")]
        file: String,
        /// What the batch is for.
        #[arg(long)]
        description: Option<String>,
        /// The batch's id (a creation with an existing id fails; one cut
        /// short is completed).
        #[arg(long)]
        id: Option<String>,
        /// A continuation that runs if every job Succeeded: a kind, or a
        /// job request as JSON (repeatable).
        #[arg(long = "then")]
        then: Vec<String>,
        /// A continuation that runs when every job finished, whatever the
        /// outcome: a kind, or a job request as JSON (repeatable).
        #[arg(long = "then-any")]
        then_any: Vec<String>,
        #[command(flatten)]
        fmt: Format,
    },
    /// A batch's progress: jobs pending, succeeded, failed, deleted.
    Show {
        /// Batch id.
        id: String,
        /// Also list its jobs, this many from the first.
        #[arg(long, default_value_t = 0)]
        jobs: usize,
        #[command(flatten)]
        fmt: Format,
    },
    /// Batches, newest first.
    List {
        /// At most this many (up to 100).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        fmt: Format,
    },
    /// Add a continuation to a batch (run at once if it already completed).
    Continue {
        /// Batch id.
        id: String,
        /// Job kind.
        kind: String,
        /// Arguments as JSON.
        #[arg(long, default_value = "{}", value_parser = parse::json)]
        args: serde_json::Value,
        /// Queue.
        #[arg(long, default_value = "default")]
        queue: String,
        /// Run whatever the jobs' outcome, not only if every job Succeeded.
        #[arg(long)]
        on_any_finished: bool,
        #[command(flatten)]
        fmt: Format,
    },
}

#[derive(Subcommand)]
enum QueueCommand {
    /// Stop starting jobs from a queue within seconds; its jobs wait, parked,
    /// until it is resumed. Enqueuing to it still works.
    Pause {
        /// Queue name.
        name: String,
        #[command(flatten)]
        fmt: Format,
    },
    /// Start jobs from a paused queue again, waking its parked jobs.
    Resume {
        /// Queue name.
        name: String,
        #[command(flatten)]
        fmt: Format,
    },
    /// Each queue of the stack: paused or running, and its messages.
    List {
        #[command(flatten)]
        fmt: Format,
    },
}

#[derive(Subcommand)]
enum RecurringCommand {
    /// Add a recurring job, or update the one with this id.
    Add {
        /// Recurring job id.
        id: String,
        /// Cron: 5 fields, 6 with seconds first, or @hourly/@daily/@weekly/@monthly/@yearly.
        #[arg(long)]
        cron: String,
        /// IANA time zone the expression is read in.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// Job kind.
        #[arg(long)]
        kind: String,
        /// Arguments as JSON.
        #[arg(long, default_value = "{}", value_parser = parse::json)]
        args: serde_json::Value,
        /// Queue.
        #[arg(long, default_value = "default")]
        queue: String,
        /// After missed occurrences: relaxed (run once), strict (run each), ignorable (skip).
        #[arg(long, default_value = "relaxed", value_parser = parse::misfire)]
        misfire: Misfire,
        #[command(flatten)]
        fmt: Format,
    },
    /// List recurring jobs.
    List {
        #[command(flatten)]
        fmt: Format,
    },
    /// Run a recurring job now (its schedule is unchanged); prints the job
    /// id (--json: the job as stored).
    Trigger {
        /// Recurring job id.
        id: String,
        #[command(flatten)]
        fmt: Format,
    },
    /// Remove a recurring job.
    Remove {
        /// Recurring job id.
        id: String,
        #[command(flatten)]
        fmt: Format,
    },
    /// Stop firing until enabled.
    Disable {
        /// Recurring job id.
        id: String,
        #[command(flatten)]
        fmt: Format,
    },
    /// Fire again from the next occurrence.
    Enable {
        /// Recurring job id.
        id: String,
        #[command(flatten)]
        fmt: Format,
    },
}

#[derive(Subcommand)]
enum CronCommand {
    /// Print the next occurrences strictly after an instant, one RFC 3339
    /// timestamp (with the zone's offset) per line.
    Next {
        /// Cron expression.
        expr: String,
        /// IANA time zone.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// Start instant, RFC 3339 (default now).
        #[arg(long, value_parser = parse::time)]
        after: Option<DateTime<Utc>>,
        /// How many occurrences.
        #[arg(long, default_value_t = 5)]
        count: usize,
        #[command(flatten)]
        fmt: Format,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(fail) => {
            eprintln!("error: {fail}");
            ExitCode::from(fail.code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Fail> {
    let ctx = Ctx {
        stack: cli.stack,
        endpoint: cli.endpoint,
    };
    match cli.command {
        Command::Cron(CronCommand::Next {
            expr,
            tz,
            after,
            count,
            fmt,
        }) => {
            let schedule = hangar::cron::Schedule::parse(&expr, &tz).map_err(Fail::usage)?;
            let times = schedule.upcoming(after.unwrap_or_else(Utc::now), count);
            let zone = schedule.tz();
            let out: Vec<String> = times
                .iter()
                .map(|t| t.with_timezone(&zone).to_rfc3339())
                .collect();
            if fmt.json {
                Out::json(&out);
            } else {
                for t in out {
                    println!("{t}");
                }
            }
            Ok(())
        }
        Command::Dev(args) => dev::run(&ctx, args).await,
        Command::Dashboard(args) => proxy::run(&ctx, args).await,
        command => {
            let client = ctx.client().await?;
            commands(&ctx, &client, command).await
        }
    }
}

/// Where the command talks to.
pub(crate) struct Ctx {
    pub(crate) stack: String,
    /// `--endpoint`: every service at this URL. Without it the SDK reads
    /// the standard variables itself.
    pub(crate) endpoint: Option<String>,
}

/// An environment variable, unless unset or empty.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Ctx {
    /// The SDK configuration. An endpoint set here would override the
    /// per-service variables (`AWS_ENDPOINT_URL_DYNAMODB`,
    /// `AWS_ENDPOINT_URL_SQS`), so only `--endpoint` is: `AWS_ENDPOINT_URL`
    /// is left to the SDK, which lets those override it.
    pub(crate) async fn sdk(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(e) = &self.endpoint {
            loader = loader.endpoint_url(e);
        }
        loader.load().await
    }

    /// One endpoint for everything (`hangar dev`): `--endpoint`, else
    /// `AWS_ENDPOINT_URL`.
    pub(crate) fn shared_endpoint(&self) -> Option<String> {
        self.endpoint
            .clone()
            .or_else(|| env_var("AWS_ENDPOINT_URL"))
    }

    pub(crate) fn config(&self) -> Result<hangar::Config, Fail> {
        let mut config = hangar::Config::from_env().map_err(Fail::usage)?;
        if config.stack != self.stack {
            let table = std::env::var("HANGAR_TABLE").ok();
            config = hangar::Config {
                table: table.unwrap_or_else(|| format!("{}-jobs", self.stack)),
                stack: self.stack.clone(),
                ..config
            };
        }
        Ok(config)
    }

    pub(crate) async fn client(&self) -> Result<Client, Fail> {
        Ok(Client::new(&self.sdk().await, self.config()?))
    }

    /// Where requests to `service` (`DynamoDB`, `SQS`) go, and what set
    /// it (`--endpoint` or the variable), as the SDK resolves it.
    pub(crate) fn endpoint_of(&self, service: Option<&str>) -> (String, String) {
        if let Some(e) = &self.endpoint {
            return (e.clone(), "--endpoint".to_owned());
        }
        let own = service.map(|s| format!("AWS_ENDPOINT_URL_{}", s.to_ascii_uppercase()));
        own.into_iter()
            .chain(["AWS_ENDPOINT_URL".to_owned()])
            .find_map(|var| env_var(&var).map(|url| (url, var)))
            .unwrap_or_else(|| {
                (
                    "AWS (no AWS_ENDPOINT_URL set)".to_owned(),
                    "AWS_ENDPOINT_URL".to_owned(),
                )
            })
    }

    /// Turns a library error into what to tell the user.
    pub(crate) fn fail(&self, table: &str, e: hangar::Error) -> Fail {
        let chain = hangar::error::error_chain(&e);
        let service = match &e {
            hangar::Error::Aws { service, .. } => Some(*service),
            _ => None,
        };
        if chain.contains("ResourceNotFoundException") || chain.contains("non-existent table") {
            let (url, var) = self.endpoint_of(Some("DynamoDB"));
            Fail::new(format!(
                "no table {table} at {url} — run `hangar dev`, or `hangar setup`, or set {var} / --stack to the right place"
            ))
        } else if chain.contains("QueueDoesNotExist") || chain.contains("NonExistentQueue") {
            let (url, _) = self.endpoint_of(Some("SQS"));
            Fail::new(format!(
                "{e}: the queue does not exist at {url} — create it with `hangar setup --queues NAME`"
            ))
        } else if chain.contains("dispatch failure") || chain.contains("Connection refused") {
            let (url, var) = self.endpoint_of(service);
            Fail::new(format!(
                "cannot reach {url} ({chain}) — start the emulator with `hangar dev` or check {var}"
            ))
        } else if matches!(
            e,
            hangar::Error::NotFound { .. }
                | hangar::Error::RecurringNotFound { .. }
                | hangar::Error::BatchNotFound { .. }
                | hangar::Error::Invalid { .. }
                | hangar::Error::InvalidTransition { .. }
                | hangar::Error::PayloadTooLarge { .. }
                | hangar::Error::AlreadyExists { .. }
        ) {
            Fail::new(e.to_string())
        } else {
            Fail::new(chain)
        }
    }
}

fn job_id(s: &str) -> Result<JobId, Fail> {
    JobId::parse(s).map_err(Fail::usage)
}

/// A job read back after the command wrote it.
async fn stored(client: &Client, id: &JobId) -> hangar::Result<hangar::JobRecord> {
    client
        .get(id)
        .await?
        .ok_or_else(|| hangar::Error::NotFound { id: id.clone() })
}

/// A job the command created: its id, or with `--json` the job as stored
/// (read back).
async fn created(client: &Client, id: &JobId, fmt: Format) -> hangar::Result<()> {
    if fmt.json {
        Out::json(&hangar::json::JobJson::from(&stored(client, id).await?));
    } else {
        println!("{id}");
    }
    Ok(())
}

impl EnqueueArgs {
    /// The job the arguments describe.
    fn new_job(&self) -> NewJob {
        let mut job = NewJob::new(&self.kind, self.args.clone()).queue(&self.queue);
        if let Some(r) = self.retries {
            job = job.retries(r);
        }
        if let Some(t) = self.timeout {
            job = job.timeout(t);
        }
        if let Some(keep) = self.retention {
            job = job.retention(keep);
        }
        if let Some(latency) = self.start_within {
            job = job.start_within(latency);
        }
        if let Some((key, n, per)) = &self.rate {
            job = job.rate(key.clone(), *n, *per);
        }
        if let Some((key, n)) = &self.concurrency {
            job = job.concurrency(key.clone(), *n);
        }
        if let Some(key) = &self.ordered {
            job = job.ordered(key.clone());
        }
        for (name, value) in &self.params {
            job = job.param(name.clone(), value.clone());
        }
        job
    }
}

/// `hangar enqueue`: one job (a continuation of `parent` if given) or,
/// with `--count`, many.
async fn enqueue(client: &Client, a: EnqueueArgs, parent: Option<JobId>) -> hangar::Result<()> {
    let job = a.new_job();
    let when = a.when.when();
    let Some(count) = a.count else {
        let id = match (&parent, when) {
            (Some(parent), _) => {
                let on = if a.on_any_finished {
                    ContinueOn::AnyFinished
                } else {
                    ContinueOn::Succeeded
                };
                client.continue_with(parent, job, on).await?
            }
            (None, Some(when)) => client.schedule(job, when).await?,
            (None, None) => client.enqueue(job).await?,
        };
        return created(client, &id, a.fmt).await;
    };
    // Ids are printed as they are created, or all at once with --json.
    let mut all = Vec::new();
    let bar = output::progress(
        count as u64,
        if when.is_some() {
            "scheduling"
        } else {
            "enqueuing"
        },
    );
    let mut done = |ids: Vec<JobId>| {
        if !a.fmt.json {
            bar.suspend(|| {
                for id in &ids {
                    println!("{id}");
                }
            });
        }
        bar.inc(ids.len() as u64);
        all.extend(ids);
    };
    let result = async {
        if let Some(when) = when {
            for _ in 0..count {
                done(vec![client.schedule(job.clone(), when).await?]);
            }
        } else {
            // enqueue_many writes in batches of 25 and sends in batches of 10.
            for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
                done(
                    client
                        .enqueue_many(chunk.iter().map(|_| job.clone()))
                        .await?,
                );
            }
        }
        hangar::Result::Ok(())
    }
    .await;
    bar.finish_and_clear();
    // Cut short: what was created is still told.
    if a.fmt.json && (result.is_ok() || !all.is_empty()) {
        let state = if when.is_some() {
            State::Scheduled
        } else {
            State::Enqueued
        };
        Out::json(&output::Created {
            state: state.to_string(),
            ids: all.iter().map(ToString::to_string).collect(),
        });
    }
    result
}

async fn commands(ctx: &Ctx, client: &Client, command: Command) -> Result<(), Fail> {
    let table = client.config().table.clone();
    let fail = |e: hangar::Error| ctx.fail(&table, e);
    match command {
        Command::Enqueue(a) => {
            let parent = a.after.as_deref().map(job_id).transpose()?;
            enqueue(client, a, parent).await.map_err(fail)?;
        }
        Command::Job { id, fmt } => {
            let id = job_id(&id)?;
            let job =
                client.get(&id).await.map_err(fail)?.ok_or_else(|| {
                    Fail::new(hangar::Error::NotFound { id: id.clone() }.to_string())
                })?;
            if fmt.json {
                Out::json(&hangar::json::JobJson::from(&job));
            } else {
                output::print_job(&job);
            }
        }
        Command::Jobs {
            state,
            queue,
            limit,
            fmt,
        } => {
            let jobs = client
                .list(state, queue.as_deref(), limit)
                .await
                .map_err(fail)?;
            if fmt.json {
                let out: Vec<_> = jobs.iter().map(hangar::json::JobJson::from).collect();
                Out::json(&out);
            } else {
                output::print_jobs(&jobs);
            }
        }
        Command::Requeue {
            id,
            state,
            limit,
            fmt,
        } => {
            if let Some(id) = id {
                let id = job_id(&id)?;
                let job = client.requeue(&id).await.map_err(fail)?;
                output::changed(&job, fmt.json, || println!("{id} requeued"));
            } else if let Some(state) = state {
                let jobs = client.list(state, None, limit).await.map_err(fail)?;
                let bar = output::progress(jobs.len() as u64, "requeuing");
                let ids: Vec<JobId> = jobs.into_iter().map(|j| j.id).collect();
                let results = client
                    .requeue_many(&ids, 16, |id, res| {
                        if let Err(e) = res {
                            bar.suspend(|| eprintln!("{id}: {e}"));
                        }
                        bar.inc(1);
                    })
                    .await;
                bar.finish_and_clear();
                let outcome = output::Requeued::of(&results);
                let failed = outcome.failed.len();
                if fmt.json {
                    Out::json(&outcome);
                } else {
                    println!("{} requeued, {failed} failed", outcome.requeued.len());
                }
                if failed > 0 {
                    return Err(Fail::new(format!("{failed} jobs could not be requeued")));
                }
            }
        }
        Command::Delete { id, fmt } => {
            let id = job_id(&id)?;
            let job = client.delete(&id).await.map_err(fail)?;
            output::changed(&job, fmt.json, || println!("{id} deleted"));
        }
        Command::Reschedule { id, when, fmt } => {
            let id = job_id(&id)?;
            let w = when
                .delay
                .map(When::In)
                .or(when.at.map(When::At))
                .expect("clap requires one");
            let at = client.reschedule(&id, w).await.map_err(fail)?.to_rfc3339();
            if fmt.json {
                // The library gives the new due time; the job is read back.
                let job = stored(client, &id).await.map_err(fail)?;
                Out::json(&hangar::json::JobJson::from(&job));
            } else {
                println!("{id} rescheduled to {at}");
            }
        }
        Command::Stats { fmt } => {
            let stats = output::Stats::collect(client).await.map_err(fail)?;
            if fmt.json {
                Out::json(stats.json());
            } else {
                stats.print();
            }
        }
        Command::Recurring(cmd) => recurring(client, cmd).await.map_err(fail)?,
        Command::Queue(cmd) => queue(client, cmd).await.map_err(fail)?,
        Command::Batch(command) => batch_command(client, command).await.map_err(|e| match e {
            BatchFail::Usage(f) => f,
            BatchFail::Hangar(e) => fail(e),
        })?,
        Command::Concurrency { key, limit, fmt } => {
            let k = client.concurrency_key(&key).await.map_err(fail)?;
            let mut waiting = Vec::new();
            let mut cursor = None;
            let more = loop {
                let page = client
                    .waiting_jobs(&key, (limit - waiting.len()).clamp(1, 100), cursor.as_ref())
                    .await
                    .map_err(fail)?;
                waiting.extend(page.jobs);
                match page.next {
                    Some(next) if waiting.len() < limit => cursor = Some(next),
                    next => break next.is_some(),
                }
            };
            waiting.truncate(limit);
            if fmt.json {
                let jobs: Vec<_> = waiting.iter().map(hangar::json::JobJson::from).collect();
                Out::json(&serde_json::json!({
                    "key": key,
                    "limit": k.limit,
                    "running": k.live,
                    "expired": k.expired,
                    "waiting": k.waiting,
                    "next": k.next,
                    "waiting_jobs": jobs,
                    "more_waiting": more,
                }));
            } else {
                println!("key      {key}");
                println!("limit    {}", k.limit);
                println!("running  {} {}", k.live.len(), k.live.join(" "));
                println!("waiting  {}", k.waiting);
                for j in &waiting {
                    println!(
                        "         {} {} (created {})",
                        j.id,
                        j.kind,
                        output::short_time(j.created_at)
                    );
                }
                if more {
                    println!("         … more (--limit)");
                }
                if let Some(next) = k.next {
                    println!("next     {next} (ordered: the job numbered so starts next)");
                }
                if !k.expired.is_empty() {
                    println!(
                        "expired  {} (freed at the next take or timer look)",
                        k.expired.join(" ")
                    );
                }
            }
        }
        Command::Setup { queues } => {
            let sdk = ctx.sdk().await;
            let names: Vec<&str> = queues.iter().map(String::as_str).collect();
            let urls = hangar::setup::ensure_with(
                &sdk,
                client.config(),
                &names,
                &hangar::setup::QueueSettings::default(),
            )
            .await
            .map_err(fail)?;
            println!("table  {}", client.config().table);
            for (name, url) in urls {
                println!("queue  {name}  {url}");
            }
        }
        Command::Worker { queues, pollers } => {
            hangar::run::init_tracing();
            let worker = hangar::Worker::new(client, hangar_worker::jobs::registry());
            eprintln!(
                "worker polling {} on stack {} (Ctrl-C stops)",
                queues.join(","),
                client.config().stack
            );
            hangar::run::poll(&worker, &queues, pollers.max(1), hangar::run::shutdown()).await;
        }
        Command::Cron(_) | Command::Dev(_) | Command::Dashboard(_) => {
            unreachable!("handled without a client")
        }
    }
    Ok(())
}

async fn queue(client: &Client, cmd: QueueCommand) -> hangar::Result<()> {
    match cmd {
        QueueCommand::Pause { name, fmt } => {
            let control = client.pause_queue(&name).await?;
            if fmt.json {
                Out::json(&control);
            } else {
                println!(
                    "paused {name}: no job starts from it within {}s; its jobs wait until `hangar queue resume {name}`",
                    hangar::worker::PAUSE_CHECK.as_secs()
                );
            }
        }
        QueueCommand::Resume { name, fmt } => {
            let (control, woken) = client.resume_queue(&name).await?;
            if fmt.json {
                Out::json(&output::Resumed { control, woken });
            } else {
                println!("resumed {name}: {woken} parked job(s) woken");
            }
        }
        QueueCommand::List { fmt } => {
            let depths = client.queue_depths().await?;
            let names: Vec<String> = depths
                .iter()
                .filter(|d| !d.name.ends_with("-dlq"))
                .map(|d| d.name.clone())
                .collect();
            let controls = client.queue_controls(&names).await?;
            if fmt.json {
                Out::json(&controls);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = controls
                .iter()
                .map(|c| {
                    let d = depths.iter().find(|d| d.name == c.name);
                    vec![
                        c.name.clone(),
                        if c.paused { "paused" } else { "running" }.to_owned(),
                        c.paused_at
                            .filter(|_| c.paused)
                            .map(output::short_time)
                            .unwrap_or_default(),
                        d.map(|d| d.visible.to_string()).unwrap_or_default(),
                        d.map(|d| d.in_flight.to_string()).unwrap_or_default(),
                        d.map(|d| d.delayed.to_string()).unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "QUEUE",
                    "STATUS",
                    "SINCE",
                    "VISIBLE",
                    "IN FLIGHT",
                    "DELAYED",
                ],
                &rows,
            );
        }
    }
    Ok(())
}

async fn recurring(client: &Client, cmd: RecurringCommand) -> hangar::Result<()> {
    let r = client.recurring();
    match cmd {
        RecurringCommand::Add {
            id,
            cron,
            tz,
            kind,
            args,
            queue,
            misfire,
            fmt,
        } => {
            let rec = r
                .add_or_update(
                    &id,
                    NewJob::new(kind, args).queue(queue),
                    &cron,
                    RecurringOptions::default().tz(tz).misfire(misfire),
                )
                .await?;
            if fmt.json {
                Out::json(&hangar::json::RecurringJson::from(&rec));
            } else {
                let next = rec.next_run.map(|t| t.to_rfc3339()).unwrap_or_default();
                println!("{id} next run {next}");
            }
        }
        RecurringCommand::List { fmt } => {
            if fmt.json {
                let list = r.list().await?;
                let out: Vec<_> = list.iter().map(hangar::json::RecurringJson::from).collect();
                Out::json(&out);
            } else {
                output::print_recurring(&r.statuses().await?);
            }
        }
        RecurringCommand::Trigger { id, fmt } => {
            created(client, &r.trigger(&id).await?, fmt).await?
        }
        RecurringCommand::Remove { id, fmt } => {
            if !r.remove(&id).await? {
                return Err(hangar::Error::RecurringNotFound { id });
            }
            if fmt.json {
                Out::json(&serde_json::json!({ "id": id, "removed": true }));
            } else {
                println!("{id} removed");
            }
        }
        RecurringCommand::Disable { id, fmt } => {
            r.disable(&id).await?;
            recurring_changed(&r, &id, fmt, "disabled").await?;
        }
        RecurringCommand::Enable { id, fmt } => {
            r.enable(&id).await?;
            recurring_changed(&r, &id, fmt, "enabled").await?;
        }
    }
    Ok(())
}

/// After a disable or an enable: the recurring job as stored (read back),
/// or what was done.
async fn recurring_changed(
    r: &hangar::recurring::Recurring<'_>,
    id: &str,
    fmt: Format,
    done: &str,
) -> hangar::Result<()> {
    if fmt.json {
        let rec = r
            .get(id)
            .await?
            .ok_or_else(|| hangar::Error::RecurringNotFound { id: id.to_owned() })?;
        Out::json(&hangar::json::RecurringJson::from(&rec));
    } else {
        println!("{id} {done}");
    }
    Ok(())
}

/// Why a batch command failed: the user's input, or the library.
enum BatchFail {
    Usage(Fail),
    Hangar(hangar::Error),
}

impl From<hangar::Error> for BatchFail {
    fn from(e: hangar::Error) -> Self {
        BatchFail::Hangar(e)
    }
}

async fn batch_command(client: &Client, command: BatchCommand) -> Result<(), BatchFail> {
    let usage = |m: String| BatchFail::Usage(Fail::usage(m));
    match command {
        BatchCommand::Create {
            file,
            description,
            id,
            then,
            then_any,
            fmt,
        } => {
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(&file)
            }
            .map_err(|e| usage(format!("cannot read {file}: {e}")))?;
            let jobs = parse::job_requests(&text).map_err(usage)?;
            let mut continuations = Vec::new();
            for (list, on) in [(then, "succeeded"), (then_any, "any_finished")] {
                for c in list {
                    let mut request = parse::job_request(&c).map_err(usage)?;
                    request["on"] = on.into();
                    continuations.push(request);
                }
            }
            let request = serde_json::json!({
                "hangar_batch": 1,
                "description": description,
                "jobs": jobs,
                "continuations": continuations,
            });
            let batch = match hangar::intake::parse_message(&request.to_string(), None) {
                hangar::intake::Message::Batch(b, _) => b,
                hangar::intake::Message::Invalid(reason) => return Err(usage(reason)),
                _ => unreachable!("a batch request parses as one"),
            };
            let id = match id {
                Some(id) => job_id(&id).map_err(BatchFail::Usage)?,
                None => JobId::generate(),
            };
            let id = client
                .start_batch(batch.to_batch(id, "default", None)?)
                .await?;
            if fmt.json {
                // The batch as stored, read back, and the ids of its jobs.
                let b = client
                    .batch(&id)
                    .await?
                    .ok_or(hangar::Error::BatchNotFound { id })?;
                let mut out = serde_json::to_value(hangar::json::BatchJson::from(&b))
                    .expect("plain data serializes");
                out["job_ids"] = (1..=b.total).map(|n| b.job_id(n).to_string()).collect();
                Out::json(&out);
            } else {
                println!("{id}");
            }
        }
        BatchCommand::Show { id, jobs, fmt } => {
            let id = job_id(&id).map_err(BatchFail::Usage)?;
            let b = client.batch(&id).await?.ok_or_else(|| {
                BatchFail::Usage(Fail::new(
                    hangar::Error::BatchNotFound { id: id.clone() }.to_string(),
                ))
            })?;
            let listed = client.batch_jobs(&b, 1, jobs).await?;
            if fmt.json {
                let mut out = serde_json::to_value(hangar::json::BatchJson::from(&b))
                    .expect("plain data serializes");
                if jobs > 0 {
                    out["jobs"] = serde_json::to_value(
                        listed
                            .iter()
                            .map(hangar::json::JobJson::from)
                            .collect::<Vec<_>>(),
                    )
                    .expect("plain data serializes");
                }
                Out::json(&out);
            } else {
                output::print_batch(&b);
                if !listed.is_empty() {
                    println!();
                    output::print_jobs(&listed);
                }
            }
        }
        BatchCommand::List { limit, fmt } => {
            let list = client.batches(limit.min(100)).await?;
            if fmt.json {
                let out: Vec<_> = list.iter().map(hangar::json::BatchJson::from).collect();
                Out::json(&out);
            } else {
                output::print_batches(&list);
            }
        }
        BatchCommand::Continue {
            id,
            kind,
            args,
            queue,
            on_any_finished,
            fmt,
        } => {
            let id = job_id(&id).map_err(BatchFail::Usage)?;
            let on = if on_any_finished {
                ContinueOn::AnyFinished
            } else {
                ContinueOn::Succeeded
            };
            let job = NewJob::new(&kind, args).queue(&queue);
            let cont = client.continue_batch_with(&id, job, on).await?;
            created(client, &cont, fmt).await?;
        }
    }
    Ok(())
}
