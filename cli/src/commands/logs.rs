//! `hangar logs`: the lines a job's runs logged, read from the worker's
//! CloudWatch Logs group by the job's id (in `hangar dev`, the emulator's,
//! where the local worker's lines are shipped).

use clap::Args;
use hangar::logs::{LogPage, RunLogs};

use super::common::{Format, job_id, stored};
use crate::Ctx;
use crate::output::{Fail, Out};

#[derive(Args)]
pub struct LogsArgs {
    /// Job id.
    id: String,
    /// Go on from where a page stopped (the cursor it printed).
    #[arg(long)]
    cursor: Option<String>,
    /// Read every page, to the end of the job's window.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    fmt: Format,
}

pub async fn run(ctx: &Ctx, args: LogsArgs) -> Result<(), Fail> {
    let sdk = ctx.sdk().await;
    let config = ctx.config()?;
    let table = config.table.clone();
    let logs = RunLogs::new(&sdk, config.worker_log_group());
    let client = hangar::Client::new(&sdk, config);
    let id = job_id(&args.id)?;
    let job = (stored(&client, &id).await).map_err(|e| ctx.fail(&table, e))?;
    let mut cursor = args.cursor.clone();
    let mut pages = Vec::new();
    loop {
        let page = (logs
            .read(&job, client.clock().now(), cursor.as_deref())
            .await)
            .map_err(|e| ctx.fail(&table, e))?;
        cursor = page.cursor.clone();
        let last = !args.all || cursor.is_none();
        if args.fmt.json {
            pages.push(page);
        } else {
            print_page(&page);
        }
        if last {
            break;
        }
    }
    if args.fmt.json {
        let json: Vec<_> = (pages.iter())
            .map(|p| hangar_admin::api::LogsJson::new(&job, p))
            .collect();
        match &json[..] {
            [one] if !args.all => Out::json(one),
            all => Out::json(&all),
        }
    }
    if let Some(c) = cursor {
        eprintln!("more: hangar logs {id} --cursor '{c}'");
    }
    Ok(())
}

fn print_page(page: &LogPage) {
    if !page.group_found {
        eprintln!(
            "the log group {} does not exist (no run has logged yet; its name comes from HANGAR_WORKER_LOG_GROUP, else /aws/lambda/<stack>-worker)",
            page.group
        );
        return;
    }
    if page.lines.is_empty() && page.cursor.is_some() {
        eprintln!("none found yet: the search stopped part way through the window");
    } else if page.lines.is_empty() {
        eprintln!(
            "no lines in {} from {} to {}",
            page.group,
            page.from.to_rfc3339(),
            page.to.to_rfc3339()
        );
    }
    for l in &page.lines {
        let run = l.attempt.map(|a| format!("#{a}")).unwrap_or_default();
        let fields: String = (l.fields.iter())
            .map(|(k, v)| format!(" {k}={v}"))
            .collect();
        println!(
            "{}  {run:<3} {:<5} {}{fields}",
            l.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            l.level,
            l.message
        );
    }
}
