//! imgpipe core: everything the three Lambda handlers share.
//!
//! The pure domain (ids, status machine, messages, preprocessing, the model) has no AWS types; the AWS
//! adapters (`store`, `objects`, `queue`) wrap the SDK clients behind small, testable functions.

pub mod aws;
pub mod config;
pub mod error;
pub mod fuzzing;
pub mod id;
pub mod jpeg;
pub mod keys;
pub mod messages;
pub mod model;
pub mod model_meta;
pub mod objects;
pub mod preprocess;
pub mod queue;
pub mod retry;
pub mod s3_event;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod time;

pub use error::{ErrorCode, PipelineError};
pub use id::ImageId;
pub use status::Status;
