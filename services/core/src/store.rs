//! The status store: one DynamoDB item per image, moved through the status machine with conditional
//! writes so that a stale or duplicate writer can never move a job backwards.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::aws::transient;
use crate::error::{ErrorCode, PipelineError};
use crate::messages::ModelRef;
use crate::model::Prediction;
use crate::status::Status;
use crate::ImageId;

/// Partitions of the status index: one status value spread over this many keys (`queued#0`..`queued#7`),
/// so a burst of writes of one status is not limited to a single index partition.
pub const STATUS_SHARDS: u32 = 8;
/// Name of the global secondary index keyed by `status_shard`, sorted by `created_at`.
pub const STATUS_INDEX: &str = "status-created_at";

pub fn status_shard_key(status: Status, id: &ImageId) -> String {
    format!("{}#{}", status.as_str(), id.shard(STATUS_SHARDS))
}

/// A new job, written by the API before the client uploads.
#[derive(Clone, Debug)]
pub struct NewImage {
    pub image_id: ImageId,
    pub owner: Option<String>,
    pub content_type: String,
    pub filename: Option<String>,
    pub s3_key: String,
    pub created_at_ms: i64,
    /// Epoch seconds after which DynamoDB's TTL may delete the item.
    pub expires_at_secs: i64,
}

/// The stored job as the API and the handlers read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub image_id: ImageId,
    pub status: Status,
    pub created_at: i64,
    pub updated_at: i64,
    /// When each status was entered (epoch ms).
    #[serde(default)]
    pub timeline: HashMap<String, i64>,
    #[serde(default)]
    pub owner: Option<String>,
    pub content_type: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    pub s3_key: String,
    #[serde(default)]
    pub s3_version: Option<String>,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub predictions: Option<Vec<Prediction>>,
    #[serde(default)]
    pub model: Option<ModelRef>,
    #[serde(default)]
    pub timings_ms: HashMap<String, i64>,
    #[serde(default)]
    pub error: Option<JobError>,
    #[serde(default)]
    pub result_key: Option<String>,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    pub code: ErrorCode,
    pub message: String,
}

/// Fields written together with a status transition.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub s3_version: Option<String>,
    pub size_bytes: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: Option<String>,
    pub predictions: Option<Vec<Prediction>>,
    pub model: Option<ModelRef>,
    /// Stage timings to record, merged into `timings_ms`.
    pub timings_ms: Vec<(&'static str, i64)>,
    pub error: Option<JobError>,
    pub result_key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    Applied,
    /// The job was not in a state that may move to the target (or does not exist): nothing was written.
    Rejected {
        current: Option<Status>,
    },
}

#[derive(Clone, Debug)]
pub struct StatusStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl StatusStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the record in `pending_upload`; fails if the id already exists.
    pub async fn create(&self, image: &NewImage) -> Result<(), PipelineError> {
        let status = Status::PendingUpload;
        let mut item = HashMap::from([
            ("image_id".to_owned(), s(image.image_id.to_string())),
            ("status".to_owned(), s(status.as_str())),
            ("status_shard".to_owned(), s(status_shard_key(status, &image.image_id))),
            ("created_at".to_owned(), n(image.created_at_ms)),
            ("updated_at".to_owned(), n(image.created_at_ms)),
            (
                "timeline".to_owned(),
                AttributeValue::M(HashMap::from([(status.as_str().to_owned(), n(image.created_at_ms))])),
            ),
            ("timings_ms".to_owned(), AttributeValue::M(HashMap::new())),
            ("content_type".to_owned(), s(&image.content_type)),
            ("s3_key".to_owned(), s(&image.s3_key)),
            ("expires_at".to_owned(), n(image.expires_at_secs)),
        ]);
        if let Some(owner) = &image.owner {
            item.insert("owner".to_owned(), s(owner));
        }
        if let Some(filename) = &image.filename {
            item.insert("filename".to_owned(), s(filename));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(image_id)")
            .send()
            .await
            .map_err(|e| transient("DynamoDB PutItem", e))?;
        Ok(())
    }

    pub async fn get(&self, id: &ImageId) -> Result<Option<ImageRecord>, PipelineError> {
        let response = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("image_id", s(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| transient("DynamoDB GetItem", e))?;
        response.item.map(|item| record_from_item(&item)).transpose()
    }

    /// Moves the job to `to` and writes `changes`, only if its current status may move to `to`.
    pub async fn transition(
        &self,
        id: &ImageId,
        to: Status,
        changes: Changes,
        now_ms: i64,
    ) -> Result<Transition, PipelineError> {
        let update = UpdateBuilder::for_transition(id, to, changes, now_ms);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("image_id", s(id.to_string()))
            .update_expression(update.expression())
            .condition_expression(update.condition)
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Transition::Applied),
            Err(err)
                if err
                    .as_service_error()
                    .map(|e| e.is_conditional_check_failed_exception())
                    .unwrap_or(false) =>
            {
                let current = self.get(id).await?.map(|record| record.status);
                Ok(Transition::Rejected { current })
            }
            Err(err) => Err(transient("DynamoDB UpdateItem", err)),
        }
    }

    /// Marks the job failed (from any live state). A job already terminal is left as it is.
    pub async fn fail(
        &self,
        id: &ImageId,
        code: ErrorCode,
        message: &str,
        now_ms: i64,
    ) -> Result<Transition, PipelineError> {
        let changes = Changes {
            error: Some(JobError {
                code,
                message: message.to_owned(),
            }),
            ..Changes::default()
        };
        self.transition(id, Status::Failed, changes, now_ms).await
    }
}

/// Builds the UpdateItem expression of one transition.
struct UpdateBuilder {
    sets: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    condition: String,
}

impl UpdateBuilder {
    fn for_transition(id: &ImageId, to: Status, changes: Changes, now_ms: i64) -> Self {
        let mut builder = Self {
            sets: Vec::new(),
            names: HashMap::new(),
            values: HashMap::new(),
            condition: String::new(),
        };
        builder.names.insert("#status".into(), "status".into());
        builder.names.insert("#to".into(), to.as_str().into());
        builder.set("#status", ":to", s(to.as_str()));
        builder.set("status_shard", ":shard", s(status_shard_key(to, id)));
        builder.set("updated_at", ":now", n(now_ms));
        builder.sets.push("timeline.#to = :now".into());

        let optional = [
            ("s3_version", changes.s3_version.map(s)),
            ("size_bytes", changes.size_bytes.map(|v| n(v as i64))),
            ("width", changes.width.map(|v| n(i64::from(v)))),
            ("height", changes.height.map(|v| n(i64::from(v)))),
            ("format", changes.format.map(s)),
            (
                "predictions",
                changes
                    .predictions
                    .map(|p| to_attribute(&serde_json::to_value(p).unwrap_or(Value::Null))),
            ),
            (
                "model",
                changes
                    .model
                    .map(|m| to_attribute(&serde_json::to_value(m).unwrap_or(Value::Null))),
            ),
            (
                "error",
                changes
                    .error
                    .map(|e| to_attribute(&serde_json::to_value(e).unwrap_or(Value::Null))),
            ),
            ("result_key", changes.result_key.map(s)),
        ];
        for (attribute, value) in optional {
            if let Some(value) = value {
                builder.names.insert(format!("#{attribute}"), attribute.to_owned());
                builder.set(&format!("#{attribute}"), &format!(":{attribute}"), value);
            }
        }
        for (index, (stage, millis)) in changes.timings_ms.into_iter().enumerate() {
            builder.names.insert(format!("#t{index}"), stage.to_owned());
            builder.set(&format!("timings_ms.#t{index}"), &format!(":t{index}"), n(millis));
        }

        let predecessors = Status::allowed_predecessors(to);
        let placeholders: Vec<String> = predecessors
            .iter()
            .enumerate()
            .map(|(index, status)| {
                let placeholder = format!(":from{index}");
                builder.values.insert(placeholder.clone(), s(status.as_str()));
                placeholder
            })
            .collect();
        builder.condition = format!(
            "attribute_exists(image_id) AND #status IN ({})",
            placeholders.join(", ")
        );
        builder
    }

    fn set(&mut self, path: &str, placeholder: &str, value: AttributeValue) {
        self.sets.push(format!("{path} = {placeholder}"));
        self.values.insert(placeholder.to_owned(), value);
    }

    fn expression(&self) -> String {
        format!("SET {}", self.sets.join(", "))
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// JSON -> DynamoDB attribute (numbers as N, objects as M, arrays as L).
pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(number) => AttributeValue::N(number.to_string()),
        Value::String(string) => AttributeValue::S(string.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), to_attribute(v))).collect()),
    }
}

/// DynamoDB attribute -> JSON. Binary and set types are not used by the pipeline and become null.
pub fn from_attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(string) => Value::String(string.clone()),
        AttributeValue::N(number) => number
            .parse::<i64>()
            .map(Value::from)
            .ok()
            .or_else(|| number.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number))
            .unwrap_or(Value::Null),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(items) => Value::Array(items.iter().map(from_attribute).collect()),
        AttributeValue::M(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), from_attribute(v))).collect()),
        _ => Value::Null,
    }
}

pub fn record_from_item(item: &HashMap<String, AttributeValue>) -> Result<ImageRecord, PipelineError> {
    let json: Map<String, Value> = item.iter().map(|(k, v)| (k.clone(), from_attribute(v))).collect();
    serde_json::from_value(Value::Object(json)).map_err(|e| {
        PipelineError::permanent(
            ErrorCode::Internal,
            format!("stored item does not match the record shape: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_update_is_conditional_on_allowed_predecessors() {
        let id = ImageId::new_random();
        let changes = Changes {
            width: Some(10),
            timings_ms: vec![("preprocess", 12)],
            ..Changes::default()
        };
        let update = UpdateBuilder::for_transition(&id, Status::Preprocessed, changes, 5);
        assert_eq!(
            update.condition,
            "attribute_exists(image_id) AND #status IN (:from0, :from1, :from2)"
        );
        let froms: Vec<_> = (0..3).map(|i| update.values[&format!(":from{i}")].clone()).collect();
        assert_eq!(froms, vec![s("pending_upload"), s("queued"), s("preprocessing")]);
        let expression = update.expression();
        assert!(expression.contains("#status = :to"), "{expression}");
        assert!(expression.contains("timeline.#to = :now"), "{expression}");
        assert!(expression.contains("#width = :width"), "{expression}");
        assert!(expression.contains("timings_ms.#t0 = :t0"), "{expression}");
        assert_eq!(update.names["#to"], "preprocessed");
        assert_eq!(update.values[":shard"], s(status_shard_key(Status::Preprocessed, &id)));
    }

    #[test]
    fn attribute_conversion_round_trips() {
        let value = serde_json::json!({"a": [1, 2.5, "x", {"b": true}], "c": null});
        assert_eq!(from_attribute(&to_attribute(&value)), value);
    }
}
