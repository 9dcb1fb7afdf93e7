//! The HTTP API (API Gateway HTTP API, payload 2.0): create image jobs and read their results.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use imgpipe_core::config::ApiConfig;
use imgpipe_core::messages::ModelRef;
use imgpipe_core::model::Prediction;
use imgpipe_core::objects::ObjectStore;
use imgpipe_core::store::{
    Changes, Created, Cursor, ImageRecord, JobError, ListQuery, NewImage, StatusStore, Transition, MAX_LIST_LIMIT,
};
use imgpipe_core::time::now_ms;
use imgpipe_core::{keys, ImageId, PipelineError, Status};
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{info, warn};

/// Content types accepted for upload; the preprocess stage still sniffs the bytes themselves.
pub const ACCEPTED_CONTENT_TYPES: [&str; 5] = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp"];

pub struct Api {
    pub config: ApiConfig,
    pub store: StatusStore,
    pub objects: ObjectStore,
}

impl Api {
    pub fn new(config: ApiConfig, clients: &imgpipe_core::aws::AwsClients) -> Self {
        Self {
            store: StatusStore::new(clients.dynamodb.clone(), &config.table_name),
            objects: ObjectStore::new(clients.s3.clone(), &config.bucket_name),
            config,
        }
    }
}

/// An error response: `{"error": {"code", "message"}}` with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The methods a 405 must list in its `Allow` header (RFC 9110).
    allow: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such image")
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl From<PipelineError> for ApiError {
    fn from(err: PipelineError) -> Self {
        // Details go to the log, not to the caller.
        warn!(error = %err, "request failed on a backend call");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service is busy; retry shortly",
        )
    }
}

/// Entry point for every request; never fails, every error becomes a JSON response.
pub async fn handle(api: &Api, request: Request) -> Response<Body> {
    match route(api, &request).await {
        Ok(response) => response,
        Err(err) => {
            let mut response = json_response(
                err.status,
                &json!({"error": {"code": err.code, "message": err.message}}),
            );
            if let Some(allow) = err.allow {
                response
                    .headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static(allow));
            }
            response
        }
    }
}

async fn route(api: &Api, request: &Request) -> Result<Response<Body>, ApiError> {
    let path = request.uri().path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match (segments.as_slice(), request.method()) {
        (["images"], &Method::POST) => create(api, request).await,
        (["images"], &Method::GET) => list(api, request).await,
        (["images", id], &Method::GET) => get(api, request, id).await,
        (["images", id], &Method::DELETE) => delete(api, request, id).await,
        (["images"], _) => Err(method_not_allowed("GET, POST")),
        (["images", _], _) => Err(method_not_allowed("GET, DELETE")),
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")),
    }
}

fn method_not_allowed(allowed: &'static str) -> ApiError {
    ApiError {
        allow: Some(allowed),
        ..ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("allowed: {allowed}"),
        )
    }
}

/// The caller's identity from the authorizer: the JWT `sub`, else the IAM caller's ARN.
pub fn caller(request: &Request) -> Option<String> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return None;
    };
    let authorizer = context.authorizer.as_ref()?;
    if let Some(sub) = authorizer.jwt.as_ref().and_then(|jwt| jwt.claims.get("sub")) {
        return Some(sub.clone());
    }
    authorizer.iam.as_ref().and_then(|iam| iam.user_arn.clone())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    content_type: String,
    filename: Option<String>,
    content_length: Option<u64>,
}

#[derive(Serialize)]
struct UploadInstructions {
    method: String,
    url: String,
    headers: HashMap<String, String>,
    expires_at: i64,
}

/// Header a client sets to make `POST /images` safe to retry.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Header on a response that repeats an earlier request's outcome instead of creating an image.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

async fn create(api: &Api, request: &Request) -> Result<Response<Body>, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_default();
    if content_type.starts_with("image/") {
        return create_inline(api, request, &content_type).await;
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
    if let Some(length) = body.content_length {
        check_upload_size(api, length)?;
    }
    let fingerprint = [
        "json",
        &body.content_type,
        body.filename.as_deref().unwrap_or_default(),
        &body.content_length.map(|n| n.to_string()).unwrap_or_default(),
    ];
    let image = new_image(api, request, &body.content_type, body.filename.clone(), &fingerprint)?;
    let (record, replayed) = create_or_replay(api, &image).await?;

    let mut body = json!({
        "image_id": record.image_id,
        "status": record.status,
        "status_url": status_url(request, &record.image_id),
    });
    // Upload instructions while an upload is still expected: a replay gets a fresh URL for the same key.
    if record.status == Status::PendingUpload {
        let expires = Duration::from_secs(api.config.presign_expires_secs);
        let presigned = api
            .objects
            .presign_put(&record.s3_key, &image.content_type, expires)
            .await?;
        body["upload"] = json!(UploadInstructions {
            method: presigned.method,
            url: presigned.url,
            headers: presigned.headers.into_iter().collect(),
            expires_at: now_ms() / 1000 + presigned.expires_in_secs as i64,
        });
    }
    info!(image_id = %record.image_id, replayed, "created image; awaiting upload");
    Ok(created_response(StatusCode::CREATED, &body, &record.image_id, replayed))
}

async fn create_inline(api: &Api, request: &Request, content_type: &str) -> Result<Response<Body>, ApiError> {
    check_content_type(content_type)?;
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
    let digest = imgpipe_core::model_meta::sha256_hex(bytes);
    let image = new_image(api, request, content_type, None, &["inline", content_type, &digest])?;
    let (record, replayed) = create_or_replay(api, &image).await?;
    // A replay of a request that failed between creating the record and storing the bytes finishes it.
    let status = if record.status == Status::PendingUpload {
        api.objects.put(&record.s3_key, bytes.to_vec(), content_type).await?;
        // The S3 event may already have been picked up; the rejected transition then reports how far it got.
        match api
            .store
            .transition(&record.image_id, Status::Queued, Changes::default(), now_ms())
            .await?
        {
            Transition::Applied => Status::Queued,
            Transition::Rejected { current } => current.unwrap_or(Status::Queued),
        }
    } else {
        record.status
    };
    info!(image_id = %record.image_id, size_bytes = bytes.len(), replayed, "stored inline upload");
    let body = json!({
        "image_id": record.image_id,
        "status": status,
        "status_url": status_url(request, &record.image_id),
    });
    Ok(created_response(
        StatusCode::ACCEPTED,
        &body,
        &record.image_id,
        replayed,
    ))
}

/// Creates the record, or, when an idempotency key names an image that exists, returns that image if it
/// was created by the same request (the `bool` says it is a replay).
async fn create_or_replay(api: &Api, image: &NewImage) -> Result<(ImageRecord, bool), ApiError> {
    // Two rounds: a replayed image may be deleted (or expire) between the create and the read.
    for _ in 0..2 {
        if api.store.create(image).await? == Created::New {
            return Ok((image.record(), false));
        }
        let Some(existing) = api.store.get(&image.image_id).await? else {
            continue;
        };
        if image.request_fingerprint.is_none()
            || existing.request_fingerprint != image.request_fingerprint
            || existing.owner != image.owner
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request; use a new key for a new image",
            ));
        }
        return Ok((existing, true));
    }
    Err(ApiError::from(PipelineError::transient(
        "idempotent image vanished twice while being created",
    )))
}

fn created_response(status: StatusCode, body: &Value, id: &ImageId, replayed: bool) -> Response<Body> {
    let mut response = json_response(status, body);
    set_location(&mut response, id);
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED_HEADER, header::HeaderValue::from_static("true"));
    }
    response
}

/// The request's idempotency key, if it sent a well-formed one.
fn idempotency_key(request: &Request) -> Result<Option<&str>, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|key| (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("Idempotency-Key must be 1 to 255 printable ASCII characters"))
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

fn check_upload_size(api: &Api, length: u64) -> Result<(), ApiError> {
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

/// The record a create request asks for: a random id, or with an idempotency key the id that key names
/// (with a fingerprint of `request` to recognise a replay).
fn new_image(
    api: &Api,
    request: &Request,
    content_type: &str,
    filename: Option<String>,
    fingerprint: &[&str],
) -> Result<NewImage, ApiError> {
    let owner = caller(request);
    let (image_id, request_fingerprint) = match idempotency_key(request)? {
        Some(key) => (
            ImageId::from_idempotency_key(owner.as_deref(), key),
            Some(imgpipe_core::model_meta::sha256_hex(fingerprint.join("\0").as_bytes())),
        ),
        None => (ImageId::new_random(), None),
    };
    let created_at_ms = now_ms();
    Ok(NewImage {
        image_id,
        owner,
        content_type: content_type.to_owned(),
        filename,
        s3_key: keys::upload_key(&image_id),
        created_at_ms,
        expires_at_secs: created_at_ms / 1000 + api.config.retention_days as i64 * 86_400,
        request_fingerprint,
    })
}

/// What `GET /images/{id}` returns: the record without storage internals.
#[derive(Serialize)]
pub struct ImageView {
    pub image_id: ImageId,
    pub status: Status,
    pub created_at: i64,
    pub updated_at: i64,
    pub timeline: HashMap<String, i64>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size_bytes: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: Option<String>,
    pub predictions: Option<Vec<Prediction>>,
    pub model: Option<ModelRef>,
    pub timings_ms: HashMap<String, i64>,
    pub error: Option<JobError>,
    pub expires_at: i64,
}

impl From<ImageRecord> for ImageView {
    fn from(record: ImageRecord) -> Self {
        let mut timings_ms = record.timings_ms;
        if let Some(done) = record
            .timeline
            .get(record.status.as_str())
            .filter(|_| record.status.is_terminal())
        {
            timings_ms
                .entry("end_to_end".into())
                .or_insert(done - record.created_at);
        }
        Self {
            image_id: record.image_id,
            status: record.status,
            created_at: record.created_at,
            updated_at: record.updated_at,
            timeline: record.timeline,
            content_type: record.content_type,
            filename: record.filename,
            size_bytes: record.size_bytes,
            width: record.width,
            height: record.height,
            format: record.format,
            predictions: record.predictions,
            model: record.model,
            timings_ms,
            error: record.error,
            expires_at: record.expires_at,
        }
    }
}

fn parse_id(id: &str) -> Result<ImageId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("image id must be a lowercase UUID v4"))
}

/// The caller's image: another caller's image is indistinguishable from a missing one.
async fn owned_record(api: &Api, request: &Request, id: &ImageId) -> Result<ImageRecord, ApiError> {
    let record = api.store.get(id).await?.ok_or_else(ApiError::not_found)?;
    if record.owner.is_some() && record.owner != caller(request) {
        return Err(ApiError::not_found());
    }
    Ok(record)
}

async fn get(api: &Api, request: &Request, id: &str) -> Result<Response<Body>, ApiError> {
    let record = owned_record(api, request, &parse_id(id)?).await?;
    Ok(json_response(StatusCode::OK, &ImageView::from(record)))
}

/// `DELETE /images/{id}`: every stored version of the image's objects, then the record.
///
/// Objects go first so that a failure part-way leaves the record for the client's retry to find. A stage
/// still working on the image may write its output after this; its status write then finds no record
/// (conditional writes never recreate one) and the bucket's lifecycle rules expire the stray object.
async fn delete(api: &Api, request: &Request, id: &str) -> Result<Response<Body>, ApiError> {
    let image_id = parse_id(id)?;
    let record = owned_record(api, request, &image_id).await?;
    let removed = api.objects.delete_all_versions(&keys::object_keys(&image_id)).await?;
    if !api.store.delete(&image_id, record.owner.as_deref()).await? {
        return Err(ApiError::not_found());
    }
    info!(image_id = %image_id, objects_removed = removed, "deleted image");
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// `GET /images?status=&limit=&next_token=`: the caller's images (every image in the local `none`
/// mode), newest first.
async fn list(api: &Api, request: &Request) -> Result<Response<Body>, ApiError> {
    let params = request.query_string_parameters();
    for name in params.iter().map(|(name, _)| name) {
        if !["status", "limit", "next_token"].contains(&name) {
            return Err(ApiError::bad_request(format!("unknown query parameter {name:?}")));
        }
    }
    let status = params
        .first("status")
        .map(|s| s.parse::<Status>())
        .transpose()
        .map_err(|_| ApiError::bad_request("status must be one of pending_upload, queued, preprocessing, preprocessed, inferring, completed, failed"))?;
    let limit = match params.first("limit") {
        None => DEFAULT_LIST_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit must be an integer from 1 to {MAX_LIST_LIMIT}")))?,
    };
    let cursor = params.first("next_token").map(decode_token).transpose()?;
    let query = ListQuery {
        owner: caller(request),
        status,
        limit,
        cursor,
    };
    let (records, next) = api.store.list(&query).await?;
    let images: Vec<ImageView> = records.into_iter().map(ImageView::from).collect();
    let body = json!({"images": images, "next_token": next.map(|c| encode_token(&c))});
    Ok(json_response(StatusCode::OK, &body))
}

const DEFAULT_LIST_LIMIT: usize = 20;

/// Pagination tokens are opaque to clients: base64url of the cursor JSON.
fn encode_token(cursor: &Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

fn decode_token(token: &str) -> Result<Cursor, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::bad_request("next_token is not a token this API issued"))
}

fn status_url(request: &Request, id: &ImageId) -> String {
    let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok());
    let scheme = request
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("https");
    match host {
        Some(host) => format!("{scheme}://{host}/images/{id}"),
        None => format!("/images/{id}"),
    }
}

fn set_location(response: &mut Response<Body>, id: &ImageId) {
    if let Ok(value) = format!("/images/{id}").parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(body).unwrap_or_else(|_| r#"{"error":{"code":"internal"}}"#.to_owned());
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
