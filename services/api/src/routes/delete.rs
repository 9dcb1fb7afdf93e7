//! `DELETE /images/{id}`: every stored version of the image's objects, then the record.
//!
//! Objects go first so that a failure part-way leaves the record for the client's retry to find. The
//! record leaves a tombstone: a stage still working on the image finds no job to write to, and a late S3
//! event of an ingested object cannot create it again, so a deleted image never comes back as completed.

use imgpipe_domain::keys;
use imgpipe_domain::ports::{Jobs, Objects};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use tracing::info;

use super::{owned_record, parse_id};
use crate::{Api, ApiError, Caller};

pub(crate) async fn delete<J: Jobs, O: Objects>(
    api: &Api<J, O>,
    caller: &Caller,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let image_id = parse_id(id)?;
    let record = owned_record(api, caller, &image_id).await?;
    let keys = keys::object_keys(&record.s3_key, record.source_key.as_deref());
    let removed = api.objects.delete_all_versions(&keys).await?;
    if !api.jobs.delete(&image_id, record.owner.as_deref()).await? {
        return Err(ApiError::not_found());
    }
    info!(image_id = %image_id, objects_removed = removed, "deleted image");
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use imgpipe_domain::Fault;
    use serde_json::Value;

    use super::*;
    use crate::testing::{call, call_with_headers, create_image, event, memory_api, Caller};

    #[tokio::test]
    async fn only_the_owner_deletes_and_a_deleted_image_is_gone() {
        let api = memory_api();
        let (alice, bob) = (Caller::Jwt("alice"), Caller::Jwt("bob"));
        let id = create_image(&api, &alice).await;
        let image_id = id.parse().unwrap();
        api.objects
            .upload(&keys::upload_key(&image_id), b"v1".to_vec(), "image/png");
        api.objects
            .upload(&keys::upload_key(&image_id), b"v2".to_vec(), "image/png");
        let path = format!("/images/{id}");
        let (status, body) = call(&api, event("DELETE", &path, "", None, &bob)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(
            call(&api, event("GET", &path, "", None, &alice)).await.0,
            StatusCode::OK
        );
        assert_eq!(
            api.objects.versions(&keys::upload_key(&image_id)).len(),
            2,
            "nothing removed for bob"
        );

        let (status, body) = call(&api, event("DELETE", &path, "", None, &alice)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(body, Value::Null, "no body");
        assert!(
            api.objects.versions(&keys::upload_key(&image_id)).is_empty(),
            "every version removed"
        );
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
    async fn a_failed_object_delete_keeps_the_record_for_the_retry() {
        let api = memory_api();
        let alice = Caller::Jwt("alice");
        let id = create_image(&api, &alice).await;
        api.objects.faults.inject("delete", Fault::Transient, 1);
        let path = format!("/images/{id}");
        assert_eq!(
            call(&api, event("DELETE", &path, "", None, &alice)).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            call(&api, event("GET", &path, "", None, &alice)).await.0,
            StatusCode::OK,
            "the record is still there"
        );
        assert_eq!(
            call(&api, event("DELETE", &path, "", None, &alice)).await.0,
            StatusCode::NO_CONTENT
        );
    }
}
