//! Pagination tokens are opaque to clients: base64url of the cursor JSON.

use base64::Engine;
use imgpipe_domain::record::Cursor;

use crate::ApiError;

pub(crate) fn encode(cursor: &Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

pub(crate) fn decode(token: &str) -> Result<Cursor, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::bad_request("next_token is not a token this API issued"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_a_bad_request() {
        let cursor = Cursor {
            before: 17,
            seen: vec!["a".into()],
        };
        assert_eq!(decode(&encode(&cursor)).unwrap(), cursor);
        assert_eq!(decode("not a token").unwrap_err().status().as_u16(), 400);
    }
}
