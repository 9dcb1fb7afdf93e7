//! The HTTP API function (API Gateway HTTP API, payload format 2.0): create image jobs, read their
//! status and predictions, list and delete them. Every answer is JSON; every error has the shape
//! `{"error": {"code", "message"}}` and never a stack trace or an internal name.
//!
//! # Layout
//!
//! - this file: the `Api` (configuration and the two ports it uses) and the route table.
//! - `routes/`: one file per route: [`routes::create`] (`POST /images`, JSON or the image inline),
//!   `get` (`GET /images/{id}`), `list` (`GET /images`), `delete` (`DELETE /images/{id}`), `models`
//!   (`GET /models`).
//! - `identity`: who is calling, from the authorizer's request context; 401 without an identity in an
//!   authenticated mode.
//! - `quota`: the optional per-owner daily limit (429).
//! - `idempotency`: `Idempotency-Key`: the id a key names, and telling a replay from a reuse.
//! - `view`: what a client sees of a record; `token`: opaque pagination tokens.
//! - `error`, `response`: the JSON error shape and the response helpers.
//!
//! Tests beside each route run the handler on in-memory ports (`imgpipe_domain::testing`); the local
//! pipeline's suite (tools/local) runs it on moto and through the local HTTP gateway.

mod error;
mod idempotency;
mod identity;
mod quota;
mod response;
pub mod routes;
#[cfg(test)]
mod testing;
mod token;
mod view;

use imgpipe_aws::objects::S3Objects;
use imgpipe_aws::store::DynamoJobs;
use imgpipe_aws::AwsConfig;
use imgpipe_domain::config::ApiConfig;
use imgpipe_domain::ports::{Jobs, Objects};
use lambda_http::http::{header, Method};
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub use error::ApiError;
pub use idempotency::{IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER};
pub use identity::{caller, Caller};
pub use routes::create::ACCEPTED_CONTENT_TYPES;
pub use view::ImageView;

/// The API: its configuration and the ports it uses.
pub struct Api<J, O> {
    pub config: ApiConfig,
    pub jobs: J,
    pub objects: O,
}

impl<J: Jobs, O: Objects> Api<J, O> {
    pub fn new(config: ApiConfig, jobs: J, objects: O) -> Self {
        Self { config, jobs, objects }
    }
}

/// The API as deployed.
pub type AwsApi = Api<DynamoJobs, S3Objects>;

impl AwsApi {
    /// The API as deployed: the job table in DynamoDB, the image bucket in S3.
    pub fn on_aws(config: ApiConfig, aws: &AwsConfig) -> Self {
        let jobs = DynamoJobs::new(aws.dynamodb(), &config.table_name);
        let objects = S3Objects::new(aws.s3(), &config.bucket_name);
        Self::new(config, jobs, objects)
    }
}

/// Entry point for every request; never fails, every error becomes a JSON response.
pub async fn handle<J: Jobs, O: Objects>(api: &Api<J, O>, request: Request) -> Response<Body> {
    match route(api, &request).await {
        Ok(response) => response,
        Err(err) => {
            let mut response = response::json(
                err.status,
                &json!({"error": {"code": err.code, "message": err.message}}),
            );
            if let Some(allow) = err.allow {
                response
                    .headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static(allow));
            }
            if let Some(seconds) = err.retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
            }
            response
        }
    }
}

async fn route<J: Jobs, O: Objects>(api: &Api<J, O>, request: &Request) -> Result<Response<Body>, ApiError> {
    let path = request.uri().path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let known = matches!(segments.as_slice(), ["images"] | ["images", _] | ["models"]);
    if !known {
        return Err(ApiError::not_found_route());
    }
    // Before anything else: no route serves a caller without the identity the deployment requires.
    let caller = caller(request, api.config.auth_mode)?;
    match (segments.as_slice(), request.method()) {
        (["images"], &Method::POST) => routes::create::create(api, request, &caller).await,
        (["images"], &Method::GET) => routes::list::list(api, request, &caller).await,
        (["images", id], &Method::GET) => routes::get::get(api, &caller, id).await,
        (["images", id], &Method::DELETE) => routes::delete::delete(api, &caller, id).await,
        (["models"], &Method::GET) => routes::models::models(api),
        (["images"], _) => Err(ApiError::method_not_allowed("GET, POST")),
        (["images", _], _) => Err(ApiError::method_not_allowed("GET, DELETE")),
        _ => Err(ApiError::method_not_allowed("GET")),
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::StatusCode;

    use crate::testing::{call, call_with_headers, event, memory_api, Caller};

    #[tokio::test]
    async fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
        let api = memory_api();
        let alice = Caller::Jwt("alice");
        let (status, body) = call(&api, event("GET", "/nothing", "", None, &alice)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["code"], "not_found");
        let (status, _, headers) = call_with_headers(&api, event("PATCH", "/images", "", None, &alice)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers.get("allow").map(|v| v.as_bytes()), Some(&b"GET, POST"[..]));
    }

    /// Terraform routes the contract's list to this function: each must reach a handler here.
    #[tokio::test]
    async fn every_route_of_the_contract_is_served() {
        let api = memory_api();
        let alice = Caller::Jwt("alice");
        for route in imgpipe_domain::contract::ROUTES {
            let (method, path) = route.split_once(' ').unwrap();
            let path = path.replace("{id}", "00000000-0000-4000-8000-000000000000");
            let (status, body) = call(&api, event(method, &path, "", None, &alice)).await;
            let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
                || (status == StatusCode::NOT_FOUND
                    && body["error"]["message"].as_str().unwrap_or("").contains("route"));
            assert!(!unrouted, "{route}: {status} {body}");
        }
    }
}
