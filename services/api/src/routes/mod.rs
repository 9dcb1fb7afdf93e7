//! One file per route.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;

use imgpipe_domain::ports::{Jobs, Objects};
use imgpipe_domain::record::ImageRecord;
use imgpipe_domain::ImageId;
use lambda_http::Request;

use crate::{caller, Api, ApiError};

pub(crate) fn parse_id(id: &str) -> Result<ImageId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("image id must be a lowercase UUID v4"))
}

/// The caller's image: another caller's image is indistinguishable from a missing one.
pub(crate) async fn owned_record<J: Jobs, O: Objects>(
    api: &Api<J, O>,
    request: &Request,
    id: &ImageId,
) -> Result<ImageRecord, ApiError> {
    let record = api.jobs.get(id).await?.ok_or_else(ApiError::not_found)?;
    if record.owner.is_some() && record.owner != caller(request) {
        return Err(ApiError::not_found());
    }
    Ok(record)
}
