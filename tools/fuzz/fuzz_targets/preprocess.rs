//! Any bytes through the preprocess stage's whole decode path: sniff, limits, decode, orientation,
//! colour conversion, resize and crop. It may refuse them (a `PipelineError`), never panic, hang or
//! allocate without bound.
#![no_main]

use imgpipe_core::model_meta::{PreprocessSpec, ResizeFilter};
use imgpipe_core::preprocess::{preprocess, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let spec = PreprocessSpec {
        resize_shorter_side: 256,
        filter: ResizeFilter::Bicubic,
        antialias: true,
        center_crop: 224,
    };
    // The production byte limit; a pixel limit below production's so that libFuzzer's 2 GB RSS cap
    // measures leaks and blow-ups rather than the legitimate cost of a 50 MP photo.
    let limits = Limits {
        max_bytes: 25 * 1024 * 1024,
        max_pixels: 16_000_000,
    };
    if let Ok(out) = preprocess(data, &spec, &limits) {
        assert_eq!(out.pixels.len(), 224 * 224 * 3);
    }
});
