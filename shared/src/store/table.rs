//! Creating the table: its key, the `by-bucket` index and TTL. `infra/`
//! declares the same table (a test compares them).

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::DynamoDbClient;
use super::schema::{INDEX, PROJECTED, attr};
use crate::error::{Error, Result};

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

/// Creates the job table (on-demand) with its index and TTL if it does not
/// exist, and waits until it is active. An existing table is left as it is.
pub async fn ensure_table(ddb: &DynamoDbClient, table: &str) -> Result<()> {
    let index = GlobalSecondaryIndex::builder()
        .index_name(INDEX)
        .key_schema(key(attr::BUCKET, KeyType::Hash))
        .key_schema(key(attr::BUCKET_AT, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(PROJECTED.iter().map(|s| (*s).to_owned()).collect()))
                .build(),
        )
        .build()
        .expect("index fields set");
    let res = ddb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(attr::PK, KeyType::Hash))
        .attribute_definitions(def(attr::PK, ScalarAttributeType::S))
        .attribute_definitions(def(attr::BUCKET, ScalarAttributeType::S))
        .attribute_definitions(def(attr::BUCKET_AT, ScalarAttributeType::N))
        .global_secondary_indexes(index)
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
