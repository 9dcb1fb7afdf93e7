//! The SDK clients of one party of the local pipeline (a function, or the tests and tools around it), on
//! the emulator.

use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use imgpipe_aws::AwsConfig;

#[derive(Clone, Debug)]
pub struct Clients {
    /// The configuration the functions' own constructors (`on_aws`) take.
    pub aws: AwsConfig,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Clients {
    /// Clients for the emulator at `endpoint`; `interceptor`, when given, sees every call (it records
    /// calls and injects faults).
    pub async fn for_emulator(endpoint: &str, region: &str, interceptor: Option<SharedInterceptor>) -> Self {
        let aws = AwsConfig::for_emulator(endpoint, region, interceptor).await;
        Self {
            s3: aws.s3(),
            sqs: aws.sqs(),
            dynamodb: aws.dynamodb(),
            eventbridge: aws.eventbridge(),
            secrets: aws.secrets_manager(),
            aws,
        }
    }
}
