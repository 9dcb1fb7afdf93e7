use std::sync::Arc;

use imgpipe_api::{handle, Api};
use imgpipe_aws::AwsConfig;
use imgpipe_domain::config::{ApiConfig, Env};
use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = ApiConfig::from_env(&Env::process())?;
    let aws = AwsConfig::from_environment().await;
    let api = Arc::new(Api::on_aws(config, &aws));
    let metrics = imgpipe_aws::telemetry::lambda_collector("api")?;
    metrics_cloudwatch_embedded::lambda::service::run_http(
        metrics,
        service_fn(move |request: Request| {
            let api = Arc::clone(&api);
            async move { Ok::<_, Error>(handle(&api, request).await) }
        }),
    )
    .await
}
