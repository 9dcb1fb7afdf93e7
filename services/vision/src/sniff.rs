//! What an upload is, decided from its content alone, and the checks that cost no decoding.

use std::io::Cursor;

use image::{ImageDecoder, ImageFormat, ImageReader};
use imgpipe_domain::{ErrorCode, PipelineError};

/// Formats the pipeline accepts; everything else the sniffer recognises is `unsupported_format`.
pub const ACCEPTED_FORMATS: [ImageFormat; 5] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Gif,
    ImageFormat::Bmp,
];

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
