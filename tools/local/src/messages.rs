//! What clients are told, checked for internal names. Every `message` the local API answers with (error
//! answers, and the `error.message` of stored records it shows) is kept; a stack started with
//! `refuse_internal_names` fails its `stop` when one of them names the account, an ARN, the bucket,
//! the table, a queue, the event bus or the emulator. Those names belong in the logs, with the image id.

use std::sync::Mutex;

use serde_json::Value;

use crate::resources::Resources;

static CLIENT_MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps every `message` string in a JSON answer (at any depth).
pub fn record(body: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let mut found = Vec::new();
    collect(&value, &mut found);
    if let Ok(mut messages) = CLIENT_MESSAGES.lock() {
        messages.extend(found);
    }
}

fn collect(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("message", Value::String(message)) => found.push(message.clone()),
                    _ => collect(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect(item, found)),
        _ => {}
    }
}

/// How many messages clients have been given so far in this process.
pub fn count() -> usize {
    CLIENT_MESSAGES.lock().map(|m| m.len()).unwrap_or(0)
}

/// The names a client must never read in a message of this deployment.
pub fn internal_names(resources: &Resources, emulator_endpoint: &str) -> Vec<String> {
    let mut names = vec![
        resources.bucket.clone(),
        resources.table.clone(),
        resources.event_bus.clone(),
        emulator_endpoint.trim_start_matches("http://").to_owned(),
    ];
    let queues = std::iter::once(&resources.preprocess)
        .chain(resources.inference.iter().map(|(_, queue)| queue))
        .chain(std::iter::once(&resources.notify));
    for queue in queues {
        for url in [&queue.url, &queue.dlq_url] {
            names.extend(url.rsplit('/').next().map(str::to_owned));
        }
    }
    names.retain(|name| !name.is_empty());
    names
}

/// The messages that name an internal resource, an ARN, an S3 URL or an account id.
pub fn naming_internals(names: &[String]) -> Vec<String> {
    let Ok(messages) = CLIENT_MESSAGES.lock() else {
        return Vec::new();
    };
    messages
        .iter()
        .filter(|message| names_internals(message, names))
        .cloned()
        .collect()
}

pub fn names_internals(message: &str, names: &[String]) -> bool {
    message.contains("arn:")
        || message.contains("s3://")
        || names.iter().any(|name| message.contains(name.as_str()))
        || has_account_id(message)
}

/// Twelve digits in a row, not part of a longer number: how an AWS account id appears.
fn has_account_id(message: &str) -> bool {
    let bytes = message.as_bytes();
    let mut run = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if byte.is_ascii_digit() {
            run += 1;
            continue;
        }
        if run == 12 && !(i > 12 && bytes[i - 13] == b'.') {
            return true;
        }
        run = 0;
    }
    run == 12
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_names_are_caught_and_plain_messages_pass() {
        let names = vec!["imgpipe-local-images".to_owned(), "imgpipe-local-preprocess".to_owned()];
        for leaky in [
            "AccessDenied: User: arn:aws:sts::123456789012:assumed-role/x is not authorized",
            "the upload s3://imgpipe-local-images/uploads/x is missing",
            "queue imgpipe-local-preprocess does not exist",
            "account 123456789012 throttled",
        ] {
            assert!(names_internals(leaky, &names), "{leaky}");
        }
        for plain in [
            "the uploaded image no longer exists",
            "image is 8000x8000 = 64000000 pixels; the limit is 40000000",
            "processing failed after 5 attempts; the image may be retried by uploading it again",
            "content_length is required: the upload URL accepts exactly that many bytes",
        ] {
            assert!(!names_internals(plain, &names), "{plain}");
        }
    }

    #[test]
    fn messages_are_found_at_any_depth() {
        let before = count();
        record(br#"{"images": [{"error": {"code": "x", "message": "deep"}}], "error": {"message": "top"}}"#);
        assert!(count() >= before + 2);
    }
}
