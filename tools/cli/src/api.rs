//! The HTTP API over HTTP or HTTPS, with the caller's credentials, retrying what is safe to retry.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::auth::Auth;
use crate::exit;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API answered 4xx with its error shape.
    #[error("{code}: {message} (HTTP {status})")]
    Refused { status: u16, code: String, message: String },
    /// Network failure, 5xx, or an answer that is not the API's.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Usage(String),
}

impl ApiError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ApiError::Refused { .. } => exit::REFUSED,
            ApiError::Unavailable(_) => exit::UNAVAILABLE,
            ApiError::Usage(_) => exit::USAGE,
        }
    }
}

/// The fields of a `POST /images` JSON request.
#[derive(Clone, Copy, Debug)]
pub struct CreateRequest<'a> {
    pub content_type: &'a str,
    pub filename: Option<&'a str>,
    pub content_length: u64,
    pub model: Option<&'a str>,
    pub callback_url: Option<&'a str>,
}

/// Attempts of a request that failed in a way worth retrying (network, 5xx, 429).
const ATTEMPTS: u32 = 4;

pub struct ApiClient {
    base: String,
    auth: Auth,
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl ApiClient {
    pub fn new(base: &str, auth: Auth) -> Result<Self, ApiError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| ApiError::Usage(format!("cannot load the system's TLS root certificates: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            auth,
            http: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// One HTTP exchange, without retries. `sign`: add the API credentials (not for presigned S3 URLs).
    async fn exchange(
        &self,
        method: &Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &Bytes,
        sign: bool,
    ) -> Result<Response, ApiError> {
        let mut builder = Request::builder().method(method.clone()).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut request = builder
            .body(body.clone())
            .map_err(|e| ApiError::Usage(format!("invalid request to {url}: {e}")))?;
        if sign {
            self.auth
                .apply(&mut request, SystemTime::now())
                .map_err(|e| ApiError::Usage(e.to_string()))?;
        }
        let (parts, body) = request.into_parts();
        let response = tokio::time::timeout(
            Duration::from_secs(60),
            self.http.request(http::Request::from_parts(parts, Full::new(body))),
        )
        .await
        .map_err(|_| ApiError::Unavailable(format!("{method} {url}: no answer within 60 s")))?
        .map_err(|e| ApiError::Unavailable(format!("{method} {url}: {}", error_chain(&e))))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ApiError::Unavailable(format!("{method} {url}: reading the answer: {e}")))?
            .to_bytes();
        Ok(Response { status, headers, body })
    }

    /// Sends with retries (backoff 0.5, 1, 2 s) on network errors, 429 and 5xx. Every request this client
    /// makes is safe to repeat: reads, deletes, and creates carrying an Idempotency-Key.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        sign: bool,
    ) -> Result<Response, ApiError> {
        let mut delay = Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            let result = self.exchange(&method, url, headers, &body, sign).await;
            let retry = match &result {
                Err(ApiError::Unavailable(_)) => true,
                Ok(response) => response.status.is_server_error() || response.status == StatusCode::TOO_MANY_REQUESTS,
                Err(_) => false,
            };
            if !retry || attempt == ATTEMPTS {
                return result;
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
            attempt += 1;
        }
    }

    /// A call to the API; a non-2xx answer becomes an `ApiError`. Returns the JSON body (null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(Value, http::HeaderMap), ApiError> {
        let url = format!("{}{path}", self.base);
        let response = self.send(method.clone(), &url, headers, body, true).await?;
        let json: Option<Value> = serde_json::from_slice(&response.body).ok();
        if response.status.is_success() {
            return Ok((json.unwrap_or(Value::Null), response.headers));
        }
        let error = json.as_ref().map(|body| &body["error"]);
        let code = error.and_then(|e| e["code"].as_str());
        let message = error.and_then(|e| e["message"].as_str());
        match (response.status.is_client_error(), code, message) {
            (true, Some(code), Some(message)) => Err(ApiError::Refused {
                status: response.status.as_u16(),
                code: code.to_owned(),
                message: message.to_owned(),
            }),
            // API Gateway's own refusals ({"message": "Forbidden"}, "Unauthorized") have no error object.
            (true, _, _) => Err(ApiError::Refused {
                status: response.status.as_u16(),
                code: match response.status {
                    StatusCode::UNAUTHORIZED => "unauthorized".into(),
                    StatusCode::FORBIDDEN => "forbidden".into(),
                    _ => "refused".into(),
                },
                message: json
                    .as_ref()
                    .and_then(|b| b["message"].as_str())
                    .unwrap_or("the API refused the request")
                    .to_owned(),
            }),
            (false, _, _) => Err(ApiError::Unavailable(format!(
                "{method} {path}: HTTP {}{}",
                response.status.as_u16(),
                message.map(|m| format!(": {m}")).unwrap_or_default()
            ))),
        }
    }

    /// `POST /images` with a JSON body: the image id and where to upload.
    pub async fn create(&self, request: &CreateRequest<'_>, idempotency_key: &str) -> Result<Value, ApiError> {
        let mut body = json!({
            "content_type": request.content_type,
            "filename": request.filename,
            "content_length": request.content_length,
        });
        if let Some(model) = request.model {
            body["model"] = json!(model);
        }
        if let Some(url) = request.callback_url {
            body["callback_url"] = json!(url);
        }
        let (created, _) = self
            .call(
                Method::POST,
                "/images",
                &[
                    ("content-type", "application/json"),
                    ("idempotency-key", idempotency_key),
                ],
                Bytes::from(body.to_string()),
            )
            .await?;
        Ok(created)
    }

    /// PUTs the bytes to the presigned URL of a `POST /images` answer, with exactly the headers it lists.
    pub async fn upload(&self, created: &Value, bytes: Bytes) -> Result<(), ApiError> {
        let upload = &created["upload"];
        let Some(url) = upload["url"].as_str() else {
            // A replay after the upload already happened: nothing to send.
            return Ok(());
        };
        let headers: Vec<(&str, &str)> = upload["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
                    .collect()
            })
            .unwrap_or_default();
        let response = self.send(Method::PUT, url, &headers, bytes, false).await?;
        // 412 to `If-None-Match: *`: the bytes are there already (a replay after an upload whose answer
        // was lost, or a rerun of an interrupted submit); the stored object stays the first one.
        if response.status.is_success() || response.status == StatusCode::PRECONDITION_FAILED {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&response.body);
        let detail = text
            .split("<Message>")
            .nth(1)
            .and_then(|m| m.split("</Message>").next())
            .unwrap_or("");
        let error = format!("upload refused by storage: HTTP {} {detail}", response.status.as_u16());
        if response.status.is_client_error() {
            Err(ApiError::Refused {
                status: response.status.as_u16(),
                code: "upload_refused".into(),
                message: error,
            })
        } else {
            Err(ApiError::Unavailable(error))
        }
    }

    pub async fn image(&self, id: &str) -> Result<Value, ApiError> {
        check_id(id)?;
        Ok(self
            .call(Method::GET, &format!("/images/{id}"), &[], Bytes::new())
            .await?
            .0)
    }

    /// Polls `GET /images/{id}` until the image is `completed` or `failed`, calling `on_status` at each
    /// change. Polling backs off from 250 ms to 2 s: each poll is a billed API request.
    pub async fn wait(&self, id: &str, timeout: Duration, mut on_status: impl FnMut(&str)) -> Result<Value, ApiError> {
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(250);
        let mut last = String::new();
        loop {
            let image = self.image(id).await?;
            let status = image["status"].as_str().unwrap_or("unknown").to_owned();
            if status != last {
                on_status(&status);
                last = status.clone();
            }
            if status == "completed" || status == "failed" {
                return Ok(image);
            }
            if Instant::now() + delay > deadline {
                return Err(ApiError::Unavailable(format!(
                    "image {id} is still {status} after {} s; `imgpipe status --wait {id}` resumes",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    pub async fn list(&self, status: Option<&str>, limit: u32, next_token: Option<&str>) -> Result<Value, ApiError> {
        let mut query = vec![format!("limit={limit}")];
        if let Some(status) = status {
            query.push(format!("status={}", encode(status)));
        }
        if let Some(token) = next_token {
            query.push(format!("next_token={}", encode(token)));
        }
        let path = format!("/images?{}", query.join("&"));
        Ok(self.call(Method::GET, &path, &[], Bytes::new()).await?.0)
    }

    /// `GET /models`: the deployed models and the default routing.
    pub async fn models(&self) -> Result<Value, ApiError> {
        Ok(self.call(Method::GET, "/models", &[], Bytes::new()).await?.0)
    }

    /// One request to the API as it is, whatever it answers; `sign: false` sends it without credentials.
    pub async fn raw(&self, method: Method, path: &str, sign: bool) -> Result<Response, ApiError> {
        let url = format!("{}{path}", self.base);
        self.send(method, &url, &[], Bytes::new(), sign).await
    }

    pub async fn delete(&self, id: &str) -> Result<(), ApiError> {
        check_id(id)?;
        self.call(Method::DELETE, &format!("/images/{id}"), &[], Bytes::new())
            .await
            .map(|_| ())
    }
}

/// Ids are checked before they go into a URL, so a typo cannot address another path.
fn check_id(id: &str) -> Result<(), ApiError> {
    let valid = uuid::Uuid::parse_str(id).is_ok() && id.len() == 36;
    if valid {
        Ok(())
    } else {
        Err(ApiError::Usage(format!("{id:?} is not an image id (a UUID)")))
    }
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_before_they_reach_a_path() {
        assert!(check_id("3f2c1e4a-9b7d-4c2e-8f00-123456789abc").is_ok());
        for bad in [
            "",
            "../images",
            "3f2c1e4a-9b7d-4c2e-8f00-123456789abc/x",
            "3f2c1e4a9b7d4c2e8f00123456789abc",
        ] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(encode("eyJi_-."), "eyJi_-.");
    }
}
