//! Any text as an SQS message body: the S3 event notification parser of the preprocess stage (keys are
//! URL-decoded, sequencers normalised) and the inference request of the inference stage. Malformed input
//! is an error, never a panic; a parsed upload key is either ours (a valid image id) or ignored.
#![no_main]

use imgpipe_core::keys;
use imgpipe_core::messages::InferenceRequest;
use imgpipe_core::s3_event::{normalized_sequencer, parse_s3_message, S3Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(S3Message::Objects(objects)) = parse_s3_message(body) {
        for object in objects {
            if let Some(id) = keys::image_id_from_upload_key(&object.key) {
                assert_eq!(keys::upload_key(&id), object.key, "one spelling per image id");
            }
            if let Some(sequencer) = object.sequencer.as_deref() {
                let _ = normalized_sequencer(sequencer);
            }
        }
    }
    let _ = serde_json::from_str::<InferenceRequest>(body);
});
