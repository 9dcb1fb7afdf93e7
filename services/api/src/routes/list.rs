//! `GET /images?status=&limit=&next_token=`: the caller's images (every image in the local `none` mode),
//! newest first, a page at a time. With `prefix=ingest/...`: the caller's images ingested under that key
//! prefix (a bulk batch), in key order, and on the first page the batch's counts per status.

use imgpipe_domain::batch::{check_prefix, PrefixQuery};
use imgpipe_domain::keys;
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
        if !["status", "limit", "next_token", "prefix"].contains(&name) {
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
    if let Some(prefix) = params.first("prefix") {
        check_prefix(prefix).map_err(ApiError::bad_request)?;
        // Records keep the key below the ingest prefix, as the result files mirror it.
        let source_prefix = prefix.strip_prefix(keys::INGEST_PREFIX).unwrap_or_default();
        let cursor = params
            .first("next_token")
            .map(token::decode::<imgpipe_domain::batch::KeyCursor>)
            .transpose()?;
        if cursor.as_ref().is_some_and(|c| !c.after.starts_with(source_prefix)) {
            return Err(ApiError::bad_request(
                "next_token belongs to a listing of another prefix",
            ));
        }
        let query = PrefixQuery {
            owners: caller.owners(),
            prefix: source_prefix.to_owned(),
            status,
            limit,
            count: cursor.is_none(),
            cursor,
        };
        let page = api.jobs.list_prefix(&query).await?;
        let images: Vec<ImageView> = page.records.into_iter().map(ImageView::from).collect();
        let mut body = json!({
            "prefix": prefix,
            "images": images,
            "next_token": page.next.map(|c| token::encode(&c)),
        });
        if let Some(counts) = page.counts {
            body["counts"] = json!(counts);
        }
        return Ok(response::json(StatusCode::OK, &body));
    }
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

    /// An ingested object's record, as preprocess creates it.
    async fn ingest(api: &crate::testing::MemoryApi, owner: Option<&str>, key: &str, status: Status) -> String {
        use imgpipe_domain::ports::Jobs as _;
        use imgpipe_domain::record::NewImage;
        let id = imgpipe_domain::ImageId::new_random();
        let mut image = NewImage::pending_upload(id, owner.map(str::to_owned), "image/jpeg", key.into(), 1, 2);
        image.source_key = keys::ingest_source_key(key).map(str::to_owned);
        image.status = status;
        api.jobs.create(&image).await.unwrap();
        id.to_string()
    }

    #[tokio::test]
    async fn a_batch_lists_in_key_order_with_its_counts_and_only_for_its_owner() {
        let api = memory_api();
        let alice = Some("jwt:https://issuer.example|alice");
        ingest(&api, alice, "ingest/b7/c.jpg", Status::Completed).await;
        ingest(&api, alice, "ingest/b7/a.jpg", Status::Failed).await;
        // A second version of one key is a second image.
        ingest(&api, alice, "ingest/b7/b.jpg", Status::Completed).await;
        ingest(&api, alice, "ingest/b7/b.jpg", Status::Preprocessing).await;
        ingest(&api, alice, "ingest/b70/z.jpg", Status::Completed).await;
        ingest(
            &api,
            Some("jwt:https://issuer.example|bob"),
            "ingest/b7/d.jpg",
            Status::Completed,
        )
        .await;
        let caller = Caller::Jwt("alice");
        let (status, first) = call(
            &api,
            event("GET", "/images", "prefix=ingest/b7/&limit=2", None, &caller),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{first}");
        assert_eq!(first["prefix"], "ingest/b7/");
        assert_eq!(first["counts"]["total"], 4, "{first}");
        assert_eq!(first["counts"]["by_status"]["completed"], 2);
        assert_eq!(first["counts"]["by_status"]["failed"], 1);
        assert_eq!(first["counts"]["by_status"]["preprocessing"], 1);
        assert_eq!(first["counts"]["complete"], true);
        let mut keys: Vec<String> = Vec::new();
        let mut page = first;
        loop {
            for image in page["images"].as_array().unwrap() {
                keys.push(image["filename"].as_str().unwrap_or_default().to_owned());
            }
            let Some(token) = page["next_token"].as_str() else {
                break;
            };
            let query = format!("prefix=ingest/b7/&limit=2&next_token={token}");
            let (status, next) = call(&api, event("GET", "/images", &query, None, &caller)).await;
            assert_eq!(status, StatusCode::OK, "{next}");
            assert!(next.get("counts").is_none(), "counts come with the first page only");
            page = next;
        }
        // In key order, each named by its S3 key.
        assert_eq!(
            keys,
            [
                "ingest/b7/a.jpg",
                "ingest/b7/b.jpg",
                "ingest/b7/b.jpg",
                "ingest/b7/c.jpg"
            ],
            "every image of the batch, each once"
        );
        let (_, completed) = call(
            &api,
            event("GET", "/images", "prefix=ingest/b7/&status=completed", None, &caller),
        )
        .await;
        assert_eq!(completed["images"].as_array().unwrap().len(), 2, "{completed}");
        let (_, bobs) = call(
            &api,
            event("GET", "/images", "prefix=ingest/b7/", None, &Caller::Jwt("bob")),
        )
        .await;
        assert_eq!(bobs["counts"]["total"], 1, "bob sees only his own: {bobs}");
    }

    #[tokio::test]
    async fn images_ingested_without_an_owner_are_the_anonymous_modes_batch() {
        let api = crate::testing::memory_api_with(imgpipe_domain::config::AuthMode::None);
        let id = ingest(&api, None, "ingest/local/a.png", Status::Completed).await;
        ingest(&api, Some("iam:AIDAEXAMPLE"), "ingest/local/b.png", Status::Completed).await;
        let (status, page) = call(
            &api,
            event("GET", "/images", "prefix=ingest/local/", None, &Caller::Anonymous),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let images = page["images"].as_array().unwrap();
        assert_eq!(images.len(), 1, "{page}");
        assert_eq!(images[0]["image_id"], id.as_str());
    }

    #[tokio::test]
    async fn bad_prefixes_and_foreign_tokens_are_400() {
        let api = memory_api();
        let alice = Caller::Jwt("alice");
        let owner = Some("jwt:https://issuer.example|alice");
        for i in 0..3 {
            ingest(&api, owner, &format!("ingest/b1/{i}.jpg"), Status::Completed).await;
        }
        let (_, page) = call(&api, event("GET", "/images", "prefix=ingest/b1/&limit=1", None, &alice)).await;
        let key_token = page["next_token"].as_str().unwrap().to_owned();
        let (_, recent) = call(&api, event("GET", "/images", "limit=1", None, &alice)).await;
        let time_token = recent["next_token"].as_str().unwrap().to_owned();
        for query in [
            "prefix=uploads/".to_owned(),
            "prefix=".to_owned(),
            "prefix=ingest/%0A".to_owned(),
            format!("prefix=ingest/b2/&next_token={key_token}"),
            format!("prefix=ingest/b1/&next_token={time_token}"),
            format!("next_token={key_token}"),
        ] {
            let (status, body) = call(&api, event("GET", "/images", &query, None, &alice)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
            assert!(body["error"]["message"].is_string(), "{body}");
        }
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
