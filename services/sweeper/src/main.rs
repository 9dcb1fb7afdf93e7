use std::sync::Arc;

use imgpipe_aws::AwsConfig;
use imgpipe_domain::config::{Env, SweeperConfig};
use imgpipe_sweeper::{handle, Sweeper};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = SweeperConfig::from_env(&Env::process())?;
    let aws = AwsConfig::from_environment().await;
    let sweeper = Arc::new(Sweeper::on_aws(config, &aws));
    let metrics = imgpipe_aws::telemetry::lambda_collector("sweeper")?;
    metrics_cloudwatch_embedded::lambda::service::run(
        metrics,
        service_fn(move |event: LambdaEvent<serde_json::Value>| {
            let sweeper = Arc::clone(&sweeper);
            async move { handle(&sweeper, event.payload).await }
        }),
    )
    .await
}
