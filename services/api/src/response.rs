use imgpipe_domain::ImageId;
use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;

use crate::idempotency::REPLAYED_HEADER;

pub(crate) fn json(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(body).unwrap_or_else(|_| r#"{"error":{"code":"internal"}}"#.to_owned());
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// A 201/202 for a created (or replayed) image: its `Location`, and whether it repeats an earlier answer.
pub(crate) fn created(status: StatusCode, body: &Value, id: &ImageId, replayed: bool) -> Response<Body> {
    let mut response = json(status, body);
    if let Ok(value) = format!("/images/{id}").parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED_HEADER, header::HeaderValue::from_static("true"));
    }
    response
}

/// The absolute URL of an image's status, from the host and scheme the client used.
pub(crate) fn status_url(request: &Request, id: &ImageId) -> String {
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
