//! The item schema: one item per image, keyed by `image_id`.
//!
//! Besides the record's own fields (`ImageRecord`, read and written through `serde_dynamo`), an item holds
//! `status_shard` (the status index's partition key, `record::status_shard_key`), and while a stage works
//! on it the claim (`claimant`, `claim_expires_at`) and the latest S3 event `s3_sequencer`. Terminal items
//! drop the claim and the sequencer, which keeps a completed item under 1 KB (one write unit).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use imgpipe_domain::record::{status_shard_key, ImageRecord, NewImage};
use imgpipe_domain::{ErrorCode, PipelineError, Status};
use serde::Serialize;

/// The global secondary index keyed by `status_shard`, sorted by `created_at`.
///
/// Both indexes project only the keys: an index entry is rewritten whenever an attribute it holds
/// changes, so with every attribute projected each status write also rewrote the owner entry (a write
/// unit per transition, and four writes per image on one owner's index partition). Keys only, the owner
/// index is written once per image and listings read the items themselves from the table.
pub const STATUS_INDEX: &str = "status-created_at";
/// The (sparse) global secondary index keyed by `owner`, sorted by `created_at`.
pub const OWNER_INDEX: &str = "owner-created_at";

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A nested value (predictions, model, error) as an attribute.
pub(crate) fn attribute<T: Serialize>(value: &T) -> AttributeValue {
    serde_dynamo::to_attribute_value(value).unwrap_or(AttributeValue::Null(true))
}

/// The item `create` writes: the new record in `pending_upload`, without empty optional fields.
pub(crate) fn new_item(image: &NewImage) -> HashMap<String, AttributeValue> {
    let status = Status::PendingUpload;
    let mut item = HashMap::from([
        ("image_id".to_owned(), s(image.image_id.to_string())),
        ("status".to_owned(), s(status.as_str())),
        ("status_shard".to_owned(), s(status_shard_key(status, &image.image_id))),
        ("created_at".to_owned(), n(image.created_at_ms)),
        ("updated_at".to_owned(), n(image.created_at_ms)),
        (
            "timeline".to_owned(),
            AttributeValue::M(HashMap::from([(status.as_str().to_owned(), n(image.created_at_ms))])),
        ),
        ("timings_ms".to_owned(), AttributeValue::M(HashMap::new())),
        ("content_type".to_owned(), s(&image.content_type)),
        ("s3_key".to_owned(), s(&image.s3_key)),
        ("expires_at".to_owned(), n(image.expires_at_secs)),
    ]);
    for (name, value) in [
        ("owner", &image.owner),
        ("filename", &image.filename),
        ("request_fingerprint", &image.request_fingerprint),
    ] {
        if let Some(value) = value {
            item.insert(name.to_owned(), s(value));
        }
    }
    item
}

pub fn record_from_item(item: &HashMap<String, AttributeValue>) -> Result<ImageRecord, PipelineError> {
    serde_dynamo::from_item(item.clone()).map_err(|e| {
        PipelineError::permanent_because(
            ErrorCode::Internal,
            "the stored record is unreadable",
            format!("stored item does not match the record shape: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use imgpipe_domain::record::Prediction;
    use imgpipe_domain::ImageId;

    use super::*;

    #[test]
    fn a_new_item_reads_back_as_the_record_it_stands_for() {
        let image = NewImage {
            image_id: ImageId::new_random(),
            owner: Some("alice".into()),
            content_type: "image/png".into(),
            filename: None,
            s3_key: "uploads/x".into(),
            created_at_ms: 1_700_000_000_000,
            expires_at_secs: 1_700_086_400,
            request_fingerprint: None,
        };
        let item = new_item(&image);
        assert!(!item.contains_key("filename"), "no empty attributes");
        assert_eq!(record_from_item(&item).unwrap(), image.record());
    }

    #[test]
    fn nested_values_are_maps_and_lists_with_numbers() {
        let predictions = vec![Prediction {
            label: "tabby".into(),
            class_index: 281,
            score: 0.5,
        }];
        let AttributeValue::L(list) = attribute(&predictions) else {
            panic!("a list");
        };
        let AttributeValue::M(first) = &list[0] else {
            panic!("a map");
        };
        assert_eq!(first["class_index"], AttributeValue::N("281".into()));
        assert_eq!(first["label"], AttributeValue::S("tabby".into()));
    }
}
