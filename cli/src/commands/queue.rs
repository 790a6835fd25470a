//! `hangar queue`: pause and resume a queue, and list the queues.

use clap::Subcommand;
use hangar::Client;

use super::Error;
use super::common::Format;
use crate::output::{self, Out};

#[derive(Subcommand)]
pub enum QueueCommand {
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

pub async fn run(client: &Client, cmd: QueueCommand) -> Result<(), Error> {
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
