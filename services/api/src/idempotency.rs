//! `Idempotency-Key` on `POST /images`: the same caller and key name the same image (the id is derived
//! from both), so a retried request finds what the first one created; a fingerprint of the request tells
//! a replay (answered like the first) from a reuse of the key for something else (409).

use imgpipe_domain::digest::sha256_hex;
use imgpipe_domain::ports::{Jobs, Objects};
use imgpipe_domain::record::{Created, ImageRecord, NewImage};
use imgpipe_domain::routing::Choice;
use imgpipe_domain::time::now_ms;
use imgpipe_domain::{keys, ImageId};
use lambda_http::http::StatusCode;
use lambda_http::Request;

use crate::{quota, Api, ApiError, Caller};

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

/// What a create request asks for, besides its bytes.
pub(crate) struct Asked<'a> {
    pub content_type: &'a str,
    pub filename: Option<String>,
    /// The model the client named (checked against the deployment), else the default routing decides.
    pub model: Option<&'a str>,
    pub callback_url: Option<String>,
    /// A digest of the request, to tell a replay from a reuse of the key.
    pub fingerprint: Vec<String>,
}

/// The record a create request asks for: a random id, or with an idempotency key the id that key names,
/// and the model that will classify the image.
pub(crate) fn new_image<J: Jobs, O: Objects>(
    api: &Api<J, O>,
    request: &Request,
    caller: &Caller,
    asked: Asked<'_>,
) -> Result<NewImage, ApiError> {
    let owner = caller.owner.clone();
    let (image_id, request_fingerprint) = match idempotency_key(request)? {
        Some(key) => (
            ImageId::from_idempotency_key(owner.as_deref(), key),
            Some(sha256_hex(asked.fingerprint.join("\0").as_bytes())),
        ),
        None => (ImageId::new_random(), None),
    };
    let (model, choice) = match asked.model {
        Some(name) => (name, Choice::Requested),
        None => api.config.routing.choose(&image_id),
    };
    let created_at_ms = now_ms();
    let expires_at_secs = created_at_ms / 1000 + api.config.retention_days as i64 * 86_400;
    let mut image = NewImage::pending_upload(
        image_id,
        owner,
        asked.content_type,
        keys::upload_key(&image_id),
        created_at_ms,
        expires_at_secs,
    );
    image.filename = asked.filename;
    image.request_fingerprint = request_fingerprint;
    image.model_name = Some(model.to_owned());
    image.model_choice = Some(choice.as_str().to_owned());
    image.callback_url = asked.callback_url;
    Ok(image)
}

fn reused() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_key_reused",
        "this Idempotency-Key was used for a different request (or its image was deleted); use a new key",
    )
}

/// The image an earlier request with the same key created, if it asked for the same.
fn replay_of(existing: ImageRecord, image: &NewImage) -> Result<(ImageRecord, bool), ApiError> {
    if image.request_fingerprint.is_none()
        || existing.request_fingerprint != image.request_fingerprint
        || existing.owner != image.owner
    {
        return Err(reused());
    }
    Ok((existing, true))
}

/// Creates the record (counting it against the caller's quota), or, when an idempotency key names an
/// image that exists, returns that image if the same request created it (the `bool` says it is a replay,
/// which the quota does not count).
pub(crate) async fn create_or_replay<J: Jobs, O: Objects>(
    api: &Api<J, O>,
    caller: &Caller,
    image: &NewImage,
) -> Result<(ImageRecord, bool), ApiError> {
    if image.request_fingerprint.is_some() {
        if let Some(existing) = api.jobs.get(&image.image_id).await? {
            return replay_of(existing, image);
        }
    }
    quota::take(api, caller, image.created_at_ms).await?;
    if api.jobs.create(image).await? == Created::New {
        return Ok((image.record(), false));
    }
    match api.jobs.get(&image.image_id).await? {
        // Created by a concurrent request with the same key.
        Some(existing) => replay_of(existing, image),
        // The key's image was deleted: its id stays taken.
        None => Err(reused()),
    }
}
