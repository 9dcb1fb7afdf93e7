//! `Idempotency-Key` on `POST /images`: the same caller and key name the same image (the id is derived
//! from both), so a retried request finds what the first one created; a fingerprint of the request tells
//! a replay (answered like the first) from a reuse of the key for something else (409).

use imgpipe_domain::digest::sha256_hex;
use imgpipe_domain::ports::{Jobs, Objects};
use imgpipe_domain::record::{Created, ImageRecord, NewImage};
use imgpipe_domain::time::now_ms;
use imgpipe_domain::{keys, ImageId, PipelineError};
use lambda_http::http::StatusCode;
use lambda_http::Request;

use crate::{caller, Api, ApiError};

/// Header a client sets to make `POST /images` safe to retry.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Header on a response that repeats an earlier request's outcome instead of creating an image.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

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

/// The record a create request asks for: a random id, or with an idempotency key the id that key names
/// (with a fingerprint of what was asked, `fingerprint`, to recognise a replay).
pub(crate) fn new_image<J: Jobs, O: Objects>(
    api: &Api<J, O>,
    request: &Request,
    content_type: &str,
    filename: Option<String>,
    fingerprint: &[&str],
) -> Result<NewImage, ApiError> {
    let owner = caller(request);
    let (image_id, request_fingerprint) = match idempotency_key(request)? {
        Some(key) => (
            ImageId::from_idempotency_key(owner.as_deref(), key),
            Some(sha256_hex(fingerprint.join("\0").as_bytes())),
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

/// Creates the record, or, when an idempotency key names an image that exists, returns that image if it
/// was created by the same request (the `bool` says it is a replay).
pub(crate) async fn create_or_replay<J: Jobs, O: Objects>(
    api: &Api<J, O>,
    image: &NewImage,
) -> Result<(ImageRecord, bool), ApiError> {
    // Two rounds: a replayed image may be deleted (or expire) between the create and the read.
    for _ in 0..2 {
        if api.jobs.create(image).await? == Created::New {
            return Ok((image.record(), false));
        }
        let Some(existing) = api.jobs.get(&image.image_id).await? else {
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
