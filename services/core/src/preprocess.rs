//! Bytes of an upload -> the model-ready RGB pixels, following the model's `PreprocessSpec`.
//!
//! Every check that can reject an image without decoding it comes first: the format is sniffed from the
//! content (never the name or Content-Type) and the pixel count is read from the header, so a
//! decompression bomb costs a few hundred bytes of parsing, not gigabytes of memory.

use std::io::Cursor;

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader};

use crate::error::{ErrorCode, PipelineError};
use crate::model_meta::{PreprocessSpec, ResizeFilter};

/// Input limits, configurable per deployment (see `config::PreprocessConfig`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest upload accepted, checked from the object size before download.
    pub max_bytes: u64,
    /// Largest `width * height` accepted, checked from the image header before decoding.
    pub max_pixels: u64,
}

impl Limits {
    pub const DEFAULT_MAX_BYTES: u64 = 25 * 1024 * 1024;
    /// 50 MP: above any phone camera's default mode, and a 50 MP RGB frame is 150 MB decoded.
    pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_pixels: Self::DEFAULT_MAX_PIXELS,
        }
    }
}

/// Formats the pipeline accepts; everything else the sniffer recognises is `unsupported_format`.
pub const ACCEPTED_FORMATS: [ImageFormat; 5] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Gif,
    ImageFormat::Bmp,
];

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

/// Identifies the format from the first bytes of the content.
pub fn sniff(bytes: &[u8]) -> Result<ImageFormat, PipelineError> {
    let format = image::guess_format(bytes)
        .map_err(|_| PipelineError::permanent(ErrorCode::NotAnImage, "the content is not a recognised image format"))?;
    if !ACCEPTED_FORMATS.contains(&format) {
        return Err(PipelineError::permanent(
            ErrorCode::UnsupportedFormat,
            format!("{format:?} images are not accepted; send JPEG, PNG, WebP, GIF or BMP"),
        ));
    }
    Ok(format)
}

/// Bytes a decode of this upload may hold at its peak (decoded frame with alpha, the RGB copy, the
/// compressed input), from the header alone. Lets a handler decode several images at once without
/// exceeding its memory. Unreadable headers count as the input size: decoding them fails fast anyway.
pub fn decode_memory_estimate(bytes: &[u8]) -> u64 {
    let header = sniff(bytes)
        .ok()
        .and_then(|format| ImageReader::with_format(Cursor::new(bytes), format).into_decoder().ok())
        .map(|decoder| (decoder.dimensions(), decoder.color_type().bytes_per_pixel()));
    let Some(((width, height), decoded_bytes_per_pixel)) = header else {
        return bytes.len() as u64;
    };
    // The decoded frame in its own depth (16-bit RGBA: 8 bytes a pixel) plus the 8-bit RGB copy.
    u64::from(width) * u64::from(height) * (u64::from(decoded_bytes_per_pixel) + 3) + bytes.len() as u64
}

/// Checks the upload's size before anything is downloaded.
pub fn check_size(size_bytes: u64, max_bytes: u64) -> Result<(), PipelineError> {
    if size_bytes > max_bytes {
        return Err(PipelineError::permanent(
            ErrorCode::TooLarge,
            format!("the upload is {size_bytes} bytes; the limit is {max_bytes}"),
        ));
    }
    Ok(())
}

/// Sniff, check limits, decode (first frame), apply EXIF orientation, convert to RGB, resize the shorter
/// side, and crop the centre.
pub fn preprocess(bytes: &[u8], spec: &PreprocessSpec, limits: &Limits) -> Result<Preprocessed, PipelineError> {
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
    let (rgb, (source_width, source_height)) = decode_upright_rgb(bytes, format, limits, spec.resize_shorter_side)?;
    let (decoded_width, decoded_height) = rgb.dimensions();
    let pixels = resize_and_crop(rgb.into_raw(), decoded_width, decoded_height, spec)?;
    Ok(Preprocessed {
        format,
        source_width,
        source_height,
        width: spec.center_crop,
        height: spec.center_crop,
        pixels,
    })
}

/// Whether a JPEG's last scan is followed by its end-of-image marker. The decoder itself fills a cut-off
/// image with grey rather than failing, and a truncated upload must not be classified as if whole.
/// Inside entropy-coded data every 0xFF is stuffed (followed by 0x00 or a restart marker), so a literal
/// FF DA is a real start-of-scan; an EXIF thumbnail's own scan and EOI come before the main image's.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_scan {
        Some(start) => bytes[start..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

/// Most scans a JPEG may have. Encoders write 1 (baseline) to about 10 (libjpeg's progressive script);
/// each scan makes the decoder revisit every block, so thousands of tiny scans are a CPU bomb that would
/// outlast the function's timeout.
pub const MAX_JPEG_SCANS: usize = 100;

/// Start-of-scan markers in a JPEG (the stuffing rule of `jpeg_is_complete` makes them unambiguous).
pub fn jpeg_scan_count(bytes: &[u8]) -> usize {
    bytes.windows(2).filter(|w| *w == [0xFF, 0xDA]).count()
}

/// The upright RGB pixels, possibly decoded at reduced scale, and the upright size of the image itself.
fn decode_upright_rgb(
    bytes: &[u8],
    format: ImageFormat,
    limits: &Limits,
    target_shorter: u32,
) -> Result<(image::RgbImage, (u32, u32)), PipelineError> {
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(PipelineError::permanent(
            ErrorCode::TooManyPixels,
            format!(
                "the image is {width}x{height} ({pixels} pixels); the limit is {}",
                limits.max_pixels
            ),
        ));
    }
    if pixels == 0 {
        return Err(PipelineError::permanent(
            ErrorCode::CorruptImage,
            "the image has no pixels",
        ));
    }
    // A broken EXIF block should not reject an otherwise good photo: fall back to "as stored".
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let scaled = if format == ImageFormat::Jpeg && width.min(height) >= 2 * target_shorter {
        decode_jpeg_reduced(bytes, width, height, target_shorter)
    } else {
        None
    };
    let mut image = match scaled {
        Some(rgb) => DynamicImage::ImageRgb8(rgb),
        None => DynamicImage::from_decoder(decoder).map_err(decode_error)?,
    };
    image.apply_orientation(orientation);
    use image::metadata::Orientation::{Rotate270, Rotate270FlipH, Rotate90, Rotate90FlipH};
    let upright_size = match orientation {
        Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH => (height, width),
        _ => (width, height),
    };
    let rgb = match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other if other.color().has_alpha() => over_white(other.into_rgba8()),
        other => other.into_rgb8(),
    };
    Ok((rgb, upright_size))
}

/// Composites transparency over white, the way the image appears on a page. Dropping alpha instead
/// would expose whatever colour happens to be stored under fully transparent pixels (often black).
fn over_white(rgba: image::RgbaImage) -> image::RgbImage {
    let (width, height) = rgba.dimensions();
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for pixel in rgba.pixels() {
        let alpha = u32::from(pixel[3]);
        for &channel in &pixel.0[..3] {
            rgb.push(((u32::from(channel) * alpha + 255 * (255 - alpha) + 127) / 255) as u8);
        }
    }
    image::RgbImage::from_raw(width, height, rgb).unwrap_or_default()
}

/// Decodes a large JPEG at 1/2, 1/4 or 1/8 scale in the DCT domain (as libjpeg's `scale_denom` and
/// Pillow's `draft` do), keeping the shorter side at least `target_shorter` so the antialiased resize
/// that follows still only shrinks. A 14.7 MP photo then costs a fraction of a full decode. `None`
/// when the reduced decode does not apply (colour spaces other than RGB/grey, or any error), and the
/// caller decodes in full, so this path can never reject an image the full decoder accepts.
fn decode_jpeg_reduced(bytes: &[u8], width: u32, height: u32, target_shorter: u32) -> Option<image::RgbImage> {
    let shorter = width.min(height);
    let want = |side: u32| (u64::from(side) * u64::from(target_shorter)).div_ceil(u64::from(shorter)) as u16;
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().ok()?;
    let (scaled_w, scaled_h) = decoder.scale(want(width), want(height)).ok()?;
    if u32::from(scaled_w.min(scaled_h)) < target_shorter {
        return None;
    }
    // At 1/8 scale a progressive JPEG's AC scans are dead weight (see `jpeg::dc_scans_only`).
    let eighth = u32::from(scaled_w) == width.div_ceil(8) && u32::from(scaled_h) == height.div_ceil(8);
    let dc_only = if eighth {
        crate::jpeg::dc_scans_only(bytes)
    } else {
        None
    };
    if let Some(stream) = &dc_only {
        decoder = jpeg_decoder::Decoder::new(Cursor::new(stream.as_slice()));
        decoder.read_info().ok()?;
        decoder.scale(want(width), want(height)).ok()?;
    }
    let info = decoder.info()?;
    let data = decoder.decode().ok()?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => image::RgbImage::from_raw(w, h, data),
        jpeg_decoder::PixelFormat::L8 => {
            image::GrayImage::from_raw(w, h, data).map(|grey| DynamicImage::ImageLuma8(grey).into_rgb8())
        }
        _ => None,
    }
}

fn decode_error(err: ImageError) -> PipelineError {
    match err {
        ImageError::Limits(e) => {
            PipelineError::permanent(ErrorCode::TooManyPixels, format!("image exceeds limits: {e}"))
        }
        ImageError::Unsupported(e) => {
            PipelineError::permanent(ErrorCode::UnsupportedFormat, format!("unsupported image variant: {e}"))
        }
        ImageError::Decoding(e) => PipelineError::permanent(ErrorCode::CorruptImage, format!("cannot decode: {e}")),
        ImageError::IoError(e) => PipelineError::permanent(
            ErrorCode::CorruptImage,
            format!("image data ends early or is unreadable: {e}"),
        ),
        other => PipelineError::permanent(ErrorCode::CorruptImage, format!("cannot decode: {other}")),
    }
}

/// Size of the image after resizing its shorter side to `shorter`, keeping the aspect ratio with the
/// longer side rounded to the nearest pixel (the rule the published accuracy was measured with).
pub fn resized_dimensions(width: u32, height: u32, shorter: u32) -> (u32, u32) {
    let scaled =
        |long: u32, short: u32| ((f64::from(shorter) * f64::from(long) / f64::from(short)).round() as u32).max(shorter);
    if width <= height {
        (shorter, scaled(height, width))
    } else {
        (scaled(width, height), shorter)
    }
}

/// Top-left corner of a centred `crop` square. Halves round to even, as torchvision's `CenterCrop`
/// (Python's `round`) does: a 341-wide image is cropped from x = 58.
pub fn center_crop_origin(width: u32, height: u32, crop: u32) -> (u32, u32) {
    let offset = |side: u32| ((f64::from(side) - f64::from(crop)) / 2.0).round_ties_even() as u32;
    (offset(width), offset(height))
}

/// Resizes the shorter side to `resize_shorter_side` and crops the centre square, in one pass over only
/// the source region the crop needs: the same samples as resizing the whole image and then cropping
/// (the filter still reads the source pixels just outside the region), without the full-size
/// intermediate. A 100000x1 strip would otherwise need a 25600000x256 buffer (19.7 GB).
fn resize_and_crop(rgb: Vec<u8>, width: u32, height: u32, spec: &PreprocessSpec) -> Result<Vec<u8>, PipelineError> {
    let internal = |e: &dyn std::fmt::Display| PipelineError::permanent(ErrorCode::Internal, format!("resize: {e}"));
    let (resized_w, resized_h) = resized_dimensions(width, height, spec.resize_shorter_side);
    let (left, top) = center_crop_origin(resized_w, resized_h, spec.center_crop);
    let (scale_x, scale_y) = (
        f64::from(width) / f64::from(resized_w),
        f64::from(height) / f64::from(resized_h),
    );
    let crop = f64::from(spec.center_crop);
    let (src_left, src_top) = (f64::from(left) * scale_x, f64::from(top) * scale_y);
    // Rounding must not push the region past the edge, which the resizer refuses.
    let src_width = (crop * scale_x).min(f64::from(width) - src_left);
    let src_height = (crop * scale_y).min(f64::from(height) - src_top);

    let src = Image::from_vec_u8(width, height, rgb, PixelType::U8x3).map_err(|e| internal(&e))?;
    let mut cropped = Image::new(spec.center_crop, spec.center_crop, PixelType::U8x3);
    let filter = match spec.filter {
        ResizeFilter::Bilinear => FilterType::Bilinear,
        // Pillow's BICUBIC is the a = -0.5 cubic, which is Catmull-Rom.
        ResizeFilter::Bicubic => FilterType::CatmullRom,
    };
    let algorithm = if spec.antialias {
        ResizeAlg::Convolution(filter)
    } else {
        ResizeAlg::Interpolation(filter)
    };
    let options = ResizeOptions::new()
        .resize_alg(algorithm)
        .crop(src_left, src_top, src_width, src_height);
    Resizer::new()
        .resize(&src, &mut cropped, &options)
        .map_err(|e| internal(&e))?;
    Ok(cropped.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_meta::tests::sample;
    use image::{ImageBuffer, Rgb};

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
        let full = resize_and_crop(
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
        let fast = resize_and_crop(noise.clone().into_raw(), w, h, &spec).unwrap();

        let (rw, rh) = resized_dimensions(w, h, spec.resize_shorter_side);
        let src = Image::from_vec_u8(w, h, noise.into_raw(), PixelType::U8x3).unwrap();
        let mut full = Image::new(rw, rh, PixelType::U8x3);
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
        Resizer::new().resize(&src, &mut full, &options).unwrap();
        let (left, top) = center_crop_origin(rw, rh, spec.center_crop);
        let crop = spec.center_crop as usize;
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
