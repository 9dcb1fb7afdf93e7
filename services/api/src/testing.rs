//! Requests as API Gateway's HTTP API hands them to the function (payload 2.0, with the authorizer's
//! identity), and an `Api` over in-memory ports.

use imgpipe_domain::config::{ApiConfig, Env};
use imgpipe_domain::testing::{MemoryJobs, MemoryObjects};
use lambda_http::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::Api;

pub(crate) type MemoryApi = Api<MemoryJobs, MemoryObjects>;

pub(crate) fn memory_api() -> MemoryApi {
    let config = ApiConfig::from_env(&Env(|name: &str| match name {
        "IMGPIPE_TABLE_NAME" => Some("imgpipe-test-images".to_owned()),
        "IMGPIPE_BUCKET_NAME" => Some("imgpipe-test-images".to_owned()),
        _ => None,
    }))
    .expect("the test configuration is valid");
    Api::new(config, MemoryJobs::new(), MemoryObjects::new())
}

pub(crate) enum Caller<'a> {
    Jwt(&'a str),
    Iam(&'a str),
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
        Caller::Iam(arn) => json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012", "callerId": "AIDA",
                                          "principalOrgId": null, "userArn": arn, "userId": "AIDA"}}),
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
            "authorizer": authorizer,
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
    (status, body, response.headers().clone())
}

/// Creates an image for `caller` with a JSON request and returns its id.
pub(crate) async fn create_image(api: &MemoryApi, caller: &Caller<'_>) -> String {
    let (status, created) = call(
        api,
        event(
            "POST",
            "/images",
            "",
            Some(json!({"content_type": "image/png"})),
            caller,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["image_id"].as_str().expect("an image id").to_owned()
}
