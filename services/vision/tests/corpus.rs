//! Every kind of input users send, from `tests/corpus` (made by tools/model/make_corpus.py): each must be
//! accepted with its upright size, or rejected with its stable error code.

use std::path::PathBuf;

use imgpipe_domain::limits::Limits;
use imgpipe_domain::model_spec::{PixelRule, ResizeFilter};
use imgpipe_vision::{preprocess, Preprocessed};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn spec() -> PixelRule {
    PixelRule::center_crop(256, 224, ResizeFilter::Bicubic)
}

fn run(file: &str) -> Result<Preprocessed, imgpipe_domain::PipelineError> {
    let bytes = std::fs::read(corpus().join(file)).unwrap();
    preprocess(&bytes, &spec(), &Limits::default())
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.len() as f64
}

#[test]
fn every_corpus_file_is_accepted_or_rejected_with_its_code() {
    let manifest = std::fs::read_to_string(corpus().join("expected.tsv")).unwrap();
    let mut checked = 0;
    for line in manifest.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (file, expected, size) = (fields[0], fields[1], fields[2]);
        match (run(file), expected) {
            (Ok(out), "ok") => {
                assert_eq!(
                    format!("{}x{}", out.source_width, out.source_height),
                    size,
                    "{file}: upright size"
                );
                assert_eq!(out.pixels.len(), 224 * 224 * 3, "{file}");
            }
            (Ok(_), code) => panic!("{file}: accepted, expected {code}"),
            (Err(err), "ok") => panic!("{file}: rejected with {err}"),
            (Err(err), code) => {
                assert_eq!(err.code().map(|c| c.as_str()), Some(code), "{file}: {err}");
                assert!(err.is_permanent(), "{file}: bad input must not be retried");
            }
        }
        checked += 1;
    }
    assert!(checked >= 30, "the corpus lost files: {checked}");
}

/// Every EXIF orientation of the same scene preprocesses to the same upright pixels; a mistake swaps
/// the red and blue halves, far beyond JPEG noise.
#[test]
fn exif_orientations_all_come_out_upright() {
    let upright = run("exif-orientation-1.jpg").unwrap();
    for n in 2..=8 {
        let rotated = run(&format!("exif-orientation-{n}.jpg")).unwrap();
        let diff = mean_abs_diff(&rotated.pixels, &upright.pixels);
        assert!(
            diff < 8.0,
            "orientation {n}: differs from upright by {diff:.1} per channel"
        );
    }
    let left = &upright.pixels[(112 * 224 + 4) * 3..(112 * 224 + 5) * 3];
    assert!(left[0] > 200 && left[2] < 60, "left half is red: {left:?}");
}

/// Every accepted encoding of the scene gives nearly the same model input as the baseline JPEG.
#[test]
fn formats_agree_on_the_pixels() {
    let reference = run("rgb8.png").unwrap();
    for file in [
        "baseline.jpg",
        "progressive.jpg",
        "cmyk.jpg",
        "rgb16.png",
        "palette.png",
        "alpha.png",
        "lossless.webp",
        "lossy.webp",
        "animated.gif",
        "image.bmp",
    ] {
        let out = run(file).unwrap();
        let diff = mean_abs_diff(&out.pixels, &reference.pixels);
        assert!(diff < 10.0, "{file}: differs from the PNG by {diff:.1} per channel");
    }
}

/// Transparent pixels are composited over white (how the image looks on a page), not exposed as the
/// arbitrary colour stored under zero alpha.
#[test]
fn transparency_is_composited_over_white() {
    let out = run("transparent.png").unwrap();
    assert!(out.pixels.iter().all(|&v| v == 255), "fully transparent must be white");
}
