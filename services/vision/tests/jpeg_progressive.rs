//! Dropping a progressive JPEG's AC scans (`jpeg::dc_scans_only`) must not change its 1/8-scale decode,
//! on every variant of tests/corpus/progressive (made by tools/model/make_corpus.py).

use std::path::PathBuf;

use imgpipe_domain::limits::Limits;
use imgpipe_domain::model_spec::{PixelRule, ResizeFilter};
use imgpipe_vision::jpeg::{dc_scans_only, decode_scaled};
use imgpipe_vision::preprocess;

const VARIANTS: [&str; 5] = ["420.jpg", "422.jpg", "444.jpg", "grey.jpg", "restart.jpg"];

fn read(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/progressive")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Pixels and size of a decode at `1/denominator` scale (1 = full size).
fn decode(bytes: &[u8], denominator: u16) -> (u16, u16, Vec<u8>) {
    decode_scaled(bytes, denominator, 1 << 20).expect("decodes")
}

#[test]
fn an_eighth_scale_decode_is_unchanged_without_the_ac_scans() {
    for name in VARIANTS {
        let original = read(name);
        let dc_only = dc_scans_only(&original).unwrap_or_else(|| panic!("{name}: no AC scan dropped"));
        assert!(
            dc_only.len() < original.len() / 2,
            "{name}: {} of {} bytes kept",
            dc_only.len(),
            original.len()
        );
        assert_eq!(decode(&dc_only, 8), decode(&original, 8), "{name}");
        // The AC scans did carry the detail: at full size the two differ.
        assert_ne!(decode(&dc_only, 1), decode(&original, 1), "{name}");
    }
}

#[test]
fn preprocessing_takes_the_dc_path_with_the_same_result() {
    // Shorter side 157: a target of 19 makes the reduced decode pick 1/8 (20 pixels).
    let spec = PixelRule::center_crop(19, 16, ResizeFilter::Bicubic);
    for name in VARIANTS {
        let original = read(name);
        let dc_only = dc_scans_only(&original).unwrap();
        // The DC-only stream has no AC scan left, so it goes through the plain 1/8 decode.
        assert_eq!(dc_scans_only(&dc_only), None, "{name}");
        let via_dc = preprocess(&original, &spec, &Limits::default()).unwrap();
        let plain = preprocess(&dc_only, &spec, &Limits::default()).unwrap();
        assert_eq!(via_dc, plain, "{name}");
        assert_eq!(
            (via_dc.width, via_dc.source_width, via_dc.source_height),
            (16, 203, 157),
            "{name}"
        );
    }
}

#[test]
fn a_baseline_jpeg_is_left_alone() {
    let baseline = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/baseline.jpg")).unwrap();
    assert_eq!(dc_scans_only(&baseline), None);
}
