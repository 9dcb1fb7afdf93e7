//! The image bucket over S3: uploads in (the API's inline PUT and presigned URLs), uploads read by
//! preprocess, every version removed on delete.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use imgpipe_domain::limits::check_size;
use imgpipe_domain::ports::{Fetched, Objects, PresignedUpload, Stored};
use imgpipe_domain::{ErrorCode, PipelineError};

use crate::error::classify;

#[derive(Clone, Debug)]
pub struct S3Objects {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Objects {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `presign_upload` as signed at `signed_at`: the clock is an argument so that the signature can be
    /// checked against an independent SigV4 implementation (tools/local/tests/presign.rs).
    pub async fn presign_upload_at(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
        signed_at: std::time::SystemTime,
    ) -> Result<PresignedUpload, PipelineError> {
        let config = PresigningConfig::builder()
            .start_time(signed_at)
            .expires_in(expires_in)
            .build()
            .map_err(|e| PipelineError::configuration("presign expiry", e))?;
        // Content-Type, Content-Length and If-None-Match become signed headers: S3 refuses the PUT unless
        // the client sends exactly these values, so the URL can store only this many bytes of this type,
        // and only while nothing is stored at the key (the bucket policy refuses uploads without it).
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(i64::try_from(content_length).unwrap_or(i64::MAX))
            .if_none_match("*")
            .presigned(config)
            .await
            .map_err(|e| classify("S3 presign PutObject", e))?;
        Ok(PresignedUpload {
            method: request.method().to_owned(),
            url: request.uri().to_owned(),
            headers: request.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            expires_in_secs: expires_in.as_secs(),
        })
    }
}

impl Objects for S3Objects {
    /// A missing or lying Content-Length cannot let an oversized body through: the bytes are counted too.
    async fn get(&self, key: &str, version_id: Option<&str>, max_bytes: u64) -> Result<Fetched, PipelineError> {
        let response = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await
            .map_err(|err| {
                let not_found = err.raw_response().map(|r| r.status().as_u16() == 404).unwrap_or(false)
                    || err.as_service_error().map(|e| e.is_no_such_key()).unwrap_or(false);
                if not_found {
                    PipelineError::permanent_because(
                        ErrorCode::UploadMissing,
                        "the uploaded image no longer exists",
                        format!("s3://{}/{key} (version {version_id:?}) does not exist", self.bucket),
                    )
                } else {
                    classify("S3 GetObject", err)
                }
            })?;
        if let Some(length) = response.content_length() {
            check_size(length.max(0) as u64, max_bytes)?;
        }
        let version_id = response.version_id().map(str::to_owned);
        let bytes = response
            .body
            .collect()
            .await
            .map_err(|e| PipelineError::transient_because("S3 GetObject body", e))?
            .into_bytes()
            .to_vec();
        // A missing or lying Content-Length must not let an oversized body through.
        check_size(bytes.len() as u64, max_bytes)?;
        Ok(Fetched { bytes, version_id })
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), PipelineError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| classify("S3 PutObject", e))?;
        Ok(())
    }

    async fn put_new(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<Stored, PipelineError> {
        let result = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .if_none_match("*")
            .body(ByteStream::from(bytes))
            .send()
            .await;
        match result {
            Ok(output) => Ok(Stored::New(output.version_id().map(str::to_owned))),
            Err(err) if err.raw_response().is_some_and(|r| r.status().as_u16() == 412) => Ok(Stored::Exists),
            Err(err) => Err(classify("S3 PutObject", err)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, PipelineError> {
        let result = self.client.head_object().bucket(&self.bucket).key(key).send().await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
            Err(err) => Err(classify("S3 HeadObject", err)),
        }
    }

    async fn delete_version(&self, key: &str, version_id: &str) -> Result<(), PipelineError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| classify("S3 DeleteObject", e))?;
        Ok(())
    }

    /// A versioned bucket keeps the old bytes unless every version and delete marker is removed; a key
    /// with nothing stored is not an error.
    async fn delete_all_versions(&self, keys: &[String]) -> Result<usize, PipelineError> {
        let mut deleted = 0;
        for key in keys {
            let mut versions = Vec::new();
            let (mut key_marker, mut version_marker) = (None, None);
            loop {
                let page = self
                    .client
                    .list_object_versions()
                    .bucket(&self.bucket)
                    .prefix(key)
                    .set_key_marker(key_marker.take())
                    .set_version_id_marker(version_marker.take())
                    .send()
                    .await
                    .map_err(|e| classify("S3 ListObjectVersions", e))?;
                // The prefix also matches longer keys; only this exact key is the image's.
                let exact = |k: Option<&str>| k == Some(key.as_str());
                versions.extend(
                    page.versions()
                        .iter()
                        .filter(|v| exact(v.key()))
                        .filter_map(|v| v.version_id().map(str::to_owned)),
                );
                versions.extend(
                    page.delete_markers()
                        .iter()
                        .filter(|m| exact(m.key()))
                        .filter_map(|m| m.version_id().map(str::to_owned)),
                );
                if page.is_truncated() != Some(true) {
                    break;
                }
                key_marker = page.next_key_marker().map(str::to_owned);
                version_marker = page.next_version_id_marker().map(str::to_owned);
            }
            for version in versions {
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .version_id(version)
                    .send()
                    .await
                    .map_err(|e| classify("S3 DeleteObject", e))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedUpload, PipelineError> {
        self.presign_upload_at(
            key,
            content_type,
            content_length,
            expires_in,
            std::time::SystemTime::now(),
        )
        .await
    }
}
