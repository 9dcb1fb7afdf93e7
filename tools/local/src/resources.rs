//! Creates the resources the Terraform modules declare, with the same names and settings, on the emulator:
//! the bucket (versioned, encrypted, notifications for `uploads/` and `ingest/`), a queue and DLQ per stage
//! (preprocess, one per model, notify), the table with its indexes and TTL, and the event bus with the
//! webhook rule (events that carry a `callback_url` go to the notify queue).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    BucketVersioningStatus, Event, FilterRule, FilterRuleName, NotificationConfiguration,
    NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;
use imgpipe_domain::keys::{INGEST_PREFIX, UPLOAD_PREFIX};
use imgpipe_domain::record::table;

use crate::clients::Clients;

/// Every name derives from `{project}-{environment}`, as in `terraform/`.
#[derive(Clone, Debug)]
pub struct Names {
    pub prefix: String,
}

impl Names {
    pub fn new(project: &str, environment: &str) -> Self {
        Self {
            prefix: format!("{project}-{environment}"),
        }
    }
    pub fn bucket(&self) -> String {
        format!("{}-images", self.prefix)
    }
    pub fn table(&self) -> String {
        format!("{}-images", self.prefix)
    }
    pub fn queue(&self, stage: &str) -> String {
        format!("{}-{stage}", self.prefix)
    }
    pub fn dlq(&self, stage: &str) -> String {
        format!("{}-{stage}-dlq", self.prefix)
    }
    pub fn event_bus(&self) -> String {
        format!("{}-events", self.prefix)
    }
}

#[derive(Clone, Debug)]
pub struct Queue {
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
    pub max_receive_count: u32,
}

#[derive(Clone, Debug)]
pub struct Resources {
    pub names: Names,
    pub bucket: String,
    pub table: String,
    pub event_bus: String,
    pub preprocess: Queue,
    /// One per model, by model name, in the order the models were given.
    pub inference: Vec<(String, Queue)>,
    pub notify: Queue,
}

impl Resources {
    pub fn inference_queue(&self, model: &str) -> Option<&Queue> {
        self.inference
            .iter()
            .find(|(name, _)| name == model)
            .map(|(_, queue)| queue)
    }
}

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The resources of a deployment serving `models` (model names); visibility timeouts short enough for
/// retries to be observed in seconds.
pub async fn create(
    clients: &Clients,
    names: Names,
    models: &[&str],
    visibility_timeout_secs: u32,
) -> Result<Resources, Error> {
    let settings = crate::pipeline_settings();
    let max_receive = |stage: &str| settings["queues"][stage]["max_receive_count"].as_u64().unwrap_or(5) as u32;
    let preprocess = create_queue(
        clients,
        &names,
        "preprocess",
        max_receive("preprocess"),
        visibility_timeout_secs,
    )
    .await?;
    let mut inference = Vec::new();
    for model in models {
        let stage = format!("inference-{model}");
        let queue = create_queue(
            clients,
            &names,
            &stage,
            max_receive("inference"),
            visibility_timeout_secs,
        )
        .await?;
        inference.push(((*model).to_owned(), queue));
    }
    let notify = create_queue(
        clients,
        &names,
        "notify",
        max_receive("notify"),
        visibility_timeout_secs,
    )
    .await?;
    let bucket = create_bucket(clients, &names, &preprocess).await?;
    let table = create_table(clients, &names).await?;
    clients
        .eventbridge
        .create_event_bus()
        .name(names.event_bus())
        .send()
        .await?;
    let webhooks = serde_json::json!({"source": [imgpipe_domain::events::EVENT_SOURCE], "detail": {"callback_url": [{"exists": true}]}});
    add_event_rule(
        clients,
        &names.event_bus(),
        &format!("{}-webhooks", names.prefix),
        &webhooks,
        &notify.arn,
    )
    .await?;
    Ok(Resources {
        event_bus: names.event_bus(),
        names,
        bucket,
        table,
        preprocess,
        inference,
        notify,
    })
}

async fn create_queue(
    clients: &Clients,
    names: &Names,
    stage: &str,
    max_receive_count: u32,
    visibility_timeout_secs: u32,
) -> Result<Queue, Error> {
    let sqs = &clients.sqs;
    let dlq_url = sqs
        .create_queue()
        .queue_name(names.dlq(stage))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .send()
        .await?
        .queue_url
        .ok_or("no DLQ url")?;
    let dlq_arn = queue_arn(clients, &dlq_url).await?;
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count});
    let url = sqs
        .create_queue()
        .queue_name(names.queue(stage))
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await?
        .queue_url
        .ok_or("no queue url")?;
    let arn = queue_arn(clients, &url).await?;
    Ok(Queue {
        url,
        arn,
        dlq_url,
        dlq_arn,
        max_receive_count,
    })
}

/// A rule on `bus` that sends the events matching `pattern` to the queue `queue_arn` (the webhook rule;
/// tests add rules of their own to observe the events).
pub async fn add_event_rule(
    clients: &Clients,
    bus: &str,
    name: &str,
    pattern: &serde_json::Value,
    queue_arn: &str,
) -> Result<(), Error> {
    clients
        .eventbridge
        .put_rule()
        .name(name)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await?;
    clients
        .eventbridge
        .put_targets()
        .rule(name)
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()?,
        )
        .send()
        .await?;
    Ok(())
}

/// Changes how many deliveries a queue allows before it moves a message to its DLQ.
pub async fn set_max_receive_count(clients: &Clients, queue: &mut Queue, max_receive_count: u32) -> Result<(), Error> {
    let redrive = serde_json::json!({"deadLetterTargetArn": queue.dlq_arn, "maxReceiveCount": max_receive_count});
    clients
        .sqs
        .set_queue_attributes()
        .queue_url(&queue.url)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await?;
    queue.max_receive_count = max_receive_count;
    Ok(())
}

async fn queue_arn(clients: &Clients, url: &str) -> Result<String, Error> {
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?;
    Ok(attributes
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or("no queue ARN")?)
}

async fn create_bucket(clients: &Clients, names: &Names, preprocess: &Queue) -> Result<String, Error> {
    let s3 = &clients.s3;
    let bucket = names.bucket();
    s3.create_bucket().bucket(&bucket).send().await?;
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await?;
    let sse = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()?;
    s3.put_bucket_encryption()
        .bucket(&bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(sse)
                        .build(),
                )
                .build()?,
        )
        .send()
        .await?;
    let notification = |id: &str, prefix: &str| {
        let filter = NotificationConfigurationFilter::builder()
            .key(
                S3KeyFilter::builder()
                    .filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value(prefix).build())
                    .build(),
            )
            .build();
        QueueConfiguration::builder()
            .id(id)
            .queue_arn(&preprocess.arn)
            .events(Event::from("s3:ObjectCreated:*"))
            .filter(filter)
            .build()
    };
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(notification("uploads-to-preprocess", UPLOAD_PREFIX)?)
                .queue_configurations(notification("ingest-to-preprocess", INGEST_PREFIX)?)
                .build(),
        )
        .send()
        .await?;
    Ok(bucket)
}

async fn create_table(clients: &Clients, names: &Names) -> Result<String, Error> {
    let name = names.table();
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
    };
    let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
    let index = |name: &str, hash: &str, range: &str, projection: Projection| -> Result<GlobalSecondaryIndex, Error> {
        Ok(GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash)?)
            .key_schema(key(range, KeyType::Range)?)
            .projection(projection)
            .build()?)
    };
    let keys_only = || Projection::builder().projection_type(ProjectionType::KeysOnly).build();
    let with_status = Projection::builder()
        .projection_type(ProjectionType::Include)
        .non_key_attributes("status")
        .build();
    clients
        .dynamodb
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(table::HASH_KEY, ScalarAttributeType::S)?)
        .attribute_definitions(attribute("status_shard", ScalarAttributeType::S)?)
        .attribute_definitions(attribute("owner", ScalarAttributeType::S)?)
        .attribute_definitions(attribute("created_at", ScalarAttributeType::N)?)
        .attribute_definitions(attribute(table::SOURCE_OWNER, ScalarAttributeType::S)?)
        .attribute_definitions(attribute("source_key", ScalarAttributeType::S)?)
        .key_schema(key(table::HASH_KEY, KeyType::Hash)?)
        .global_secondary_indexes(index(table::STATUS_INDEX, "status_shard", "created_at", keys_only())?)
        .global_secondary_indexes(index(table::OWNER_INDEX, "owner", "created_at", keys_only())?)
        .global_secondary_indexes(index(
            table::SOURCE_INDEX,
            table::SOURCE_OWNER,
            "source_key",
            with_status,
        )?)
        .send()
        .await?;
    clients
        .dynamodb
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(table::TTL_ATTRIBUTE)
                .build()?,
        )
        .send()
        .await?;
    Ok(name)
}
