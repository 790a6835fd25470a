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

/// The instant `d` ago (`--since`), or the earliest one for a span
/// longer than time.
pub fn ago(d: std::time::Duration) -> chrono::DateTime<chrono::Utc> {
    let d = chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX);
    chrono::Utc::now()
        .checked_sub_signed(d)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
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

/// The key that signs the cursors the CLI prints: a cursor is not secret
/// (whoever runs the CLI reads the table), but one that was cut or edited
/// is refused with a clear error instead of reading from wherever it
/// points.
const CURSOR_KEY: &[u8] = b"hangar-cli-cursor";

/// The text of a page's cursor, for `--cursor`: the listing it continues
/// travels in it.
pub fn cursor_text(query: &hangar::ListQuery, cursor: hangar::Cursor) -> String {
    hangar_admin::Cursors::new(CURSOR_KEY).encode(&hangar_admin::cursor::Position {
        query: query.clone(),
        cursor,
    })
}

/// Reads `--cursor`: the listing it continues and where; refused when
/// malformed or edited.
pub fn read_position(text: &str) -> Result<hangar_admin::cursor::Position, Fail> {
    hangar_admin::Cursors::new(CURSOR_KEY)
        .decode(text)
        .map_err(|_| {
            Fail::usage("--cursor: not a cursor this command printed (cut or edited); start the listing again")
        })
}

/// Reads `--cursor`: refused when malformed, edited, or from another
/// listing than `query`.
pub fn read_cursor(text: &str, query: &hangar::ListQuery) -> Result<hangar::Cursor, Fail> {
    let position = read_position(text)?;
    if &position.query != query {
        return Err(Fail::usage(
            "--cursor: the cursor continues another listing; start this one without it",
        ));
    }
    Ok(position.cursor)
}
