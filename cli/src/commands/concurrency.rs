//! `hangar concurrency`: a concurrency or ordering key's slots and waiting
//! jobs.

use clap::Args;
use hangar::Client;

use super::Error;
use super::common::{Format, cursor_text, read_cursor};
use crate::output::{self, Out};

#[derive(Args)]
pub struct ConcurrencyArgs {
    /// The key.
    key: String,
    /// List at most this many waiting jobs.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Go on from where a previous listing stopped (the cursor it printed).
    #[arg(long)]
    cursor: Option<String>,
    #[command(flatten)]
    fmt: Format,
}

pub async fn run(client: &Client, args: ConcurrencyArgs) -> Result<(), Error> {
    let ConcurrencyArgs {
        key,
        limit,
        cursor,
        fmt,
    } = args;
    let listing = hangar::ListQuery::state(hangar::State::Enqueued);
    let mut cursor = match cursor {
        Some(text) => Some(read_cursor(&text, &listing)?),
        None => None,
    };
    let k = client.concurrency_key(&key).await?;
    let mut waiting = Vec::new();
    let next = loop {
        let page = client
            .waiting_jobs(&key, (limit - waiting.len()).clamp(1, 100), cursor.as_ref())
            .await?;
        waiting.extend(page.jobs);
        match page.next {
            Some(next) if waiting.len() < limit => cursor = Some(next),
            next => break next,
        }
    };
    let next_cursor = next.map(|next| cursor_text(&listing, next));
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
            "more_waiting": next_cursor.is_some(),
            "next_cursor": next_cursor,
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
        if let Some(cursor) = &next_cursor {
            println!("         … more: --cursor {cursor}");
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
    Ok(())
}
