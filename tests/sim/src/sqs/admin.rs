//! Queue operations: CreateQueue, GetQueueUrl, GetQueueAttributes,
//! SetQueueAttributes, ListQueues, PurgeQueue.

use serde_json::{Map, Value, json};

use crate::json::{Json, Object};

use super::queue::{Queue, Settings};
use super::{Sqs, names, no_queue, required_str, short_name};
use crate::api::{Answer, ApiError};

impl Sqs {
    /// API reference, CreateQueue: a name of up to 80 characters of
    /// `A-Za-z0-9-_`; for an existing queue, its URL if every attribute
    /// given has the queue's value, else `QueueNameExists` ("returns this
    /// error only if the request includes attributes whose values differ
    /// from those of the existing queue").
    pub(super) fn create_queue(&mut self, body: &Json, now_ms: i64) -> Answer {
        let name = required_str(body, "QueueName")?;
        if !short_name(name) {
            return Err(ApiError::client(
                "InvalidParameterValue",
                format!(
                    "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length: {name}"
                ),
            ));
        }
        let empty = Object::default();
        let attrs = body
            .get("Attributes")
            .and_then(Json::as_object)
            .unwrap_or(&empty);
        let arns: Vec<String> = self.queues.values().map(|q| q.arn.clone()).collect();
        let exists = |arn: &str| arns.iter().any(|a| a == arn);
        let mut settings = Settings::default();
        settings.apply(attrs, &exists)?;
        if let Some(queue) = self.queues.get(name) {
            let mut same = queue.settings.clone();
            same.apply(attrs, &exists)?;
            if same != queue.settings {
                return Err(ApiError::client(
                    "QueueNameExists",
                    format!(
                        "A queue already exists with the same name and a different value for attribute(s) of {name}"
                    ),
                ));
            }
            return Ok(json!({ "QueueUrl": queue.url }));
        }
        let queue = Queue::new(name, settings, now_ms);
        let url = queue.url.clone();
        self.queues.insert(name.to_owned(), queue);
        Ok(json!({ "QueueUrl": url }))
    }

    /// API reference, GetQueueUrl.
    pub(super) fn get_queue_url(&mut self, body: &Json) -> Answer {
        let name = required_str(body, "QueueName")?;
        let queue = self.queues.get(name).ok_or_else(no_queue)?;
        Ok(json!({ "QueueUrl": queue.url }))
    }

    /// API reference, GetQueueAttributes: the attributes named in
    /// `AttributeNames` (`All` for every one); none named, none returned.
    pub(super) fn get_queue_attributes(&mut self, body: &Json, now_ms: i64) -> Answer {
        let names = names(body, "AttributeNames");
        let queue = self.queue_mut(body, now_ms)?;
        let attrs = queue.attributes(&names, now_ms)?;
        if attrs.is_empty() {
            return Ok(json!({}));
        }
        Ok(json!({ "Attributes": attrs }))
    }

    /// API reference, SetQueueAttributes: the same attributes and ranges
    /// as CreateQueue; all or nothing.
    pub(super) fn set_queue_attributes(&mut self, body: &Json, now_ms: i64) -> Answer {
        let arns: Vec<String> = self.queues.values().map(|q| q.arn.clone()).collect();
        let empty = Object::default();
        let attrs = body
            .get("Attributes")
            .and_then(Json::as_object)
            .unwrap_or(&empty)
            .clone();
        let queue = self.queue_mut(body, now_ms)?;
        let mut settings = queue.settings.clone();
        settings.apply(&attrs, &|arn| arns.iter().any(|a| a == arn))?;
        queue.settings = settings;
        queue.modified_ms = now_ms;
        Ok(json!({}))
    }

    /// API reference, ListQueues: URLs of queues whose name starts with
    /// `QueueNamePrefix`, up to 1,000, or `MaxResults` (1 to 1,000) a page
    /// with a `NextToken` (here the last name returned) for the rest.
    pub(super) fn list_queues(&mut self, body: &Json) -> Answer {
        let prefix = body
            .get("QueueNamePrefix")
            .and_then(Json::as_str)
            .unwrap_or("");
        let max = body.get("MaxResults").and_then(Json::as_i64);
        if max.is_some_and(|m| !(1..=1000).contains(&m)) {
            return Err(ApiError::client(
                "InvalidParameterValue",
                "MaxResults must be between 1 and 1000.",
            ));
        }
        let after = body.get("NextToken").and_then(Json::as_str);
        let matching = self
            .queues
            .values()
            .filter(|q| q.name.starts_with(prefix))
            .filter(|q| after.is_none_or(|a| q.name.as_str() > a));
        let page: Vec<&Queue> = matching.take(max.unwrap_or(1000) as usize + 1).collect();
        let limit = max.unwrap_or(1000) as usize;
        let mut out = Map::new();
        let shown = &page[..page.len().min(limit)];
        if !shown.is_empty() {
            let urls: Vec<&str> = shown.iter().map(|q| q.url.as_str()).collect();
            out.insert("QueueUrls".into(), json!(urls));
        }
        if max.is_some() && page.len() > limit {
            out.insert("NextToken".into(), json!(shown[limit - 1].name));
        }
        Ok(Value::Object(out))
    }

    /// API reference, PurgeQueue: deletes every message (at once here; AWS
    /// takes up to 60 seconds); another purge within 60 seconds is
    /// `PurgeQueueInProgress`.
    pub(super) fn purge_queue(&mut self, body: &Json, now_ms: i64) -> Answer {
        let queue = self.queue_mut(body, now_ms)?;
        if queue.last_purge_ms.is_some_and(|t| now_ms - t < 60_000) {
            return Err(ApiError::client(
                "PurgeQueueInProgress",
                format!(
                    "Only one PurgeQueue operation on {} is allowed every 60 seconds.",
                    queue.name
                ),
            ));
        }
        queue.last_purge_ms = Some(now_ms);
        queue.clear();
        Ok(json!({}))
    }
}
