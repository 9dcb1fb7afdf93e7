//! What the handlers need from the outside world, as traits: the job store, the image bucket, the
//! inference queue. `imgpipe-aws` implements them over DynamoDB, S3 and SQS; `testing` implements them
//! in memory, so every branch of a handler can be tested without a server.
//!
//! The methods return `impl Future + Send` (rather than being `async fn`) so that a handler generic over
//! them still produces a `Send` future, as the Lambda runtime requires.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;

use crate::batch::{PrefixPage, PrefixQuery};
use crate::error::{ErrorCode, PipelineError};
use crate::messages::InferenceRequest;
use crate::record::{Changes, Created, Cursor, ImageRecord, JobError, ListQuery, NewImage, Transition, WebhookNote};
use crate::status::Status;
use crate::ImageId;

/// The job records, one per image, moved through the status machine by conditional writes.
pub trait Jobs: Send + Sync {
    /// Creates the record in `pending_upload`, unless the id already exists.
    fn create(&self, image: &NewImage) -> impl Future<Output = Result<Created, PipelineError>> + Send;

    /// The record, read strongly consistently.
    fn get(&self, id: &ImageId) -> impl Future<Output = Result<Option<ImageRecord>, PipelineError>> + Send;

    /// Moves the job to `to` and writes `changes`, only if `record::JobState::allows` it.
    fn transition(
        &self,
        id: &ImageId,
        to: Status,
        changes: Changes,
        now_ms: i64,
    ) -> impl Future<Output = Result<Transition, PipelineError>> + Send;

    /// Deletes the record if `owner` may: a record with an owner only for that owner, an ownerless
    /// (local `none` mode) record for anyone. Returns whether a record was deleted. What stays is a
    /// tombstone until the record's own expiry: no status write can bring the job back, and a late S3
    /// event of an ingested object cannot create it again.
    fn delete(&self, id: &ImageId, owner: Option<&str>) -> impl Future<Output = Result<bool, PipelineError>> + Send;

    /// One page of images, newest first, and the cursor of the next page if there may be one.
    fn list(
        &self,
        query: &ListQuery,
    ) -> impl Future<Output = Result<(Vec<ImageRecord>, Option<Cursor>), PipelineError>> + Send;

    /// One page of the ingested images under a key prefix, in key order, with the batch's counts per
    /// status when the query asks for them.
    fn list_prefix(&self, query: &PrefixQuery) -> impl Future<Output = Result<PrefixPage, PipelineError>> + Send;

    /// Up to `limit` jobs in `status` created before `created_before_ms` (the sweeper's candidates), read
    /// back from the table, oldest first.
    fn stale(
        &self,
        status: Status,
        created_before_ms: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ImageRecord>, PipelineError>> + Send;

    /// Counts one more image for `owner` on `day` (a UTC date); `false`, and nothing counted, when the
    /// day's `limit` is reached. The counter expires with the day.
    fn take_quota(
        &self,
        owner: &str,
        day: &str,
        limit: u64,
        expires_at_secs: i64,
    ) -> impl Future<Output = Result<bool, PipelineError>> + Send;

    /// Records what became of a terminal job's webhook; `false` when there is no such job.
    fn note_webhook(
        &self,
        id: &ImageId,
        note: &WebhookNote,
    ) -> impl Future<Output = Result<bool, PipelineError>> + Send;

    /// Marks the job failed (from any live state). A job already terminal is left as it is.
    fn fail(
        &self,
        id: &ImageId,
        code: ErrorCode,
        message: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<Transition, PipelineError>> + Send {
        let changes = Changes {
            error: Some(JobError {
                code,
                message: message.to_owned(),
            }),
            ..Changes::default()
        };
        self.transition(id, Status::Failed, changes, now_ms)
    }
}

/// An object read from the bucket.
#[derive(Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub version_id: Option<String>,
}

/// What storing a new object did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// Written, with its version id.
    New(Option<String>),
    /// An object is at that key already; nothing was written.
    Exists,
}

/// What a client needs to upload with a presigned request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PresignedUpload {
    pub method: String,
    pub url: String,
    /// Headers the client must send exactly as given: they are part of the signature.
    pub headers: Vec<(String, String)>,
    pub expires_in_secs: u64,
}

/// The image bucket.
pub trait Objects: Send + Sync {
    /// Reads an object (a version of it), refusing it before the body is downloaded when it is larger
    /// than `max_bytes`. A missing object or version is permanent (`upload_missing`).
    fn get(
        &self,
        key: &str,
        version_id: Option<&str>,
        max_bytes: u64,
    ) -> impl Future<Output = Result<Fetched, PipelineError>> + Send;

    /// Stores an object, replacing what is there (a result file).
    fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), PipelineError>> + Send;

    /// Stores an object only if none is at `key` (S3's `If-None-Match: *`): an upload never overwrites.
    fn put_new(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<Stored, PipelineError>> + Send;

    /// A presigned PUT for `key` that S3 accepts only with exactly this Content-Type and Content-Length,
    /// and only while nothing is stored at `key` (the three are signed headers the client must send).
    fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> impl Future<Output = Result<PresignedUpload, PipelineError>> + Send;

    /// Whether an object is stored at `key` (its current version).
    fn exists(&self, key: &str) -> impl Future<Output = Result<bool, PipelineError>> + Send;

    /// Deletes one version of `key` for good (a rejected upload).
    fn delete_version(&self, key: &str, version_id: &str) -> impl Future<Output = Result<(), PipelineError>> + Send;

    /// Deletes every version and delete marker of each of `keys`, returning how many were removed.
    fn delete_all_versions(&self, keys: &[String]) -> impl Future<Output = Result<usize, PipelineError>> + Send;
}

/// The inference queue, as preprocess sees it.
pub trait InferenceQueue: Send + Sync {
    /// Sends the request with its pixels (a binary message attribute) to the queue at `queue_url`.
    fn send(
        &self,
        queue_url: &str,
        request: &InferenceRequest,
        pixels: Vec<u8>,
    ) -> impl Future<Output = Result<(), PipelineError>> + Send;
}
