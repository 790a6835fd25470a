//! SQS: the one module that sends SQS requests. Named queues and their
//! URLs, wake-up sends with delays, receiving and deleting as a local
//! worker does, queue depths, and creating a queue with its dead-letter
//! queue.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use serde::Serialize;

pub use aws_sdk_sqs::Client as SqsClient;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::job::validate_queue;
use crate::message::WakeUp;
pub use crate::timing::MAX_SQS_DELAY;

/// An SQS client from an SDK configuration, retrying as `retry` says.
pub(crate) fn client_for(
    sdk: &aws_config::SdkConfig,
    retry: aws_config::retry::RetryConfig,
) -> SqsClient {
    SqsClient::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .retry_config(retry)
            .build(),
    )
}

/// A message attribute's value as text: a String attribute's as it is, a
/// Binary one's lossily (a `hangar-kind` sent as bytes is then refused as
/// a kind name rather than ignored).
pub(crate) fn attribute_text(string: Option<String>, binary: Option<&[u8]>) -> Option<String> {
    string.or_else(|| binary.map(|b| String::from_utf8_lossy(b).into_owned()))
}

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

    /// The URL of a queue, looked up by name on first use.
    pub async fn url(&self, queue: &str) -> Result<String> {
        validate_queue(queue)?;
        self.lookup(queue).await
    }

    /// The URL of a queue's dead-letter queue (`<stack>-<queue>-dlq`),
    /// looked up by name on first use.
    pub async fn dead_letter_url(&self, queue: &str) -> Result<String> {
        validate_queue(queue)?;
        self.lookup(&format!("{queue}-dlq")).await
    }

    /// The URL of the stack's SQS queue `<stack>-<queue>` (`queue` a
    /// Hangar queue name, or one with `-dlq`), from the cache or looked up.
    async fn lookup(&self, queue: &str) -> Result<String> {
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

/// A message received from a queue.
#[derive(Debug, Clone)]
pub struct Received {
    /// The SQS message id.
    pub message_id: String,
    /// The handle that deletes it.
    pub receipt_handle: String,
    pub body: String,
    /// String message attributes.
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// Messages in one SQS queue of the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct QueueDepth {
    /// The Hangar queue name (`default`, `default-dlq`, ...).
    pub name: String,
    /// Waiting to be received.
    pub visible: u64,
    /// Received and not yet deleted (running, or about to reappear).
    pub in_flight: u64,
    /// Sent with a delay that has not passed.
    pub delayed: u64,
}

impl Queues {
    /// One receive: up to 10 messages with their attributes, waiting up to
    /// `wait` (long polling, at most 20 s).
    pub async fn receive(&self, queue: &str, wait: Duration) -> Result<Vec<Received>> {
        let url = self.url(queue).await?;
        let out = self
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "ReceiveMessage", e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Received {
                message_id: m.message_id.unwrap_or_default(),
                receipt_handle: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
                attributes: m
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(k, v)| {
                        let binary = v.binary_value.as_ref().map(|b| b.as_ref());
                        Some((k, attribute_text(v.string_value, binary)?))
                    })
                    .chain(m.attributes.into_iter().flatten().filter_map(|(k, v)| {
                        (k == MessageSystemAttributeName::AwsTraceHeader)
                            .then(|| (crate::tracecontext::AWS_TRACE_HEADER.to_owned(), v))
                    }))
                    .collect(),
            })
            .collect())
    }

    /// Deletes received messages by receipt handle, 10 per
    /// `DeleteMessageBatch`.
    pub async fn delete(&self, queue: &str, handles: &[String]) -> Result<()> {
        let url = self.url(queue).await?;
        for chunk in handles.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, handle)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .build()
                        .expect("id and handle set")
                })
                .collect();
            self.sqs
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| Error::aws(SERVICE, "DeleteMessageBatch", e))?;
        }
        Ok(())
    }

    /// Messages in every SQS queue of the stack, dead-letter queues
    /// included, by name: the queues configured (`HANGAR_QUEUE_URLS`) and
    /// their `-dlq`, or, with none configured, every queue whose name starts
    /// with `<stack>-` (`ListQueues`, which a deployed function is not
    /// granted).
    pub async fn depths(&self) -> Result<Vec<QueueDepth>> {
        let prefix = format!("{}-", self.config.stack);
        let mut urls = Vec::new();
        if self.config.queue_urls.is_empty() {
            let listed = self
                .sqs
                .list_queues()
                .queue_name_prefix(&prefix)
                .send()
                .await
                .map_err(|e| Error::aws(SERVICE, "ListQueues", e))?;
            urls.extend(listed.queue_urls().iter().cloned());
        } else {
            for (name, url) in &self.config.queue_urls {
                urls.push(url.clone());
                match self.dead_letter_url(name).await {
                    Ok(dlq) => urls.push(dlq),
                    Err(Error::Invalid { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let mut queues = Vec::new();
        for url in &urls {
            use QueueAttributeName as A;
            let attrs = self
                .sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(A::ApproximateNumberOfMessages)
                .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
                .attribute_names(A::ApproximateNumberOfMessagesDelayed)
                .send()
                .await
                .map_err(|e| Error::aws(SERVICE, "GetQueueAttributes", e))?;
            let get = |a: A| {
                attrs
                    .attributes()
                    .and_then(|m| m.get(&a))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            let name = url.rsplit('/').next().unwrap_or(url);
            queues.push(QueueDepth {
                name: name.strip_prefix(&prefix).unwrap_or(name).to_owned(),
                visible: get(A::ApproximateNumberOfMessages),
                in_flight: get(A::ApproximateNumberOfMessagesNotVisible),
                delayed: get(A::ApproximateNumberOfMessagesDelayed),
            });
        }
        queues.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(queues)
    }
}

/// A message in a dead-letter queue, as a peek shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DeadLetter {
    /// The SQS message id.
    pub message_id: String,
    /// The body (a wake-up, a job request, or whatever the producer sent).
    pub body: String,
    /// How often it was delivered before SQS gave up on it.
    pub receive_count: u32,
    /// When it was first sent, epoch ms.
    pub sent_at: Option<i64>,
}

/// Receives at most this many rounds of 10 when moving or deleting
/// dead-letter messages: a request stays bounded; call again for more.
const DEAD_LETTER_ROUNDS: usize = 10;

impl Queues {
    /// Up to 10 messages of a queue's dead-letter queue, without consuming
    /// them (received with a zero visibility timeout, so they stay
    /// visible; SQS counts the receive).
    pub async fn peek_dead_letters(&self, queue: &str) -> Result<Vec<DeadLetter>> {
        let url = self.dead_letter_url(queue).await?;
        let out = self
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| Error::aws(SERVICE, "ReceiveMessage", e))?;
        let mut seen = std::collections::BTreeSet::new();
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter(|m| seen.insert(m.message_id.clone().unwrap_or_default()))
            .map(|m| {
                use aws_sdk_sqs::types::MessageSystemAttributeName as A;
                let attr = |a: A| m.attributes().and_then(|x| x.get(&a)).cloned();
                DeadLetter {
                    receive_count: attr(A::ApproximateReceiveCount)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                    sent_at: attr(A::SentTimestamp).and_then(|v| v.parse().ok()),
                    message_id: m.message_id.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                }
            })
            .collect())
    }

    /// Moves messages of a queue's dead-letter queue back to the queue
    /// (all, or those with these message ids): each is sent to the queue
    /// with its body and attributes, then deleted from the dead-letter
    /// queue; others received on the way are made visible again. Returns
    /// how many moved. A message sent but not deleted (a failure in
    /// between) is delivered twice, which a wake-up or a keyed request
    /// tolerates.
    pub async fn redrive(&self, queue: &str, only: Option<&[String]>) -> Result<usize> {
        let target = self.url(queue).await?;
        self.drain_dead_letters(queue, only, Some(&target)).await
    }

    /// Deletes messages of a queue's dead-letter queue by message id.
    pub async fn delete_dead_letters(&self, queue: &str, ids: &[String]) -> Result<usize> {
        self.drain_dead_letters(queue, Some(ids), None).await
    }

    async fn drain_dead_letters(
        &self,
        queue: &str,
        only: Option<&[String]>,
        send_to: Option<&str>,
    ) -> Result<usize> {
        let dlq = self.dead_letter_url(queue).await?;
        let mut done = 0;
        let mut wanted: Option<std::collections::BTreeSet<&String>> =
            only.map(|ids| ids.iter().collect());
        for _ in 0..DEAD_LETTER_ROUNDS {
            if wanted.as_ref().is_some_and(|w| w.is_empty()) {
                break;
            }
            let out = self
                .sqs
                .receive_message()
                .queue_url(&dlq)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| Error::aws(SERVICE, "ReceiveMessage", e))?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let id = m.message_id.clone().unwrap_or_default();
                let handle = m.receipt_handle.clone().unwrap_or_default();
                let picked = match wanted.as_mut() {
                    None => true,
                    Some(w) => w.remove(&id),
                };
                if !picked {
                    // Not asked for: visible again at once.
                    self.sqs
                        .change_message_visibility()
                        .queue_url(&dlq)
                        .receipt_handle(&handle)
                        .visibility_timeout(0)
                        .send()
                        .await
                        .map_err(|e| Error::aws(SERVICE, "ChangeMessageVisibility", e))?;
                    continue;
                }
                if let Some(target) = send_to {
                    self.sqs
                        .send_message()
                        .queue_url(target)
                        .message_body(m.body.clone().unwrap_or_default())
                        .set_message_attributes(m.message_attributes.clone())
                        .send()
                        .await
                        .map_err(|e| Error::aws(SERVICE, "SendMessage", e))?;
                }
                self.sqs
                    .delete_message()
                    .queue_url(&dlq)
                    .receipt_handle(&handle)
                    .send()
                    .await
                    .map_err(|e| Error::aws(SERVICE, "DeleteMessage", e))?;
                done += 1;
            }
        }
        Ok(done)
    }
}

/// Settings of the SQS queues [`ensure_queue`] creates.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Visibility timeout: at least the worker's function timeout.
    pub visibility_timeout: Duration,
    /// Deliveries before a message moves to the dead-letter queue.
    pub max_receive_count: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            visibility_timeout: Duration::from_secs(960),
            max_receive_count: 5,
        }
    }
}

/// Creates a Hangar queue and its dead-letter queue if they do not exist
/// (existing ones are left as they are); returns the queue URL.
pub async fn ensure_queue(
    sqs: &SqsClient,
    config: &Config,
    queue: &str,
    settings: &QueueSettings,
) -> Result<String> {
    validate_queue(queue)?;
    let dlq_url = create_queue(
        sqs,
        &config.sqs_dlq_name(queue),
        vec![(
            QueueAttributeName::MessageRetentionPeriod,
            (14 * 24 * 3600).to_string(),
        )],
    )
    .await?;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| Error::aws(SERVICE, "GetQueueAttributes", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .unwrap_or_default();
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": settings.max_receive_count,
    })
    .to_string();
    create_queue(
        sqs,
        &config.sqs_queue_name(queue),
        vec![
            (
                QueueAttributeName::VisibilityTimeout,
                settings.visibility_timeout.as_secs().to_string(),
            ),
            (QueueAttributeName::RedrivePolicy, redrive),
        ],
    )
    .await
}

async fn create_queue(
    sqs: &SqsClient,
    name: &str,
    attrs: Vec<(QueueAttributeName, String)>,
) -> Result<String> {
    let res = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attrs.into_iter().collect()))
        .send()
        .await;
    match res {
        Ok(out) => Ok(out.queue_url.unwrap_or_default()),
        // Exists with other attributes: keep it as it is.
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_queue_name_exists()) =>
        {
            let out = sqs
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .map_err(|e| Error::aws(SERVICE, "GetQueueUrl", e))?;
            Ok(out.queue_url.unwrap_or_default())
        }
        Err(e) => Err(Error::aws(SERVICE, "CreateQueue", e)),
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
