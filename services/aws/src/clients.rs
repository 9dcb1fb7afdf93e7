//! The SDK configuration of a function, and the clients of the services it uses (one cargo feature per
//! service, so a function links only the SDKs it calls).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;

/// How to reach AWS: the Lambda environment, or an emulator endpoint.
#[derive(Clone, Debug)]
pub struct AwsConfig {
    sdk: SdkConfig,
    /// An emulator on 127.0.0.1 has no per-bucket host names.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    force_path_style: bool,
    /// Sees every call (the local pipeline records calls and injects faults through it).
    interceptor: Option<SharedInterceptor>,
}

impl AwsConfig {
    /// Region and credentials from the Lambda environment, the standard way.
    pub async fn from_environment() -> Self {
        Self {
            sdk: aws_config::load_defaults(BehaviorVersion::latest()).await,
            force_path_style: false,
            interceptor: None,
        }
    }

    /// An S3/SQS/DynamoDB emulator listening at `endpoint`, with fixed test credentials.
    pub async fn for_emulator(endpoint: &str, region: &str, interceptor: Option<SharedInterceptor>) -> Self {
        let credentials = aws_credential_types::Credentials::new("testing", "testing", None, None, "emulator");
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new(region.to_owned()))
            .credentials_provider(credentials)
            .load()
            .await;
        Self {
            sdk,
            force_path_style: true,
            interceptor,
        }
    }

    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    #[cfg(feature = "dynamodb")]
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let mut builder = aws_sdk_dynamodb::config::Builder::from(&self.sdk);
        if let Some(interceptor) = &self.interceptor {
            builder.push_interceptor(interceptor.clone());
        }
        aws_sdk_dynamodb::Client::from_conf(builder.build())
    }

    #[cfg(feature = "s3")]
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let mut builder = aws_sdk_s3::config::Builder::from(&self.sdk).force_path_style(self.force_path_style);
        if let Some(interceptor) = &self.interceptor {
            builder.push_interceptor(interceptor.clone());
        }
        aws_sdk_s3::Client::from_conf(builder.build())
    }

    #[cfg(feature = "eventbridge")]
    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        let mut builder = aws_sdk_eventbridge::config::Builder::from(&self.sdk);
        if let Some(interceptor) = &self.interceptor {
            builder.push_interceptor(interceptor.clone());
        }
        aws_sdk_eventbridge::Client::from_conf(builder.build())
    }

    #[cfg(feature = "secrets")]
    pub fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(&self.sdk);
        if let Some(interceptor) = &self.interceptor {
            builder.push_interceptor(interceptor.clone());
        }
        aws_sdk_secretsmanager::Client::from_conf(builder.build())
    }

    #[cfg(feature = "sqs")]
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let mut builder = aws_sdk_sqs::config::Builder::from(&self.sdk);
        if let Some(interceptor) = &self.interceptor {
            builder.push_interceptor(interceptor.clone());
        }
        aws_sdk_sqs::Client::from_conf(builder.build())
    }
}
