//! The status store: one DynamoDB item per image, moved through the status machine with conditional
//! writes so that a stale or duplicate writer can never move a job backwards.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
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
///
/// Both indexes project only the keys: an index entry is rewritten whenever an attribute it holds
/// changes, so with every attribute projected each status write also rewrote the owner entry (a write
/// unit per transition, and four writes per image on one owner's index partition). Keys only, the owner
/// index is written once per image and listings read the items themselves from the table.
pub const STATUS_INDEX: &str = "status-created_at";
/// Name of the (sparse) global secondary index keyed by `owner`, sorted by `created_at`.
pub const OWNER_INDEX: &str = "owner-created_at";
/// Most keys one BatchGetItem call may ask for.
const BATCH_GET_LIMIT: usize = 100;
/// BatchGetItem calls made for one set of keys before unprocessed keys (throttling) become an error.
const BATCH_GET_ATTEMPTS: u32 = 5;
/// Largest page of a listing.
pub const MAX_LIST_LIMIT: usize = 100;

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
    /// For a request made with an idempotency key: a digest of what was asked, so that a replay can be
    /// told apart from a different request reusing the key.
    pub request_fingerprint: Option<String>,
}

impl NewImage {
    /// The record `StatusStore::create` writes for this image, without reading it back.
    pub fn record(&self) -> ImageRecord {
        ImageRecord {
            image_id: self.image_id,
            status: Status::PendingUpload,
            created_at: self.created_at_ms,
            updated_at: self.created_at_ms,
            timeline: HashMap::from([(Status::PendingUpload.as_str().to_owned(), self.created_at_ms)]),
            owner: self.owner.clone(),
            content_type: Some(self.content_type.clone()),
            filename: self.filename.clone(),
            s3_key: self.s3_key.clone(),
            s3_version: None,
            size_bytes: None,
            width: None,
            height: None,
            format: None,
            predictions: None,
            model: None,
            timings_ms: HashMap::new(),
            error: None,
            s3_sequencer: None,
            request_fingerprint: self.request_fingerprint.clone(),
            expires_at: self.expires_at_secs,
        }
    }
}

/// What `StatusStore::create` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    New,
    /// A record with this id exists already (an idempotent replay, or a collision): nothing was written.
    Exists,
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
    pub s3_sequencer: Option<String>,
    #[serde(default)]
    pub request_fingerprint: Option<String>,
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
    /// For a working state: who holds the job. Re-entering the same working state is then allowed only
    /// to the same claimant (a retry of the same SQS message) or once the claim has expired (a crash).
    pub claim: Option<Claim>,
    /// The S3 event sequencer (normalised, see `s3_event::normalized_sequencer`): the write is refused if
    /// the job has already seen a later event for its object.
    pub s3_sequencer: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub claimant: String,
    pub expires_at_ms: i64,
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

    /// Creates the record in `pending_upload`, unless the id already exists.
    pub async fn create(&self, image: &NewImage) -> Result<Created, PipelineError> {
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
        if let Some(fingerprint) = &image.request_fingerprint {
            item.insert("request_fingerprint".to_owned(), s(fingerprint));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(image_id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Created::New),
            Err(err) if is_condition_failure(&err) => Ok(Created::Exists),
            Err(err) => Err(transient("DynamoDB PutItem", err)),
        }
    }

    /// Deletes the record if `owner` may: a record with an owner only for that owner, an ownerless
    /// (local `none` mode) record for anyone. Returns whether a record was deleted.
    pub async fn delete(&self, id: &ImageId, owner: Option<&str>) -> Result<bool, PipelineError> {
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("image_id", s(id.to_string()))
            .expression_attribute_names("#owner", "owner");
        request = match owner {
            Some(owner) => request
                .condition_expression(
                    "attribute_exists(image_id) AND (attribute_not_exists(#owner) OR #owner = :owner)",
                )
                .expression_attribute_values(":owner", s(owner)),
            None => request.condition_expression("attribute_exists(image_id) AND attribute_not_exists(#owner)"),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(transient("DynamoDB DeleteItem", err)),
        }
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
            Err(err) if is_condition_failure(&err) => {
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

/// What to list: one owner's images (the owner index) or, without an owner, by status across the shards
/// of the status index. Newest first.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub owner: Option<String>,
    pub status: Option<Status>,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

/// Where a listing page ended: items created at or before `before` (epoch ms) come next, except the
/// ids already returned from that very millisecond. Stateless across the index shards.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub before: i64,
    #[serde(default)]
    pub seen: Vec<String>,
}

impl StatusStore {
    /// One page of images, newest first, and the cursor of the next page if there may be one.
    pub async fn list(&self, query: &ListQuery) -> Result<(Vec<ImageRecord>, Option<Cursor>), PipelineError> {
        let limit = query.limit.clamp(1, MAX_LIST_LIMIT);
        let partitions: Vec<(&str, &str, String)> = match (&query.owner, query.status) {
            (Some(owner), _) => vec![(OWNER_INDEX, "owner", owner.clone())],
            (None, Some(status)) => (0..STATUS_SHARDS)
                .map(|shard| (STATUS_INDEX, "status_shard", format!("{}#{shard}", status.as_str())))
                .collect(),
            (None, None) => Status::ALL
                .into_iter()
                .flat_map(|status| (0..STATUS_SHARDS).map(move |shard| format!("{}#{shard}", status.as_str())))
                .map(|key| (STATUS_INDEX, "status_shard", key))
                .collect(),
        };
        // The items are read from the table after the index, so they may have moved on: a status
        // listing keeps only those still in the status asked for.
        let pages = futures::future::join_all(partitions.iter().map(|(index, attribute, key)| {
            self.query_partition(index, attribute, key, query.status, query.cursor.as_ref(), limit)
        }))
        .await;
        let mut items = Vec::new();
        for page in pages {
            items.extend(page?);
        }
        newest_first(&mut items);
        // A job that changed status during the listing can be read through its old and its new
        // status partition (the index lags the table).
        items.dedup_by_key(|record| record.image_id);
        let more = items.len() > limit;
        items.truncate(limit);
        let cursor = match items.last() {
            Some(last) if more => {
                let mut seen: Vec<String> = query
                    .cursor
                    .as_ref()
                    .filter(|c| c.before == last.created_at)
                    .map(|c| c.seen.clone())
                    .unwrap_or_default();
                seen.extend(
                    items
                        .iter()
                        .filter(|i| i.created_at == last.created_at)
                        .map(|i| i.image_id.to_string()),
                );
                Some(Cursor {
                    before: last.created_at,
                    seen,
                })
            }
            _ => None,
        };
        Ok((items, cursor))
    }

    /// Up to `limit + 1` items of one index partition after the cursor (the extra one tells whether more
    /// exist), following DynamoDB pages while the status filter leaves them short. The index holds keys
    /// only; the items come from the table.
    async fn query_partition(
        &self,
        index: &str,
        attribute: &str,
        key: &str,
        status: Option<Status>,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<ImageRecord>, PipelineError> {
        let seen = cursor.map(|c| c.seen.len()).unwrap_or(0);
        let want = limit + 1;
        let mut condition = "#pk = :pk".to_owned();
        let names = HashMap::from([("#pk".to_owned(), attribute.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), s(key))]);
        if let Some(cursor) = cursor {
            condition.push_str(" AND created_at <= :before");
            values.insert(":before".into(), n(cursor.before));
        }
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let response = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(&condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit((want + seen) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| transient("DynamoDB Query", e))?;
            let mut ids = Vec::new();
            for entry in response.items() {
                let id = entry.get("image_id").and_then(|v| v.as_s().ok());
                let created_at = entry.get("created_at").and_then(|v| v.as_n().ok());
                let (Some(id), Some(created_at)) = (id, created_at.and_then(|n| n.parse::<i64>().ok())) else {
                    return Err(PipelineError::permanent(
                        ErrorCode::Internal,
                        format!("index {index} returned an entry without image_id or created_at"),
                    ));
                };
                let already = cursor
                    .map(|c| created_at == c.before && c.seen.iter().any(|seen| seen == id))
                    .unwrap_or(false);
                if !already {
                    ids.push(id.to_owned());
                }
            }
            let mut page = self.get_many(&ids).await?;
            // Newest first within the page, as the index returned them.
            newest_first(&mut page);
            records.extend(
                page.into_iter()
                    .filter(|record| status.is_none_or(|s| record.status == s)),
            );
            start = response.last_evaluated_key;
            if start.is_none() || records.len() >= want {
                break;
            }
        }
        records.truncate(want);
        Ok(records)
    }
}

impl StatusStore {
    /// The records of these image ids (strongly consistent, in no particular order); ids without an item
    /// (deleted or expired since they were listed) are left out.
    async fn get_many(&self, ids: &[String]) -> Result<Vec<ImageRecord>, PipelineError> {
        let mut records = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_GET_LIMIT) {
            let mut keys: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|id| HashMap::from([("image_id".to_owned(), s(id.as_str()))]))
                .collect();
            let mut attempt = 0;
            while !keys.is_empty() {
                if attempt == BATCH_GET_ATTEMPTS {
                    return Err(PipelineError::transient(format!(
                        "DynamoDB BatchGetItem left {} keys unprocessed after {BATCH_GET_ATTEMPTS} attempts",
                        keys.len()
                    )));
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                }
                attempt += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| PipelineError::transient(format!("building a BatchGetItem request: {e}")))?;
                let response = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| transient("DynamoDB BatchGetItem", e))?;
                if let Some(items) = response.responses.as_ref().and_then(|r| r.get(&self.table)) {
                    for item in items {
                        records.push(record_from_item(item)?);
                    }
                }
                if let Some(left) = response.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                    keys = left.keys;
                }
            }
        }
        Ok(records)
    }
}

/// Listing order: newest first, ties broken by id so that pages are stable.
fn newest_first(records: &mut [ImageRecord]) {
    records.sort_by_key(|record| std::cmp::Reverse((record.created_at, record.image_id.to_string())));
}

/// Whether a DynamoDB call failed only because its condition expression did not hold.
fn is_condition_failure<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// Builds the UpdateItem expression of one transition.
struct UpdateBuilder {
    sets: Vec<String>,
    removes: Vec<&'static str>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    condition: String,
}

impl UpdateBuilder {
    fn for_transition(id: &ImageId, to: Status, changes: Changes, now_ms: i64) -> Self {
        let mut builder = Self {
            sets: Vec::new(),
            removes: Vec::new(),
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

        let mut condition = builder.status_condition(to, changes.claim.as_ref(), now_ms);
        if let Some(claim) = changes.claim {
            builder.set("claimant", ":claimant", s(claim.claimant));
            builder.set("claim_expires_at", ":claim_expires_at", n(claim.expires_at_ms));
        }
        if let Some(sequencer) = changes.s3_sequencer {
            condition = format!("{condition} AND (attribute_not_exists(s3_sequencer) OR s3_sequencer <= :sequencer)");
            builder.set("s3_sequencer", ":sequencer", s(sequencer));
        }
        builder.condition = format!("attribute_exists(image_id) AND {condition}");
        // A terminal job is never claimed or re-sequenced again: dropping those fields keeps the completed
        // item under 1 KB, one write unit instead of two in the table and in each index it is projected to.
        if to.is_terminal() {
            for field in ["claimant", "claim_expires_at", "s3_sequencer"] {
                if !builder.sets.iter().any(|set| set.starts_with(&format!("{field} ="))) {
                    builder.removes.push(field);
                }
            }
        }
        builder
    }

    /// `#status IN (allowed predecessors)`; for a claimed working state, re-entering it is limited to the
    /// same claimant or an expired claim.
    fn status_condition(&mut self, to: Status, claim: Option<&Claim>, now_ms: i64) -> String {
        let predecessors = Status::allowed_predecessors(to);
        let reentry = claim.is_some() && predecessors.contains(&to);
        let mut placeholders = Vec::new();
        for (index, status) in predecessors
            .iter()
            .filter(|&&status| !(reentry && status == to))
            .enumerate()
        {
            let placeholder = format!(":from{index}");
            self.values.insert(placeholder.clone(), s(status.as_str()));
            placeholders.push(placeholder);
        }
        let fresh = format!("#status IN ({})", placeholders.join(", "));
        if !reentry {
            return fresh;
        }
        if !self.values.contains_key(":now") {
            self.values.insert(":now".into(), n(now_ms));
        }
        format!("({fresh} OR (#status = :to AND (claimant = :claimant OR claim_expires_at < :now)))")
    }

    fn set(&mut self, path: &str, placeholder: &str, value: AttributeValue) {
        self.sets.push(format!("{path} = {placeholder}"));
        self.values.insert(placeholder.to_owned(), value);
    }

    fn expression(&self) -> String {
        let set = format!("SET {}", self.sets.join(", "));
        if self.removes.is_empty() {
            set
        } else {
            format!("{set} REMOVE {}", self.removes.join(", "))
        }
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
        assert!(
            !expression.contains("REMOVE"),
            "a working job keeps its claim: {expression}"
        );
    }

    #[test]
    fn terminal_writes_drop_the_claim_fields_they_do_not_set() {
        let id = ImageId::new_random();
        let done = UpdateBuilder::for_transition(&id, Status::Completed, Changes::default(), 5).expression();
        assert!(
            done.ends_with(" REMOVE claimant, claim_expires_at, s3_sequencer"),
            "{done}"
        );
        // A failure written with the event's sequencer sets it and so must not also remove it.
        let changes = Changes {
            s3_sequencer: Some("00AB".into()),
            ..Changes::default()
        };
        let failed = UpdateBuilder::for_transition(&id, Status::Failed, changes, 5).expression();
        assert!(failed.ends_with(" REMOVE claimant, claim_expires_at"), "{failed}");
    }

    #[test]
    fn claimed_reentry_is_limited_to_the_claimant_and_sequencers_only_move_forward() {
        let id = ImageId::new_random();
        let changes = Changes {
            claim: Some(Claim {
                claimant: "msg-1".into(),
                expires_at_ms: 900,
            }),
            s3_sequencer: Some("0055AED6DCD90281E5".into()),
            ..Changes::default()
        };
        let update = UpdateBuilder::for_transition(&id, Status::Preprocessing, changes, 5);
        assert_eq!(
            update.condition,
            "attribute_exists(image_id) AND (#status IN (:from0, :from1) OR (#status = :to AND \
             (claimant = :claimant OR claim_expires_at < :now))) AND (attribute_not_exists(s3_sequencer) \
             OR s3_sequencer <= :sequencer)"
        );
        assert_eq!(update.values[":from0"], s("pending_upload"));
        assert_eq!(update.values[":from1"], s("queued"));
        assert_eq!(update.values[":claimant"], s("msg-1"));
        assert!(update.expression().contains("claim_expires_at = :claim_expires_at"));
    }

    #[test]
    fn attribute_conversion_round_trips() {
        let value = serde_json::json!({"a": [1, 2.5, "x", {"b": true}], "c": null});
        assert_eq!(from_attribute(&to_attribute(&value)), value);
    }
}
