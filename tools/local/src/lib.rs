//! The whole pipeline on one machine: moto server plays S3, SQS and DynamoDB over real HTTP; the three
//! handlers run in-process on real SQS event payloads; the API is served on localhost as payload-2.0
//! events. Everything a deployment names comes from one prefix, as in Terraform.

pub mod calls;
pub mod client;
pub mod clients;
pub mod http_api;
pub mod messages;
pub mod moto;
pub mod poller;
pub mod resources;
pub mod soak;
pub mod stack;
pub mod testing;

pub use stack::{Stack, StackOptions};

/// The settings the local stack shares with the Terraform defaults (`services/pipeline.json`).
pub fn pipeline_settings() -> serde_json::Value {
    serde_json::from_str(include_str!("../../../services/pipeline.json")).expect("services/pipeline.json is valid JSON")
}
