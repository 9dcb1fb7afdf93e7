//! Building the SDK clients, in Lambda (from the environment) or against an emulator endpoint.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::SharedInterceptor;

use crate::error::PipelineError;

#[derive(Clone, Debug)]
pub struct AwsClients {
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl AwsClients {
    /// Clients configured the standard way: region and credentials from the Lambda environment.
    pub async fn from_environment() -> Self {
        Self::from_sdk_config(&aws_config::load_defaults(BehaviorVersion::latest()).await, false)
    }

    /// Clients for an S3/SQS/DynamoDB emulator listening at `endpoint`: fixed test credentials, and
    /// path-style S3 addressing since an emulator on 127.0.0.1 has no per-bucket host names.
    /// `interceptor`, when given, sees every call (the local stack records calls and injects faults).
    pub async fn for_emulator(endpoint: &str, region: &str, interceptor: Option<SharedInterceptor>) -> Self {
        let credentials = aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "emulator");
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new(region.to_owned()))
            .credentials_provider(credentials)
            .load()
            .await;
        Self::build(&config, true, interceptor)
    }

    pub fn from_sdk_config(config: &SdkConfig, force_path_style: bool) -> Self {
        Self::build(config, force_path_style, None)
    }

    fn build(config: &SdkConfig, force_path_style: bool, interceptor: Option<SharedInterceptor>) -> Self {
        let mut s3 = aws_sdk_s3::config::Builder::from(config).force_path_style(force_path_style);
        let mut sqs = aws_sdk_sqs::config::Builder::from(config);
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(config);
        if let Some(interceptor) = interceptor {
            s3.push_interceptor(interceptor.clone());
            sqs.push_interceptor(interceptor.clone());
            dynamodb.push_interceptor(interceptor);
        }
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
        }
    }
}

/// An AWS call failed in a way retrying may fix (throttling, timeouts, 5xx, network).
pub(crate) fn transient<E>(operation: &str, err: E) -> PipelineError
where
    E: std::error::Error + Send + Sync + 'static,
{
    PipelineError::transient(format!("{operation}: {}", aws_sdk_s3::error::DisplayErrorContext(err)))
}
