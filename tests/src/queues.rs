//! The stack's queues as a test reads and breaks them.

use crate::TestEnv;

impl TestEnv {
    /// Messages currently in a queue: visible, in flight, delayed.
    pub async fn queue_depth(&self, queue: &str) -> (u64, u64, u64) {
        self.queue_depth_at(&self.config.queue_urls[queue]).await
    }

    /// The URL of a queue's dead-letter queue.
    pub async fn dlq_url(&self, queue: &str) -> String {
        self.sqs
            .get_queue_url()
            .queue_name(self.config.sqs_dlq_name(queue))
            .send()
            .await
            .expect("the dead-letter queue exists")
            .queue_url
            .expect("a URL")
    }

    /// [`TestEnv::queue_depth`] of the queue at `url`.
    pub async fn queue_depth_at(&self, url: &str) -> (u64, u64, u64) {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::All)
            .send()
            .await
            .expect("queue attributes");
        let attrs = out.attributes.unwrap_or_default();
        let get = |a: A| attrs.get(&a).and_then(|v| v.parse().ok()).unwrap_or(0);
        (
            get(A::ApproximateNumberOfMessages),
            get(A::ApproximateNumberOfMessagesNotVisible),
            get(A::ApproximateNumberOfMessagesDelayed),
        )
    }

    /// Deletes every message in a queue, as a lost send or a crashed
    /// consumer would leave it (`PurgeQueue`).
    pub async fn lose_messages(&self, queue: &str) {
        self.sqs
            .purge_queue()
            .queue_url(&self.config.queue_urls[queue])
            .send()
            .await
            .expect("purge");
    }

    /// Sends a raw message body to a queue, as any other producer would.
    pub async fn send_raw(&self, queue: &str, body: &str) -> String {
        self.sqs
            .send_message()
            .queue_url(&self.config.queue_urls[queue])
            .message_body(body)
            .send()
            .await
            .expect("send")
            .message_id
            .unwrap_or_default()
    }
}
