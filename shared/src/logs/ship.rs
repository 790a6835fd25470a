//! A local worker's lines, shipped to CloudWatch Logs as Lambda ships a
//! function's: one stream per process in the function's group, named as
//! Lambda names an execution environment's, each line an event stamped
//! when it was written. Lines go in batches (`PutLogEvents` about once a
//! second, sooner when a batch fills), never one request per line.
//!
//! [`Shipper::writer`] is a `tracing` writer (for a JSON layer), and
//! [`LineWriter::ship_output`] ships a worker process's output.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::LogsClient;
use crate::clock::SharedClock;
use crate::error::{Error, Result};

/// How often lines are sent.
pub const EVERY: Duration = Duration::from_secs(1);
/// CloudWatch's limits on one `PutLogEvents`: events, bytes (each event
/// counts 26 bytes more than its message), and one event's size.
pub const MAX_BATCH_EVENTS: usize = 10_000;
pub const MAX_BATCH_BYTES: usize = 1_048_576;
pub const EVENT_OVERHEAD: usize = 26;
pub const MAX_EVENT_BYTES: usize = 256 * 1024 - EVENT_OVERHEAD;

enum Msg {
    Line(i64, String),
    Flush(oneshot::Sender<()>),
}

/// Ships lines to one stream of one group. Lines written before
/// [`Shipper::start`] wait for it (a process's first lines, logged before
/// the group can be reached).
#[derive(Debug)]
pub struct Shipper {
    tx: mpsc::UnboundedSender<Msg>,
    rx: Option<mpsc::UnboundedReceiver<Msg>>,
    clock: SharedClock,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The name Lambda gives an execution environment's stream:
/// `2026/12/04/[$LATEST]` and 32 hex digits.
fn lambda_stream_name(now: DateTime<Utc>) -> String {
    format!(
        "{}/[$LATEST]{:016x}{:016x}",
        now.format("%Y/%m/%d"),
        crate::entropy::u64(),
        crate::entropy::u64()
    )
}

impl Shipper {
    /// A shipper not yet started: its writer takes lines, which wait.
    pub fn new(clock: SharedClock) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Shipper {
            tx,
            rx: Some(rx),
            clock,
            task: None,
        }
    }

    /// Creates `group` (if missing) and a new stream in it, and ships
    /// the lines written so far and from now on.
    pub async fn start(&mut self, client: LogsClient, group: &str) -> Result<()> {
        let Some(rx) = self.rx.take() else {
            return Ok(());
        };
        match client.create_log_group().log_group_name(group).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_already_exists_exception()) => {}
            Err(e) => return Err(Error::aws("CloudWatch Logs", "CreateLogGroup", e)),
        }
        let stream = lambda_stream_name(self.clock.now());
        client
            .create_log_stream()
            .log_group_name(group)
            .log_stream_name(&stream)
            .send()
            .await
            .map_err(|e| Error::aws("CloudWatch Logs", "CreateLogStream", e))?;
        self.task = Some(tokio::spawn(ship(client, group.to_owned(), stream, rx)));
        Ok(())
    }

    /// A `tracing` writer: each line written through it is shipped.
    pub fn writer(&self) -> LineWriter {
        LineWriter {
            tx: self.tx.clone(),
            clock: self.clock.clone(),
        }
    }

    /// Returns once every line sent so far has been shipped (or its
    /// request failed); at once if not started.
    pub async fn flush(&self) {
        if self.task.is_none() {
            return;
        }
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.await;
        }
    }

    /// Ships what is left and stops.
    pub async fn stop(self) {
        self.flush().await;
        if let Some(task) = self.task {
            task.abort();
        }
    }
}

fn truncate(line: &str) -> &str {
    if line.len() <= MAX_EVENT_BYTES {
        return line;
    }
    let mut end = MAX_EVENT_BYTES;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

async fn ship(
    client: LogsClient,
    group: String,
    stream: String,
    mut rx: mpsc::UnboundedReceiver<Msg>,
) {
    let mut batch: Vec<(i64, String)> = Vec::new();
    let mut bytes = 0;
    let mut tick = tokio::time::interval(EVERY);
    let mut warned = false;
    loop {
        let mut acks = Vec::new();
        let open = tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Line(at, line)) => {
                    bytes += line.len() + EVENT_OVERHEAD;
                    batch.push((at, line));
                    let full = batch.len() >= MAX_BATCH_EVENTS
                        || bytes + MAX_EVENT_BYTES + EVENT_OVERHEAD > MAX_BATCH_BYTES;
                    if !full {
                        continue;
                    }
                    true
                }
                Some(Msg::Flush(ack)) => {
                    acks.push(ack);
                    true
                }
                None => false,
            },
            _ = tick.tick() => true,
        };
        if !batch.is_empty() {
            // A batch's events must be in time order.
            batch.sort_by_key(|(at, _)| *at);
            let events = batch.drain(..).map(|(at, message)| {
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(at)
                    .message(message)
                    .build()
                    .expect("timestamp and message set")
            });
            bytes = 0;
            let put = client
                .put_log_events()
                .log_group_name(&group)
                .log_stream_name(&stream)
                .set_log_events(Some(events.collect()))
                .send()
                .await;
            // Said once: a warning per batch would be shipped too.
            let refused = match put {
                Ok(answer) => answer.rejected_log_events_info().map(|r| format!("{r:?}")),
                Err(e) => Some(crate::error::error_chain(&Error::aws(
                    "CloudWatch Logs",
                    "PutLogEvents",
                    e,
                ))),
            };
            if let Some(why) = refused
                && !warned
            {
                warned = true;
                tracing::warn!(group, stream, why, "lines not shipped");
            }
        }
        for ack in acks {
            let _ = ack.send(());
        }
        if !open {
            return;
        }
    }
}

/// A `tracing_subscriber::fmt` writer that ships each line it is given.
#[derive(Debug, Clone)]
pub struct LineWriter {
    tx: mpsc::UnboundedSender<Msg>,
    clock: SharedClock,
}

/// One event's text, shipped when dropped.
pub struct LineBuf {
    buf: Vec<u8>,
    writer: LineWriter,
}

impl LineWriter {
    /// Ships `line` (without its newline), stamped now: a line written
    /// around `tracing` (a worker process's output).
    pub fn send(&self, line: &str) {
        let line = line.trim_end_matches(['\n', '\r']);
        if !line.trim().is_empty() {
            let at = self.clock.now().timestamp_millis();
            let _ = self.tx.send(Msg::Line(at, truncate(line).to_owned()));
        }
    }
}

impl LineWriter {
    /// Ships each line `out` gives until it ends (a worker process's
    /// output, as Lambda ships a function's), echoing it to standard
    /// error when `echo`. Bytes that are not UTF-8 are replaced, not a
    /// reason to stop reading (a process whose output is no longer read
    /// fails its next write).
    pub async fn ship_output(self, out: impl tokio::io::AsyncRead + Unpin, echo: bool) {
        use tokio::io::AsyncBufReadExt;
        let mut reader = tokio::io::BufReader::new(out);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']);
                    if echo {
                        eprintln!("{line}");
                    }
                    self.send(line);
                }
            }
        }
    }
}

impl std::io::Write for LineBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuf {
    fn drop(&mut self) {
        for line in String::from_utf8_lossy(&self.buf).lines() {
            self.writer.send(line);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LineWriter {
    type Writer = LineBuf;
    fn make_writer(&'a self) -> LineBuf {
        LineBuf {
            buf: Vec::new(),
            writer: self.clone(),
        }
    }
}
