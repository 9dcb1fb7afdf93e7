//! The imgpipe domain: what an image job is and the rules it follows, with no AWS, image or ONNX Runtime
//! code. Every other crate builds on this one; the handlers and the adapters meet in its types and ports.
//!
//! # Layout
//!
//! - [`id`]: the image id, the one name of an image (S3 key, DynamoDB item, log span): random for an API
//!   image, derived from an ingested object's version or from the caller and an idempotency key.
//! - [`status`]: the status machine: which status may follow which.
//! - [`record`]: the stored job, `NewImage`/`Changes`, and the rule every status write obeys
//!   (`JobState::allows`, `ImageRecord::apply`), which the DynamoDB store states as conditions.
//! - [`error`]: error codes clients see, and `PipelineError` with its fault (permanent, transient,
//!   configuration) and cause chain.
//! - [`retry`]: what a failed SQS message becomes: one `Ack` per message; `settle_failure` ends the job
//!   on a permanent fault and leaves the message for redelivery on any other; `ended_before` announces
//!   again on a redelivery. Every delivery does the work; the sweeper ends what the DLQs receive.
//! - [`ports`]: the traits the handlers need (`Jobs`, `Objects`, `InferenceQueue`); `imgpipe-aws`
//!   implements them over DynamoDB, S3 and SQS, [`testing`] (feature `testing`) in memory.
//! - [`events`]: what a job that ended announces: its EventBridge event and, for an ingested image, its
//!   result file (`Events`, `Announce`, `Announcer`).
//! - [`messages`], [`s3_event`]: the stage messages: the inference request (pixels in a binary
//!   attribute) and S3 event notifications as they arrive in the preprocess queue.
//! - [`keys`]: the S3 key layout (`uploads/`, `ingest/`, `results/`); [`batch`]: listings of ingested
//!   images by key prefix, with their counts per status.
//! - [`owner`]: who owns an image (an IAM unique id, a Cognito identity, a JWT issuer and subject, the
//!   writer of an ingested object); [`webhook`]: where a `callback_url` may point (https, an allowed
//!   host, no IP literal).
//! - [`routing`]: which model classifies an image (the requested one, the default, or a canary split by
//!   id); [`model_spec`]: a model's metadata, preprocessing rule and deployment entry; [`limits`]: input
//!   limits.
//! - [`config`]: each function's configuration, read once from the environment; [`contract`]: the facts
//!   Terraform must match, written to services/contract.json by `imgpipe-contract`.
//! - [`telemetry`]: the metrics every stage records; [`time`], [`digest`]: small helpers.

pub mod batch;
pub mod config;
pub mod contract;
pub mod digest;
pub mod error;
pub mod events;
pub mod id;
pub mod keys;
pub mod limits;
pub mod messages;
pub mod model_spec;
pub mod owner;
pub mod ports;
pub mod record;
pub mod retry;
pub mod routing;
pub mod s3_event;
pub mod status;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod webhook;

pub use error::{ErrorCode, Fault, PipelineError};
pub use id::ImageId;
pub use status::Status;
