//! The whole pipeline on one machine: moto server plays S3, SQS, DynamoDB, EventBridge and Secrets Manager
//! over real HTTP; every function (api, preprocess, inference, sweeper, notify) runs in-process on real
//! event payloads; the API is served on localhost as payload-2.0 events. Everything a deployment names
//! comes from one prefix, as in Terraform.
//!
//! # Layout
//!
//! - [`stack`]: `Stack`, started from `StackOptions`: moto, the resources, every function with its own
//!   recorded AWS calls, the pollers, the sweeper's schedule and the HTTP gateway; its `stop` fails when
//!   a client was told an internal name (`refuse_internal_names`).
//! - [`moto`]: the moto server as a child process on 127.0.0.1 (its launcher, `moto_launcher.py`, makes
//!   each DynamoDB request atomic).
//! - [`resources`]: what the Terraform modules create, with the same names and settings: the bucket and
//!   its notifications, a queue and DLQ per stage, the table and its indexes, the bus and its rules.
//! - [`clients`]: the SDK clients of one party (a function, or the tests and tools) on the emulator.
//! - [`calls`]: an SDK interceptor per function that records each call as the IAM action it needs and
//!   injects faults on demand or at a seeded rate.
//! - [`poller`]: Lambda's SQS event source mapping: batches, partial batch responses, redelivery, and
//!   the seeded worker crashes of the soak.
//! - [`http_api`]: API Gateway's HTTP API: payload-2.0 events, CORS preflights, the optional JWT
//!   authorizer emulation.
//! - [`messages`]: every `message` clients are told, kept and checked for internal names.
//! - [`client`]: a small HTTP client of the local API, as a user's client goes through it.
//! - [`soak`]: `imgpipe-local soak`: load with faults and crashes, and its verdict.
//! - [`testing`]: set-up shared by the integration and end-to-end tests in `tests/`.

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
