//! What the pipeline tells the world when a job ends: an EventBridge event (`Image Completed`,
//! `Image Failed`) and, for an image that came in through the ingest prefix, a result file next to
//! the others of its batch.
//!
//! Order and delivery: the stage that ends a job writes the terminal status first and announces it
//! second, so a consumer that gets the event always finds the record terminal. An announcement that
//! fails leaves the message for redelivery (`Ack::Retry`); the redelivery finds the job terminal and
//! announces it again (`Announce::ended`), so every ending is announced at least once and never lost,
//! and the result itself is never held back. A redelivery after a crash may announce twice: consumers
//! deduplicate by image id and status.

use std::collections::HashMap;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::error::PipelineError;
use crate::keys;
use crate::messages::ModelRef;
use crate::ports::Objects;
use crate::record::{ImageRecord, JobError, Prediction};
use crate::status::Status;
use crate::ImageId;

/// The `source` of every event.
pub const EVENT_SOURCE: &str = "imgpipe";
pub const COMPLETED: &str = "Image Completed";
pub const FAILED: &str = "Image Failed";

/// The `detail` of an event: what a consumer needs without reading the record (whose API it may not
/// be allowed to call). The schema: docs/events.schema.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventDetail {
    pub image_id: ImageId,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_choice: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions: Option<Vec<Prediction>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    pub timings_ms: HashMap<String, i64>,
    pub s3_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_version: Option<String>,
    /// Ingest: the key below `ingest/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key: Option<String>,
    /// Present only when the client asked for a webhook (the webhook rule matches on its presence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    pub created_at: i64,
    pub ended_at: i64,
}

/// One event to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageEvent {
    pub detail_type: &'static str,
    pub detail: EventDetail,
}

impl ImageEvent {
    /// The event of a terminal record; `None` for a job that has not ended.
    pub fn of(record: &ImageRecord) -> Option<Self> {
        let detail_type = match record.status {
            Status::Completed => COMPLETED,
            Status::Failed => FAILED,
            _ => return None,
        };
        let mut timings_ms = record.timings_ms.clone();
        let ended_at = record
            .timeline
            .get(record.status.as_str())
            .copied()
            .unwrap_or(record.updated_at);
        timings_ms
            .entry("end_to_end".into())
            .or_insert(ended_at - record.created_at);
        Some(Self {
            detail_type,
            detail: EventDetail {
                image_id: record.image_id,
                status: record.status,
                owner: record.owner.clone(),
                model: record.model.clone(),
                model_choice: record.model_choice.clone(),
                predictions: record.predictions.clone(),
                error: record.error.clone(),
                timings_ms,
                s3_key: record.s3_key.clone(),
                s3_version: record.s3_version.clone(),
                source_key: record.source_key.clone(),
                callback_url: record.callback_url.clone(),
                created_at: record.created_at,
                ended_at,
            },
        })
    }
}

/// The result file of an ingested image (`results/<key>.json`): its outcome, readable without the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultFile {
    pub image_id: ImageId,
    pub source_key: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions: Option<Vec<Prediction>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    pub ended_at: i64,
}

/// Where events go (EventBridge in a deployment).
pub trait Events: Send + Sync {
    /// Publishes every event, or fails (then none or some were published: the caller retries them all).
    fn publish(&self, events: &[ImageEvent]) -> impl Future<Output = Result<(), PipelineError>> + Send;
}

/// What a stage does after it wrote a terminal status.
pub trait Announce: Send + Sync {
    fn ended(&self, record: &ImageRecord) -> impl Future<Output = Result<(), PipelineError>> + Send;
}

/// The announcement of a deployment: the result file of an ingested image, then the event.
pub struct Announcer<E, O> {
    pub events: E,
    pub objects: O,
}

impl<E: Events, O: Objects> Announce for Announcer<E, O> {
    async fn ended(&self, record: &ImageRecord) -> Result<(), PipelineError> {
        let Some(event) = ImageEvent::of(record) else {
            return Ok(());
        };
        if let Some(source_key) = &record.source_key {
            let file = ResultFile {
                image_id: record.image_id,
                source_key: source_key.clone(),
                status: record.status,
                model: record.model.clone(),
                predictions: record.predictions.clone(),
                error: record.error.clone(),
                ended_at: event.detail.ended_at,
            };
            let body = serde_json::to_vec_pretty(&file)
                .map_err(|e| PipelineError::transient_because("serialising the result file", e))?;
            self.objects
                .put(&keys::result_key(source_key), body, "application/json")
                .await?;
        }
        self.events.publish(std::slice::from_ref(&event)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::NewImage;
    use crate::testing::{MemoryEvents, MemoryObjects};

    fn ended(status: Status, source_key: Option<&str>) -> ImageRecord {
        let id = ImageId::new_random();
        let mut record =
            NewImage::pending_upload(id, Some("owner".into()), "image/png", keys::upload_key(&id), 10, 99).record();
        record.source_key = source_key.map(str::to_owned);
        record.status = status;
        record.timeline.insert(status.as_str().into(), 25);
        record
    }

    #[tokio::test]
    async fn a_terminal_record_is_announced_with_its_result_file_when_ingested() {
        let announcer = Announcer {
            events: MemoryEvents::new(),
            objects: MemoryObjects::new(),
        };
        announcer.ended(&ended(Status::Completed, None)).await.unwrap();
        announcer
            .ended(&ended(Status::Failed, Some("batch-7/a.jpg")))
            .await
            .unwrap();
        announcer.ended(&ended(Status::Preprocessing, None)).await.unwrap();
        let published = announcer.events.published();
        assert_eq!(
            published.iter().map(|e| e.detail_type).collect::<Vec<_>>(),
            vec![COMPLETED, FAILED],
            "a live job announces nothing"
        );
        assert_eq!(published[0].detail.timings_ms["end_to_end"], 15);
        let file = announcer.objects.versions("results/batch-7/a.jpg.json");
        assert_eq!(file.len(), 1);
        let parsed: ResultFile = serde_json::from_slice(&file[0].bytes).unwrap();
        assert_eq!(
            (parsed.status, parsed.source_key.as_str()),
            (Status::Failed, "batch-7/a.jpg")
        );
    }

    #[test]
    fn absent_fields_are_left_out_of_the_detail() {
        let event = ImageEvent::of(&ended(Status::Completed, None)).unwrap();
        let json = serde_json::to_value(&event.detail).unwrap();
        assert!(
            json.get("callback_url").is_none(),
            "the webhook rule matches on presence: {json}"
        );
        assert!(json.get("error").is_none());
    }
}
