//! An SDK interceptor per function that records every AWS call it makes (as the IAM action it needs)
//! and can inject faults into chosen operations: the local twin of IAM and of a bad day on AWS.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Service (`s3`, `sqs`, `dynamodb`) -> probability that any one call fails, drawn from `random`.
    fault_rates: Mutex<HashMap<String, f64>>,
    random: Mutex<SplitMix64>,
    injected: AtomicU64,
}

/// A small seeded generator: the same seed injects the same sequence of faults into the same sequence
/// of calls (with concurrency, calls may interleave differently between runs).
#[derive(Debug, Default)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
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

    /// Makes each call to a service fail with the given probability (`[("s3", 0.05), ("sqs", 0.05)]`),
    /// drawing from a generator seeded with `seed`.
    pub fn set_fault_rates(&self, rates: &[(String, f64)], seed: u64) {
        if let (Ok(mut map), Ok(mut random)) = (self.fault_rates.lock(), self.random.lock()) {
            map.clear();
            map.extend(rates.iter().cloned());
            *random = SplitMix64::new(seed);
        }
    }

    /// How many calls have been failed on purpose so far.
    pub fn faults_injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
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
    // The SDK's service names, as IAM's action prefixes.
    let service = match service.to_ascii_lowercase().replace(' ', "").as_str() {
        "eventbridge" => "events".to_owned(),
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
        ("s3", "HeadObject") => "GetObject",
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
                self.0.injected.fetch_add(1, Ordering::Relaxed);
                return Err(format!("injected fault: {action} is unavailable").into());
            }
        }
        let service = action.split(':').next().unwrap_or_default();
        let rate = self
            .0
            .fault_rates
            .lock()
            .ok()
            .and_then(|rates| rates.get(service).copied())
            .unwrap_or(0.0);
        if rate > 0.0 && self.0.random.lock().map(|mut r| r.next_f64() < rate).unwrap_or(false) {
            self.0.injected.fetch_add(1, Ordering::Relaxed);
            return Err(format!(
                "injected fault ({:.0}% of {service} calls): {action} failed",
                rate * 100.0
            )
            .into());
        }
        Ok(())
    }
}
