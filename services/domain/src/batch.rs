//! Listings of ingested images by S3 key prefix: a bulk batch (`ingest/batch-7/`) in key order, a page at
//! a time, with its counts per status.
//!
//! The source index is keyed by `source_owner` (the owner, or [`ANONYMOUS_SOURCE_OWNER`] for an image
//! ingested without one) and sorted by `source_key`, so a batch is one range of one partition per owner
//! name, and its counts come from the index alone (it projects `status`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::keys;
use crate::record::ImageRecord;
use crate::status::Status;

/// The source-index partition of images ingested without an owner: S3 always names the writer on AWS,
/// so only emulated events (and an unauthenticated deployment) produce them. Not a possible owner name,
/// which always has a `iam:`/`jwt:`/`cognito:` scheme.
pub const ANONYMOUS_SOURCE_OWNER: &str = "none";

/// Most index entries one listing counts; past it the counts say they are incomplete.
pub const MAX_COUNTED: u64 = 100_000;

/// Longest prefix accepted (an S3 key is at most 1,024 bytes).
pub const MAX_PREFIX_BYTES: usize = 1024;

/// The source-index partition an image with this owner is listed under.
pub fn source_owner(owner: Option<&str>) -> &str {
    owner.unwrap_or(ANONYMOUS_SOURCE_OWNER)
}

/// Why a prefix cannot be listed, in the caller's terms.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if !prefix.starts_with(keys::INGEST_PREFIX) {
        return Err(format!(
            "prefix must start with {} (listings by prefix cover images ingested through S3; list API uploads \
             without a prefix)",
            keys::INGEST_PREFIX
        ));
    }
    if prefix.len() > MAX_PREFIX_BYTES || prefix.chars().any(char::is_control) {
        return Err(format!(
            "prefix must be at most {MAX_PREFIX_BYTES} bytes without control characters"
        ));
    }
    Ok(())
}

/// What to list: the images whose source key (the key below `ingest/`, as records and result files keep
/// it) starts with `prefix`, stored under any of `owners` (the caller's names, current one
/// first; empty = the anonymous partition), optionally in one status, after `cursor`.
#[derive(Clone, Debug, Default)]
pub struct PrefixQuery {
    pub owners: Vec<String>,
    pub prefix: String,
    pub status: Option<Status>,
    pub limit: usize,
    pub cursor: Option<KeyCursor>,
    /// Count the whole batch by status too (the first page asks; later pages need not).
    pub count: bool,
}

impl PrefixQuery {
    /// The index partitions to read.
    pub fn partitions(&self) -> Vec<String> {
        if self.owners.is_empty() {
            vec![ANONYMOUS_SOURCE_OWNER.to_owned()]
        } else {
            self.owners.clone()
        }
    }
}

/// Where a page ended: keys after `after` come next, and at `after` itself the ids not in `seen` (one key
/// has one image per version).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyCursor {
    pub after: String,
    #[serde(default)]
    pub seen: Vec<String>,
}

impl KeyCursor {
    pub fn admits(&self, source_key: &str, id: &str) -> bool {
        source_key > self.after.as_str() || (source_key == self.after && !self.seen.iter().any(|seen| seen == id))
    }

    /// The cursor after a page (in key order) that ended with `page`, continuing from `previous`.
    pub fn after(page: &[ImageRecord], previous: Option<&KeyCursor>) -> Option<KeyCursor> {
        let last_key = page.last()?.source_key.clone()?;
        let mut seen: Vec<String> = previous
            .filter(|c| c.after == last_key)
            .map(|c| c.seen.clone())
            .unwrap_or_default();
        seen.extend(
            page.iter()
                .filter(|record| record.source_key.as_deref() == Some(last_key.as_str()))
                .map(|record| record.image_id.to_string()),
        );
        Some(KeyCursor { after: last_key, seen })
    }
}

/// Listing order: by key, then by id (the versions of one key).
pub fn key_order(records: &mut [ImageRecord]) {
    records.sort_by(|a, b| (&a.source_key, a.image_id.to_string()).cmp(&(&b.source_key, b.image_id.to_string())));
}

/// A batch's images per status, from the index (which may lag the items by a moment).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixCounts {
    pub total: u64,
    pub by_status: BTreeMap<String, u64>,
    /// False when the batch holds more than [`MAX_COUNTED`] images and counting stopped there.
    pub complete: bool,
}

impl PrefixCounts {
    pub fn add(&mut self, status: &str) {
        self.total += 1;
        *self.by_status.entry(status.to_owned()).or_default() += 1;
    }
}

/// One page of a prefix listing.
#[derive(Clone, Debug, Default)]
pub struct PrefixPage {
    pub records: Vec<ImageRecord>,
    pub next: Option<KeyCursor>,
    pub counts: Option<PrefixCounts>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::NewImage;
    use crate::ImageId;

    fn ingested(key: &str) -> ImageRecord {
        let mut image = NewImage::pending_upload(ImageId::new_random(), None, "image/png", key.into(), 0, 0);
        image.source_key = Some(key.into());
        image.record()
    }

    #[test]
    fn prefixes_outside_ingest_or_malformed_are_refused_in_plain_words() {
        assert!(check_prefix("ingest/batch-7/").is_ok());
        assert!(check_prefix("ingest/").is_ok());
        assert!(check_prefix("uploads/").unwrap_err().contains("ingest/"));
        assert!(check_prefix("").is_err());
        assert!(check_prefix("ingest/a\nb").is_err());
        assert!(check_prefix(&format!("ingest/{}", "x".repeat(MAX_PREFIX_BYTES))).is_err());
    }

    #[test]
    fn a_cursor_resumes_after_every_version_already_listed() {
        let mut page = vec![
            ingested("ingest/b/1.jpg"),
            ingested("ingest/b/2.jpg"),
            ingested("ingest/b/2.jpg"),
        ];
        key_order(&mut page);
        let cursor = KeyCursor::after(&page[..2], None).unwrap();
        assert_eq!(cursor.after, "ingest/b/2.jpg");
        assert!(!cursor.admits("ingest/b/1.jpg", &page[0].image_id.to_string()));
        assert!(!cursor.admits("ingest/b/2.jpg", &page[1].image_id.to_string()));
        assert!(cursor.admits("ingest/b/2.jpg", &page[2].image_id.to_string()));
        assert!(cursor.admits("ingest/b/3.jpg", "any"));
        let next = KeyCursor::after(&page[2..], Some(&cursor)).unwrap();
        assert_eq!(next.seen.len(), 2, "the ids of one key accumulate across pages");
    }

    #[test]
    fn anonymous_images_have_their_own_partition() {
        assert_eq!(source_owner(None), ANONYMOUS_SOURCE_OWNER);
        assert_eq!(source_owner(Some("iam:AIDA1")), "iam:AIDA1");
        let query = PrefixQuery::default();
        assert_eq!(query.partitions(), vec![ANONYMOUS_SOURCE_OWNER.to_owned()]);
    }
}
