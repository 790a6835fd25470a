//! The model against the API reference's rules, request by request as the
//! SDK sends them: queue operations and batches in [`queues`], messages
//! in [`messages`].

mod messages;
mod queues;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::{Options, Sqs};
use crate::api::Answer;

pub(super) struct World {
    pub sqs: Sqs,
    pub rng: StdRng,
    pub now: i64,
}

impl World {
    pub fn new() -> Self {
        Self::with(Options::default(), 7)
    }

    pub fn with(options: Options, seed: u64) -> Self {
        World {
            sqs: Sqs::new(options),
            rng: StdRng::seed_from_u64(seed),
            now: 1_700_000_000_000,
        }
    }

    pub fn call(&mut self, op: &str, body: Value) -> Answer {
        self.sqs.handle(op, &body.into(), self.now, &mut self.rng)
    }

    pub fn ok(&mut self, op: &str, body: Value) -> Value {
        self.call(op, body)
            .unwrap_or_else(|e| panic!("{op}: {e:?}"))
    }

    pub fn code(&mut self, op: &str, body: Value) -> String {
        self.call(op, body).expect_err(op).code
    }

    pub fn create(&mut self, name: &str, attrs: Value) -> String {
        let out = self.ok(
            "CreateQueue",
            json!({"QueueName": name, "Attributes": attrs}),
        );
        out["QueueUrl"].as_str().unwrap().to_owned()
    }

    pub fn send(&mut self, url: &str, body: &str, delay: i64) -> String {
        let out = self.ok(
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": body, "DelaySeconds": delay}),
        );
        out["MessageId"].as_str().unwrap().to_owned()
    }

    /// (body, receipt handle, receive count) of up to 10 messages.
    pub fn receive(&mut self, url: &str, visibility: Option<i64>) -> Vec<(String, String, u32)> {
        let mut req = json!({"QueueUrl": url, "MaxNumberOfMessages": 10,
            "MessageSystemAttributeNames": ["All"]});
        if let Some(v) = visibility {
            req["VisibilityTimeout"] = json!(v);
        }
        let out = self.ok("ReceiveMessage", req);
        out["Messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let count = m["Attributes"]["ApproximateReceiveCount"].as_str().unwrap();
                (
                    m["Body"].as_str().unwrap().to_owned(),
                    m["ReceiptHandle"].as_str().unwrap().to_owned(),
                    count.parse().unwrap(),
                )
            })
            .collect()
    }

    pub fn counts(&mut self, url: &str) -> (u64, u64, u64) {
        let out = self.ok(
            "GetQueueAttributes",
            json!({"QueueUrl": url, "AttributeNames": ["All"]}),
        );
        let get = |n: &str| out["Attributes"][n].as_str().unwrap().parse().unwrap();
        (
            get("ApproximateNumberOfMessages"),
            get("ApproximateNumberOfMessagesNotVisible"),
            get("ApproximateNumberOfMessagesDelayed"),
        )
    }
}
