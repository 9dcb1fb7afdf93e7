//! The job record: what is stored about one image, and the rule every status write obeys.
//!
//! The rule lives here, in plain code (`JobState::allows`, `ImageRecord::apply`), so that it can be read
//! and tested without a database. The DynamoDB store (`imgpipe-aws`) states the same rule as a condition
//! expression and update expression; the in-memory store of the handler tests (`testing`) applies this
//! code directly; a differential test in the local pipeline's suite runs both on the same histories.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::messages::ModelRef;
use crate::status::Status;
use crate::ImageId;

/// Partitions of the status index: one status value spread over this many keys (`queued#0`..`queued#7`),
/// so a burst of writes of one status is not limited to a single index partition.
pub const STATUS_SHARDS: u32 = 8;

/// The table's key and TTL attributes and its global secondary indexes: the schema the DynamoDB store
/// reads and writes and Terraform declares (services/contract.json `table`).
pub mod table {
    pub const HASH_KEY: &str = "image_id";
    pub const TTL_ATTRIBUTE: &str = "expires_at";
    /// Keyed by `status_shard`, sorted by `created_at`; keys only. Listings by status and the sweeper.
    pub const STATUS_INDEX: &str = "status-created_at";
    /// Keyed by `owner`, sorted by `created_at`; keys only (sparse: ownerless local records are not in
    /// it). A caller's listings.
    pub const OWNER_INDEX: &str = "owner-created_at";
    /// Keyed by `source_owner` (`batch::source_owner`), sorted by `source_key`, with `status` projected
    /// (sparse: ingested images only). A bulk batch's listing and counts by key prefix.
    pub const SOURCE_INDEX: &str = "source_owner-source_key";
    /// The source index's partition key: the owner, or a fixed name for images ingested without one.
    pub const SOURCE_OWNER: &str = "source_owner";
}

/// Largest page of a listing.
pub const MAX_LIST_LIMIT: usize = 100;

pub fn status_shard_key(status: Status, id: &ImageId) -> String {
    format!("{}#{}", status.as_str(), id.shard(STATUS_SHARDS))
}

/// One of the model's top-k answers for an image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub label: String,
    pub class_index: u32,
    pub score: f32,
}

/// A new job: written by the API before the client uploads (`pending_upload`), or by preprocess when an
/// object lands under the ingest prefix (`preprocessing`, claimed by that event's message).
#[derive(Clone, Debug)]
pub struct NewImage {
    pub image_id: ImageId,
    pub owner: Option<String>,
    pub content_type: String,
    pub filename: Option<String>,
    pub s3_key: String,
    pub created_at_ms: i64,
    /// Epoch seconds after which DynamoDB's TTL may delete the item.
    pub expires_at_secs: i64,
    /// For a request made with an idempotency key: a digest of what was asked, so that a replay can be
    /// told apart from a different request reusing the key.
    pub request_fingerprint: Option<String>,
    /// The model chosen for the image (by the client, the default or the canary split) and how.
    pub model_name: Option<String>,
    pub model_choice: Option<String>,
    /// Where the result is POSTed when the job ends (a webhook).
    pub callback_url: Option<String>,
    /// Ingest: the key below `ingest/` the image was uploaded as, mirrored by its result file.
    pub source_key: Option<String>,
    /// The status it starts in: `pending_upload`, or `preprocessing` for an ingested object.
    pub status: Status,
    /// Ingest: the claim of the message whose event created it, with the object's version and sequencer.
    pub claim: Option<Claim>,
    pub s3_version: Option<String>,
    pub s3_sequencer: Option<String>,
}

impl NewImage {
    /// A job waiting for its upload at `s3_key`.
    pub fn pending_upload(
        image_id: ImageId,
        owner: Option<String>,
        content_type: &str,
        s3_key: String,
        created_at_ms: i64,
        expires_at_secs: i64,
    ) -> Self {
        Self {
            image_id,
            owner,
            content_type: content_type.to_owned(),
            filename: None,
            s3_key,
            created_at_ms,
            expires_at_secs,
            request_fingerprint: None,
            model_name: None,
            model_choice: None,
            callback_url: None,
            source_key: None,
            status: Status::PendingUpload,
            claim: None,
            s3_version: None,
            s3_sequencer: None,
        }
    }

    /// The record a store's `create` writes for this image, without reading it back.
    pub fn record(&self) -> ImageRecord {
        ImageRecord {
            image_id: self.image_id,
            status: self.status,
            created_at: self.created_at_ms,
            updated_at: self.created_at_ms,
            timeline: HashMap::from([(self.status.as_str().to_owned(), self.created_at_ms)]),
            owner: self.owner.clone(),
            content_type: Some(self.content_type.clone()),
            filename: self.filename.clone(),
            s3_key: self.s3_key.clone(),
            s3_version: self.s3_version.clone(),
            size_bytes: None,
            width: None,
            height: None,
            format: None,
            predictions: None,
            model: None,
            model_name: self.model_name.clone(),
            model_choice: self.model_choice.clone(),
            callback_url: self.callback_url.clone(),
            source_key: self.source_key.clone(),
            webhook: None,
            timings_ms: HashMap::new(),
            error: None,
            s3_sequencer: self.s3_sequencer.clone(),
            request_fingerprint: self.request_fingerprint.clone(),
            expires_at: self.expires_at_secs,
        }
    }

    /// The claim fields the new item starts with.
    pub fn state(&self) -> JobState {
        JobState {
            status: self.status,
            claimant: self.claim.as_ref().map(|c| c.claimant.clone()),
            claim_expires_at_ms: self.claim.as_ref().map(|c| c.expires_at_ms),
            s3_sequencer: self.s3_sequencer.clone(),
            updated_at_ms: self.created_at_ms,
        }
    }
}

/// What a store's `create` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    New,
    /// A record with this id exists already (an idempotent replay, or a collision): nothing was written.
    Exists,
}

/// The stored job as the API and the handlers read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub image_id: ImageId,
    pub status: Status,
    pub created_at: i64,
    pub updated_at: i64,
    /// When each status was entered (epoch ms).
    #[serde(default)]
    pub timeline: HashMap<String, i64>,
    #[serde(default)]
    pub owner: Option<String>,
    pub content_type: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    pub s3_key: String,
    #[serde(default)]
    pub s3_version: Option<String>,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub predictions: Option<Vec<Prediction>>,
    /// The model that produced the predictions (name, version with variant).
    #[serde(default)]
    pub model: Option<ModelRef>,
    /// The model chosen for the image when it was created, and how (`requested`, `default`, `canary`).
    #[serde(default)]
    pub model_name: Option<String>,
    #[serde(default)]
    pub model_choice: Option<String>,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub source_key: Option<String>,
    /// What became of the webhook, once it was given up on.
    #[serde(default)]
    pub webhook: Option<WebhookNote>,
    #[serde(default)]
    pub timings_ms: HashMap<String, i64>,
    #[serde(default)]
    pub error: Option<JobError>,
    #[serde(default)]
    pub s3_sequencer: Option<String>,
    #[serde(default)]
    pub request_fingerprint: Option<String>,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    pub code: ErrorCode,
    pub message: String,
}

/// Recorded when the webhook of a job that ended could not be delivered; the result itself stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookNote {
    /// `webhook_failed` (the queue's last allowed try failed too) or `webhook_refused` (refused without
    /// sending anything: webhooks off, a URL not allowed, or a host resolving to an internal address).
    pub status: String,
    pub attempts: u32,
    pub message: String,
    pub at: i64,
}

/// Fields written together with a status transition.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub s3_version: Option<String>,
    pub size_bytes: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: Option<String>,
    pub predictions: Option<Vec<Prediction>>,
    pub model: Option<ModelRef>,
    /// Stage timings to record, merged into `timings_ms`.
    pub timings_ms: Vec<(&'static str, i64)>,
    pub error: Option<JobError>,
    /// For a working state: who holds the job. Re-entering the same working state is then allowed only
    /// to the same claimant (a retry of the same SQS message) or once the claim has expired (a crash).
    pub claim: Option<Claim>,
    /// The S3 event sequencer (normalised, see `s3_event::normalized_sequencer`): the write is refused if
    /// the job has already seen a later event for its object.
    pub s3_sequencer: Option<String>,
    /// Refuse the write unless the job was last written at exactly this time: the sweeper's write is
    /// conditional on the job not having moved since it looked, so a late success still wins.
    pub expected_updated_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub claimant: String,
    pub expires_at_ms: i64,
}

/// What a store's `transition` did.
#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    /// Written; the record as it is now.
    Applied(Box<ImageRecord>),
    /// The job was not in a state that may move to the target (or does not exist): nothing was written.
    Rejected { current: Option<Status> },
}

impl Transition {
    pub fn is_applied(&self) -> bool {
        matches!(self, Transition::Applied(_))
    }
}

/// The fields of a stored job that decide whether a transition may be written; some of them (the claim)
/// are never shown to clients, so they are not part of `ImageRecord`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobState {
    pub status: Status,
    pub claimant: Option<String>,
    pub claim_expires_at_ms: Option<i64>,
    pub s3_sequencer: Option<String>,
    pub updated_at_ms: i64,
}

impl JobState {
    /// Whether a job in this state may move to `to` with `changes` at `now_ms`:
    /// - its status must be an allowed predecessor of `to` (`Status::can_transition_to`);
    /// - re-entering a claimed working state (a claim given, `to` already current) is allowed only to the
    ///   same claimant, or once the current claim has expired;
    /// - a write carrying an S3 sequencer is refused when the job has seen a later one;
    /// - a write expecting the job's last write time is refused when the job was written since.
    pub fn allows(&self, to: Status, changes: &Changes, now_ms: i64) -> bool {
        let status_ok = match &changes.claim {
            Some(claim) if self.status == to && self.status.can_transition_to(to) => {
                self.claimant.as_deref() == Some(claim.claimant.as_str())
                    || self.claim_expires_at_ms.is_some_and(|expires| expires < now_ms)
            }
            _ => self.status.can_transition_to(to),
        };
        let sequencer_ok = match (&changes.s3_sequencer, &self.s3_sequencer) {
            (Some(new), Some(seen)) => seen <= new,
            _ => true,
        };
        let unchanged = changes
            .expected_updated_at
            .is_none_or(|seen| seen == self.updated_at_ms);
        status_ok && sequencer_ok && unchanged
    }

    /// The state after the transition (what `ImageRecord::apply` does to these fields).
    pub fn after(&self, to: Status, changes: &Changes, now_ms: i64) -> JobState {
        let mut next = self.clone();
        next.status = to;
        next.updated_at_ms = now_ms;
        if let Some(claim) = &changes.claim {
            next.claimant = Some(claim.claimant.clone());
            next.claim_expires_at_ms = Some(claim.expires_at_ms);
        }
        if let Some(sequencer) = &changes.s3_sequencer {
            next.s3_sequencer = Some(sequencer.clone());
        }
        // A terminal job is never claimed or re-sequenced again: the fields are dropped (it keeps the
        // completed item under 1 KB, one write unit), unless this very write sets them.
        if to.is_terminal() {
            if changes.claim.is_none() {
                next.claimant = None;
                next.claim_expires_at_ms = None;
            }
            if changes.s3_sequencer.is_none() {
                next.s3_sequencer = None;
            }
        }
        next
    }
}

impl ImageRecord {
    /// Writes a transition into the record: the status, when it was entered, and the changed fields.
    pub fn apply(&mut self, to: Status, changes: &Changes, now_ms: i64) {
        self.status = to;
        self.updated_at = now_ms;
        self.timeline.insert(to.as_str().to_owned(), now_ms);
        if let Some(version) = &changes.s3_version {
            self.s3_version = Some(version.clone());
        }
        if let Some(size) = changes.size_bytes {
            self.size_bytes = Some(size);
        }
        if let Some(width) = changes.width {
            self.width = Some(width);
        }
        if let Some(height) = changes.height {
            self.height = Some(height);
        }
        if let Some(format) = &changes.format {
            self.format = Some(format.clone());
        }
        if let Some(predictions) = &changes.predictions {
            self.predictions = Some(predictions.clone());
        }
        if let Some(model) = &changes.model {
            self.model = Some(model.clone());
        }
        if let Some(error) = &changes.error {
            self.error = Some(error.clone());
        }
        for (stage, millis) in &changes.timings_ms {
            self.timings_ms.insert((*stage).to_owned(), *millis);
        }
        if let Some(sequencer) = &changes.s3_sequencer {
            self.s3_sequencer = Some(sequencer.clone());
        } else if to.is_terminal() {
            self.s3_sequencer = None;
        }
    }
}

/// What to list: one owner's images (under any of the names `owners` gives it, the current one first) or,
/// with no owner, every image by status. Newest first.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub owners: Vec<String>,
    pub status: Option<Status>,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

/// Where a listing page ended: items created at or before `before` (epoch ms) come next, except the
/// ids already returned from that very millisecond. Stateless across the index shards.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    pub before: i64,
    #[serde(default)]
    pub seen: Vec<String>,
}

impl Cursor {
    /// Whether a record listed from an index comes after this cursor (was not on an earlier page).
    pub fn admits(&self, created_at: i64, id: &str) -> bool {
        created_at < self.before || (created_at == self.before && !self.seen.iter().any(|seen| seen == id))
    }

    /// The cursor after a page that ended with `page` (newest first), continuing from `previous`.
    pub fn after(page: &[ImageRecord], previous: Option<&Cursor>) -> Option<Cursor> {
        let last = page.last()?;
        let mut seen: Vec<String> = previous
            .filter(|c| c.before == last.created_at)
            .map(|c| c.seen.clone())
            .unwrap_or_default();
        seen.extend(
            page.iter()
                .filter(|record| record.created_at == last.created_at)
                .map(|record| record.image_id.to_string()),
        );
        Some(Cursor {
            before: last.created_at,
            seen,
        })
    }
}

/// Listing order: newest first, ties broken by id so that pages are stable.
pub fn newest_first(records: &mut [ImageRecord]) {
    records.sort_by_key(|record| std::cmp::Reverse((record.created_at, record.image_id.to_string())));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: Status) -> JobState {
        JobState {
            status,
            claimant: None,
            claim_expires_at_ms: None,
            s3_sequencer: None,
            updated_at_ms: 0,
        }
    }

    fn claim(claimant: &str, expires_at_ms: i64) -> Changes {
        Changes {
            claim: Some(Claim {
                claimant: claimant.into(),
                expires_at_ms,
            }),
            ..Changes::default()
        }
    }

    #[test]
    fn transitions_follow_the_status_machine() {
        assert!(state(Status::PendingUpload).allows(Status::Preprocessing, &Changes::default(), 0));
        assert!(!state(Status::Preprocessed).allows(Status::Preprocessing, &Changes::default(), 0));
        assert!(!state(Status::Completed).allows(Status::Failed, &Changes::default(), 0));
    }

    #[test]
    fn a_claimed_working_state_is_reentered_by_its_claimant_or_after_the_claim_expires() {
        let held = state(Status::PendingUpload).after(Status::Preprocessing, &claim("msg-1", 100), 1);
        assert!(
            held.allows(Status::Preprocessing, &claim("msg-1", 200), 50),
            "a retry of the same message"
        );
        assert!(
            !held.allows(Status::Preprocessing, &claim("msg-2", 200), 50),
            "a duplicate event"
        );
        assert!(
            held.allows(Status::Preprocessing, &claim("msg-2", 300), 101),
            "the holder crashed"
        );
        assert!(
            held.allows(Status::Preprocessed, &Changes::default(), 50),
            "moving on needs no claim"
        );
    }

    #[test]
    fn sequencers_only_move_forward_and_terminal_writes_drop_the_claim() {
        let seen = JobState {
            s3_sequencer: Some("0002".into()),
            ..state(Status::Preprocessing)
        };
        let older = Changes {
            s3_sequencer: Some("0001".into()),
            ..Changes::default()
        };
        let newer = Changes {
            s3_sequencer: Some("0003".into()),
            ..Changes::default()
        };
        assert!(!seen.allows(Status::Failed, &older, 0));
        assert!(seen.allows(Status::Failed, &newer, 0));
        let done = state(Status::Preprocessing)
            .after(Status::Preprocessing, &claim("m", 9), 1)
            .after(Status::Completed, &Changes::default(), 2);
        assert_eq!(
            (done.claimant, done.claim_expires_at_ms, done.s3_sequencer),
            (None, None, None)
        );
    }

    #[test]
    fn cursors_skip_what_earlier_pages_returned() {
        let cursor = Cursor {
            before: 10,
            seen: vec!["a".into()],
        };
        assert!(cursor.admits(9, "a"));
        assert!(!cursor.admits(10, "a"));
        assert!(cursor.admits(10, "b"));
        assert!(!cursor.admits(11, "c"));
    }
}
