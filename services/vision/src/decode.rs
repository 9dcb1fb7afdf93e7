//! Decoding an accepted upload into upright 8-bit RGB, at reduced scale when the image is far larger than
//! the model needs.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader};
use imgpipe_domain::limits::Limits;
use imgpipe_domain::{ErrorCode, PipelineError};

/// The upright RGB pixels, possibly decoded at reduced scale, and the upright size of the image itself.
pub(crate) fn decode_upright_rgb(
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
pub(crate) fn decode_jpeg_reduced(
    bytes: &[u8],
    width: u32,
    height: u32,
    target_shorter: u32,
) -> Option<image::RgbImage> {
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
