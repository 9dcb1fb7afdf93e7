//! `GET /images/{id}`: the status, timeline, timings and predictions (or error) of the caller's image.

use imgpipe_domain::ports::{Jobs, Objects};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

use super::{owned_record, parse_id};
use crate::{response, Api, ApiError, Caller, ImageView};

pub(crate) async fn get<J: Jobs, O: Objects>(
    api: &Api<J, O>,
    caller: &Caller,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let record = owned_record(api, caller, &parse_id(id)?).await?;
    Ok(response::json(StatusCode::OK, &ImageView::from(record)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use imgpipe_domain::config::AuthMode;
    use imgpipe_domain::ports::Jobs;

    use super::*;
    use crate::testing::{call, create_image, event, memory_api, memory_api_with, Caller};

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
    async fn two_sessions_of_one_role_are_one_owner_and_another_role_is_another() {
        let api = memory_api_with(AuthMode::Iam);
        let job1 = Caller::Iam("arn:aws:sts::123456789012:assumed-role/ci/job-1");
        let job2 = Caller::Iam("arn:aws:sts::123456789012:assumed-role/ci/job-2");
        let other_role = Caller::Iam("arn:aws:sts::123456789012:assumed-role/deploy/job-1");
        let user = Caller::Iam("arn:aws:iam::123456789012:user/someone");
        let id = create_image(&api, &job1).await;
        let path = format!("/images/{id}");
        assert_eq!(call(&api, event("GET", &path, "", None, &job1)).await.0, StatusCode::OK);
        assert_eq!(
            call(&api, event("GET", &path, "", None, &job2)).await.0,
            StatusCode::OK,
            "a fresh session sees its role's images"
        );
        assert_eq!(
            call(&api, event("GET", &path, "", None, &other_role)).await.0,
            StatusCode::NOT_FOUND,
            "same session name, other role"
        );
        assert_eq!(
            call(&api, event("GET", &path, "", None, &user)).await.0,
            StatusCode::NOT_FOUND
        );
        let record = api.jobs.record(&id.parse().unwrap()).unwrap();
        assert_eq!(
            record.owner.as_deref(),
            Some("iam:AROACI"),
            "the role's unique id, no session name"
        );
        let (_, listed) = call(&api, event("GET", "/images", "", None, &job2)).await;
        assert_eq!(listed["images"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn identity_pool_users_of_one_role_are_told_apart_by_their_identity() {
        let api = memory_api_with(AuthMode::Iam);
        let (anna, ben) = (Caller::Cognito("eu-west-1:1111"), Caller::Cognito("eu-west-1:2222"));
        let id = create_image(&api, &anna).await;
        let path = format!("/images/{id}");
        assert_eq!(call(&api, event("GET", &path, "", None, &anna)).await.0, StatusCode::OK);
        assert_eq!(
            call(&api, event("GET", &path, "", None, &ben)).await.0,
            StatusCode::NOT_FOUND,
            "same role, other user"
        );
    }

    #[tokio::test]
    async fn records_written_under_the_old_owner_rule_stay_their_owners() {
        for (mode, caller, legacy_owner) in [
            (AuthMode::Jwt, Caller::Jwt("alice"), "alice"),
            (
                AuthMode::Iam,
                Caller::Iam("arn:aws:iam::123456789012:user/someone"),
                "arn:aws:iam::123456789012:user/someone",
            ),
        ] {
            let api = memory_api_with(mode);
            let id = imgpipe_domain::ImageId::new_random();
            let image = imgpipe_domain::record::NewImage::pending_upload(
                id,
                Some(legacy_owner.into()),
                "image/png",
                imgpipe_domain::keys::upload_key(&id),
                1,
                imgpipe_domain::time::now_ms() / 1000 + 3600,
            );
            api.jobs.create(&image).await.unwrap();
            assert_eq!(
                call(&api, event("GET", &format!("/images/{id}"), "", None, &caller))
                    .await
                    .0,
                StatusCode::OK
            );
            let (_, listed) = call(&api, event("GET", "/images", "", None, &caller)).await;
            assert_eq!(
                listed["images"].as_array().unwrap().len(),
                1,
                "{mode:?}: listed under its old owner"
            );
        }
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
