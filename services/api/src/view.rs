use std::collections::HashMap;

use imgpipe_domain::messages::ModelRef;
use imgpipe_domain::record::{ImageRecord, JobError, Prediction, WebhookNote};
use imgpipe_domain::{ImageId, Status};
use serde::Serialize;

/// What `GET /images/{id}` returns: the record without storage internals.
#[derive(Serialize)]
pub struct ImageView {
    pub image_id: ImageId,
    pub status: Status,
    pub created_at: i64,
    pub updated_at: i64,
    pub timeline: HashMap<String, i64>,
    pub content_type: Option<String>,
    /// The name given at creation; for an ingested image, its S3 key (`ingest/...`).
    pub filename: Option<String>,
    pub size_bytes: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: Option<String>,
    pub predictions: Option<Vec<Prediction>>,
    /// The model that produced the predictions (name, version with variant).
    pub model: Option<ModelRef>,
    /// The model chosen for the image and how (`requested`, `default`, `canary`).
    pub model_name: Option<String>,
    pub model_choice: Option<String>,
    pub timings_ms: HashMap<String, i64>,
    pub error: Option<JobError>,
    pub callback_url: Option<String>,
    /// What became of the webhook, when it could not be delivered.
    pub webhook: Option<WebhookNote>,
    /// Ingest: the key below `ingest/` (its result is at `results/<key>.json`).
    pub source_key: Option<String>,
    pub expires_at: i64,
}

impl From<ImageRecord> for ImageView {
    fn from(record: ImageRecord) -> Self {
        let mut timings_ms = record.timings_ms;
        if let Some(done) = record
            .timeline
            .get(record.status.as_str())
            .filter(|_| record.status.is_terminal())
        {
            timings_ms
                .entry("end_to_end".into())
                .or_insert(done - record.created_at);
        }
        Self {
            image_id: record.image_id,
            status: record.status,
            created_at: record.created_at,
            updated_at: record.updated_at,
            timeline: record.timeline,
            content_type: record.content_type,
            // Derived, not stored: a second copy of a long key would push a completed item past one write unit.
            filename: record
                .filename
                .or_else(|| record.source_key.as_deref().map(imgpipe_domain::keys::ingest_key)),
            size_bytes: record.size_bytes,
            width: record.width,
            height: record.height,
            format: record.format,
            predictions: record.predictions,
            model: record.model,
            model_name: record.model_name,
            model_choice: record.model_choice,
            timings_ms,
            error: record.error,
            callback_url: record.callback_url,
            webhook: record.webhook,
            source_key: record.source_key,
            expires_at: record.expires_at,
        }
    }
}
