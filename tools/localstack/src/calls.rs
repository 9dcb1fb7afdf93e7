//! An SDK interceptor per function that records every AWS call it makes (as the IAM action it needs)
//! and can inject faults into chosen operations: the local twin of IAM and of a bad day on AWS.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents, SharedInterceptor};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

#[derive(Debug, Default)]
pub struct AwsCalls {
    actions: Mutex<BTreeSet<String>>,
    /// IAM action -> how many more calls to fail.
    faults: Mutex<HashMap<String, u32>>,
}

impl AwsCalls {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn interceptor(self: &Arc<Self>) -> SharedInterceptor {
        SharedInterceptor::new(Recorder(Arc::clone(self)))
    }

    /// The IAM actions the calls so far needed, e.g. `s3:GetObject`.
    pub fn actions(&self) -> BTreeSet<String> {
        self.actions.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Makes the next `times` calls needing `action` fail before they are sent, as a throttled or
    /// unreachable service would.
    pub fn fail_next(&self, action: &str, times: u32) {
        if let Ok(mut faults) = self.faults.lock() {
            faults.insert(action.to_owned(), times);
        }
    }
}

#[derive(Debug)]
struct Recorder(Arc<AwsCalls>);

/// The IAM action an SDK call needs. Reading or deleting a specific object version is its own action.
fn iam_action(service: &str, operation: &str, context: &BeforeSerializationInterceptorContextRef<'_>) -> String {
    let service = match service.to_ascii_lowercase().as_str() {
        "s3" => "s3".to_owned(),
        "sqs" => "sqs".to_owned(),
        "dynamodb" => "dynamodb".to_owned(),
        other => other.to_owned(),
    };
    if service == "s3" && operation == "GetObject" {
        let versioned = context
            .input()
            .downcast_ref::<aws_sdk_s3::operation::get_object::GetObjectInput>()
            .and_then(|input| input.version_id())
            .is_some();
        if versioned {
            return "s3:GetObjectVersion".into();
        }
    }
    if service == "s3" && operation == "DeleteObject" {
        let versioned = context
            .input()
            .downcast_ref::<aws_sdk_s3::operation::delete_object::DeleteObjectInput>()
            .and_then(|input| input.version_id())
            .is_some();
        if versioned {
            return "s3:DeleteObjectVersion".into();
        }
    }
    // Operations whose IAM action has another name.
    let action = match (service.as_str(), operation) {
        ("s3", "ListObjectVersions") => "ListBucketVersions",
        ("s3", "ListObjectsV2") => "ListBucket",
        _ => operation,
    };
    format!("{service}:{action}")
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "AwsCallRecorder"
    }

    // Not `read_before_execution`: the operation's metadata is only in the config bag from here on.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let action = iam_action(metadata.service(), metadata.name(), context);
        if let Ok(mut actions) = self.0.actions.lock() {
            actions.insert(action.clone());
        }
        if let Ok(mut faults) = self.0.faults.lock() {
            if let Some(remaining) = faults.get_mut(&action).filter(|r| **r > 0) {
                *remaining -= 1;
                return Err(format!("injected fault: {action} is unavailable").into());
            }
        }
        Ok(())
    }
}
