use crate::error::{ErrorCode, PipelineError};

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

/// Checks an upload's size (before anything is downloaded, when the size is known).
pub fn check_size(size_bytes: u64, max_bytes: u64) -> Result<(), PipelineError> {
    if size_bytes > max_bytes {
        return Err(PipelineError::permanent(
            ErrorCode::TooLarge,
            format!("the upload is {size_bytes} bytes; the limit is {max_bytes}"),
        ));
    }
    Ok(())
}
