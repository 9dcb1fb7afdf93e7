//! Idempotency keys derived from what is sent, so that running the same `submit` again names the same
//! images: the API replays those it has (no second image, no second upload) and creates the rest.
//!
//! The key covers every field of the API's request fingerprint (content type, filename, length through
//! the content hash, model, callback URL): had it covered less, a rerun that changed one of them would
//! reuse a key for a different request and be refused with 409 `idempotency_key_reused`.

use sha2::{Digest, Sha256};

/// Versioned, so a change of the derivation can never collide with keys made by an older client.
const PREFIX: &str = "imgpipe-cli-v1-";

/// What a create request asks for, as far as the key is concerned.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// sha256 of the file's bytes.
    pub content_sha256: &'a [u8; 32],
    pub filename: &'a str,
    pub content_type: &'a str,
    pub model: Option<&'a str>,
    pub callback_url: Option<&'a str>,
}

pub fn content_sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The `Idempotency-Key` of `request`: 79 printable ASCII characters, within the API's 1 to 255.
pub fn idempotency_key(request: &Request<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(request.content_sha256);
    // Each field length-prefixed and absent distinct from empty, so no two requests encode alike.
    for field in [
        Some(request.filename),
        Some(request.content_type),
        request.model,
        request.callback_url,
    ] {
        match field {
            Some(text) => {
                hasher.update([1]);
                hasher.update((text.len() as u64).to_be_bytes());
                hasher.update(text.as_bytes());
            }
            None => hasher.update([0]),
        }
    }
    let digest = hasher.finalize();
    let mut key = String::with_capacity(PREFIX.len() + 64);
    key.push_str(PREFIX);
    for byte in digest {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(bytes: &[u8], filename: &str, model: Option<&str>, callback_url: Option<&str>) -> String {
        idempotency_key(&Request {
            content_sha256: &content_sha256(bytes),
            filename,
            content_type: "image/png",
            model,
            callback_url,
        })
    }

    #[test]
    fn the_same_bytes_and_name_give_the_same_key_and_any_change_another() {
        let photo = b"\x89PNG\r\n\x1a\n pretend pixels".to_vec();
        let base = key(&photo, "photos/cat.png", None, None);
        assert_eq!(base, key(&photo.clone(), "photos/cat.png", None, None));
        assert!(base.starts_with(PREFIX) && base.len() == PREFIX.len() + 64, "{base}");
        assert!(base.bytes().all(|b| (0x20..0x7f).contains(&b)));

        let mut one_byte = photo.clone();
        one_byte[12] ^= 1;
        let others = [
            key(&one_byte, "photos/cat.png", None, None),
            key(&photo, "photos/cat2.png", None, None),
            key(&photo, "cat.png", None, None),
            key(&photo, "photos/cat.png", Some("efficientnet-lite0"), None),
            key(&photo, "photos/cat.png", None, Some("https://hooks.example/x")),
            key(&photo, "photos/cat.png", Some(""), None),
        ];
        for other in &others {
            assert_ne!(&base, other);
        }
        let distinct: std::collections::BTreeSet<_> = others.iter().collect();
        assert_eq!(distinct.len(), others.len());
        let typed = idempotency_key(&Request {
            content_sha256: &content_sha256(&photo),
            filename: "photos/cat.png",
            content_type: "image/jpeg",
            model: None,
            callback_url: None,
        });
        assert_ne!(typed, base, "the content type is part of the request");
    }

    #[test]
    fn fields_cannot_run_into_each_other() {
        let a = key(b"x", "ab", Some("c"), None);
        let b = key(b"x", "a", Some("bc"), None);
        assert_ne!(a, b);
    }
}
