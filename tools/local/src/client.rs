//! A small HTTP client for the local API (plain HTTP on 127.0.0.1): the demo and the end-to-end tests
//! use it to go through exactly the steps a user's client takes.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub struct ApiClient {
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn json(&self) -> Result<Value, Error> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// Guesses the upload Content-Type from the file name; the pipeline itself trusts only the content.
pub fn content_type_for(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("bmp") => "image/bmp",
        _ => "image/jpeg",
    }
}

impl ApiClient {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<HttpResponse, Error> {
        let mut builder = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = self.http.request(builder.body(Full::new(body))?).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(HttpResponse { status, headers, body })
    }

    pub async fn api(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<HttpResponse, Error> {
        self.send(method, &format!("{}{path}", self.base), headers, body).await
    }

    /// `POST /images` with the image as the body (the inline upload). Returns the image id.
    pub async fn submit_inline(&self, bytes: Bytes, content_type: &str) -> Result<String, Error> {
        let response = self
            .api(Method::POST, "/images", &[("content-type", content_type)], bytes)
            .await?;
        if response.status != StatusCode::ACCEPTED {
            return Err(format!(
                "POST /images: {} {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            )
            .into());
        }
        Ok(response.json()?["image_id"].as_str().ok_or("no image_id")?.to_owned())
    }

    /// `POST /images` with a JSON body declaring the size, then the presigned PUT of exactly those bytes
    /// with the headers the answer lists. Returns the image id.
    pub async fn submit(&self, bytes: Vec<u8>, content_type: &str, filename: Option<&str>) -> Result<String, Error> {
        let request = json!({"content_type": content_type, "filename": filename, "content_length": bytes.len()});
        let created = self
            .api(
                Method::POST,
                "/images",
                &[("content-type", "application/json")],
                Bytes::from(request.to_string()),
            )
            .await?;
        if created.status != StatusCode::CREATED {
            return Err(format!(
                "POST /images: {} {}",
                created.status,
                String::from_utf8_lossy(&created.body)
            )
            .into());
        }
        let created = created.json()?;
        let upload = &created["upload"];
        let url = upload["url"].as_str().ok_or("no upload url")?;
        let headers: Vec<(String, String)> = upload["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let header_refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let put = self.send(Method::PUT, url, &header_refs, Bytes::from(bytes)).await?;
        if !put.status.is_success() {
            return Err(format!("upload PUT: {} {}", put.status, String::from_utf8_lossy(&put.body)).into());
        }
        Ok(created["image_id"].as_str().ok_or("no image_id")?.to_owned())
    }

    pub async fn submit_file(&self, path: &Path) -> Result<String, Error> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let filename = path.file_name().and_then(|n| n.to_str());
        self.submit(bytes, content_type_for(path), filename).await
    }

    pub async fn status(&self, id: &str) -> Result<HttpResponse, Error> {
        self.api(Method::GET, &format!("/images/{id}"), &[], Bytes::new()).await
    }

    /// Polls `GET /images/{id}` until the job is `completed` or `failed`.
    pub async fn wait(&self, id: &str, timeout: Duration, interval: Duration) -> Result<Value, Error> {
        let started = Instant::now();
        loop {
            let response = self.status(id).await?;
            if response.status != StatusCode::OK {
                return Err(format!(
                    "GET /images/{id}: {} {}",
                    response.status,
                    String::from_utf8_lossy(&response.body)
                )
                .into());
            }
            let record = response.json()?;
            if matches!(record["status"].as_str(), Some("completed" | "failed")) {
                return Ok(record);
            }
            if started.elapsed() > timeout {
                return Err(format!("image {id} still {} after {timeout:?}", record["status"]).into());
            }
            tokio::time::sleep(interval).await;
        }
    }
}
