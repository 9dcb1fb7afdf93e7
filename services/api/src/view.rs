use std::collections::HashMap;

use imgpipe_domain::messages::ModelRef;
use imgpipe_domain::record::{ImageRecord, JobError, Prediction};
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
    pub filename: Option<String>,
    pub size_bytes: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: Option<String>,
    pub predictions: Option<Vec<Prediction>>,
    pub model: Option<ModelRef>,
    pub timings_ms: HashMap<String, i64>,
    pub error: Option<JobError>,
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
            filename: record.filename,
            size_bytes: record.size_bytes,
            width: record.width,
            height: record.height,
            format: record.format,
            predictions: record.predictions,
            model: record.model,
            timings_ms,
            error: record.error,
            expires_at: record.expires_at,
        }
    }
}
