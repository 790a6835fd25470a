//! Creates Hangar's resources: the job table (with its index and TTL) and,
//! per queue, an SQS queue with a dead-letter queue. Idempotent: existing
//! resources are left as they are. The local runner and the tests call this;
//! deployed stacks get the same resources from `infra/`. The table's layout
//! belongs to [`crate::store`], the queues' to [`crate::queue`].

use crate::config::Config;
use crate::error::Result;
use crate::queue::{SqsClient, ensure_queue};
use crate::store::{DynamoDbClient, ensure_table};

pub use crate::queue::QueueSettings;

/// Creates the table and the queues if they do not exist; returns the queue
/// URLs by name.
pub async fn ensure(
    ddb: &DynamoDbClient,
    sqs: &SqsClient,
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

/// [`ensure`] with SDK clients built from an SDK configuration.
pub async fn ensure_with(
    sdk: &aws_config::SdkConfig,
    config: &Config,
    queues: &[&str],
    settings: &QueueSettings,
) -> Result<Vec<(String, String)>> {
    ensure(
        &DynamoDbClient::new(sdk),
        &SqsClient::new(sdk),
        config,
        queues,
        settings,
    )
    .await
}
