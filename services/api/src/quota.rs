//! The optional per-owner limit on images created per UTC day (`IMGPIPE_QUOTA_IMAGES_PER_DAY`): one
//! atomic counter per owner and day in the table, written once per image created; the counter expires
//! with its day. A refusal is 429 with `Retry-After` until the next UTC midnight.

use imgpipe_domain::ports::{Jobs, Objects};
use imgpipe_domain::telemetry;
use imgpipe_domain::time::utc_date;
use lambda_http::http::StatusCode;

use crate::{Api, ApiError, Caller};

const DAY_MS: i64 = 86_400_000;

/// Counts one more image for the caller today, or refuses it with 429. No limit, or no owner (the
/// local `none` mode): nothing is counted.
pub(crate) async fn take<J: Jobs, O: Objects>(api: &Api<J, O>, caller: &Caller, now_ms: i64) -> Result<(), ApiError> {
    let limit = api.config.quota_images_per_day;
    let Some(owner) = caller.owner.as_deref().filter(|_| limit > 0) else {
        return Ok(());
    };
    let next_midnight_ms = (now_ms.div_euclid(DAY_MS) + 1) * DAY_MS;
    if api
        .jobs
        .take_quota(owner, &utc_date(now_ms), limit, next_midnight_ms / 1000 + 3600)
        .await?
    {
        return Ok(());
    }
    telemetry::quota_refusal();
    let retry_after = ((next_midnight_ms - now_ms + 999) / 1000).max(1);
    Err(ApiError {
        retry_after: Some(retry_after),
        ..ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "quota_exceeded",
            format!("the limit of {limit} images a day is reached; try again after midnight UTC"),
        )
    })
}
