//! What several commands share: the `--json` flag, job ids, reading back
//! what a command wrote, and a listener on 127.0.0.1.

use clap::Args;
use hangar::{Client, JobId};

use crate::output::{Fail, Out};

#[derive(Args, Clone, Copy)]
pub struct Format {
    /// Machine-readable JSON output.
    #[arg(long)]
    pub json: bool,
}

pub fn job_id(s: &str) -> Result<JobId, Fail> {
    JobId::parse(s).map_err(Fail::usage)
}

/// A job read back after the command wrote it.
pub async fn stored(client: &Client, id: &JobId) -> hangar::Result<hangar::JobRecord> {
    client
        .get(id)
        .await?
        .ok_or_else(|| hangar::Error::NotFound { id: id.clone() })
}

/// A job the command created: its id, or with `--json` the job as stored
/// (read back).
pub async fn created(client: &Client, id: &JobId, fmt: Format) -> hangar::Result<()> {
    if fmt.json {
        Out::json(&hangar::json::JobJson::from(&stored(client, id).await?));
    } else {
        println!("{id}");
    }
    Ok(())
}

/// A listener on 127.0.0.1: on `port`, or on 8080 and else any free port.
pub async fn bind_local(port: Option<u16>, what: &str) -> Result<tokio::net::TcpListener, Fail> {
    match tokio::net::TcpListener::bind(("127.0.0.1", port.unwrap_or(8080))).await {
        Ok(l) => Ok(l),
        Err(_) if port.is_none() => tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Fail::new(format!("cannot serve {what}: {e}"))),
        Err(e) => Err(Fail::new(format!("cannot serve {what} on that port: {e}"))),
    }
}
