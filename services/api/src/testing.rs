//! Requests as API Gateway's HTTP API hands them to the function (payload 2.0, with the authorizer's
//! identity), and an `Api` over in-memory ports.

use imgpipe_domain::config::{ApiConfig, AuthMode, Env};
use imgpipe_domain::model_spec::ModelMetadata;
use imgpipe_domain::testing::{MemoryJobs, MemoryObjects, SAMPLE_MODEL_JSON};
use lambda_http::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::Api;

pub(crate) type MemoryApi = Api<MemoryJobs, MemoryObjects>;

/// Two models, Lite0 and a small stretch model, split 90/10 by default.
fn models() -> String {
    let lite0 = ModelMetadata::from_json(SAMPLE_MODEL_JSON, std::path::Path::new("m")).unwrap();
    let tiny = json!({"name": "tiny", "version": "1.0.0", "variant": "fp32", "num_classes": 10,
        "input": {"height": 24, "width": 32},
        "preprocess": {"resize": "stretch", "filter": "bilinear", "antialias": true}});
    json!([lite0.deployed(), tiny]).to_string()
}

/// An API in JWT mode over in-memory ports.
pub(crate) fn memory_api() -> MemoryApi {
    memory_api_with(AuthMode::Jwt)
}

pub(crate) fn memory_api_with(mode: AuthMode) -> MemoryApi {
    let models = models();
    let config = ApiConfig::from_env(&Env(|name: &str| match name {
        "IMGPIPE_TABLE_NAME" => Some("imgpipe-test-images".to_owned()),
        "IMGPIPE_BUCKET_NAME" => Some("imgpipe-test-images".to_owned()),
        "IMGPIPE_AUTH_MODE" => Some(mode.as_str().to_owned()),
        "IMGPIPE_MODELS" => Some(models.clone()),
        "IMGPIPE_MODEL_ROUTING" => Some("efficientnet-lite0=90,tiny=10".to_owned()),
        "IMGPIPE_WEBHOOK_ALLOWED_HOSTS" => Some("hooks.example.com".to_owned()),
        _ => None,
    }))
    .expect("the test configuration is valid");
    Api::new(config, MemoryJobs::new(), MemoryObjects::new())
}

/// The identity API Gateway's authorizer puts in the request context.
pub(crate) enum Caller<'a> {
    /// A JWT's `sub` (issuer https://issuer.example).
    Jwt(&'a str),
    /// An IAM caller's ARN; its unique id is the ARN's role or user name, upper-cased (`AROACI`).
    Iam(&'a str),
    /// A Cognito identity-pool user: the pool's role, and the user's identity id.
    Cognito(&'a str),
    /// No authorizer at all (a route deployed without one).
    Anonymous,
}

/// A request: method, path, raw query, and a JSON body or none.
pub(crate) fn event(
    method: &str,
    path: &str,
    query: &str,
    body: Option<Value>,
    caller: &Caller,
) -> lambda_http::Request {
    request(
        method,
        path,
        query,
        body.map(|b| b.to_string()),
        "application/json",
        caller,
        None,
    )
}

pub(crate) fn event_with_key(
    method: &str,
    path: &str,
    body: Option<Value>,
    caller: &Caller,
    idempotency_key: Option<&str>,
) -> lambda_http::Request {
    request(
        method,
        path,
        "",
        body.map(|b| b.to_string()),
        "application/json",
        caller,
        idempotency_key,
    )
}

/// `POST /images` with the image itself as the body.
pub(crate) fn inline(bytes: &[u8], content_type: &str, caller: &Caller, key: Option<&str>) -> lambda_http::Request {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut event = event_json("POST", "/images", "", Some(body), content_type, caller, key);
    event["isBase64Encoded"] = Value::Bool(true);
    lambda_http::request::from_str(&event.to_string()).expect("a valid payload 2.0 event")
}

fn request(
    method: &str,
    path: &str,
    query: &str,
    body: Option<String>,
    content_type: &str,
    caller: &Caller,
    idempotency_key: Option<&str>,
) -> lambda_http::Request {
    let event = event_json(method, path, query, body, content_type, caller, idempotency_key);
    lambda_http::request::from_str(&event.to_string()).expect("a valid payload 2.0 event")
}

fn event_json(
    method: &str,
    path: &str,
    query: &str,
    body: Option<String>,
    content_type: &str,
    caller: &Caller,
    idempotency_key: Option<&str>,
) -> Value {
    let authorizer = match caller {
        Caller::Jwt(sub) => json!({"jwt": {"claims": {"sub": sub, "iss": "https://issuer.example"}, "scopes": null}}),
        Caller::Iam(arn) => {
            // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION or arn:aws:iam::ACCOUNT:user/NAME
            let mut parts = arn.rsplit(':').next().unwrap_or_default().split('/');
            let kind = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default().to_ascii_uppercase();
            let session = parts.next().unwrap_or_default();
            let user_id = match kind {
                "assumed-role" => format!("AROA{name}:{session}"),
                _ => format!("AIDA{name}"),
            };
            json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012", "callerId": user_id,
                           "principalOrgId": null, "userArn": arn, "userId": user_id}})
        }
        Caller::Cognito(identity) => json!({"iam": {"accessKey": "ASIA", "accountId": "123456789012",
            "callerId": "AROAPOOLROLE:CognitoIdentityCredentials", "principalOrgId": null,
            "userArn": "arn:aws:sts::123456789012:assumed-role/pool-role/CognitoIdentityCredentials",
            "userId": "AROAPOOLROLE:CognitoIdentityCredentials",
            "cognitoIdentity": {"amr": ["authenticated"], "identityId": identity, "identityPoolId": "eu-west-1:pool"}}}),
        Caller::Anonymous => Value::Null,
    };
    let mut headers = json!({"content-type": content_type, "host": "api.example"});
    if let Some(key) = idempotency_key {
        headers["idempotency-key"] = Value::from(key);
    }
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": query.split('&').filter(|p| !p.is_empty())
            .map(|p| { let (k, v) = p.split_once('=').unwrap_or((p, "")); (k.to_owned(), Value::from(v)) })
            .collect::<serde_json::Map<_, _>>(),
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example", "domainPrefix": "api",
            "authorizer": (if authorizer.is_null() { None } else { Some(authorizer) }),
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.1", "userAgent": "t"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": false
    })
}

pub(crate) async fn call(api: &MemoryApi, request: lambda_http::Request) -> (StatusCode, Value) {
    let (status, body, _) = call_with_headers(api, request).await;
    (status, body)
}

pub(crate) async fn call_with_headers(
    api: &MemoryApi,
    request: lambda_http::Request,
) -> (StatusCode, Value, HeaderMap) {
    let response = crate::handle(api, request).await;
    let status = response.status();
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    // What a client reads never names the deployment's resources (they go to the logs).
    let text = body.to_string();
    for internal in ["imgpipe-test-images", "arn:", "s3://"] {
        assert!(!text.contains(internal), "the answer names {internal}: {text}");
    }
    (status, body, response.headers().clone())
}

/// A JSON create request for a PNG of 1,000 bytes.
pub(crate) fn png_request() -> Value {
    json!({"content_type": "image/png", "content_length": 1000})
}

/// Creates an image for `caller` with a JSON request and returns its id.
pub(crate) async fn create_image(api: &MemoryApi, caller: &Caller<'_>) -> String {
    let (status, created) = call(api, event("POST", "/images", "", Some(png_request()), caller)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["image_id"].as_str().expect("an image id").to_owned()
}
