//! The S3 key layout. Terraform's notifications, lifecycle rules and IAM grants are written against these
//! prefixes (services/contract.json lists them for its tests).
//!
//! - `uploads/{image_id}`: an image created through the API (a presigned PUT or the inline body);
//! - `ingest/<any key>`: bulk ingest: every object written here becomes a job without an API call;
//! - `results/<same key>.json`: the result file of each ingested image, so a batch's results come back
//!   with one `aws s3 sync`.

use crate::ImageId;

pub const UPLOAD_PREFIX: &str = "uploads/";
pub const INGEST_PREFIX: &str = "ingest/";
pub const RESULTS_PREFIX: &str = "results/";

/// Every prefix by its name, as services/contract.json lists them.
pub const PREFIXES: [(&str, &str); 3] = [
    ("uploads", UPLOAD_PREFIX),
    ("ingest", INGEST_PREFIX),
    ("results", RESULTS_PREFIX),
];

pub fn upload_key(id: &ImageId) -> String {
    format!("{UPLOAD_PREFIX}{id}")
}

/// The image id an upload key names, if it is one of ours.
pub fn image_id_from_upload_key(key: &str) -> Option<ImageId> {
    key.strip_prefix(UPLOAD_PREFIX)?.parse().ok()
}

/// The part of an ingest key below the prefix (`batch-7/cat.jpg`), if the key is an ingest object.
pub fn ingest_source_key(key: &str) -> Option<&str> {
    key.strip_prefix(INGEST_PREFIX)
        .filter(|rest| !rest.is_empty() && !rest.ends_with('/'))
}

pub fn ingest_key(source_key: &str) -> String {
    format!("{INGEST_PREFIX}{source_key}")
}

/// Where the result of the ingested object `source_key` is written.
pub fn result_key(source_key: &str) -> String {
    format!("{RESULTS_PREFIX}{source_key}.json")
}

/// Every object the pipeline may store for an image, for deletion: its upload (or ingested object) and,
/// for an ingested image, its result file. The model-ready pixels are not among them: they travel inside
/// the inference message (`messages::PIXELS_ATTRIBUTE`).
pub fn object_keys(s3_key: &str, source_key: Option<&str>) -> Vec<String> {
    let mut keys = vec![s3_key.to_owned()];
    if let Some(source) = source_key {
        keys.push(result_key(source));
    }
    keys
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

    #[test]
    fn ingest_keys_mirror_into_results() {
        assert_eq!(ingest_source_key("ingest/batch-7/cat 1.jpg"), Some("batch-7/cat 1.jpg"));
        assert_eq!(ingest_source_key("ingest/"), None);
        assert_eq!(
            ingest_source_key("ingest/batch-7/"),
            None,
            "a folder marker is no image"
        );
        assert_eq!(ingest_source_key("uploads/x"), None);
        assert_eq!(result_key("batch-7/cat.jpg"), "results/batch-7/cat.jpg.json");
        assert_eq!(ingest_key("batch-7/cat.jpg"), "ingest/batch-7/cat.jpg");
        assert_eq!(
            object_keys("ingest/b/c.jpg", Some("b/c.jpg")),
            vec!["ingest/b/c.jpg".to_owned(), "results/b/c.jpg.json".to_owned()]
        );
    }
}
