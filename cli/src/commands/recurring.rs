//! `hangar recurring`: add, list, trigger, remove, disable and enable
//! recurring jobs.

use clap::Subcommand;
use hangar::{Client, Misfire, NewJob, RecurringOptions};

use super::Error;
use super::common::{Format, created};
use crate::output::{self, Out};
use crate::parse;

#[derive(Subcommand)]
pub enum RecurringCommand {
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

pub async fn run(client: &Client, cmd: RecurringCommand) -> Result<(), Error> {
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
                return Err(hangar::Error::RecurringNotFound { id }.into());
            }
            if fmt.json {
                Out::json(&serde_json::json!({ "id": id, "removed": true }));
            } else {
                println!("{id} removed");
            }
        }
        RecurringCommand::Disable { id, fmt } => {
            r.disable(&id).await?;
            changed(&r, &id, fmt, "disabled").await?;
        }
        RecurringCommand::Enable { id, fmt } => {
            r.enable(&id).await?;
            changed(&r, &id, fmt, "enabled").await?;
        }
    }
    Ok(())
}

/// After a disable or an enable: the recurring job as stored (read back),
/// or what was done.
async fn changed(
    r: &hangar::client::Recurring<'_>,
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
