//! S3 event notifications as they arrive in an SQS message body.
//!
//! Parsed leniently on purpose: real S3 sends `versionId` and `sequencer`, emulators may not, and
//! `aws_lambda_events::s3::S3Event` insists on fields (`userIdentity`, `requestParameters`) that not every
//! producer sends. Only what the pipeline uses is required.

use percent_encoding::percent_decode_str;
use serde::Deserialize;

use crate::error::{ErrorCode, PipelineError};

#[derive(Debug, PartialEq, Eq)]
pub enum S3Message {
    /// `s3:TestEvent`, sent once when the notification is configured: nothing to do.
    Test,
    Objects(Vec<UploadedObject>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedObject {
    pub event_name: String,
    pub bucket: String,
    /// The object key, URL-decoded.
    pub key: String,
    pub size: Option<u64>,
    pub version_id: Option<String>,
    pub sequencer: Option<String>,
    pub event_time: Option<String>,
    /// Who wrote the object (`userIdentity.principalId`; real S3 sends it, emulators may not).
    pub principal_id: Option<String>,
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records", default)]
    records: Vec<Record>,
    #[serde(rename = "Event")]
    event: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    event_name: String,
    event_time: Option<String>,
    user_identity: Option<UserIdentity>,
    s3: Entity,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    principal_id: Option<String>,
}

#[derive(Deserialize)]
struct Entity {
    bucket: Bucket,
    object: Object,
}

#[derive(Deserialize)]
struct Bucket {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Object {
    key: String,
    size: Option<u64>,
    version_id: Option<String>,
    sequencer: Option<String>,
}

pub fn parse_s3_message(body: &str) -> Result<S3Message, PipelineError> {
    let notification: Notification = serde_json::from_str(body).map_err(|e| {
        PipelineError::permanent(
            ErrorCode::Internal,
            format!("message is not an S3 event notification: {e}"),
        )
    })?;
    if notification.event.as_deref() == Some("s3:TestEvent") {
        return Ok(S3Message::Test);
    }
    if notification.records.is_empty() {
        return Err(PipelineError::permanent(
            ErrorCode::Internal,
            "S3 notification without records",
        ));
    }
    notification
        .records
        .into_iter()
        .map(|record| {
            Ok(UploadedObject {
                key: decode_key(&record.s3.object.key)?,
                event_name: record.event_name,
                bucket: record.s3.bucket.name,
                size: record.s3.object.size,
                version_id: record.s3.object.version_id.filter(|v| !v.is_empty() && v != "null"),
                sequencer: record.s3.object.sequencer,
                event_time: record.event_time,
                principal_id: record.user_identity.and_then(|u| u.principal_id),
            })
        })
        .collect::<Result<_, _>>()
        .map(S3Message::Objects)
}

/// Sequencers of events on one key order them, but may differ in length: S3's documentation says to
/// right-pad the shorter with zeros before comparing. Normalised to 32 uppercase hex digits, they compare
/// correctly as plain strings (as DynamoDB compares them).
pub fn normalized_sequencer(raw: &str) -> Option<String> {
    let hex = raw.trim();
    if hex.is_empty() || hex.len() > 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!("{:0<32}", hex.to_ascii_uppercase()))
}

/// S3 event keys are form-URL-encoded: `+` is a space and everything else is percent-encoded.
pub fn decode_key(raw: &str) -> Result<String, PipelineError> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| PipelineError::permanent(ErrorCode::Internal, format!("S3 key {raw:?} is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What real S3 sends (trimmed of nothing: every field present).
    const REAL: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1",
      "eventTime":"2026-11-27T10:00:00.000Z","eventName":"ObjectCreated:Put",
      "userIdentity":{"principalId":"AWS:AIDA"},"requestParameters":{"sourceIPAddress":"1.2.3.4"},
      "responseElements":{"x-amz-request-id":"X","x-amz-id-2":"Y"},
      "s3":{"s3SchemaVersion":"1.0","configurationId":"uploads","bucket":{"name":"imgpipe-dev-images",
      "ownerIdentity":{"principalId":"A"},"arn":"arn:aws:s3:::imgpipe-dev-images"},
      "object":{"key":"uploads/my+photo%281%29.jpg","size":1024,"eTag":"abc",
      "versionId":"3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY","sequencer":"0055AED6DCD90281E5"}}}]}"#;

    /// What the emulator sends: no versionId, sequencer, userIdentity or requestParameters; `/` encoded.
    const EMULATOR: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
      "eventTime":"2026-11-27T10:00:00.000Z","eventName":"ObjectCreated:Put",
      "s3":{"s3SchemaVersion":"1.0","configurationId":"uploads","bucket":{"name":"b","arn":"arn:aws:s3:::b"},
      "object":{"key":"uploads%2Fabc","size":5,"eTag":"e"}}}]}"#;

    #[test]
    fn parses_real_s3_events_with_version_and_decoded_key() {
        let S3Message::Objects(objects) = parse_s3_message(REAL).unwrap() else {
            panic!("not objects")
        };
        assert_eq!(objects.len(), 1);
        let object = &objects[0];
        assert_eq!(object.key, "uploads/my photo(1).jpg");
        assert_eq!(object.bucket, "imgpipe-dev-images");
        assert_eq!(object.size, Some(1024));
        assert_eq!(object.version_id.as_deref(), Some("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"));
        assert_eq!(object.sequencer.as_deref(), Some("0055AED6DCD90281E5"));
        assert_eq!(object.event_name, "ObjectCreated:Put");
        assert_eq!(object.principal_id.as_deref(), Some("AWS:AIDA"));
    }

    #[test]
    fn parses_sparse_emulator_events() {
        let S3Message::Objects(objects) = parse_s3_message(EMULATOR).unwrap() else {
            panic!("not objects")
        };
        assert_eq!(objects[0].key, "uploads/abc");
        assert_eq!(objects[0].version_id, None);
    }

    #[test]
    fn recognises_the_test_event() {
        let body = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-27T10:00:00.000Z",
                      "Bucket":"b","RequestId":"R","HostId":"H"}"#;
        assert_eq!(parse_s3_message(body).unwrap(), S3Message::Test);
    }

    #[test]
    fn garbage_is_a_permanent_error() {
        assert!(parse_s3_message("not json").unwrap_err().is_permanent());
        assert!(parse_s3_message("{}").unwrap_err().is_permanent());
        assert!(parse_s3_message(r#"{"Records":[{"eventName":"x"}]}"#)
            .unwrap_err()
            .is_permanent());
    }

    #[test]
    fn sequencers_compare_after_right_padding() {
        let earlier = normalized_sequencer("0055AED6DCD90281E5").unwrap();
        let later = normalized_sequencer("0055AED6DCD90281E6").unwrap();
        let longer_later = normalized_sequencer("0055aed6dcd90281e500").unwrap();
        assert_eq!(earlier.len(), 32);
        assert!(earlier < later);
        assert!(
            earlier <= longer_later,
            "padding makes the shorter value compare as its extension"
        );
        assert_eq!(normalized_sequencer("xyz"), None);
        assert_eq!(normalized_sequencer(""), None);
    }

    #[test]
    fn key_decoding() {
        assert_eq!(decode_key("a+b%2Bc%2Fd").unwrap(), "a b+c/d");
        assert_eq!(decode_key("caf%C3%A9").unwrap(), "café");
        assert!(decode_key("%FF").is_err());
    }
}
