//! `GET /images?status=&limit=&next_token=`: the caller's images (every image in the local `none` mode),
//! newest first, a page at a time.

use imgpipe_domain::ports::{Jobs, Objects};
use imgpipe_domain::record::{ListQuery, MAX_LIST_LIMIT};
use imgpipe_domain::Status;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use crate::{response, token, Api, ApiError, Caller, ImageView};

const DEFAULT_LIST_LIMIT: usize = 20;

pub(crate) async fn list<J: Jobs, O: Objects>(
    api: &Api<J, O>,
    request: &Request,
    caller: &Caller,
) -> Result<Response<Body>, ApiError> {
    let params = request.query_string_parameters();
    for name in params.iter().map(|(name, _)| name) {
        if !["status", "limit", "next_token"].contains(&name) {
            return Err(ApiError::bad_request(format!("unknown query parameter {name:?}")));
        }
    }
    let status = params
        .first("status")
        .map(|s| s.parse::<Status>())
        .transpose()
        .map_err(|_| {
            let names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::bad_request(format!("status must be one of {}", names.join(", ")))
        })?;
    let limit = match params.first("limit") {
        None => DEFAULT_LIST_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit must be an integer from 1 to {MAX_LIST_LIMIT}")))?,
    };
    let cursor = params.first("next_token").map(token::decode).transpose()?;
    let query = ListQuery {
        owners: caller.owners(),
        status,
        limit,
        cursor,
    };
    let (records, next) = api.jobs.list(&query).await?;
    let images: Vec<ImageView> = records.into_iter().map(ImageView::from).collect();
    let body = json!({"images": images, "next_token": next.map(|c| token::encode(&c))});
    Ok(response::json(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::testing::{call, create_image, event, memory_api, Caller};

    #[tokio::test]
    async fn each_owner_lists_their_own_images_newest_first_in_pages() {
        let api = memory_api();
        let (alice, bob) = (Caller::Jwt("alice"), Caller::Jwt("bob"));
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(create_image(&api, &alice).await);
        }
        create_image(&api, &bob).await;
        let mut seen = Vec::new();
        let mut query = "limit=2".to_owned();
        loop {
            let (status, page) = call(&api, event("GET", "/images", &query, None, &alice)).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            for image in page["images"].as_array().unwrap() {
                seen.push(image["image_id"].as_str().unwrap().to_owned());
            }
            match page["next_token"].as_str() {
                Some(token) => query = format!("limit=2&next_token={token}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert_eq!(seen.iter().collect::<HashSet<_>>(), ids.iter().collect::<HashSet<_>>());
        let (_, filtered) = call(&api, event("GET", "/images", "status=completed", None, &alice)).await;
        assert_eq!(
            filtered["images"].as_array().unwrap().len(),
            0,
            "the status filter applies"
        );
    }

    #[tokio::test]
    async fn bad_parameters_are_400() {
        let api = memory_api();
        let alice = Caller::Jwt("alice");
        for query in [
            "limit=0",
            "limit=101",
            "limit=x",
            "status=done",
            "colour=red",
            "next_token=garbage",
        ] {
            let (status, body) = call(&api, event("GET", "/images", query, None, &alice)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        }
    }
}
