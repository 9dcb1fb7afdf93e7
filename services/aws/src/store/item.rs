//! The item schema: one item per image, keyed by `image_id`.
//!
//! Besides the record's own fields (`ImageRecord`, read and written through `serde_dynamo`), an item holds
//! `status_shard` (the status index's partition key, `record::status_shard_key`), and while a stage works
//! on it the claim (`claimant`, `claim_expires_at`) and the latest S3 event `s3_sequencer`. Terminal items
//! drop the claim and the sequencer, which keeps a completed item under 1 KB (one write unit).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use imgpipe_domain::record::{status_shard_key, table, ImageRecord, NewImage};
use imgpipe_domain::{ErrorCode, PipelineError};
use serde::Serialize;

/// The indexes (`imgpipe_domain::record::table`). The status and owner indexes project only the keys:
/// an index entry is rewritten whenever an attribute it holds changes, so with every attribute projected
/// each status write also rewrote the owner entry (a write unit per transition, and four writes per image
/// on one owner's index partition). Keys only, the owner index is written once per image and listings
/// read the items themselves from the table. The source-key index (ingested images only) also projects
/// `status`, so that a batch's counts per status need no read of its items.
pub use imgpipe_domain::record::table::{OWNER_INDEX, SOURCE_INDEX, STATUS_INDEX};

/// A deleted image leaves this attribute (and its key and expiry) behind: `get` reads such an item as
/// absent, no transition's condition holds on it, and creating the id again is refused.
pub(crate) const TOMBSTONE: &str = "deleted_at";

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

/// The item `create` writes: the new record in its first status, without empty optional fields.
pub(crate) fn new_item(image: &NewImage) -> HashMap<String, AttributeValue> {
    let status = image.status;
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
        ("model_name", &image.model_name),
        ("model_choice", &image.model_choice),
        ("callback_url", &image.callback_url),
        ("source_key", &image.source_key),
        ("s3_version", &image.s3_version),
        ("s3_sequencer", &image.s3_sequencer),
    ] {
        if let Some(value) = value {
            item.insert(name.to_owned(), s(value));
        }
    }
    if image.source_key.is_some() {
        let partition = imgpipe_domain::batch::source_owner(image.owner.as_deref());
        item.insert(table::SOURCE_OWNER.to_owned(), s(partition));
    }
    if let Some(claim) = &image.claim {
        item.insert("claimant".to_owned(), s(&claim.claimant));
        item.insert("claim_expires_at".to_owned(), n(claim.expires_at_ms));
    }
    item
}

/// The record an item holds, or `None` for a deleted image's tombstone.
pub(crate) fn live_record(item: &HashMap<String, AttributeValue>) -> Result<Option<ImageRecord>, PipelineError> {
    if item.contains_key(TOMBSTONE) {
        return Ok(None);
    }
    record_from_item(item).map(Some)
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
        let id = ImageId::new_random();
        let image = NewImage::pending_upload(
            id,
            Some("alice".into()),
            "image/png",
            "uploads/x".into(),
            1_700_000_000_000,
            1_700_086_400,
        );
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
