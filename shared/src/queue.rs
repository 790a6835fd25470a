//! SQS: named queues, wake-up messages, delays.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_sdk_sqs::Client as SqsClient;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::job::validate_queue;
use crate::message::WakeUp;

/// The longest SQS `DelaySeconds`.
pub const MAX_SQS_DELAY: Duration = Duration::from_secs(900);

const SERVICE: &str = "SQS";

/// Hangar's queues: name → URL from configuration, else looked up once by the
/// SQS name `{stack}-{queue}` and cached.
#[derive(Debug, Clone)]
pub struct Queues {
    sqs: SqsClient,
    config: Arc<Config>,
    urls: Arc<RwLock<HashMap<String, String>>>,
}

impl Queues {
    /// Queues for a configuration.
    pub fn new(sqs: SqsClient, config: Arc<Config>) -> Self {
        let urls = config
            .queue_urls
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Queues {
            sqs,
            config,
            urls: Arc::new(RwLock::new(urls)),
        }
    }

    /// The SQS client.
    pub fn sqs(&self) -> &SqsClient {
        &self.sqs
    }

    /// The URL of a queue, looked up by name on first use.
    pub async fn url(&self, queue: &str) -> Result<String> {
        validate_queue(queue)?;
        if let Some(url) = self.urls.read().expect("queue cache").get(queue) {
            return Ok(url.clone());
        }
        let name = self.config.sqs_queue_name(queue);
        let out = self
            .sqs
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .map_err(|e| {
                let missing = e
                    .as_service_error()
                    .is_some_and(|se| se.is_queue_does_not_exist());
                if missing {
                    Error::invalid(
                        "queue",
                        format!(
                            "{queue:?}: no SQS queue named {name} (create it, or map it in HANGAR_QUEUE_URLS)"
                        ),
                    )
                } else {
                    Error::aws(SERVICE, "GetQueueUrl", e)
                }
            })?;
        let url = out.queue_url.unwrap_or_default();
        self.urls
            .write()
            .expect("queue cache")
            .insert(queue.to_owned(), url.clone());
        Ok(url)
    }

    /// Sends one wake-up with a delay (capped at 900 s).
    pub async fn send(&self, queue: &str, msg: &WakeUp, delay: Duration) -> Result<()> {
        let url = self.url(queue).await?;
        self.sqs
            .send_message()
            .queue_url(url)
            .message_body(msg.to_body())
            .delay_seconds(delay_seconds(delay))
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "SendMessage", e))?;
        Ok(())
    }

    /// Sends many wake-ups to one queue, 10 per `SendMessageBatch`. Returns
    /// the messages that could not be sent (the timer re-sends them).
    pub async fn send_batch(
        &self,
        queue: &str,
        msgs: &[(WakeUp, Duration)],
    ) -> Result<Vec<WakeUp>> {
        let url = self.url(queue).await?;
        let mut failed = Vec::new();
        for chunk in msgs.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, (m, delay))| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(m.to_body())
                        .delay_seconds(delay_seconds(*delay))
                        .build()
                        .expect("id and body set")
                })
                .collect();
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| Error::aws(SERVICE, "SendMessageBatch", e))?;
            for f in out.failed() {
                if let Some((m, _)) = f.id().parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                    tracing::warn!(job = %m.job, code = f.code(), "SendMessageBatch entry failed");
                    failed.push(m.clone());
                }
            }
        }
        Ok(failed)
    }
}

/// Whole seconds for `DelaySeconds`: rounded up, so a message never arrives
/// before its due time, and capped at 900.
pub fn delay_seconds(delay: Duration) -> i32 {
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    secs.min(MAX_SQS_DELAY.as_secs()) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_up_and_cap() {
        assert_eq!(delay_seconds(Duration::ZERO), 0);
        assert_eq!(delay_seconds(Duration::from_millis(1)), 1);
        assert_eq!(delay_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(delay_seconds(Duration::from_secs(900)), 900);
        assert_eq!(delay_seconds(Duration::from_secs(901)), 900);
    }
}
