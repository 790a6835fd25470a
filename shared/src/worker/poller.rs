//! A worker outside Lambda: polls one queue as the event source mapping
//! would.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use super::{Delivery, Worker};
use crate::error::{Result, error_chain};
use crate::queue::Received;

/// Polls one SQS queue and hands its messages to a [`Worker`] exactly as the
/// Lambda event source mapping would: batches of up to 10, and a message
/// reported as failed is left to reappear after its visibility timeout.
#[derive(Debug, Clone)]
pub struct Poller {
    worker: Worker,
    queue: String,
    wait: Duration,
}

impl Poller {
    /// A poller for a Hangar queue.
    pub fn new(worker: Worker, queue: impl Into<String>) -> Self {
        Poller {
            worker,
            queue: queue.into(),
            wait: Duration::from_secs(1),
        }
    }

    /// How long one receive waits for messages (long polling, up to 20 s).
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait.min(Duration::from_secs(20));
        self
    }

    /// Receives one batch, handles it and deletes what succeeded. Returns the
    /// number of messages received.
    pub async fn poll_once(&self) -> Result<usize> {
        let messages = self.receive().await?;
        self.process(messages).await
    }

    /// One receive: up to 10 messages, waiting up to the long-poll time.
    async fn receive(&self) -> Result<Vec<Received>> {
        self.worker
            .core
            .queues
            .receive(&self.queue, self.wait)
            .await
    }

    /// Handles received messages and deletes those that need no redelivery.
    async fn process(&self, messages: Vec<Received>) -> Result<usize> {
        if messages.is_empty() {
            return Ok(0);
        }
        let count = messages.len();
        let mut handles = HashMap::new();
        let batch = messages
            .into_iter()
            .map(|m| {
                handles.insert(m.message_id.clone(), m.receipt_handle);
                Delivery {
                    message_id: m.message_id,
                    body: m.body,
                    queue: self.queue.clone(),
                    attributes: m.attributes,
                }
            })
            .collect();
        let failed = self.worker.handle_batch(batch, None).await;
        let done: Vec<String> = handles
            .into_iter()
            .filter(|(id, _)| !failed.contains(id))
            .map(|(_, handle)| handle)
            .collect();
        if !done.is_empty() {
            self.worker.core.queues.delete(&self.queue, &done).await?;
        }
        Ok(count)
    }

    /// Polls until `stop` resolves, then returns once the receive under way
    /// (at most the long-poll wait) and the batch it brings have run and
    /// their results are recorded: stopping a worker (Ctrl-C, SIGTERM)
    /// abandons neither a running job nor a message SQS has just handed
    /// over (cutting a receive short would leave its messages in flight,
    /// hidden until their visibility timeout).
    pub async fn run_until(&self, stop: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => return Ok(()),
                _ = std::future::ready(()) => {}
            }
            let res = match self.receive().await {
                Ok(messages) => self.process(messages).await,
                Err(e) => Err(e),
            };
            if let Err(e) = res {
                tracing::error!(queue = %self.queue, error = %error_chain(&e), "poll failed; retrying in 1s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
