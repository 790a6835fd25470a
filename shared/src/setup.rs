//! Creates Hangar's resources: the job table (with its indexes and TTL) and,
//! per queue, an SQS queue with a dead-letter queue. Idempotent: existing
//! resources are left as they are. The local runner and the tests call this;
//! deployed stacks get the same resources from `infra/`.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::job::validate_queue;
use crate::store::{INDEX_BY_DUE, INDEX_BY_STATE, attr};

/// Settings of the SQS queues created.
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

/// Creates the table and the queues if they do not exist; returns the queue
/// URLs by name.
pub async fn ensure(
    ddb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    config: &Config,
    queues: &[&str],
    settings: &QueueSettings,
) -> Result<Vec<(String, String)>> {
    ensure_table(ddb, &config.table).await?;
    let mut urls = Vec::new();
    for q in queues {
        urls.push((
            (*q).to_owned(),
            ensure_queue(sqs, config, q, settings).await?,
        ));
    }
    Ok(urls)
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("name and type set")
}

fn def(name: &str, t: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(t)
        .build()
        .expect("name and type set")
}

fn index(name: &str, pk: &str, sk: &str, include: &[&str]) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(pk, KeyType::Hash))
        .key_schema(key(sk, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(include.iter().map(|s| (*s).to_owned()).collect()))
                .build(),
        )
        .build()
        .expect("index fields set")
}

/// Creates the job table with its two indexes and TTL, and waits until it
/// is active.
pub async fn ensure_table(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<()> {
    let res = ddb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(attr::PK, KeyType::Hash))
        .attribute_definitions(def(attr::PK, ScalarAttributeType::S))
        .attribute_definitions(def(attr::STATE_KEY, ScalarAttributeType::S))
        .attribute_definitions(def(attr::STATE_AT, ScalarAttributeType::N))
        .attribute_definitions(def(attr::DUE_KEY, ScalarAttributeType::S))
        .attribute_definitions(def(attr::DUE_AT, ScalarAttributeType::N))
        .global_secondary_indexes(index(
            INDEX_BY_STATE,
            attr::STATE_KEY,
            attr::STATE_AT,
            &[
                attr::KIND,
                attr::QUEUE,
                attr::ATTEMPT,
                attr::CREATED,
                attr::LAST_ERROR,
            ],
        ))
        .global_secondary_indexes(index(
            INDEX_BY_DUE,
            attr::DUE_KEY,
            attr::DUE_AT,
            &[
                attr::STATE,
                attr::VERSION,
                attr::QUEUE,
                attr::RUN_AT,
                attr::HANDED_OFF,
                attr::LEASE,
                attr::CLAIMED_V,
                attr::TIMEOUT,
                attr::RESENDS,
            ],
        ))
        .send()
        .await;
    match res {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_in_use_exception()) => {}
        Err(e) => return Err(Error::aws("DynamoDB", "CreateTable", e)),
    }
    // Wait until ACTIVE (immediate on emulators, up to a minute on AWS).
    for _ in 0..120 {
        let out = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| Error::aws("DynamoDB", "DescribeTable", e))?;
        let active = out
            .table()
            .and_then(|t| t.table_status())
            .is_some_and(|s| s.as_str() == "ACTIVE");
        if active {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ttl = ddb
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(attr::TTL)
                .enabled(true)
                .build()
                .expect("ttl fields set"),
        )
        .send()
        .await;
    match ttl {
        Ok(_) => Ok(()),
        // Already enabled.
        Err(e)
            if e.as_service_error().is_some_and(|se| {
                se.meta()
                    .message()
                    .is_some_and(|m| m.contains("already enabled"))
                    || se.meta().code() == Some("ValidationException")
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::aws("DynamoDB", "UpdateTimeToLive", e)),
    }
}

/// Creates a Hangar queue and its dead-letter queue; returns the queue URL.
pub async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
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
        .map_err(|e| Error::aws("SQS", "GetQueueAttributes", e))?
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
    sqs: &aws_sdk_sqs::Client,
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
                .map_err(|e| Error::aws("SQS", "GetQueueUrl", e))?;
            Ok(out.queue_url.unwrap_or_default())
        }
        Err(e) => Err(Error::aws("SQS", "CreateQueue", e)),
    }
}
