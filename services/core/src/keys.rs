//! The S3 key layout. Terraform's IAM policies and lifecycle rules are written against these prefixes;
//! `tools/checks` keeps the two in step.

use crate::ImageId;

/// Where clients upload originals; the S3 -> SQS notification filters on this prefix.
pub const UPLOAD_PREFIX: &str = "uploads/";
/// Where preprocess writes the model-ready pixels that inference reads.
pub const PREPROCESSED_PREFIX: &str = "preprocessed/";

pub fn upload_key(id: &ImageId) -> String {
    format!("{UPLOAD_PREFIX}{id}")
}

pub fn preprocessed_key(id: &ImageId) -> String {
    format!("{PREPROCESSED_PREFIX}{id}")
}

/// Every object the pipeline may store for an image, for deletion.
pub fn object_keys(id: &ImageId) -> [String; 2] {
    [upload_key(id), preprocessed_key(id)]
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
        assert_eq!(image_id_from_upload_key(&preprocessed_key(&id)), None);
        assert_eq!(image_id_from_upload_key(&format!("{}/x", upload_key(&id))), None);
    }
}
