//! The imgpipe domain: what an image job is and the rules it follows, with no AWS, image or ONNX Runtime
//! code. Every other crate builds on this one; the handlers and the adapters meet in its types and ports.
//!
//! # Layout
//!
//! - [`id`]: the image id, the one name of an image (S3 key, DynamoDB item, log span).
//! - [`status`]: the status machine: which status may follow which.
//! - [`record`]: the stored job, `NewImage`/`Changes`, and the rule every status write obeys
//!   (`JobState::allows`, `ImageRecord::apply`), which the DynamoDB store states as conditions.
//! - [`error`]: error codes clients see, and `PipelineError` with its fault (permanent, transient,
//!   configuration) and cause chain.
//! - [`retry`]: what a failed SQS message becomes (`Ack`, `settle_failure`, the final delivery).
//! - [`ports`]: the traits the handlers need (`Jobs`, `Objects`, `InferenceQueue`); `imgpipe-aws`
//!   implements them over DynamoDB, S3 and SQS, [`testing`] (feature `testing`) in memory.
//! - [`messages`], [`s3_event`]: the stage messages: the inference request (pixels in a binary
//!   attribute) and S3 event notifications as they arrive in the preprocess queue.
//! - [`keys`]: the S3 key layout; [`limits`]: input limits; [`model_spec`]: the preprocessing rule of a
//!   model; [`config`]: each function's configuration, read once from the environment.
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
