//! Bytes of an upload -> the model-ready RGB pixels, following the model's `PixelRule`.
//!
//! Every check that can reject an image without decoding it comes first: the format is sniffed from the
//! content (never the name or Content-Type) and the pixel count is read from the header, so a
//! decompression bomb costs a few hundred bytes of parsing, not gigabytes of memory.
//!
//! # Layout
//!
//! - [`preprocess`] (this file): the pipeline of one upload, sniff -> limits -> decode -> orient -> RGB ->
//!   resize -> crop, and what it returns.
//! - [`sniff`]: the format from the content, accepted formats, JPEG completeness and scan checks, the
//!   header-only decode-memory estimate.
//! - `decode`: upright RGB, composited over white; large JPEGs at 1/2-1/8 scale in the DCT domain.
//! - [`jpeg`]: marker-level surgery that keeps only the DC scans of a progressive JPEG (1/8 scale).
//! - [`resize`]: resize the shorter side and crop the centre in one pass (crop first, same samples), or
//!   stretch to the input size.
//! - `fuzzing` (feature `fuzzing`): the properties the fuzz targets check.

mod decode;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod jpeg;
pub mod resize;
pub mod sniff;

use image::ImageFormat;
use imgpipe_domain::limits::{check_size, Limits};
use imgpipe_domain::model_spec::PixelRule;
use imgpipe_domain::{ErrorCode, PipelineError};

pub use sniff::{decode_memory_estimate, jpeg_is_complete, jpeg_scan_count, sniff, ACCEPTED_FORMATS, MAX_JPEG_SCANS};

/// A preprocessed image: `height * width * 3` bytes of RGB in row-major (HWC) order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preprocessed {
    pub format: ImageFormat,
    /// Size of the upright source image (after EXIF orientation).
    pub source_width: u32,
    pub source_height: u32,
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// Sniff, check limits, decode (first frame), apply EXIF orientation, convert to RGB, resize the shorter
/// side, and crop the centre.
pub fn preprocess(bytes: &[u8], rule: &PixelRule, limits: &Limits) -> Result<Preprocessed, PipelineError> {
    check_size(bytes.len() as u64, limits.max_bytes)?;
    let format = sniff(bytes)?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(PipelineError::permanent(
            ErrorCode::CorruptImage,
            "the JPEG ends before its image data does (truncated upload?)",
        ));
    }
    if format == ImageFormat::Jpeg {
        let scans = jpeg_scan_count(bytes);
        if scans > MAX_JPEG_SCANS {
            return Err(PipelineError::permanent(
                ErrorCode::CorruptImage,
                format!("the JPEG has {scans} scans; at most {MAX_JPEG_SCANS} are accepted"),
            ));
        }
    }
    let (rgb, (source_width, source_height)) =
        decode::decode_upright_rgb(bytes, format, limits, rule.min_decoded_shorter_side())?;
    let (decoded_width, decoded_height) = rgb.dimensions();
    let pixels = resize::resize_to_rule(rgb.into_raw(), decoded_width, decoded_height, rule)?;
    Ok(Preprocessed {
        format,
        source_width,
        source_height,
        width: rule.width,
        height: rule.height,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_jpeg_reduced;
    use crate::resize::{center_crop_origin, resize_to_rule, resized_dimensions};
    use fast_image_resize::images::Image;
    use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
    use image::{DynamicImage, ImageReader};
    use image::{ImageBuffer, Rgb};
    use imgpipe_domain::model_spec::{Resize, ResizeFilter};
    use std::io::Cursor;

    /// The Lite0 rule: shorter side to 256, bicubic with antialiasing, centre crop 224.
    struct Sample {
        preprocess: PixelRule,
    }

    fn sample() -> Sample {
        Sample {
            preprocess: PixelRule {
                width: 224,
                height: 224,
                resize: Resize::ShorterSideThenCenterCrop { shorter_side: 256 },
                filter: ResizeFilter::Bicubic,
                antialias: true,
            },
        }
    }

    fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    /// Left half red, right half blue: orientation and cropping mistakes show up as wrong colours.
    fn two_tone(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(ImageBuffer::from_fn(width, height, |x, _| {
            if x < width / 2 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        }))
    }

    #[test]
    fn resize_rule_matches_torchvision() {
        assert_eq!(resized_dimensions(500, 375, 256), (341, 256));
        assert_eq!(resized_dimensions(375, 500, 256), (256, 341));
        assert_eq!(resized_dimensions(256, 256, 256), (256, 256));
        assert_eq!(resized_dimensions(5120, 2880, 256), (455, 256));
        assert_eq!(resized_dimensions(500, 333, 256), (384, 256));
        assert_eq!(center_crop_origin(341, 256, 224), (58, 16));
        assert_eq!(center_crop_origin(343, 256, 224), (60, 16));
        assert_eq!(center_crop_origin(256, 256, 224), (16, 16));
    }

    #[test]
    fn produces_the_model_input_size_from_each_accepted_format() {
        let spec = sample().preprocess;
        let image = two_tone(320, 200);
        for format in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Bmp,
            ImageFormat::Gif,
            ImageFormat::WebP,
        ] {
            let out = preprocess(&encode(&image, format), &spec, &Limits::default())
                .unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!(out.format, format);
            assert_eq!((out.width, out.height), (224, 224));
            assert_eq!(out.pixels.len(), 224 * 224 * 3);
            assert_eq!((out.source_width, out.source_height), (320, 200));
            // Left edge stays red, right edge blue (allowing for lossy codecs).
            let left = &out.pixels[112 * 224 * 3..112 * 224 * 3 + 3];
            let right = &out.pixels[(112 * 224 + 223) * 3..(112 * 224 + 224) * 3];
            assert!(left[0] > 200 && left[2] < 60, "{format:?} left {left:?}");
            assert!(right[2] > 200 && right[0] < 60, "{format:?} right {right:?}");
        }
    }

    #[test]
    fn the_stretch_rule_keeps_the_whole_image_at_any_input_shape() {
        let rule = PixelRule {
            width: 48,
            height: 32,
            resize: Resize::Stretch,
            filter: ResizeFilter::Bilinear,
            antialias: true,
        };
        let out = preprocess(
            &encode(&two_tone(320, 200), ImageFormat::Png),
            &rule,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!((out.width, out.height, out.pixels.len()), (48, 32, 48 * 32 * 3));
        // Nothing is cropped away: the first and last columns are the image's own edges.
        let row = 16 * 48 * 3;
        assert!(out.pixels[row] > 200 && out.pixels[row + 2] < 60, "left edge red");
        let last = row + 47 * 3;
        assert!(out.pixels[last + 2] > 200 && out.pixels[last] < 60, "right edge blue");
    }

    #[test]
    fn rejects_non_images_by_content_not_name() {
        let err = preprocess(
            b"%PDF-1.7 not an image at all",
            &sample().preprocess,
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::NotAnImage));
        let err = preprocess(b"", &sample().preprocess, &Limits::default()).unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::NotAnImage));
    }

    #[test]
    fn rejects_recognised_but_unaccepted_formats() {
        let tiff_header = b"II*\0\x08\0\0\0";
        let err = preprocess(tiff_header, &sample().preprocess, &Limits::default()).unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::UnsupportedFormat));
    }

    #[test]
    fn truncated_image_is_corrupt() {
        let bytes = encode(&two_tone(320, 200), ImageFormat::Png);
        let err = preprocess(&bytes[..bytes.len() / 2], &sample().preprocess, &Limits::default()).unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::CorruptImage), "{err}");
    }

    #[test]
    fn truncated_jpeg_is_corrupt_though_the_decoder_would_fill_it_in() {
        let bytes = encode(&two_tone(320, 200), ImageFormat::Jpeg);
        assert!(jpeg_is_complete(&bytes));
        let cut = &bytes[..bytes.len() * 2 / 3];
        assert!(!jpeg_is_complete(cut));
        let err = preprocess(cut, &sample().preprocess, &Limits::default()).unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::CorruptImage), "{err}");
        // Trailing bytes after the end marker (some cameras append data) are fine.
        let mut trailing = bytes.clone();
        trailing.extend_from_slice(b"vendor trailer");
        assert!(preprocess(&trailing, &sample().preprocess, &Limits::default()).is_ok());
    }

    #[test]
    fn large_jpegs_are_decoded_reduced_and_match_the_full_decode() {
        let spec = sample().preprocess;
        let width = 1200;
        let height = 800;
        let photo = DynamicImage::ImageRgb8(ImageBuffer::from_fn(width, height, |x, y| {
            Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, ((x + y) % 256) as u8])
        }));
        let bytes = encode(&photo, ImageFormat::Jpeg);
        let reduced = decode_jpeg_reduced(&bytes, width, height, 256).expect("reduced decode applies");
        assert_eq!(
            (reduced.width(), reduced.height()),
            (600, 400),
            "1/2 scale keeps the shorter side >= 256"
        );
        let unscaled = decode_jpeg_reduced(&bytes, width, height, 500).expect("decodes");
        assert_eq!(
            unscaled.dimensions(),
            (1200, 800),
            "a smaller scale would go below the target"
        );
        let fast = preprocess(&bytes, &spec, &Limits::default()).unwrap();
        assert_eq!(
            (fast.source_width, fast.source_height),
            (1200, 800),
            "the image's own size, not the reduced decode's"
        );
        let full = resize_to_rule(
            DynamicImage::from_decoder(
                ImageReader::with_format(Cursor::new(&bytes), ImageFormat::Jpeg)
                    .into_decoder()
                    .unwrap(),
            )
            .unwrap()
            .into_rgb8()
            .into_raw(),
            width,
            height,
            &spec,
        )
        .unwrap();
        let mean_abs_diff = fast
            .pixels
            .iter()
            .zip(&full)
            .map(|(a, b)| a.abs_diff(*b) as f64)
            .sum::<f64>()
            / full.len() as f64;
        assert!(
            mean_abs_diff < 2.0,
            "reduced decode differs by {mean_abs_diff} per channel on average"
        );
    }

    #[test]
    fn decode_memory_is_estimated_from_the_header() {
        let rgb = encode(&two_tone(320, 200), ImageFormat::Png);
        assert_eq!(decode_memory_estimate(&rgb), 320 * 200 * (3 + 3) + rgb.len() as u64);
        let rgba16 = encode(&DynamicImage::new_rgba16(320, 200), ImageFormat::Png);
        assert_eq!(
            decode_memory_estimate(&rgba16),
            320 * 200 * (8 + 3) + rgba16.len() as u64
        );
        assert_eq!(decode_memory_estimate(b"not an image"), 12);
    }

    /// Cropping before resizing gives the pixels of resizing the whole image and cropping it.
    #[test]
    fn crop_first_resize_matches_resize_then_crop() {
        let spec = sample().preprocess;
        let mut noise = image::RgbImage::new(341, 517);
        let mut state = 12345u32;
        for pixel in noise.pixels_mut() {
            for channel in &mut pixel.0 {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                *channel = (state >> 16) as u8;
            }
        }
        let (w, h) = noise.dimensions();
        let fast = resize_to_rule(noise.clone().into_raw(), w, h, &spec).unwrap();

        let (rw, rh) = resized_dimensions(w, h, 256);
        let src = Image::from_vec_u8(w, h, noise.into_raw(), PixelType::U8x3).unwrap();
        let mut full = Image::new(rw, rh, PixelType::U8x3);
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
        Resizer::new().resize(&src, &mut full, &options).unwrap();
        let (left, top) = center_crop_origin(rw, rh, spec.width);
        let crop = spec.width as usize;
        let reference: Vec<u8> = (top as usize..top as usize + crop)
            .flat_map(|row| {
                let start = (row * rw as usize + left as usize) * 3;
                full.buffer()[start..start + crop * 3].to_vec()
            })
            .collect();
        let max_diff = fast.iter().zip(&reference).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(max_diff <= 1, "largest difference {max_diff}");
    }

    /// Extreme strips pass the pixel limit; they must not need a buffer of the resized full image.
    #[test]
    fn thin_strips_are_preprocessed_in_bounded_memory() {
        for (w, h) in [(100_000, 1), (1, 100_000), (65_500, 1)] {
            let bytes = encode(&two_tone(w, h), ImageFormat::Png);
            let out = preprocess(&bytes, &sample().preprocess, &Limits::default()).unwrap();
            assert_eq!(out.pixels.len(), 224 * 224 * 3, "{w}x{h}");
        }
    }

    #[test]
    fn jpegs_with_too_many_scans_are_refused_before_decoding() {
        let mut bytes = encode(&two_tone(64, 64), ImageFormat::Jpeg);
        assert_eq!(jpeg_scan_count(&bytes), 1);
        // Extra (empty) scans before the end-of-image marker.
        let eoi = bytes.len() - 2;
        let sos = [0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00];
        let extra: Vec<u8> = sos.iter().copied().cycle().take(sos.len() * MAX_JPEG_SCANS).collect();
        bytes.splice(eoi..eoi, extra);
        let err = preprocess(&bytes, &sample().preprocess, &Limits::default()).unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::CorruptImage), "{err}");
        assert!(err.to_string().contains("scans"), "{err}");
    }

    #[test]
    fn limits_are_enforced_before_decoding() {
        let bytes = encode(&two_tone(320, 200), ImageFormat::Png);
        let small = Limits {
            max_bytes: 100,
            max_pixels: u64::MAX,
        };
        assert_eq!(
            preprocess(&bytes, &sample().preprocess, &small).unwrap_err().code(),
            Some(ErrorCode::TooLarge)
        );
        let few_pixels = Limits {
            max_bytes: u64::MAX,
            max_pixels: 320 * 200 - 1,
        };
        let err = preprocess(&bytes, &sample().preprocess, &few_pixels).unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::TooManyPixels));
    }
}
