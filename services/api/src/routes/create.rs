//! `POST /images`: a new image job. With a JSON body the answer carries upload instructions (a presigned
//! PUT that S3 accepts only for exactly the declared size and type, once); with the image itself as the
//! body (an `image/*` content type) the API stores it at once.

use std::collections::HashMap;
use std::time::Duration;

use imgpipe_domain::digest::sha256_hex;
use imgpipe_domain::ports::{Jobs, Objects, Stored};
use imgpipe_domain::record::{Changes, Transition};
use imgpipe_domain::time::now_ms;
use imgpipe_domain::webhook::check_callback_url;
use imgpipe_domain::Status;
use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::info;

use crate::idempotency::{create_or_replay, new_image, Asked};
use crate::response::{self, status_url};
use crate::{Api, ApiError, Caller};

/// Content types accepted for upload; the preprocess stage still sniffs the bytes themselves.
pub const ACCEPTED_CONTENT_TYPES: [&str; 5] = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    content_type: String,
    /// Required: the upload URL is signed for exactly this many bytes.
    content_length: Option<u64>,
    filename: Option<String>,
    model: Option<String>,
    callback_url: Option<String>,
}

#[derive(Serialize)]
struct UploadInstructions {
    method: String,
    url: String,
    headers: HashMap<String, String>,
    expires_at: i64,
}

pub(crate) async fn create<J: Jobs, O: Objects>(
    api: &Api<J, O>,
    request: &Request,
    caller: &Caller,
) -> Result<Response<Body>, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_default();
    if content_type.starts_with("image/") {
        return create_inline(api, request, caller, &content_type).await;
    }
    if content_type != "application/json" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json to get an upload URL, or the image itself with an image/* content type",
        ));
    }
    let body: CreateRequest = serde_json::from_slice(request.body().as_ref())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    check_content_type(&body.content_type)?;
    if let Some(filename) = &body.filename {
        if filename.is_empty() || filename.chars().count() > 255 || filename.chars().any(char::is_control) {
            return Err(ApiError::bad_request("filename must be 1 to 255 printable characters"));
        }
    }
    let Some(length) = body.content_length else {
        return Err(ApiError::bad_request(
            "content_length is required: the upload URL accepts exactly that many bytes",
        ));
    };
    check_upload_size(api, length)?;
    let model = check_model(api, body.model.as_deref())?;
    let callback_url = check_callback(api, body.callback_url)?;
    let fingerprint = vec![
        "json".to_owned(),
        body.content_type.clone(),
        body.filename.clone().unwrap_or_default(),
        length.to_string(),
        model.unwrap_or_default().to_owned(),
        callback_url.clone().unwrap_or_default(),
    ];
    let asked = Asked {
        content_type: &body.content_type,
        filename: body.filename.clone(),
        model,
        callback_url,
        fingerprint,
    };
    let image = new_image(api, request, caller, asked)?;
    let (record, replayed) = create_or_replay(api, caller, &image).await?;

    let mut answer = json!({
        "image_id": record.image_id,
        "status": record.status,
        "status_url": status_url(request, &record.image_id),
        "model": record.model_name,
    });
    // Upload instructions while an upload is still expected: a replay gets a fresh URL for the same key.
    if record.status == Status::PendingUpload {
        let expires = Duration::from_secs(api.config.presign_expires_secs);
        let presigned = api
            .objects
            .presign_upload(&record.s3_key, &image.content_type, length, expires)
            .await?;
        answer["upload"] = json!(UploadInstructions {
            method: presigned.method,
            url: presigned.url,
            headers: presigned.headers.into_iter().collect(),
            expires_at: now_ms() / 1000 + presigned.expires_in_secs as i64,
        });
    }
    info!(image_id = %record.image_id, replayed, model = record.model_name, "created image; awaiting upload");
    Ok(response::created(
        StatusCode::CREATED,
        &answer,
        &record.image_id,
        replayed,
    ))
}

/// `POST /images` with the image as the body; `?model=` and `?callback_url=` as query parameters.
async fn create_inline<J: Jobs, O: Objects>(
    api: &Api<J, O>,
    request: &Request,
    caller: &Caller,
    content_type: &str,
) -> Result<Response<Body>, ApiError> {
    check_content_type(content_type)?;
    let params = request.query_string_parameters();
    if let Some(name) = params
        .iter()
        .map(|(name, _)| name)
        .find(|n| !["model", "callback_url"].contains(n))
    {
        return Err(ApiError::bad_request(format!("unknown query parameter {name:?}")));
    }
    let bytes = request.body().as_ref();
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the image body is empty"));
    }
    if bytes.len() as u64 > api.config.max_inline_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "inline uploads are limited to {} bytes; request an upload URL with a JSON body instead",
                api.config.max_inline_bytes
            ),
        ));
    }
    let model = check_model(api, params.first("model"))?;
    let callback_url = check_callback(api, params.first("callback_url").map(str::to_owned))?;
    let fingerprint = vec![
        "inline".to_owned(),
        content_type.to_owned(),
        sha256_hex(bytes),
        model.unwrap_or_default().to_owned(),
        callback_url.clone().unwrap_or_default(),
    ];
    let asked = Asked {
        content_type,
        filename: None,
        model,
        callback_url,
        fingerprint,
    };
    let image = new_image(api, request, caller, asked)?;
    let (record, replayed) = create_or_replay(api, caller, &image).await?;
    // A replay of a request that failed between creating the record and storing the bytes finishes it.
    let status = if record.status == Status::PendingUpload {
        // Never over an existing upload: S3 refuses the write if bytes are there (a half-done replay).
        if let Stored::Exists = api
            .objects
            .put_new(&record.s3_key, bytes.to_vec(), content_type)
            .await?
        {
            info!(image_id = %record.image_id, "the bytes were stored by an earlier attempt");
        }
        // The S3 event may already have been picked up; the rejected transition then reports how far it got.
        match api
            .jobs
            .transition(&record.image_id, Status::Queued, Changes::default(), now_ms())
            .await?
        {
            Transition::Applied(_) => Status::Queued,
            Transition::Rejected { current } => current.unwrap_or(Status::Queued),
        }
    } else {
        record.status
    };
    info!(image_id = %record.image_id, size_bytes = bytes.len(), replayed, "stored inline upload");
    let answer = json!({
        "image_id": record.image_id,
        "status": status,
        "status_url": status_url(request, &record.image_id),
        "model": record.model_name,
    });
    Ok(response::created(
        StatusCode::ACCEPTED,
        &answer,
        &record.image_id,
        replayed,
    ))
}

fn check_content_type(content_type: &str) -> Result<(), ApiError> {
    if ACCEPTED_CONTENT_TYPES.contains(&content_type) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("content_type must be one of {}", ACCEPTED_CONTENT_TYPES.join(", ")),
    ))
}

fn check_upload_size<J: Jobs, O: Objects>(api: &Api<J, O>, length: u64) -> Result<(), ApiError> {
    if length == 0 {
        return Err(ApiError::bad_request("content_length must be positive"));
    }
    if length > api.config.max_upload_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("uploads are limited to {} bytes", api.config.max_upload_bytes),
        ));
    }
    Ok(())
}

/// The model the client named, if it is deployed here; else a 400 that lists those that are.
fn check_model<'r, J: Jobs, O: Objects>(api: &Api<J, O>, model: Option<&'r str>) -> Result<Option<&'r str>, ApiError> {
    let Some(name) = model else {
        return Ok(None);
    };
    if api.config.models.iter().any(|m| m.name == name) {
        return Ok(Some(name));
    }
    let names: Vec<&str> = api.config.models.iter().map(|m| m.name.as_str()).collect();
    Err(ApiError::bad_request(format!(
        "model must be one of {} (GET /models lists them)",
        names.join(", ")
    )))
}

fn check_callback<J: Jobs, O: Objects>(api: &Api<J, O>, url: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(url) = url else {
        return Ok(None);
    };
    check_callback_url(&url, &api.config.webhook_allowed_hosts, api.config.local_webhooks)
        .map_err(ApiError::bad_request)?;
    Ok(Some(url))
}

#[cfg(test)]
mod tests {
    use imgpipe_domain::keys;
    use imgpipe_domain::Fault;
    use serde_json::Value;

    use super::*;
    use crate::testing::{call, call_with_headers, event, event_with_key, inline, memory_api, Caller};

    #[tokio::test]
    async fn a_json_request_gets_a_presigned_upload_and_a_pending_record() {
        let api = memory_api();
        let (status, created, headers) = call_with_headers(
            &api,
            event(
                "POST",
                "/images",
                "",
                Some(json!({"content_type": "image/jpeg", "content_length": 4321, "filename": "cat.jpg"})),
                &Caller::Jwt("alice"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["image_id"].as_str().unwrap();
        assert_eq!(created["status"], "pending_upload");
        assert_eq!(created["status_url"], format!("https://api.example/images/{id}"));
        assert_eq!(created["upload"]["method"], "PUT");
        let headers_to_send = &created["upload"]["headers"];
        assert_eq!(headers_to_send["content-type"], "image/jpeg");
        assert_eq!(
            headers_to_send["content-length"], "4321",
            "the URL is for exactly the declared size"
        );
        assert_eq!(
            headers_to_send["if-none-match"], "*",
            "and never over an existing upload"
        );
        assert_eq!(headers.get("location").unwrap(), &format!("/images/{id}"));
        let record = api.jobs.record(&id.parse().unwrap()).unwrap();
        assert_eq!(record.owner.as_deref(), Some("jwt:https://issuer.example|alice"));
        assert_eq!(record.filename.as_deref(), Some("cat.jpg"));
    }

    #[tokio::test]
    async fn request_validation_never_answers_500() {
        let api = memory_api();
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
                json!({"content_type": "image/jpeg", "filename": ""}),
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
        }
        let text = event("POST", "/images", "", None, &alice);
        assert_eq!(call(&api, text).await.0, StatusCode::BAD_REQUEST, "no body at all");
        assert!(api.jobs.writes().is_empty(), "nothing was created");
    }

    #[tokio::test]
    async fn an_unsupported_content_type_is_415() {
        let api = memory_api();
        for content_type in ["text/plain", "image/tiff"] {
            let request = inline(b"bytes", content_type, &Caller::Jwt("alice"), None);
            let (status, body) = call(&api, request).await;
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}: {body}");
            assert_eq!(body["error"]["code"], "unsupported_media_type");
        }
    }

    #[tokio::test]
    async fn idempotency_keys_replay_per_caller_and_refuse_reuse() {
        let api = memory_api();
        let (alice, bob) = (Caller::Jwt("alice"), Caller::Jwt("bob"));
        let request = json!({"content_type": "image/png", "content_length": 1000, "filename": "cat.png"});
        let post = |caller, body: &Value, key| event_with_key("POST", "/images", Some(body.clone()), caller, key);

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

        let different = json!({"content_type": "image/jpeg", "content_length": 1000, "filename": "cat.png"});
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

    #[tokio::test]
    async fn an_inline_image_is_stored_and_queued() {
        let api = memory_api();
        let (status, body) = call(&api, inline(b"\x89PNG fake", "image/png", &Caller::Jwt("alice"), None)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["status"], "queued");
        let id: imgpipe_domain::ImageId = body["image_id"].as_str().unwrap().parse().unwrap();
        let versions = api.objects.versions(&keys::upload_key(&id));
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].bytes, b"\x89PNG fake");
        assert_eq!(versions[0].content_type, "image/png");
        assert_eq!(api.jobs.record(&id).unwrap().status, Status::Queued);
    }

    #[tokio::test]
    async fn inline_images_that_are_empty_or_too_large_are_refused() {
        let mut api = memory_api();
        api.config.max_inline_bytes = 8;
        let alice = Caller::Jwt("alice");
        let (status, body) = call(&api, inline(b"", "image/png", &alice, None)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body) = call(&api, inline(b"123456789", "image/png", &alice, None)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(body["error"]["code"], "too_large");
        assert!(api.jobs.writes().is_empty());
    }

    #[tokio::test]
    async fn a_replay_finishes_an_inline_upload_that_failed_half_way() {
        let api = memory_api();
        let alice = Caller::Jwt("alice");
        api.objects.faults.inject("put", Fault::Transient, 1);
        let (status, body) = call(&api, inline(b"GIF89a", "image/gif", &alice, Some("k"))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        let (status, body, headers) = call_with_headers(&api, inline(b"GIF89a", "image/gif", &alice, Some("k"))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["status"], "queued");
        assert_eq!(
            headers.get("idempotent-replayed").map(|v| v.as_bytes()),
            Some(&b"true"[..])
        );
        let id: imgpipe_domain::ImageId = body["image_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(api.objects.versions(&keys::upload_key(&id)).len(), 1, "stored once");
    }

    #[tokio::test]
    async fn backend_faults_are_503_and_name_nothing_internal() {
        for (operation, fault) in [
            ("create", Fault::Transient),
            ("create", Fault::Configuration),
            ("presign", Fault::Transient),
        ] {
            let api = memory_api();
            match operation {
                "presign" => api.objects.faults.inject(operation, fault, 1),
                _ => api.jobs.faults.inject(operation, fault, 1),
            }
            let (status, body) = call(
                &api,
                event(
                    "POST",
                    "/images",
                    "",
                    Some(crate::testing::png_request()),
                    &Caller::Jwt("a"),
                ),
            )
            .await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{operation}: {body}");
            assert_eq!(body["error"]["code"], "unavailable");
            let text = body.to_string();
            assert!(!text.contains("injected") && !text.contains("AccessDenied"), "{text}");
        }
    }
}

#[cfg(test)]
mod more_tests {
    use imgpipe_domain::config::AuthMode;
    use serde_json::Value;

    use super::*;
    use crate::testing::{call, call_with_headers, create_image, event, memory_api, memory_api_with, Caller};

    #[tokio::test]
    async fn the_model_is_the_requested_one_or_the_default_split_and_the_record_says_which() {
        let api = memory_api();
        let alice = Caller::Jwt("alice");
        let body = json!({"content_type": "image/png", "content_length": 10, "model": "tiny"});
        let (status, created) = call(&api, event("POST", "/images", "", Some(body), &alice)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["model"], "tiny");
        let record = api
            .jobs
            .record(&created["image_id"].as_str().unwrap().parse().unwrap())
            .unwrap();
        assert_eq!(
            (record.model_name.as_deref(), record.model_choice.as_deref()),
            (Some("tiny"), Some("requested"))
        );
        let mut served: std::collections::HashMap<String, usize> = Default::default();
        for _ in 0..200 {
            let id = create_image(&api, &alice).await;
            let record = api.jobs.record(&id.parse().unwrap()).unwrap();
            assert_eq!(record.model_choice.as_deref(), Some("canary"));
            *served.entry(record.model_name.unwrap()).or_default() += 1;
        }
        assert!(
            served["tiny"] > 5 && served["tiny"] < 45,
            "about 10% to the canary: {served:?}"
        );
        let (status, body) = call(
            &api,
            event(
                "POST",
                "/images",
                "",
                Some(json!({"content_type": "image/png", "content_length": 10, "model": "resnet"})),
                &alice,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("efficientnet-lite0") && message.contains("tiny"),
            "lists the models: {message}"
        );
    }

    #[tokio::test]
    async fn a_callback_url_must_be_https_to_an_allowed_host() {
        let api = memory_api();
        let alice = Caller::Jwt("alice");
        let post = |url: &str| {
            event(
                "POST",
                "/images",
                "",
                Some(json!({"content_type": "image/png", "content_length": 10, "callback_url": url})),
                &alice,
            )
        };
        let (status, created) = call(&api, post("https://hooks.example.com/imgpipe")).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let record = api
            .jobs
            .record(&created["image_id"].as_str().unwrap().parse().unwrap())
            .unwrap();
        assert_eq!(
            record.callback_url.as_deref(),
            Some("https://hooks.example.com/imgpipe")
        );
        for refused in [
            "https://evil.example/",
            "http://hooks.example.com/",
            "https://127.0.0.1/",
            "https://169.254.169.254/",
        ] {
            let (status, body) = call(&api, post(refused)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}: {body}");
        }
    }

    #[tokio::test]
    async fn without_the_identity_the_mode_requires_nothing_is_served() {
        for (mode, caller) in [
            (AuthMode::Jwt, Caller::Anonymous),
            (AuthMode::Jwt, Caller::Iam("arn:aws:iam::123456789012:user/someone")),
            (AuthMode::Iam, Caller::Anonymous),
            (AuthMode::Iam, Caller::Jwt("alice")),
        ] {
            let api = memory_api_with(mode);
            for (method, path, body) in [
                ("POST", "/images", Some(crate::testing::png_request())),
                ("GET", "/images", None),
                ("GET", "/images/3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e", None),
                ("DELETE", "/images/3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e", None),
                ("GET", "/models", None),
            ] {
                let (status, answer) = call(&api, event(method, path, "", body, &caller)).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{mode:?} {method} {path}: {answer}");
                assert_eq!(answer["error"]["code"], "unauthorized");
            }
            assert!(api.jobs.writes().is_empty());
        }
        // The local mode serves everyone, and records no owner.
        let open = memory_api_with(AuthMode::None);
        let id = create_image(&open, &Caller::Anonymous).await;
        assert_eq!(open.jobs.record(&id.parse().unwrap()).unwrap().owner, None);
    }

    #[tokio::test]
    async fn the_daily_quota_refuses_with_429_and_retry_after_and_replays_are_free() {
        let mut api = memory_api();
        api.config.quota_images_per_day = 2;
        let alice = Caller::Jwt("alice");
        let keyed = || {
            crate::testing::event_with_key(
                "POST",
                "/images",
                Some(crate::testing::png_request()),
                &Caller::Jwt("alice"),
                Some("k1"),
            )
        };
        assert_eq!(call(&api, keyed()).await.0, StatusCode::CREATED);
        assert_eq!(
            call(&api, keyed()).await.0,
            StatusCode::CREATED,
            "a replay counts nothing"
        );
        create_image(&api, &alice).await;
        let (status, body, headers) = call_with_headers(
            &api,
            event("POST", "/images", "", Some(crate::testing::png_request()), &alice),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"]["code"], "quota_exceeded");
        let retry_after: i64 = headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
        assert!((1..=86_400).contains(&retry_after), "{retry_after}");
        assert_eq!(call(&api, keyed()).await.0, StatusCode::CREATED, "replays still answer");
        // Another owner has a quota of their own.
        create_image(&api, &Caller::Jwt("bob")).await;
        let _: Value = body;
    }
}
