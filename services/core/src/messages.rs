//! Messages between stages (SQS bodies, JSON).

use serde::{Deserialize, Serialize};

use crate::ImageId;

/// Sent by preprocess to the inference queue once the model-ready pixels are stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InferenceRequest {
    pub image_id: ImageId,
    pub bucket: String,
    /// Key of the preprocessed pixels: `height * width * 3` bytes of RGB, HWC.
    pub key: String,
    pub width: u32,
    pub height: u32,
    /// The S3 version of the upload these pixels came from, when the event carried one.
    pub source_version: Option<String>,
    /// Model name and version whose preprocessing rule produced the pixels.
    pub model: ModelRef,
    /// When preprocess sent this message (epoch ms), to measure the inference queue wait.
    pub sent_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    pub name: String,
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_json() {
        let request = InferenceRequest {
            image_id: ImageId::new_random(),
            bucket: "b".into(),
            key: "preprocessed/x".into(),
            width: 224,
            height: 224,
            source_version: Some("v1".into()),
            model: ModelRef {
                name: "m".into(),
                version: "1".into(),
            },
            sent_at_ms: 1,
        };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(serde_json::from_str::<InferenceRequest>(&json).unwrap(), request);
    }

    #[test]
    fn rejects_a_bad_image_id() {
        let json = r#"{"image_id":"nope","bucket":"b","key":"k","width":1,"height":1,"source_version":null,
                      "model":{"name":"m","version":"1"},"sent_at_ms":1}"#;
        assert!(serde_json::from_str::<InferenceRequest>(json).is_err());
    }
}
