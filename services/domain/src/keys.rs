//! The S3 key layout. Terraform's IAM policies and lifecycle rules are written against these prefixes;
//! `tools/checks` keeps the two in step.

use crate::ImageId;

/// Where clients upload originals; the S3 -> SQS notification filters on this prefix.
pub const UPLOAD_PREFIX: &str = "uploads/";

pub fn upload_key(id: &ImageId) -> String {
    format!("{UPLOAD_PREFIX}{id}")
}

/// Every object the pipeline may store for an image, for deletion. The model-ready pixels are not among
/// them: they travel inside the inference message (`messages::PIXELS_ATTRIBUTE`).
pub fn object_keys(id: &ImageId) -> [String; 1] {
    [upload_key(id)]
}

/// The image id an upload key names, if it is one of ours.
pub fn image_id_from_upload_key(key: &str) -> Option<ImageId> {
    key.strip_prefix(UPLOAD_PREFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_keys_round_trip() {
        let id = ImageId::new_random();
        assert_eq!(image_id_from_upload_key(&upload_key(&id)), Some(id));
        assert_eq!(image_id_from_upload_key(&format!("preprocessed/{id}")), None);
        assert_eq!(image_id_from_upload_key(&format!("{}/x", upload_key(&id))), None);
    }
}
