//! One file per route.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod models;

use imgpipe_domain::ports::{Jobs, Objects};
use imgpipe_domain::record::ImageRecord;
use imgpipe_domain::ImageId;

use crate::{Api, ApiError, Caller};

pub(crate) fn parse_id(id: &str) -> Result<ImageId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("image id must be a lowercase UUID"))
}

/// The caller's image: another caller's image is indistinguishable from a missing one.
pub(crate) async fn owned_record<J: Jobs, O: Objects>(
    api: &Api<J, O>,
    caller: &Caller,
    id: &ImageId,
) -> Result<ImageRecord, ApiError> {
    let record = api.jobs.get(id).await?.ok_or_else(ApiError::not_found)?;
    if !caller.owns(record.owner.as_deref()) {
        return Err(ApiError::not_found());
    }
    Ok(record)
}
