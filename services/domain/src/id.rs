use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The one name of an image: its S3 keys, its DynamoDB item, its log span.
///
/// A lowercase hyphenated UUID: random (v4) for images created through the API, or derived (v5) from
/// the bucket, key and version of an ingested object, so that the same object version is always the same
/// job. Either way it is safe in keys and URLs and spreads S3 and DynamoDB load evenly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageId(Uuid);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a valid image id: expected a lowercase hyphenated UUID (v4 or v5)")]
pub struct InvalidImageId;

impl ImageId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id an idempotency key stands for: the same caller and key always name the same image, and
    /// different callers' keys never collide (the caller is part of the digest). Still a well-formed v4
    /// UUID, so nothing downstream can tell it from a random one.
    pub fn from_idempotency_key(owner: Option<&str>, key: &str) -> Self {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        digest.update(b"imgpipe idempotency key v1\0");
        match owner {
            Some(owner) => {
                digest.update(b"owner\0");
                digest.update(owner.as_bytes());
            }
            None => digest.update(b"no owner"),
        }
        digest.update(b"\0");
        digest.update(key.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest.finalize()[..16]);
        Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// The id of an ingested object version: the same bucket, key and version always name the same job
    /// (a duplicate S3 event is the same job), a new version of the key is a new job.
    pub fn for_ingested_object(bucket: &str, key: &str, version: Option<&str>) -> Self {
        // A namespace of our own, so these ids cannot collide with another scheme's v5 ids.
        const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_25c4_8b0e_4d44_9a0c_7b8e_2f3d_1a57);
        let name = format!("s3://{bucket}/{key}\0{}", version.unwrap_or(""));
        Self(Uuid::new_v5(&NAMESPACE, name.as_bytes()))
    }

    /// A small stable number in `0..shards`, used to spread one status over several GSI partitions.
    pub fn shard(&self, shards: u32) -> u32 {
        let bytes = self.0.as_bytes();
        let folded = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        folded % shards.max(1)
    }
}

impl FromStr for ImageId {
    type Err = InvalidImageId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Exactly one spelling per id: no braces, no URN, no uppercase, so keys cannot alias.
        if s.len() != 36 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(InvalidImageId);
        }
        let uuid = Uuid::parse_str(s).map_err(|_| InvalidImageId)?;
        if !matches!(uuid.get_version_num(), 4 | 5) {
            return Err(InvalidImageId);
        }
        Ok(Self(uuid))
    }
}

impl TryFrom<String> for ImageId {
    type Error = InvalidImageId;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ImageId> for String {
    fn from(id: ImageId) -> Self {
        id.to_string()
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_ids_are_stable_per_caller_and_valid_v4() {
        let id = ImageId::from_idempotency_key(Some("alice"), "order-17");
        assert_eq!(id, ImageId::from_idempotency_key(Some("alice"), "order-17"));
        assert_ne!(id, ImageId::from_idempotency_key(Some("bob"), "order-17"));
        assert_ne!(id, ImageId::from_idempotency_key(None, "order-17"));
        assert_ne!(id, ImageId::from_idempotency_key(Some("alice"), "order-18"));
        // Field boundaries are unambiguous: ("ab", "c") is not ("a", "bc").
        assert_ne!(
            ImageId::from_idempotency_key(Some("ab"), "c"),
            ImageId::from_idempotency_key(Some("a"), "bc")
        );
        assert_eq!(id.to_string().parse::<ImageId>(), Ok(id));
    }

    #[test]
    fn round_trips_through_its_string_form() {
        let id = ImageId::new_random();
        assert_eq!(id.to_string().parse::<ImageId>().unwrap(), id);
    }

    #[test]
    fn rejects_other_spellings_and_versions() {
        let id = ImageId::new_random().to_string();
        assert!(id.to_uppercase().parse::<ImageId>().is_err());
        assert!(format!("{{{id}}}").parse::<ImageId>().is_err());
        assert!(id.replace('-', "").parse::<ImageId>().is_err());
        assert!("../etc/passwd".parse::<ImageId>().is_err());
        // A valid UUID, but version 1: never generated by us.
        assert!("c232ab00-9414-11ec-b3c8-9f6bdeced846".parse::<ImageId>().is_err());
    }

    #[test]
    fn ingested_objects_name_one_job_per_version() {
        let id = ImageId::for_ingested_object("b", "ingest/x.jpg", Some("v1"));
        assert_eq!(id, ImageId::for_ingested_object("b", "ingest/x.jpg", Some("v1")));
        assert_ne!(id, ImageId::for_ingested_object("b", "ingest/x.jpg", Some("v2")));
        assert_ne!(id, ImageId::for_ingested_object("b", "ingest/x.jpg", None));
        assert_ne!(id, ImageId::for_ingested_object("c", "ingest/x.jpg", Some("v1")));
        assert_eq!(id.to_string().parse::<ImageId>(), Ok(id), "a v5 id is a valid id");
    }

    #[test]
    fn shard_is_stable_and_bounded() {
        let id: ImageId = "3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e".parse().unwrap();
        assert_eq!(id.shard(8), id.shard(8));
        assert!(id.shard(8) < 8);
        assert_eq!(id.shard(0), 0);
    }
}
