//! `hangar concurrency`: a concurrency or ordering key's slots and waiting
//! jobs.

use clap::Args;
use hangar::Client;

use super::Error;
use super::common::Format;
use crate::output::{self, Out};

#[derive(Args)]
pub struct ConcurrencyArgs {
    /// The key.
    key: String,
    /// List at most this many waiting jobs.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[command(flatten)]
    fmt: Format,
}

pub async fn run(client: &Client, args: ConcurrencyArgs) -> Result<(), Error> {
    let ConcurrencyArgs { key, limit, fmt } = args;
    let k = client.concurrency_key(&key).await?;
    let mut waiting = Vec::new();
    let mut cursor = None;
    let more = loop {
        let page = client
            .waiting_jobs(&key, (limit - waiting.len()).clamp(1, 100), cursor.as_ref())
            .await?;
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
    Ok(())
}
