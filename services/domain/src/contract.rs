//! The facts the deployment (Terraform) and the code must agree on, owned by the code: each function's
//! environment variables and AWS permissions, the S3 prefixes and their notifications, the SQS size limit,
//! the table's schema, the status values, error codes, authorization modes, event types and metrics.
//!
//! `imgpipe-contract` (tools/contract, `make contract`) writes them to services/contract.json, which the
//! Terraform tests read; a test of that tool fails when the checked-in file is stale. The permissions are
//! verified against the calls the functions really make by the local pipeline's end-to-end test, which
//! records every AWS call (every call granted, every grant used).

use crate::config::{ApiConfig, AuthMode, InferenceConfig, NotifyConfig, PreprocessConfig, SweeperConfig};
use crate::error::ErrorCode;
use crate::events::{COMPLETED, EVENT_SOURCE, FAILED};
use crate::keys::{INGEST_PREFIX, PREFIXES, UPLOAD_PREFIX};
use crate::messages::MAX_SQS_MESSAGE_BYTES;
use crate::record::{table, STATUS_SHARDS};
use crate::status::Status;
use crate::telemetry::METRICS;

/// Actions on one kind of resource.
///
/// Resource kinds: `table`, `table_indexes`, `bucket_prefix:<p>` (objects under the prefix),
/// `bucket_list:<p>` (the bucket, listing limited to the prefix by an `s3:prefix` condition),
/// `queue:<name>` (`preprocess`, `notify`, `inference` = the function's own model queue,
/// `inference:*` = every model's queue, `dlq:*` = the preprocess DLQ and every inference DLQ),
/// `event_bus`, `secret:webhook`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    pub actions: &'static [&'static str],
    pub resource: &'static str,
}

/// One function of the deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    pub name: &'static str,
    /// One function per deployed model (`{prefix}-inference-{model}`).
    pub per_model: bool,
    pub environment: &'static [&'static str],
    pub permissions: &'static [Permission],
}

const CONSUME: &[&str] = &[
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
];

const fn p(actions: &'static [&'static str], resource: &'static str) -> Permission {
    Permission { actions, resource }
}

pub const FUNCTIONS: [Function; 5] = [
    Function {
        name: "api",
        per_model: false,
        environment: ApiConfig::VARIABLES,
        permissions: &[
            p(
                &[
                    "dynamodb:BatchGetItem",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                ],
                "table",
            ),
            p(&["dynamodb:Query"], "table_indexes"),
            // Presigned upload URLs are signed with the function's role, so it needs what they allow.
            p(&["s3:DeleteObjectVersion", "s3:PutObject"], "bucket_prefix:uploads/"),
            p(&["s3:DeleteObjectVersion"], "bucket_prefix:ingest/"),
            p(&["s3:DeleteObjectVersion"], "bucket_prefix:results/"),
            p(&["s3:ListBucketVersions"], "bucket_list:uploads/"),
            p(&["s3:ListBucketVersions"], "bucket_list:ingest/"),
            p(&["s3:ListBucketVersions"], "bucket_list:results/"),
        ],
    },
    Function {
        name: "preprocess",
        per_model: false,
        environment: PreprocessConfig::VARIABLES,
        permissions: &[
            p(
                &["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                "table",
            ),
            // Every event of the versioned bucket names its version: the exact bytes it announced.
            p(&["s3:GetObjectVersion"], "bucket_prefix:uploads/"),
            p(&["s3:GetObjectVersion"], "bucket_prefix:ingest/"),
            // A rejected upload is removed at once rather than kept for the retention period.
            p(&["s3:DeleteObjectVersion"], "bucket_prefix:uploads/"),
            p(&["s3:PutObject"], "bucket_prefix:results/"),
            p(&["sqs:SendMessage"], "queue:inference:*"),
            p(CONSUME, "queue:preprocess"),
            p(&["events:PutEvents"], "event_bus"),
        ],
    },
    Function {
        name: "inference",
        per_model: true,
        environment: InferenceConfig::VARIABLES,
        permissions: &[
            p(&["dynamodb:GetItem", "dynamodb:UpdateItem"], "table"),
            p(&["s3:PutObject"], "bucket_prefix:results/"),
            p(CONSUME, "queue:inference"),
            p(&["events:PutEvents"], "event_bus"),
        ],
    },
    Function {
        name: "sweeper",
        per_model: false,
        environment: SweeperConfig::VARIABLES,
        permissions: &[
            p(
                &["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:UpdateItem"],
                "table",
            ),
            p(&["dynamodb:Query"], "table_indexes"),
            // HeadObject of a pending upload (its action is s3:GetObject).
            p(&["s3:GetObject"], "bucket_prefix:uploads/"),
            p(&["s3:PutObject"], "bucket_prefix:results/"),
            p(CONSUME, "queue:dlq:*"),
            p(&["events:PutEvents"], "event_bus"),
        ],
    },
    Function {
        name: "notify",
        per_model: false,
        environment: NotifyConfig::VARIABLES,
        permissions: &[
            p(&["dynamodb:UpdateItem"], "table"),
            p(&["secretsmanager:GetSecretValue"], "secret:webhook"),
            p(CONSUME, "queue:notify"),
        ],
    },
];

pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// The HTTP API's routes, as API Gateway's route keys: the API's router serves exactly these, and
/// Terraform must route exactly these to it (a route the gateway lacks is its 404, never the API's).
pub const ROUTES: [&str; 5] = [
    "POST /images",
    "GET /images",
    "GET /images/{id}",
    "DELETE /images/{id}",
    "GET /models",
];

/// The queues whose messages carry pixels, and so need SQS's full message size.
pub const PIXEL_QUEUES: [&str; 1] = ["inference"];

/// services/contract.json, formatted for reading and diffing.
pub fn render() -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let list = |items: &[&str]| format!("[{}]", items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", "));
    let mut out = String::from("{\n");
    out += "  \"_comment\": \"Generated by `make contract` (cargo run -p imgpipe-contract) from the Rust code: the facts Terraform must match. Do not edit by hand.\",\n";
    out += "  \"functions\": {\n";
    let functions: Vec<String> = FUNCTIONS
        .iter()
        .map(|f| {
            let environment: Vec<String> = f.environment.iter().map(|v| format!("        {}", q(v))).collect();
            let permissions: Vec<String> = f
                .permissions
                .iter()
                .map(|p| format!("        {{\"actions\": {}, \"resource\": {}}}", list(p.actions), q(p.resource)))
                .collect();
            format!(
                "    {}: {{\n      \"per_model\": {},\n      \"environment\": [\n{}\n      ],\n      \"permissions\": [\n{}\n      ]\n    }}",
                q(f.name),
                f.per_model,
                environment.join(",\n"),
                permissions.join(",\n")
            )
        })
        .collect();
    out += &functions.join(",\n");
    out += "\n  },\n";
    let prefixes: Vec<String> = PREFIXES
        .iter()
        .map(|(name, prefix)| format!("{}: {}", q(name), q(prefix)))
        .collect();
    out += &format!("  \"s3_prefixes\": {{{}}},\n", prefixes.join(", "));
    out += &format!(
        "  \"notifications\": [{{\"prefix\": {}, \"queue\": \"preprocess\"}}, {{\"prefix\": {}, \"queue\": \"preprocess\"}}],\n",
        q(UPLOAD_PREFIX),
        q(INGEST_PREFIX)
    );
    out += &format!(
        "  \"sqs\": {{\"max_message_bytes\": {MAX_SQS_MESSAGE_BYTES}, \"pixel_queues\": {}}},\n",
        list(&PIXEL_QUEUES)
    );
    out += &format!(
        "  \"table\": {{\n    \"hash_key\": {},\n    \"ttl_attribute\": {},\n    \"status_shards\": {STATUS_SHARDS},\n    \"indexes\": {{\n",
        q(table::HASH_KEY),
        q(table::TTL_ATTRIBUTE)
    );
    out += &format!(
        "      {}: {{\"hash_key\": \"status_shard\", \"range_key\": \"created_at\", \"projection\": \"KEYS_ONLY\"}},\n",
        q(table::STATUS_INDEX)
    );
    out += &format!(
        "      {}: {{\"hash_key\": \"owner\", \"range_key\": \"created_at\", \"projection\": \"KEYS_ONLY\"}},\n",
        q(table::OWNER_INDEX)
    );
    out += &format!(
        "      {}: {{\"hash_key\": \"source_owner\", \"range_key\": \"source_key\", \"projection\": \"INCLUDE\", \"non_key_attributes\": [\"status\"]}}\n    }}\n  }},\n",
        q(table::SOURCE_INDEX)
    );
    let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    let terminal: Vec<&str> = Status::ALL
        .iter()
        .filter(|s| s.is_terminal())
        .map(|s| s.as_str())
        .collect();
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let modes: Vec<&str> = AuthMode::ALL.iter().map(|m| m.as_str()).collect();
    out += &format!("  \"statuses\": {},\n", list(&statuses));
    out += &format!("  \"terminal_statuses\": {},\n", list(&terminal));
    out += &format!("  \"error_codes\": {},\n", list(&codes));
    out += &format!("  \"auth_modes\": {},\n", list(&modes));
    out += &format!("  \"routes\": {},\n", list(&ROUTES));
    out += &format!(
        "  \"events\": {{\"source\": {}, \"detail_types\": {}}},\n",
        q(EVENT_SOURCE),
        list(&[COMPLETED, FAILED])
    );
    let metrics: Vec<String> = METRICS
        .iter()
        .map(|m| {
            format!(
                "      {{\"name\": {}, \"unit\": {}, \"dimensions\": {}}}",
                q(m.name),
                q(m.unit),
                list(m.dimensions)
            )
        })
        .collect();
    out += &format!(
        "  \"metrics\": {{\n    \"namespace\": {},\n    \"metrics\": [\n{}\n    ]\n  }}\n}}\n",
        q(crate::telemetry::NAMESPACE),
        metrics.join(",\n")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_is_valid_json_with_every_function() {
        let contract: serde_json::Value = serde_json::from_str(&render()).unwrap();
        let functions = contract["functions"].as_object().unwrap();
        assert_eq!(functions.len(), FUNCTIONS.len());
        assert_eq!(contract["functions"]["inference"]["per_model"], true);
        assert_eq!(contract["sqs"]["max_message_bytes"], MAX_SQS_MESSAGE_BYTES);
        assert_eq!(contract["metrics"]["metrics"].as_array().unwrap().len(), METRICS.len());
    }

    #[test]
    fn every_action_is_a_service_action_without_wildcards() {
        for function in FUNCTIONS {
            for permission in function.permissions {
                for action in permission.actions {
                    let (service, name) = action.split_once(':').expect("service:Action");
                    assert!(
                        !service.is_empty() && !name.is_empty() && !action.contains('*'),
                        "{action}"
                    );
                }
            }
        }
    }
}
