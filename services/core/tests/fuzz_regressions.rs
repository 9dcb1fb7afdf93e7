//! Replays every input the fuzz targets (tools/fuzz) once crashed on, through the same calls, so a fixed
//! crash stays fixed without the nightly toolchain: `tests/fuzz/preprocess/*` as uploads,
//! `tests/fuzz/events/*` as SQS message bodies, `tests/fuzz/jpeg_dc/*` through the AC-scan removal with
//! the fuzz target's checks.

use std::path::PathBuf;

use imgpipe_core::jpeg::{dc_scans_only, decode_scaled};
use imgpipe_core::messages::InferenceRequest;
use imgpipe_core::model_meta::{PreprocessSpec, ResizeFilter};
use imgpipe_core::preprocess::{preprocess, Limits};
use imgpipe_core::s3_event::parse_s3_message;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

#[test]
fn preprocess_crashes_stay_fixed() {
    let spec = PreprocessSpec {
        resize_shorter_side: 256,
        filter: ResizeFilter::Bicubic,
        antialias: true,
        center_crop: 224,
    };
    let limits = Limits {
        max_bytes: 25 * 1024 * 1024,
        max_pixels: 16_000_000,
    };
    let kept = inputs("preprocess");
    assert!(kept.len() >= 3, "the kept crashes are here");
    for (name, bytes) in kept {
        if let Ok(out) = preprocess(&bytes, &spec, &limits) {
            assert_eq!(out.pixels.len(), 224 * 224 * 3, "{name}");
        }
    }
}

#[test]
fn event_parsing_crashes_stay_fixed() {
    for (_name, bytes) in inputs("events") {
        if let Ok(body) = std::str::from_utf8(&bytes) {
            let _ = parse_s3_message(body);
            let _ = serde_json::from_str::<InferenceRequest>(body);
        }
    }
}

#[test]
fn jpeg_dc_findings_stay_fixed() {
    let kept = inputs("jpeg_dc");
    assert!(!kept.is_empty(), "the kept findings are here");
    for (name, bytes) in kept {
        let Some(dc_only) = dc_scans_only(&bytes) else {
            continue;
        };
        assert_eq!(dc_scans_only(&dc_only), None, "{name}");
        if let (Some(original), Some(reduced)) = (
            decode_scaled(&bytes, 8, 4_000_000),
            decode_scaled(&dc_only, 8, 4_000_000),
        ) {
            assert_eq!(original, reduced, "{name}: the 1/8-scale pixels changed");
        }
    }
}
