//! The commands: one file each (`job` and `jobs` share `jobs.rs`), holding
//! the command's arguments and its `run`. Here: the list of commands, as
//! `hangar --help` shows it, and the dispatch.

mod batch;
mod bulk;
mod common;
mod concurrency;
mod cron;
mod dashboard;
mod delete;
mod dev;
mod enqueue;
mod jobs;
mod logs;
mod queue;
mod recurring;
mod requeue;
mod reschedule;
mod setup;
mod stats;
mod worker;
mod workers;

use clap::Subcommand;
use hangar::Client;

use crate::Ctx;
use crate::output::Fail;

#[derive(Subcommand)]
pub enum Command {
    /// Create a job; prints its id (--json: the job as stored).
    Enqueue(Box<enqueue::EnqueueArgs>),
    /// Show one job: state, history, error.
    Job(jobs::JobArgs),
    /// List jobs in a state, newest first.
    Jobs(jobs::JobsArgs),
    /// The lines a job's runs logged, from the worker's CloudWatch Logs
    /// group, oldest first.
    Logs(logs::LogsArgs),
    /// Run a job again (from Failed, Succeeded, Deleted or Scheduled), or
    /// every job a filter lists.
    Requeue(requeue::RequeueArgs),
    /// Delete a job, or every job a filter lists (each moves to Deleted and
    /// expires with the retention).
    Delete(delete::DeleteArgs),
    /// Move a job's run time.
    Reschedule(reschedule::RescheduleArgs),
    /// Jobs per state, and messages per queue.
    Stats(stats::StatsArgs),
    /// Who ran what in the last minutes (from the runs' history).
    Workers(workers::WorkersArgs),
    /// Recurring jobs.
    #[command(subcommand)]
    Recurring(recurring::RecurringCommand),
    /// Pause and resume queues.
    #[command(subcommand)]
    Queue(queue::QueueCommand),
    /// Batches: jobs created together, with continuations that run when
    /// every job Succeeded or finished.
    #[command(subcommand)]
    Batch(batch::BatchCommand),
    /// A concurrency or ordering key: the runs holding its slots and the
    /// jobs waiting, oldest first.
    Concurrency(concurrency::ConcurrencyArgs),
    /// Cron expressions, evaluated exactly as the scheduler does.
    #[command(subcommand)]
    Cron(cron::CronCommand),
    /// Create the table and queues of a stack (idempotent).
    Setup(setup::SetupArgs),
    /// Serve a deployed stack's dashboard on 127.0.0.1, forwarding each
    /// request to the admin Function URL signed with your AWS credentials.
    Dashboard(dashboard::DashboardArgs),
    /// Run the whole system locally: emulator, resources, worker, timer, demo jobs.
    Dev(dev::DevArgs),
    /// Run the example worker (hello, sleep, flaky, fail) against the stack
    /// until Ctrl-C or SIGTERM, polling SQS like the Lambda event source.
    Worker(worker::WorkerArgs),
}

/// Why a command failed: a failure of its own (bad input, say), or the
/// library's error, which [`Ctx::fail`] turns into what to tell the user.
pub enum Error {
    Fail(Fail),
    Hangar(hangar::Error),
}

impl From<Fail> for Error {
    fn from(f: Fail) -> Self {
        Error::Fail(f)
    }
}

impl From<hangar::Error> for Error {
    fn from(e: hangar::Error) -> Self {
        Error::Hangar(e)
    }
}

pub async fn run(ctx: &Ctx, command: Command) -> Result<(), Fail> {
    match command {
        Command::Cron(cmd) => cron::run(cmd),
        Command::Dev(args) => dev::run(ctx, args).await,
        Command::Dashboard(args) => dashboard::run(ctx, args).await,
        Command::Logs(args) => logs::run(ctx, args).await,
        command => {
            let client = ctx.client().await?;
            with_client(ctx, &client, command)
                .await
                .map_err(|e| match e {
                    Error::Fail(f) => f,
                    Error::Hangar(e) => ctx.fail(&client.config().table, e),
                })
        }
    }
}

/// The commands that talk to the stack. A library error they return is
/// told as [`Ctx::fail`] words it, naming the table and endpoint.
async fn with_client(ctx: &Ctx, client: &Client, command: Command) -> Result<(), Error> {
    match command {
        Command::Enqueue(args) => enqueue::run(client, *args).await,
        Command::Job(args) => jobs::show(client, args).await,
        Command::Jobs(args) => jobs::list(client, args).await,
        Command::Requeue(args) => requeue::run(client, args).await,
        Command::Delete(args) => delete::run(client, args).await,
        Command::Reschedule(args) => reschedule::run(client, args).await,
        Command::Stats(args) => stats::run(client, args).await,
        Command::Workers(args) => workers::run(client, args).await,
        Command::Recurring(cmd) => recurring::run(client, cmd).await,
        Command::Queue(cmd) => queue::run(client, cmd).await,
        Command::Batch(cmd) => batch::run(client, cmd).await,
        Command::Concurrency(args) => concurrency::run(client, args).await,
        Command::Setup(args) => setup::run(ctx, client, args).await,
        Command::Worker(args) => worker::run(client, args).await,
        Command::Cron(_) | Command::Dev(_) | Command::Dashboard(_) | Command::Logs(_) => {
            unreachable!("handled without a client")
        }
    }
}
