//! `GET /images/{id}`: the status, timeline, timings and predictions (or error) of the caller's image.

use imgpipe_domain::ports::{Jobs, Objects};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::{owned_record, parse_id};
use crate::{response, Api, ApiError, ImageView};

pub(crate) async fn get<J: Jobs, O: Objects>(
    api: &Api<J, O>,
    request: &Request,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let record = owned_record(api, request, &parse_id(id)?).await?;
    Ok(response::json(StatusCode::OK, &ImageView::from(record)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{call, create_image, event, memory_api, Caller};

    #[tokio::test]
    async fn jwt_subjects_only_see_their_own_images() {
        let api = memory_api();
        let (alice, bob) = (Caller::Jwt("alice"), Caller::Jwt("bob"));
        let id = create_image(&api, &alice).await;
        let (status, own) = call(&api, event("GET", &format!("/images/{id}"), "", None, &alice)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(own["status"], "pending_upload");
        assert_eq!(own["image_id"], json!(id));
        assert!(
            own.get("owner").is_none() && own.get("s3_key").is_none(),
            "no storage internals: {own}"
        );
        let (status, other) = call(&api, event("GET", &format!("/images/{id}"), "", None, &bob)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{other}");
        assert_eq!(other["error"]["code"], "not_found");
    }

    #[tokio::test]
    async fn iam_callers_are_told_apart_by_their_arn() {
        let api = memory_api();
        let ci = Caller::Iam("arn:aws:sts::123456789012:assumed-role/ci/job-1");
        let other = Caller::Iam("arn:aws:iam::123456789012:user/someone");
        let id = create_image(&api, &ci).await;
        assert_eq!(
            call(&api, event("GET", &format!("/images/{id}"), "", None, &ci))
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            call(&api, event("GET", &format!("/images/{id}"), "", None, &other))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn ids_are_checked_and_a_read_fault_is_503() {
        let api = memory_api();
        let alice = Caller::Jwt("alice");
        for bad in [
            "not-an-id",
            "C232AB00-9414-41EC-B3C8-9F6BDECED846",
            "c232ab00-9414-11ec-b3c8-9f6bdeced846",
        ] {
            let (status, body) = call(&api, event("GET", &format!("/images/{bad}"), "", None, &alice)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        }
        let id = create_image(&api, &alice).await;
        api.jobs.faults.inject("get", imgpipe_domain::Fault::Transient, 1);
        let (status, body) = call(&api, event("GET", &format!("/images/{id}"), "", None, &alice)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    }
}
