//! The AWS adapters: the domain's ports over DynamoDB, S3 and SQS, the SDK configuration, the
//! classification of SDK errors into the pipeline's faults, and the EMF metrics collector.
//!
//! One cargo feature per service (`dynamodb`, `s3`, `sqs`, `eventbridge`, `secrets`), so each function
//! links only the SDKs it calls (services/contract.json lists what each may call).
//!
//! # Layout
//!
//! - [`clients`]: `AwsConfig` (the Lambda environment or an emulator endpoint) and the service clients.
//! - [`error`]: SDK error -> transient or configuration fault, by code and HTTP status, cause kept.
//! - `store` (`dynamodb`): `DynamoJobs`, the job store: item schema, conditional transitions, listings.
//! - `objects` (`s3`): `S3Objects`: reads with size limits, uploads, presigned PUTs, version deletes.
//! - `queue` (`sqs`): `SqsInferenceQueue`: the inference request with its pixels.
//! - `events` (`eventbridge`): `EventBridgeEvents`: the announcements of ended jobs.
//! - `secrets` (`secrets`): the webhook signing key from Secrets Manager.
//! - [`telemetry`]: the CloudWatch embedded-metric-format collector of a function.

pub mod clients;
pub mod error;
#[cfg(feature = "eventbridge")]
pub mod events;
#[cfg(feature = "s3")]
pub mod objects;
#[cfg(feature = "sqs")]
pub mod queue;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "dynamodb")]
pub mod store;
pub mod telemetry;

pub use clients::AwsConfig;
