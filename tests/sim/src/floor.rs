//! The floor under a run's speed: what one call costs through the real
//! SDK, against what the model's own handling of the same request costs.
//! A job of the mix makes about seven and a half calls, so the SDK's part
//! of a call bounds how many simulated jobs one core can run a minute,
//! however fast the models and the library become.

use std::time::Instant;

use serde_json::json;

use crate::net::Faults;
use crate::stack::{QUEUE, Stack, block_on};
use crate::world::{DYNAMODB, SQS};

/// Per call, in microseconds of wall time on this thread.
pub struct Floor {
    pub calls: usize,
    /// A `GetItem` of a small item through the SDK, model included.
    pub get_item_sdk_us: f64,
    /// The same request handed to the model directly.
    pub get_item_model_us: f64,
    /// A `SendMessage` through the SDK, model included.
    pub send_sdk_us: f64,
    /// The same request handed to the model directly.
    pub send_model_us: f64,
}

impl Floor {
    /// The SDK's own part of a call: the mean of the two operations.
    pub fn sdk_us(&self) -> f64 {
        ((self.get_item_sdk_us - self.get_item_model_us) + (self.send_sdk_us - self.send_model_us))
            / 2.0
    }

    /// The most jobs a minute one core could run if the models and the
    /// library cost nothing, at `calls_per_job`.
    pub fn jobs_a_minute_at_most(&self, calls_per_job: f64) -> f64 {
        60e6 / (self.sdk_us() * calls_per_job)
    }
}

/// Times `calls` of each operation both ways on a fresh stack.
pub fn measure(calls: usize) -> Floor {
    block_on(async {
        let stack = Stack::new("floor", 1, Faults::none()).await;
        let (ddb, sqs) = crate::sdk::clients(&stack.sdk, None);
        let table = stack.config.table.clone();
        let queue_url = stack.config.queue_urls[QUEUE].clone();
        let key = aws_sdk_dynamodb::types::AttributeValue::S("floor#1".into());
        ddb.put_item()
            .table_name(&table)
            .item("pk", key.clone())
            .item(
                "args",
                aws_sdk_dynamodb::types::AttributeValue::S("{\"n\":1}".into()),
            )
            .send()
            .await
            .expect("the item is written");

        // Each loop moves the virtual clock a millisecond a call, as the
        // others do, so that no partition throttles (a thousand reads a
        // second) and every loop pays the same for time.
        let tick = || tokio::time::advance(std::time::Duration::from_millis(1));
        let t = Instant::now();
        for _ in 0..calls {
            tick().await;
            ddb.get_item()
                .table_name(&table)
                .key("pk", key.clone())
                .send()
                .await
                .expect("a read");
        }
        let get_item_sdk_us = per_call(t, calls);
        let t = Instant::now();
        for _ in 0..calls {
            tick().await;
            sqs.send_message()
                .queue_url(&queue_url)
                .message_body("{\"id\":\"floor\"}")
                .send()
                .await
                .expect("a send");
        }
        let send_sdk_us = per_call(t, calls);

        let get = json!({"TableName": table, "Key": {"pk": {"S": "floor#1"}}});
        let send = json!({"QueueUrl": queue_url, "MessageBody": "{\"id\":\"floor\"}"});
        let direct = async |target: &str, op: &str, body: &serde_json::Value| {
            // The requests made before the clock starts: a run hands the
            // model the request it parsed, it copies none.
            let bodies = vec![crate::json::Json::from(body); calls];
            let t = Instant::now();
            for body in bodies {
                tick().await;
                let now = stack.clock.now_ms();
                let mut world = stack.world.lock().expect("the world");
                world.call(target, op, body, now).expect("an answer");
            }
            per_call(t, calls)
        };
        let get_item_model_us = direct(DYNAMODB, "GetItem", &get).await;
        let send_model_us = direct(SQS, "SendMessage", &send).await;
        Floor {
            calls,
            get_item_sdk_us,
            get_item_model_us,
            send_sdk_us,
            send_model_us,
        }
    })
}

fn per_call(since: Instant, calls: usize) -> f64 {
    since.elapsed().as_secs_f64() * 1e6 / calls as f64
}
