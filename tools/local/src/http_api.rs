//! Serves the API handler on localhost the way API Gateway's HTTP API would call it: every HTTP request
//! becomes a payload-2.0 event, parsed by `lambda_http` exactly as in Lambda; with bearer tokens
//! configured, behind an emulation of its JWT authorizer.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use imgpipe_api::AwsApi;
use lambda_http::Body;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::warn;

/// Header on every local response when this API runs without an authorizer.
pub const AUTH_MODE_HEADER: &str = "x-imgpipe-auth";

/// The `iss` claim of the requests the local JWT authorizer lets through.
pub const LOCAL_ISSUER: &str = "imgpipe-local";

/// API Gateway's JWT authorizer as the local API plays it. Instead of verifying a signed JWT against an
/// issuer's keys it knows a fixed set of bearer tokens, each standing for a subject; what reaches the
/// function is the same: the claims `iss` and `sub` in `requestContext.authorizer.jwt`. Empty: no
/// authorizer, every request reaches the function (the `none` mode).
#[derive(Clone, Debug, Default)]
pub struct JwtAuthorizer {
    /// token -> subject
    pub tokens: BTreeMap<String, String>,
}

impl JwtAuthorizer {
    /// The subject of the request's bearer token, if it is a known one. API Gateway takes the token
    /// from `Authorization`, with or without the `Bearer ` prefix.
    fn subject(&self, headers: &http::HeaderMap) -> Option<&str> {
        let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.trim();
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => value,
        };
        self.tokens.get(token).map(String::as_str)
    }

    /// The gateway's own refusal: the function is never called.
    fn unauthorized() -> hyper::Response<Full<Bytes>> {
        let mut response = hyper::Response::new(Full::new(Bytes::from_static(br#"{"message":"Unauthorized"}"#)));
        *response.status_mut() = hyper::StatusCode::UNAUTHORIZED;
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// Largest request body accepted, as API Gateway's HTTP API limit (10 MB).
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// CORS as API Gateway's `cors_configuration` applies it: preflights are answered by the gateway itself
/// (the function never sees them), other responses get the headers when the `Origin` is allowed. The
/// rules are `services/pipeline.json`'s, which Terraform's are tested against.
#[derive(Clone, Debug, Default)]
pub struct Cors {
    /// Exact origins; empty means no CORS configuration (OPTIONS then reaches the function).
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_secs: u64,
}

impl Cors {
    pub fn from_pipeline(allow_origins: Vec<String>) -> Self {
        let settings = crate::pipeline_settings();
        let list = |key: &str| -> Vec<String> {
            settings["cors"][key]
                .as_array()
                .map(|values| values.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        Self {
            allow_origins,
            allow_methods: list("allow_methods"),
            allow_headers: list("allow_headers"),
            expose_headers: list("expose_headers"),
            max_age_secs: settings["cors"]["max_age"].as_u64().unwrap_or(0),
        }
    }

    fn allowed_origin<'a>(&self, headers: &'a http::HeaderMap) -> Option<&'a str> {
        let origin = headers.get(http::header::ORIGIN)?.to_str().ok()?;
        self.allow_origins.iter().any(|o| o == origin).then_some(origin)
    }

    /// The gateway's answer to a preflight request, if this is one and CORS is configured.
    fn preflight(&self, parts: &http::request::Parts) -> Option<hyper::Response<Full<Bytes>>> {
        let requested_method = parts.headers.get(http::header::ACCESS_CONTROL_REQUEST_METHOD)?;
        if self.allow_origins.is_empty() || parts.method != http::Method::OPTIONS {
            return None;
        }
        let mut response = hyper::Response::new(Full::new(Bytes::new()));
        *response.status_mut() = hyper::StatusCode::NO_CONTENT;
        let method_ok = requested_method
            .to_str()
            .map(|m| self.allow_methods.iter().any(|a| a == m))
            .unwrap_or(false);
        let headers_ok = parts
            .headers
            .get(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
            .map(|requested| {
                requested
                    .to_str()
                    .unwrap_or("\u{0}")
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .all(|h| self.allow_headers.iter().any(|a| a.eq_ignore_ascii_case(h)))
            })
            .unwrap_or(true);
        // A refused preflight gets no CORS headers: the browser then blocks the request.
        if let (Some(origin), true, true) = (self.allowed_origin(&parts.headers), method_ok, headers_ok) {
            let headers = response.headers_mut();
            insert(headers, "access-control-allow-origin", origin);
            insert(headers, "access-control-allow-methods", &self.allow_methods.join(","));
            insert(headers, "access-control-allow-headers", &self.allow_headers.join(","));
            insert(headers, "access-control-max-age", &self.max_age_secs.to_string());
        }
        insert(response.headers_mut(), "vary", "origin");
        Some(response)
    }

    fn decorate(&self, request_headers: &http::HeaderMap, response_headers: &mut http::HeaderMap) {
        if self.allow_origins.is_empty() {
            return;
        }
        if let Some(origin) = self.allowed_origin(request_headers) {
            insert(response_headers, "access-control-allow-origin", origin);
            insert(
                response_headers,
                "access-control-expose-headers",
                &self.expose_headers.join(","),
            );
        }
        insert(response_headers, "vary", "origin");
    }
}

fn insert(headers: &mut http::HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = http::HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

pub async fn serve(
    listener: TcpListener,
    api: Arc<AwsApi>,
    cors: Cors,
    authorizer: JwtAuthorizer,
    mut shutdown: watch::Receiver<bool>,
) {
    let cors = Arc::new(cors);
    let authorizer = Arc::new(authorizer);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    warn!(error = %err, "accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let api = Arc::clone(&api);
        let cors = Arc::clone(&cors);
        let authorizer = Arc::clone(&authorizer);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let api = Arc::clone(&api);
                let cors = Arc::clone(&cors);
                let authorizer = Arc::clone(&authorizer);
                async move { Ok::<_, Infallible>(respond(&api, &cors, &authorizer, request, peer).await) }
            });
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                warn!(error = %err, "connection error");
            }
        });
    }
}

async fn respond(
    api: &AwsApi,
    cors: &Cors,
    authorizer: &JwtAuthorizer,
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    // As on API Gateway, preflights are answered before (and without) authorization.
    if let Some(preflight) = cors.preflight(&parts) {
        return preflight;
    }
    let claims = if authorizer.tokens.is_empty() {
        None
    } else {
        match authorizer.subject(&parts.headers) {
            Some(subject) => Some(json!({"iss": LOCAL_ISSUER, "sub": subject})),
            None => {
                let mut response = JwtAuthorizer::unauthorized();
                cors.decorate(&parts.headers, response.headers_mut());
                return response;
            }
        }
    };
    let mut response = forward(api, &parts, body, peer, claims).await;
    cors.decorate(&parts.headers, response.headers_mut());
    response
}

/// `claims`: what the JWT authorizer passes on; `None` without an authorizer.
async fn forward(
    api: &AwsApi,
    parts: &http::request::Parts,
    body: Incoming,
    peer: SocketAddr,
    claims: Option<Value>,
) -> hyper::Response<Full<Bytes>> {
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => return plain(400, "bad_request", &format!("cannot read the request body: {err}")),
    };
    if body.len() > MAX_BODY_BYTES {
        return plain(413, "too_large", "request body larger than the HTTP API limit");
    }
    let authorized = claims.is_some();
    let mut event = payload_v2_event(parts, &body, peer);
    if let Some(claims) = claims {
        event["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(err) => {
            return plain(
                400,
                "bad_request",
                &format!("request cannot be expressed as a payload 2.0 event: {err}"),
            )
        }
    };
    let response = imgpipe_api::handle(api, request).await;
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(binary) => Bytes::from(binary),
        _ => Bytes::new(),
    };
    crate::messages::record(&bytes);
    let mut out = hyper::Response::new(Full::new(bytes));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    if !authorized {
        out.headers_mut().insert(
            AUTH_MODE_HEADER,
            hyper::header::HeaderValue::from_static("none; local development only"),
        );
    }
    out
}

/// The API Gateway HTTP API (payload format 2.0) event for one request.
pub fn payload_v2_event(parts: &http::request::Parts, body: &[u8], peer: SocketAddr) -> Value {
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        // HTTP API joins repeated headers with commas.
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => *existing = format!("{existing},{value}"),
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    // API Gateway tells the function the scheme the client used; here it is always plain HTTP.
    headers.insert("x-forwarded-proto".into(), Value::String("http".into()));
    let raw_query = parts.uri.query().unwrap_or_default().to_owned();
    let mut query = Map::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        let (key, value) = (decode(key), decode(value));
        match query.get_mut(&key) {
            Some(Value::String(existing)) => *existing = format!("{existing},{value}"),
            _ => {
                query.insert(key, Value::String(value));
            }
        }
    }
    let is_text = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.starts_with("text/") || v.contains("json"))
        .unwrap_or(false);
    let (body, is_base64) = if body.is_empty() {
        (Value::Null, false)
    } else if is_text && std::str::from_utf8(body).is_ok() {
        (Value::String(String::from_utf8_lossy(body).into_owned()), false)
    } else {
        (
            Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        )
    };
    let now = imgpipe_domain::time::now_ms();
    let host = headers
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("127.0.0.1")
        .to_owned();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "",
            "timeEpoch": now,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    event
}

/// An error the gateway itself answers, in the API's error shape.
fn plain(status: u16, code: &str, message: &str) -> hyper::Response<Full<Bytes>> {
    let body = json!({"error": {"code": code, "message": message}}).to_string();
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorizer_knows_its_tokens_with_or_without_the_bearer_prefix() {
        let authorizer = JwtAuthorizer {
            tokens: BTreeMap::from([("t0k3n".to_owned(), "alice".to_owned())]),
        };
        let subject = |value: Option<&str>| {
            let mut headers = http::HeaderMap::new();
            if let Some(value) = value {
                headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
            }
            authorizer.subject(&headers).map(str::to_owned)
        };
        assert_eq!(subject(Some("Bearer t0k3n")).as_deref(), Some("alice"));
        assert_eq!(subject(Some("bearer  t0k3n ")).as_deref(), Some("alice"));
        assert_eq!(subject(Some("t0k3n")).as_deref(), Some("alice"));
        for refused in [
            None,
            Some("Bearer other"),
            Some("Basic t0k3n"),
            Some("Bearer"),
            Some(""),
        ] {
            assert_eq!(subject(refused), None, "{refused:?}");
        }
        let response = JwtAuthorizer::unauthorized();
        assert_eq!(response.status(), 401);
    }
}
