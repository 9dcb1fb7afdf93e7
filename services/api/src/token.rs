//! Pagination tokens are opaque to clients: base64url of the cursor JSON (a time cursor for listings
//! newest first, a key cursor for listings by prefix; one kind does not decode as the other).

use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ApiError;

pub(crate) fn encode<C: Serialize>(cursor: &C) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

pub(crate) fn decode<C: DeserializeOwned>(token: &str) -> Result<C, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::bad_request("next_token is not a token this API issued"))
}

#[cfg(test)]
mod tests {
    use imgpipe_domain::batch::KeyCursor;
    use imgpipe_domain::record::Cursor;

    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_a_bad_request() {
        let cursor = Cursor {
            before: 17,
            seen: vec!["a".into()],
        };
        assert_eq!(decode::<Cursor>(&encode(&cursor)).unwrap(), cursor);
        assert_eq!(decode::<Cursor>("not a token").unwrap_err().status().as_u16(), 400);
        let key_cursor = KeyCursor {
            after: "ingest/b/1.jpg".into(),
            seen: vec![],
        };
        assert_eq!(decode::<KeyCursor>(&encode(&key_cursor)).unwrap(), key_cursor);
        assert!(
            decode::<KeyCursor>(&encode(&cursor)).is_err(),
            "a time cursor is not a key cursor"
        );
    }
}
