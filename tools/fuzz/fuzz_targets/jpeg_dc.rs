//! `jpeg::dc_scans_only` on any bytes: it may decline them (`None`), never panic; what it returns has
//! nothing left to drop, is no longer than the input plus an end marker, and, wherever both streams
//! decode at 1/8 scale, gives exactly the pixels of the original (the only thing it is used for).
#![no_main]

use imgpipe_core::jpeg::{dc_scans_only, decode_scaled};
use libfuzzer_sys::fuzz_target;

/// Bounds the coefficient buffers jpeg-decoder allocates at the frame's full size (production rejects
/// larger images from the header before decoding, `preprocess::Limits`).
const MAX_PIXELS: u64 = 4_000_000;

fuzz_target!(|data: &[u8]| {
    let Some(dc_only) = dc_scans_only(data) else {
        return;
    };
    assert!(dc_only.len() <= data.len() + 2);
    assert_eq!(dc_scans_only(&dc_only), None, "a second pass found more to drop");
    if let (Some(original), Some(reduced)) = (decode_scaled(data, 8, MAX_PIXELS), decode_scaled(&dc_only, 8, MAX_PIXELS)) {
        assert_eq!(original, reduced, "the 1/8-scale pixels changed");
    }
});
