//! The job store over DynamoDB: one item per image, moved through the status machine with conditional
//! writes so that a stale or duplicate writer can never move a job backwards.
//!
//! - this file: the `Jobs` port over the table (create, read, transition, delete);
//! - [`item`]: the item schema (attribute names, the record's codec through `serde_dynamo`);
//! - [`update`]: one transition as an UpdateItem (the condition states `record::JobState::allows`);
//! - [`list`]: listings through the keys-only indexes, read back from the table.

mod item;
mod list;
mod update;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use imgpipe_domain::batch::{PrefixPage, PrefixQuery};
use imgpipe_domain::ports::Jobs;
use imgpipe_domain::record::{Changes, Created, Cursor, ImageRecord, ListQuery, NewImage, Transition, WebhookNote};
use imgpipe_domain::{ImageId, PipelineError, Status};

use crate::error::classify;
use item::{attribute, live_record, n, s, TOMBSTONE};
pub use item::{record_from_item, OWNER_INDEX, SOURCE_INDEX, STATUS_INDEX};

/// Every attribute a job's item may hold besides its key and expiry: a delete removes them all.
const RECORD_ATTRIBUTES: [&str; 28] = [
    "status",
    "status_shard",
    "owner",
    "created_at",
    "updated_at",
    "timeline",
    "timings_ms",
    "content_type",
    "filename",
    "s3_key",
    "s3_version",
    "size_bytes",
    "width",
    "height",
    "format",
    "predictions",
    "model",
    "model_name",
    "model_choice",
    "callback_url",
    "source_key",
    "source_owner",
    "webhook",
    "error",
    "claimant",
    "claim_expires_at",
    "s3_sequencer",
    "request_fingerprint",
];

#[derive(Clone, Debug)]
pub struct DynamoJobs {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoJobs {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// Whether a DynamoDB call failed only because its condition expression did not hold.
fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

fn key(id: &ImageId) -> (String, AttributeValue) {
    ("image_id".to_owned(), AttributeValue::S(id.to_string()))
}

impl Jobs for DynamoJobs {
    async fn create(&self, image: &NewImage) -> Result<Created, PipelineError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::new_item(image)))
            .condition_expression("attribute_not_exists(image_id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Created::New),
            Err(err) if is_condition_failure(&err) => Ok(Created::Exists),
            Err(err) => Err(classify("DynamoDB PutItem", err)),
        }
    }

    async fn get(&self, id: &ImageId) -> Result<Option<ImageRecord>, PipelineError> {
        let (name, value) = key(id);
        let response = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(name, value)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("DynamoDB GetItem", e))?;
        match response.item {
            Some(item) => live_record(&item),
            None => Ok(None),
        }
    }

    async fn transition(
        &self,
        id: &ImageId,
        to: Status,
        changes: Changes,
        now_ms: i64,
    ) -> Result<Transition, PipelineError> {
        let update = update::UpdateBuilder::for_transition(id, to, changes, now_ms);
        let (name, value) = key(id);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(name, value)
            .update_expression(update.expression())
            .condition_expression(update.condition)
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            // The record as written, at no read cost: the caller announces it or routes by it.
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                Ok(Transition::Applied(Box::new(record_from_item(&item)?)))
            }
            Err(err) if is_condition_failure(&err) => {
                let current = self.get(id).await?.map(|record| record.status);
                Ok(Transition::Rejected { current })
            }
            Err(err) => Err(classify("DynamoDB UpdateItem", err)),
        }
    }

    async fn delete(&self, id: &ImageId, owner: Option<&str>) -> Result<bool, PipelineError> {
        let (name, value) = key(id);
        let mut names: HashMap<String, String> = RECORD_ATTRIBUTES
            .iter()
            .enumerate()
            .map(|(i, attribute)| (format!("#a{i}"), (*attribute).to_owned()))
            .collect();
        names.insert("#owner".into(), "owner".into());
        names.insert("#deleted".into(), TOMBSTONE.into());
        let removes: Vec<String> = (0..RECORD_ATTRIBUTES.len()).map(|i| format!("#a{i}")).collect();
        let live = "attribute_exists(image_id) AND attribute_not_exists(#deleted)";
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(name, value)
            .update_expression(format!("SET #deleted = :now REMOVE {}", removes.join(", ")))
            .set_expression_attribute_names(Some(names))
            .expression_attribute_values(":now", n(imgpipe_domain::time::now_ms()));
        request = match owner {
            Some(owner) => request
                .condition_expression(format!("{live} AND (attribute_not_exists(#owner) OR #owner = :owner)"))
                .expression_attribute_values(":owner", s(owner)),
            None => request.condition_expression(format!("{live} AND attribute_not_exists(#owner)")),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(classify("DynamoDB UpdateItem (delete)", err)),
        }
    }

    async fn list(&self, query: &ListQuery) -> Result<(Vec<ImageRecord>, Option<Cursor>), PipelineError> {
        list::list(self, query).await
    }

    async fn list_prefix(&self, query: &PrefixQuery) -> Result<PrefixPage, PipelineError> {
        list::list_prefix(self, query).await
    }

    async fn stale(
        &self,
        status: Status,
        created_before_ms: i64,
        limit: usize,
    ) -> Result<Vec<ImageRecord>, PipelineError> {
        list::stale(self, status, created_before_ms, limit).await
    }

    async fn take_quota(
        &self,
        owner: &str,
        day: &str,
        limit: u64,
        expires_at_secs: i64,
    ) -> Result<bool, PipelineError> {
        // One counter item per owner and day, in the same table (it has no status or owner attribute, so
        // no index holds it): one write per image created, refused at the limit.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("image_id", s(format!("quota#{day}#{owner}")))
            .update_expression("SET images = if_not_exists(images, :zero) + :one, expires_at = :expires")
            .condition_expression("attribute_not_exists(images) OR images < :limit")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit.min(i64::MAX as u64) as i64))
            .expression_attribute_values(":expires", n(expires_at_secs))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(classify("DynamoDB UpdateItem (quota)", err)),
        }
    }

    async fn note_webhook(&self, id: &ImageId, note: &WebhookNote) -> Result<bool, PipelineError> {
        let (name, value) = key(id);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(name, value)
            .update_expression("SET webhook = :note")
            .condition_expression("attribute_exists(image_id) AND attribute_not_exists(#deleted)")
            .expression_attribute_names("#deleted", TOMBSTONE)
            .expression_attribute_values(":note", attribute(note))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(classify("DynamoDB UpdateItem (webhook note)", err)),
        }
    }
}
