//! Messages between stages (SQS bodies, JSON).

use serde::{Deserialize, Serialize};

use crate::ImageId;

/// The binary message attribute that carries the model-ready pixels (`height * width * 3` bytes of RGB,
/// HWC) next to the JSON body. Through S3 they cost a PUT and a GET per image, 12% of the all-in cost
/// (bench/cost.py); in the message they are three 64 KB SQS chunks, and one stage hand-off less.
pub const PIXELS_ATTRIBUTE: &str = "pixels";

/// The most an SQS message may hold, body and attributes together (the long-standing 256 KiB limit; the
/// queue's `max_message_size` in terraform/modules/queues is set to it).
pub const MAX_SQS_MESSAGE_BYTES: usize = 262_144;

/// Room kept for the JSON body and the attribute's name and type within `MAX_SQS_MESSAGE_BYTES`.
const BODY_ALLOWANCE_BYTES: usize = 4_096;

/// Whether a model whose input is `input_bytes` of pixels can hand them to inference inside one message;
/// checked at cold start so a model that cannot is refused before any image is taken.
pub fn pixels_fit_in_a_message(input_bytes: usize) -> bool {
    input_bytes + BODY_ALLOWANCE_BYTES <= MAX_SQS_MESSAGE_BYTES
}

/// Sent by preprocess to the inference queue, with the pixels in the `PIXELS_ATTRIBUTE` attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InferenceRequest {
    pub image_id: ImageId,
    /// Size of the pixels: `height * width * 3` bytes.
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
        let json = r#"{"image_id":"nope","width":1,"height":1,"source_version":null,
                      "model":{"name":"m","version":"1"},"sent_at_ms":1}"#;
        assert!(serde_json::from_str::<InferenceRequest>(json).is_err());
    }

    #[test]
    fn the_model_input_fits_in_a_message_and_a_much_larger_one_does_not() {
        assert!(pixels_fit_in_a_message(224 * 224 * 3));
        assert!(pixels_fit_in_a_message(MAX_SQS_MESSAGE_BYTES - BODY_ALLOWANCE_BYTES));
        assert!(!pixels_fit_in_a_message(
            MAX_SQS_MESSAGE_BYTES - BODY_ALLOWANCE_BYTES + 1
        ));
        assert!(!pixels_fit_in_a_message(384 * 384 * 3));
    }
}
