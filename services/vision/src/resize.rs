//! The model's resize-and-crop rule, in one pass over the part of the image the crop needs.

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use imgpipe_domain::model_spec::{PixelRule, Resize, ResizeFilter};
use imgpipe_domain::{ErrorCode, PipelineError};

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

/// Brings the image to the rule's input size: for the centre-crop rule, resizes the shorter side and crops
/// the centre square in one pass over only the source region the crop needs (the same samples as resizing
/// the whole image and then cropping, since the filter still reads the source pixels just outside the
/// region, without the full-size intermediate: a 100000x1 strip would otherwise need a 25600000x256
/// buffer, 19.7 GB); for the stretch rule, resizes the whole image to the input size.
pub(crate) fn resize_to_rule(
    rgb: Vec<u8>,
    width: u32,
    height: u32,
    rule: &PixelRule,
) -> Result<Vec<u8>, PipelineError> {
    let internal = |e: &dyn std::fmt::Display| {
        PipelineError::permanent_because(ErrorCode::Internal, "the image could not be resized", e.to_string())
    };
    let src = Image::from_vec_u8(width, height, rgb, PixelType::U8x3).map_err(|e| internal(&e))?;
    let mut out = Image::new(rule.width, rule.height, PixelType::U8x3);
    let filter = match rule.filter {
        ResizeFilter::Bilinear => FilterType::Bilinear,
        // Pillow's BICUBIC is the a = -0.5 cubic, which is Catmull-Rom.
        ResizeFilter::Bicubic => FilterType::CatmullRom,
    };
    let algorithm = if rule.antialias {
        ResizeAlg::Convolution(filter)
    } else {
        ResizeAlg::Interpolation(filter)
    };
    let mut options = ResizeOptions::new().resize_alg(algorithm);
    if let Resize::ShorterSideThenCenterCrop { shorter_side } = rule.resize {
        let (resized_w, resized_h) = resized_dimensions(width, height, shorter_side);
        let (left, top) = center_crop_origin(resized_w, resized_h, rule.width);
        let (scale_x, scale_y) = (
            f64::from(width) / f64::from(resized_w),
            f64::from(height) / f64::from(resized_h),
        );
        let crop = f64::from(rule.width);
        let (src_left, src_top) = (f64::from(left) * scale_x, f64::from(top) * scale_y);
        // Rounding must not push the region past the edge, which the resizer refuses.
        let src_width = (crop * scale_x).min(f64::from(width) - src_left);
        let src_height = (crop * scale_y).min(f64::from(height) - src_top);
        options = options.crop(src_left, src_top, src_width, src_height);
    }
    Resizer::new()
        .resize(&src, &mut out, &options)
        .map_err(|e| internal(&e))?;
    Ok(out.into_vec())
}
