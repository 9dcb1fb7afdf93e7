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

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use imgpipe_domain::ports::Jobs;
use imgpipe_domain::record::{Changes, Created, Cursor, ImageRecord, ListQuery, NewImage, Transition};
use imgpipe_domain::{ImageId, PipelineError, Status};

use crate::error::classify;
pub use item::{record_from_item, OWNER_INDEX, STATUS_INDEX};

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
        response.item.map(|item| record_from_item(&item)).transpose()
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
            .send()
            .await;
        match result {
            Ok(_) => Ok(Transition::Applied),
            Err(err) if is_condition_failure(&err) => {
                let current = self.get(id).await?.map(|record| record.status);
                Ok(Transition::Rejected { current })
            }
            Err(err) => Err(classify("DynamoDB UpdateItem", err)),
        }
    }

    async fn delete(&self, id: &ImageId, owner: Option<&str>) -> Result<bool, PipelineError> {
        let (name, value) = key(id);
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(name, value)
            .expression_attribute_names("#owner", "owner");
        request = match owner {
            Some(owner) => request
                .condition_expression(
                    "attribute_exists(image_id) AND (attribute_not_exists(#owner) OR #owner = :owner)",
                )
                .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned())),
            None => request.condition_expression("attribute_exists(image_id) AND attribute_not_exists(#owner)"),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(classify("DynamoDB DeleteItem", err)),
        }
    }

    async fn list(&self, query: &ListQuery) -> Result<(Vec<ImageRecord>, Option<Cursor>), PipelineError> {
        list::list(self, query).await
    }
}
