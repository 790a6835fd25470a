//! `hangar batch`: create a batch, show one, list them, and add a
//! continuation.

use clap::Subcommand;
use hangar::{Client, ContinueOn, JobId, NewJob};

use super::Error;
use super::common::{Format, created, job_id};
use crate::output::{self, Fail, Out};
use crate::parse;

#[derive(Subcommand)]
pub enum BatchCommand {
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

pub async fn run(client: &Client, command: BatchCommand) -> Result<(), Error> {
    let usage = |m: String| Error::Fail(Fail::usage(m));
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
                Some(id) => job_id(&id)?,
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
            let id = job_id(&id)?;
            let b = client.batch(&id).await?.ok_or_else(|| {
                Fail::new(hangar::Error::BatchNotFound { id: id.clone() }.to_string())
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
            let id = job_id(&id)?;
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
