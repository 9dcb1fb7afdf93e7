//! The properties the fuzz targets (tools/fuzz) check on arbitrary input, in one place so that
//! `tests/fuzz_regressions.rs` replays the kept findings through exactly the same checks. Each function
//! panics when its property does not hold; otherwise any input is fine, including one that is refused.

use imgpipe_domain::keys;
use imgpipe_domain::limits::Limits;
use imgpipe_domain::messages::InferenceRequest;
use imgpipe_domain::model_spec::{PixelRule, Resize, ResizeFilter};
use imgpipe_domain::s3_event::{normalized_sequencer, parse_s3_message, S3Message};

use crate::jpeg::{dc_scans_only, decode_scaled};
use crate::preprocess;

/// Any bytes through the preprocess stage's whole decode path: sniff, limits, decode, orientation,
/// colour conversion, resize and crop. It may refuse them, never panic, hang or allocate without bound.
pub fn preprocess_any_upload(bytes: &[u8]) {
    let spec = PixelRule {
        width: 224,
        height: 224,
        resize: Resize::ShorterSideThenCenterCrop { shorter_side: 256 },
        filter: ResizeFilter::Bicubic,
        antialias: true,
    };
    // The production byte limit; a pixel limit below production's so that libFuzzer's 2 GB RSS cap
    // measures leaks and blow-ups rather than the legitimate cost of a 50 MP photo.
    let limits = Limits {
        max_bytes: 25 * 1024 * 1024,
        max_pixels: 16_000_000,
    };
    if let Ok(out) = preprocess(bytes, &spec, &limits) {
        assert_eq!(out.pixels.len(), 224 * 224 * 3);
    }
}

/// Any text as an SQS message body: the S3 event notification parser of the preprocess stage (keys are
/// URL-decoded, sequencers normalised) and the inference request of the inference stage. Malformed input
/// is an error, never a panic; a parsed upload key is either ours (a valid image id) or ignored.
pub fn parse_any_message(bytes: &[u8]) {
    let Ok(body) = std::str::from_utf8(bytes) else {
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
}

/// Bounds the coefficient buffers jpeg-decoder allocates at the frame's full size (production rejects
/// larger images from the header before decoding, `preprocess::Limits`).
const JPEG_DC_MAX_PIXELS: u64 = 4_000_000;

/// `jpeg::dc_scans_only` on any bytes: it may decline them, never panic; what it returns has nothing
/// left to drop, is no longer than the input plus an end marker, and, wherever both streams decode at
/// 1/8 scale, gives exactly the pixels of the original (the only thing it is used for).
pub fn drop_ac_scans_of_any_jpeg(bytes: &[u8]) {
    let Some(dc_only) = dc_scans_only(bytes) else {
        return;
    };
    assert!(dc_only.len() <= bytes.len() + 2);
    assert_eq!(dc_scans_only(&dc_only), None, "a second pass found more to drop");
    if let (Some(original), Some(reduced)) = (
        decode_scaled(bytes, 8, JPEG_DC_MAX_PIXELS),
        decode_scaled(&dc_only, 8, JPEG_DC_MAX_PIXELS),
    ) {
        assert_eq!(original, reduced, "the 1/8-scale pixels changed");
    }
}
