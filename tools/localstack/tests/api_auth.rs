//! Who may see what: the API handler with the identities API Gateway's authorizers put in the payload 2.0
//! request context (JWT `sub`, IAM caller ARN). Another caller's image is indistinguishable from a
//! missing one.

use imgpipe_api::Api;
use imgpipe_localstack::stack::function_configs;
use imgpipe_localstack::testing::{stack_options, Emulator};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};

enum Caller<'a> {
    Jwt(&'a str),
    Iam(&'a str),
}

fn event(method: &str, path: &str, query: &str, body: Option<Value>, caller: &Caller) -> lambda_http::Request {
    event_with_key(method, path, query, body, caller, None)
}

fn event_with_key(
    method: &str,
    path: &str,
    query: &str,
    body: Option<Value>,
    caller: &Caller,
    idempotency_key: Option<&str>,
) -> lambda_http::Request {
    let authorizer = match caller {
        Caller::Jwt(sub) => json!({"jwt": {"claims": {"sub": sub, "iss": "https://issuer.example"}, "scopes": null}}),
        Caller::Iam(arn) => json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012", "callerId": "AIDA",
                                          "principalOrgId": null, "userArn": arn, "userId": "AIDA"}}),
    };
    let mut headers = json!({"content-type": "application/json", "host": "api.example"});
    if let Some(key) = idempotency_key {
        headers["idempotency-key"] = Value::from(key);
    }
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": query.split('&').filter(|p| !p.is_empty())
            .map(|p| { let (k, v) = p.split_once('=').unwrap(); (k.to_owned(), Value::from(v)) })
            .collect::<serde_json::Map<_, _>>(),
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example", "domainPrefix": "api",
            "authorizer": authorizer,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.1", "userAgent": "t"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("a valid payload 2.0 event")
}

async fn call(api: &Api, request: lambda_http::Request) -> (StatusCode, Value) {
    let (status, body, _) = call_with_headers(api, request).await;
    (status, body)
}

async fn call_with_headers(
    api: &Api,
    request: lambda_http::Request,
) -> (StatusCode, Value, lambda_http::http::HeaderMap) {
    let response = imgpipe_api::handle(api, request).await;
    let status = response.status();
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (status, body, response.headers().clone())
}

async fn api() -> (Emulator, Api) {
    let emulator = Emulator::start().await;
    let resources = emulator.resources(5).await;
    let (config, _, _) = function_configs(&resources, &stack_options()).unwrap();
    let api = Api::new(config, &emulator.clients);
    (emulator, api)
}

#[tokio::test]
async fn jwt_subjects_only_see_their_own_images() {
    let (_emulator, api) = api().await;
    let (alice, bob) = (Caller::Jwt("alice"), Caller::Jwt("bob"));
    let (status, created) = call(
        &api,
        event(
            "POST",
            "/images",
            "",
            Some(json!({"content_type": "image/jpeg"})),
            &alice,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["image_id"].as_str().unwrap();
    assert_eq!(created["status_url"], format!("https://api.example/images/{id}"));

    let (status, own) = call(&api, event("GET", &format!("/images/{id}"), "", None, &alice)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(own["status"], "pending_upload");
    let (status, other) = call(&api, event("GET", &format!("/images/{id}"), "", None, &bob)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{other}");
    assert_eq!(other["error"]["code"], "not_found");

    let (_, alices) = call(&api, event("GET", "/images", "", None, &alice)).await;
    assert_eq!(alices["images"].as_array().unwrap().len(), 1);
    let (_, bobs) = call(&api, event("GET", "/images", "", None, &bob)).await;
    assert_eq!(bobs["images"].as_array().unwrap().len(), 0, "{bobs}");
    let (_, filtered) = call(&api, event("GET", "/images", "status=completed", None, &alice)).await;
    assert_eq!(
        filtered["images"].as_array().unwrap().len(),
        0,
        "owner listing honours the status filter"
    );
}

#[tokio::test]
async fn iam_callers_are_told_apart_by_their_arn() {
    let (_emulator, api) = api().await;
    let ci = Caller::Iam("arn:aws:sts::123456789012:assumed-role/ci/job-1");
    let other = Caller::Iam("arn:aws:iam::123456789012:user/someone");
    let (status, created) = call(
        &api,
        event("POST", "/images", "", Some(json!({"content_type": "image/png"})), &ci),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["image_id"].as_str().unwrap();
    assert_eq!(
        call(&api, event("GET", &format!("/images/{id}"), "", None, &ci))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&api, event("GET", &format!("/images/{id}"), "", None, &other))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn request_validation_never_answers_500() {
    let (_emulator, api) = api().await;
    let alice = Caller::Jwt("alice");
    for (body, status) in [
        (
            json!({"content_type": "image/jpeg", "content_length": 0}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"content_type": "image/jpeg", "content_length": 1u64 << 40}),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            json!({"content_type": "image/jpeg", "filename": "a\u{0007}b"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"content_type": "image/jpeg", "colour": "red"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"content_type": "application/pdf"}),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (json!({}), StatusCode::BAD_REQUEST),
    ] {
        let (got, response) = call(&api, event("POST", "/images", "", Some(body.clone()), &alice)).await;
        assert_eq!(got, status, "{body} -> {response}");
        assert!(response["error"]["code"].is_string() && response["error"]["message"].is_string());
        let text = response.to_string();
        assert!(
            !text.contains("imgpipe-") && !text.contains("arn:aws"),
            "no internal names leak: {text}"
        );
    }
}

#[tokio::test]
async fn only_the_owner_deletes_and_a_deleted_image_is_gone() {
    let (_emulator, api) = api().await;
    let (alice, bob) = (Caller::Jwt("alice"), Caller::Jwt("bob"));
    let (_, created) = call(
        &api,
        event(
            "POST",
            "/images",
            "",
            Some(json!({"content_type": "image/png"})),
            &alice,
        ),
    )
    .await;
    let path = format!("/images/{}", created["image_id"].as_str().unwrap());
    let (status, body) = call(&api, event("DELETE", &path, "", None, &bob)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        call(&api, event("GET", &path, "", None, &alice)).await.0,
        StatusCode::OK
    );

    let (status, body) = call(&api, event("DELETE", &path, "", None, &alice)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(body, Value::Null, "no body");
    assert_eq!(
        call(&api, event("GET", &path, "", None, &alice)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&api, event("DELETE", &path, "", None, &alice)).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = call(&api, event("DELETE", "/images/not-an-id", "", None, &alice)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body, headers) = call_with_headers(&api, event("PUT", &path, "", None, &alice)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(
        headers.get("allow").map(|v| v.as_bytes()),
        Some(&b"GET, DELETE"[..]),
        "RFC 9110: a 405 lists the methods"
    );
}

#[tokio::test]
async fn idempotency_keys_replay_per_caller_and_refuse_reuse() {
    let (_emulator, api) = api().await;
    let (alice, bob) = (Caller::Jwt("alice"), Caller::Jwt("bob"));
    let request = json!({"content_type": "image/png", "filename": "cat.png"});
    let post = |caller, body: &Value, key| event_with_key("POST", "/images", "", Some(body.clone()), caller, key);

    let (status, first, headers) = call_with_headers(&api, post(&alice, &request, Some("job-1"))).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(headers.get("idempotent-replayed").is_none());
    let (status, again, headers) = call_with_headers(&api, post(&alice, &request, Some("job-1"))).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["image_id"], first["image_id"]);
    assert_eq!(
        headers.get("idempotent-replayed").map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(
        again["upload"]["method"], "PUT",
        "still awaiting the upload: a fresh URL"
    );

    // The same key from someone else is someone else's image.
    let (status, bobs) = call(&api, post(&bob, &request, Some("job-1"))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(bobs["image_id"], first["image_id"]);
    // No key: a new image every time.
    let (_, keyless) = call(&api, post(&alice, &request, None)).await;
    assert_ne!(keyless["image_id"], first["image_id"]);

    let different = json!({"content_type": "image/jpeg", "filename": "cat.png"});
    let (status, body) = call(&api, post(&alice, &different, Some("job-1"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_key_reused");

    let long = "k".repeat(256);
    for bad in ["", long.as_str(), "tab\there"] {
        let (status, body) = call(&api, post(&alice, &request, Some(bad))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {body}");
    }
    let (_, listed) = call(&api, event("GET", "/images", "", None, &alice)).await;
    assert_eq!(
        listed["images"].as_array().unwrap().len(),
        2,
        "the replay created nothing: {listed}"
    );
}
