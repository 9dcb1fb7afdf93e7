//! Creates the same resources the Terraform modules declare, with the same names and settings, on the
//! emulator.

use crate::clients::Clients;
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
use imgpipe_aws::store::{OWNER_INDEX, STATUS_INDEX};
use imgpipe_domain::keys::UPLOAD_PREFIX;

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
}

#[derive(Clone, Debug)]
pub struct Queue {
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
    pub max_receive_count: u32,
}

#[derive(Clone, Debug)]
pub struct Resources {
    pub names: Names,
    pub bucket: String,
    pub table: String,
    pub preprocess: Queue,
    pub inference: Queue,
}

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub async fn create(clients: &Clients, names: Names, visibility_timeout_secs: u32) -> Result<Resources, Error> {
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
    let inference = create_queue(
        clients,
        &names,
        "inference",
        max_receive("inference"),
        visibility_timeout_secs,
    )
    .await?;
    let bucket = create_bucket(clients, &names, &preprocess).await?;
    let table = create_table(clients, &names).await?;
    Ok(Resources {
        names,
        bucket,
        table,
        preprocess,
        inference,
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
        max_receive_count,
    })
}

/// Changes how many deliveries a queue allows before it moves a message to its DLQ.
pub async fn set_max_receive_count(clients: &Clients, queue: &mut Queue, max_receive_count: u32) -> Result<(), Error> {
    let dlq_arn = queue_arn(clients, &queue.dlq_url).await?;
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count});
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
    let filter = NotificationConfigurationFilter::builder()
        .key(
            S3KeyFilter::builder()
                .filter_rules(
                    FilterRule::builder()
                        .name(FilterRuleName::Prefix)
                        .value(UPLOAD_PREFIX)
                        .build(),
                )
                .build(),
        )
        .build();
    let notification = QueueConfiguration::builder()
        .id("uploads-to-preprocess")
        .queue_arn(&preprocess.arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .filter(filter)
        .build()?;
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(notification)
                .build(),
        )
        .send()
        .await?;
    Ok(bucket)
}

async fn create_table(clients: &Clients, names: &Names) -> Result<String, Error> {
    let table = names.table();
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
    };
    let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
    let index = |name: &str, hash: &str| -> Result<GlobalSecondaryIndex, Error> {
        Ok(GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash)?)
            .key_schema(key("created_at", KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
            .build()?)
    };
    clients
        .dynamodb
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("image_id", ScalarAttributeType::S)?)
        .attribute_definitions(attribute("status_shard", ScalarAttributeType::S)?)
        .attribute_definitions(attribute("owner", ScalarAttributeType::S)?)
        .attribute_definitions(attribute("created_at", ScalarAttributeType::N)?)
        .key_schema(key("image_id", KeyType::Hash)?)
        .global_secondary_indexes(index(STATUS_INDEX, "status_shard")?)
        .global_secondary_indexes(index(OWNER_INDEX, "owner")?)
        .send()
        .await?;
    clients
        .dynamodb
        .update_time_to_live()
        .table_name(&table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()?,
        )
        .send()
        .await?;
    Ok(table)
}
