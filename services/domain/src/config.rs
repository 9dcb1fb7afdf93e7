//! Configuration of each function, read once from environment variables at cold start, failing fast
//! with the name of a missing or invalid variable.
//!
//! Each config lists the variables it reads in `VARIABLES`: `contract` writes them into
//! services/contract.json, which the Terraform tests compare with what each function is given, so a
//! renamed or forgotten variable fails a test, not a deploy.

use std::path::PathBuf;
use std::str::FromStr;

use crate::limits::Limits;
use crate::model_spec::DeployedModel;
use crate::routing::Routing;

pub const TABLE_NAME: &str = "IMGPIPE_TABLE_NAME";
pub const BUCKET_NAME: &str = "IMGPIPE_BUCKET_NAME";
pub const AUTH_MODE: &str = "IMGPIPE_AUTH_MODE";
pub const MODELS: &str = "IMGPIPE_MODELS";
pub const MODEL_ROUTING: &str = "IMGPIPE_MODEL_ROUTING";
pub const MODEL_DIR: &str = "IMGPIPE_MODEL_DIR";
pub const ORT_LIBRARY: &str = "IMGPIPE_ORT_LIBRARY";
pub const ORT_THREADS: &str = "IMGPIPE_ORT_THREADS";
pub const TOP_K: &str = "IMGPIPE_TOP_K";
pub const MAX_UPLOAD_BYTES: &str = "IMGPIPE_MAX_UPLOAD_BYTES";
pub const MAX_PIXELS: &str = "IMGPIPE_MAX_PIXELS";
pub const MAX_RECEIVE_COUNT: &str = "IMGPIPE_MAX_RECEIVE_COUNT";
pub const PRESIGN_EXPIRES_SECS: &str = "IMGPIPE_PRESIGN_EXPIRES_SECS";
pub const MAX_INLINE_BYTES: &str = "IMGPIPE_MAX_INLINE_BYTES";
pub const RETENTION_DAYS: &str = "IMGPIPE_RETENTION_DAYS";
pub const QUOTA_IMAGES_PER_DAY: &str = "IMGPIPE_QUOTA_IMAGES_PER_DAY";
pub const WEBHOOK_ALLOWED_HOSTS: &str = "IMGPIPE_WEBHOOK_ALLOWED_HOSTS";
pub const WEBHOOK_SECRET_ARN: &str = "IMGPIPE_WEBHOOK_SECRET_ARN";
pub const WEBHOOK_TIMEOUT_SECS: &str = "IMGPIPE_WEBHOOK_TIMEOUT_SECS";
pub const EVENT_BUS_NAME: &str = "IMGPIPE_EVENT_BUS_NAME";
pub const PENDING_UPLOAD_TIMEOUT_SECS: &str = "IMGPIPE_PENDING_UPLOAD_TIMEOUT_SECS";
pub const WORKING_TIMEOUT_SECS: &str = "IMGPIPE_WORKING_TIMEOUT_SECS";

/// Where the Lambda layers put the model and the runtime library.
pub const DEFAULT_MODEL_DIR: &str = "/opt/model";
pub const DEFAULT_ORT_LIBRARY: &str = "/opt/lib/libonnxruntime.so.1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// Reads variables through `lookup`, so tests need not touch the process environment.
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env(|name| std::env::var(name).ok())
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        match (self.0)(name) {
            Some(value) if !value.trim().is_empty() => Ok(value),
            _ => Err(ConfigError::Missing(name)),
        }
    }

    /// The variable's value, or "" when it is unset (for lists whose empty value means "none").
    pub fn text(&self, name: &'static str) -> String {
        (self.0)(name).unwrap_or_default()
    }

    pub fn optional<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match (self.0)(name) {
            None => Ok(default),
            Some(value) if value.trim().is_empty() => Ok(default),
            Some(value) => value.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                value,
                reason: e.to_string(),
            }),
        }
    }

    fn positive(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        let value = self.optional(name, default)?;
        if value == 0 {
            return Err(ConfigError::Invalid {
                name,
                value: "0".into(),
                reason: "must be positive".into(),
            });
        }
        Ok(value)
    }

    fn parsed<T>(&self, name: &'static str, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, ConfigError> {
        let value = self.text(name);
        parse(&value).map_err(|reason| ConfigError::Invalid { name, value, reason })
    }

    fn models(&self) -> Result<Vec<DeployedModel>, ConfigError> {
        let value = self.required(MODELS)?;
        DeployedModel::parse_manifest(&value).map_err(|reason| ConfigError::Invalid {
            name: MODELS,
            value,
            reason,
        })
    }

    fn routing(&self, models: &[DeployedModel]) -> Result<Routing, ConfigError> {
        let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        self.parsed(MODEL_ROUTING, |value| Routing::parse(value, &names))
    }
}

/// How API Gateway authenticates callers, as Terraform configured it. In an authenticated mode a request
/// that reaches the function without an identity is refused, never served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    Iam,
    Jwt,
    /// No authorizer: only where the deployment explicitly allows it (the local pipeline, a sandbox).
    None,
}

impl AuthMode {
    pub const ALL: [AuthMode; 3] = [AuthMode::Iam, AuthMode::Jwt, AuthMode::None];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Iam => "iam",
            AuthMode::Jwt => "jwt",
            AuthMode::None => "none",
        }
    }
}

impl FromStr for AuthMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuthMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| "must be iam, jwt or none".to_owned())
    }
}

/// Hosts a webhook may be sent to: exact names, or `.example.com` for any name under a domain. Empty:
/// webhooks are off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostAllowList(Vec<String>);

impl HostAllowList {
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let host = entry.trim_start_matches('.');
            let label_ok = |label: &str| {
                !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            };
            if host.is_empty() || !host.split('.').all(label_ok) {
                return Err(format!("{entry:?} is not a host name or .domain suffix"));
            }
            entries.push(entry.to_ascii_lowercase());
        }
        Ok(Self(entries))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `host` (a DNS name) is allowed: listed exactly, or under a listed `.suffix`.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.0.iter().any(|entry| match entry.strip_prefix('.') {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => *entry == host,
        })
    }
}

#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub table_name: String,
    pub bucket_name: String,
    pub auth_mode: AuthMode,
    pub presign_expires_secs: u64,
    /// Largest image accepted directly in a `POST /images` body (the rest use the presigned upload).
    pub max_inline_bytes: u64,
    pub max_upload_bytes: u64,
    pub retention_days: u64,
    pub models: Vec<DeployedModel>,
    pub routing: Routing,
    /// Images one owner may create per UTC day; 0: no limit.
    pub quota_images_per_day: u64,
    pub webhook_allowed_hosts: HostAllowList,
    /// Local pipeline only (never read from the environment): `http://127.0.0.1` callbacks are allowed.
    pub local_webhooks: bool,
}

impl ApiConfig {
    pub const VARIABLES: &'static [&'static str] = &[
        TABLE_NAME,
        BUCKET_NAME,
        AUTH_MODE,
        PRESIGN_EXPIRES_SECS,
        MAX_INLINE_BYTES,
        MAX_UPLOAD_BYTES,
        RETENTION_DAYS,
        MODELS,
        MODEL_ROUTING,
        QUOTA_IMAGES_PER_DAY,
        WEBHOOK_ALLOWED_HOSTS,
    ];
    /// A Lambda invocation payload is at most 6 MB and binary bodies arrive base64-encoded (4/3 larger).
    pub const DEFAULT_MAX_INLINE_BYTES: u64 = 4 * 1024 * 1024;

    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let models = env.models()?;
        Ok(Self {
            table_name: env.required(TABLE_NAME)?,
            bucket_name: env.required(BUCKET_NAME)?,
            auth_mode: env.parsed(AUTH_MODE, |value| value.trim().parse())?,
            presign_expires_secs: env.positive(PRESIGN_EXPIRES_SECS, 900)?,
            max_inline_bytes: env.positive(MAX_INLINE_BYTES, Self::DEFAULT_MAX_INLINE_BYTES)?,
            max_upload_bytes: env.positive(MAX_UPLOAD_BYTES, Limits::DEFAULT_MAX_BYTES)?,
            retention_days: env.positive(RETENTION_DAYS, 30)?,
            routing: env.routing(&models)?,
            models,
            quota_images_per_day: env.optional(QUOTA_IMAGES_PER_DAY, 0)?,
            webhook_allowed_hosts: env.parsed(WEBHOOK_ALLOWED_HOSTS, HostAllowList::parse)?,
            local_webhooks: false,
        })
    }
}

#[derive(Clone, Debug)]
pub struct PreprocessConfig {
    pub table_name: String,
    pub bucket_name: String,
    /// Every deployed model with its inference queue.
    pub models: Vec<DeployedModel>,
    /// The model of images that arrive without one chosen (bulk ingest).
    pub routing: Routing,
    pub limits: Limits,
    /// How long records of ingested images live (their DynamoDB TTL).
    pub retention_days: u64,
    pub event_bus_name: String,
    /// The API's authorization mode: an ingested object belongs to the principal that wrote it, except
    /// in `none` mode, where nothing has an owner (every caller is anonymous, and sees every image).
    pub auth_mode: AuthMode,
}

impl PreprocessConfig {
    pub const VARIABLES: &'static [&'static str] = &[
        TABLE_NAME,
        BUCKET_NAME,
        AUTH_MODE,
        MODELS,
        MODEL_ROUTING,
        MAX_UPLOAD_BYTES,
        MAX_PIXELS,
        RETENTION_DAYS,
        EVENT_BUS_NAME,
    ];

    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let models = env.models()?;
        if let Some(model) = models.iter().find(|m| m.queue_url.is_none()) {
            return Err(ConfigError::Invalid {
                name: MODELS,
                value: env.text(MODELS),
                reason: format!("model {} has no queue_url", model.name),
            });
        }
        Ok(Self {
            table_name: env.required(TABLE_NAME)?,
            bucket_name: env.required(BUCKET_NAME)?,
            routing: env.routing(&models)?,
            models,
            limits: Limits {
                max_bytes: env.positive(MAX_UPLOAD_BYTES, Limits::DEFAULT_MAX_BYTES)?,
                max_pixels: env.positive(MAX_PIXELS, Limits::DEFAULT_MAX_PIXELS)?,
            },
            retention_days: env.positive(RETENTION_DAYS, 30)?,
            event_bus_name: env.required(EVENT_BUS_NAME)?,
            auth_mode: env.parsed(AUTH_MODE, |value| value.trim().parse())?,
        })
    }

    pub fn model(&self, name: &str) -> Option<&DeployedModel> {
        self.models.iter().find(|m| m.name == name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct InferenceConfig {
    pub table_name: String,
    pub bucket_name: String,
    pub model_dir: PathBuf,
    pub ort_library: PathBuf,
    /// ONNX Runtime's intra-op threads; 0 lets it choose (it halves the cores it sees where it cannot
    /// read the CPU topology, as on Lambda arm64, so deployments set it explicitly).
    pub ort_threads: usize,
    pub top_k: usize,
    pub event_bus_name: String,
}

impl InferenceConfig {
    pub const VARIABLES: &'static [&'static str] = &[
        TABLE_NAME,
        BUCKET_NAME,
        MODEL_DIR,
        ORT_LIBRARY,
        ORT_THREADS,
        TOP_K,
        EVENT_BUS_NAME,
    ];

    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: env.required(TABLE_NAME)?,
            bucket_name: env.required(BUCKET_NAME)?,
            model_dir: PathBuf::from(env.optional(MODEL_DIR, DEFAULT_MODEL_DIR.to_string())?),
            ort_library: PathBuf::from(env.optional(ORT_LIBRARY, DEFAULT_ORT_LIBRARY.to_string())?),
            ort_threads: env.optional(ORT_THREADS, 0)?,
            top_k: env.positive(TOP_K, 5)? as usize,
            event_bus_name: env.required(EVENT_BUS_NAME)?,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SweeperConfig {
    pub table_name: String,
    pub bucket_name: String,
    pub event_bus_name: String,
    /// A `pending_upload` job older than this got no upload: its URL expired, plus a grace for a slow PUT.
    pub pending_upload_timeout_secs: u64,
    /// A job in a working or waiting state older than this can have no message left in any queue (the
    /// queues' retention plus every redelivery).
    pub working_timeout_secs: u64,
}

impl SweeperConfig {
    pub const VARIABLES: &'static [&'static str] = &[
        TABLE_NAME,
        BUCKET_NAME,
        EVENT_BUS_NAME,
        PENDING_UPLOAD_TIMEOUT_SECS,
        WORKING_TIMEOUT_SECS,
    ];

    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: env.required(TABLE_NAME)?,
            bucket_name: env.required(BUCKET_NAME)?,
            event_bus_name: env.required(EVENT_BUS_NAME)?,
            pending_upload_timeout_secs: env.positive(PENDING_UPLOAD_TIMEOUT_SECS, 1800)?,
            working_timeout_secs: env.positive(WORKING_TIMEOUT_SECS, 4 * 86_400 + 1800)?,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NotifyConfig {
    pub table_name: String,
    /// The Secrets Manager secret holding the `whsec_...` signing key; empty: webhooks are off.
    pub webhook_secret_arn: String,
    pub webhook_allowed_hosts: HostAllowList,
    pub webhook_timeout_secs: u64,
    /// The notify queue's maxReceiveCount: the delivery that records `webhook_failed`.
    pub max_receive_count: u32,
    /// Local pipeline only (never read from the environment): `http://127.0.0.1` receivers are allowed.
    pub local_webhooks: bool,
}

impl NotifyConfig {
    pub const VARIABLES: &'static [&'static str] = &[
        TABLE_NAME,
        WEBHOOK_SECRET_ARN,
        WEBHOOK_ALLOWED_HOSTS,
        WEBHOOK_TIMEOUT_SECS,
        MAX_RECEIVE_COUNT,
    ];

    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: env.required(TABLE_NAME)?,
            webhook_secret_arn: env.text(WEBHOOK_SECRET_ARN).trim().to_owned(),
            webhook_allowed_hosts: env.parsed(WEBHOOK_ALLOWED_HOSTS, HostAllowList::parse)?,
            webhook_timeout_secs: env.positive(WEBHOOK_TIMEOUT_SECS, 5)?,
            max_receive_count: env.positive(MAX_RECEIVE_COUNT, 8)? as u32,
            local_webhooks: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::testing::SAMPLE_MODEL_JSON;

    fn manifest(queue: bool) -> String {
        let meta = crate::model_spec::ModelMetadata::from_json(SAMPLE_MODEL_JSON, std::path::Path::new("m")).unwrap();
        let mut model = meta.deployed();
        if queue {
            model.queue_url = Some("https://sqs/q".into());
        }
        serde_json::to_string(&[model]).unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env(move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn names_the_missing_variable() {
        let err = InferenceConfig::from_env(&env(&[(TABLE_NAME, "t")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing(BUCKET_NAME));
        assert!(err.to_string().contains("IMGPIPE_BUCKET_NAME"));
    }

    #[test]
    fn defaults_and_overrides() {
        let models = manifest(true);
        let config = PreprocessConfig::from_env(&env(&[
            (TABLE_NAME, "t"),
            (BUCKET_NAME, "b"),
            (MODELS, &models),
            (EVENT_BUS_NAME, "bus"),
            (AUTH_MODE, "iam"),
            (MAX_PIXELS, "1000"),
        ]))
        .unwrap();
        assert_eq!(config.limits.max_pixels, 1000);
        assert_eq!(config.limits.max_bytes, Limits::DEFAULT_MAX_BYTES);
        assert_eq!(config.routing.describe(), "efficientnet-lite0=100");
        assert!(config.model("efficientnet-lite0").is_some());
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let models = manifest(false);
        let base = [
            (TABLE_NAME, "t"),
            (BUCKET_NAME, "b"),
            (MODELS, models.as_str()),
            (AUTH_MODE, "iam"),
        ];
        for (name, value) in [
            (PRESIGN_EXPIRES_SECS, "soon"),
            (RETENTION_DAYS, "0"),
            (AUTH_MODE, "open"),
            (MODEL_ROUTING, "efficientnet-lite0=50"),
            (WEBHOOK_ALLOWED_HOSTS, "https://hooks.example"),
            (MODELS, "[]"),
        ] {
            let mut pairs: Vec<(&str, &str)> = base.iter().copied().filter(|(n, _)| *n != name).collect();
            pairs.push((name, value));
            let err = ApiConfig::from_env(&env(&pairs)).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
        let err = ApiConfig::from_env(&env(&base[..3])).unwrap_err();
        assert!(
            err.to_string().contains(AUTH_MODE),
            "the authorization mode is required: {err}"
        );
        let err =
            PreprocessConfig::from_env(&env(&[(TABLE_NAME, "t"), (BUCKET_NAME, "b"), (MODELS, &models)])).unwrap_err();
        assert!(err.to_string().contains("no queue_url"), "{err}");
    }

    #[test]
    fn webhook_hosts_are_exact_names_or_domain_suffixes() {
        let hosts = HostAllowList::parse("hooks.example.com, .partner.example").unwrap();
        assert!(hosts.allows("hooks.example.com"));
        assert!(hosts.allows("HOOKS.example.com."));
        assert!(hosts.allows("a.b.partner.example"));
        assert!(!hosts.allows("partner.example"), "a suffix entry covers names under it");
        assert!(!hosts.allows("evilhooks.example.com"));
        assert!(!hosts.allows("hooks.example.com.evil.net"));
        assert!(HostAllowList::parse("").unwrap().is_empty());
        assert!(HostAllowList::parse("10.0.0.1:443").is_err());
    }

    #[test]
    fn every_variable_read_is_listed() {
        // Reading with only the listed variables set must succeed, so no unlisted variable is required.
        let queued = manifest(true);
        let value = |name: &str| match name {
            MODELS => queued.clone(),
            AUTH_MODE => "jwt".into(),
            MODEL_ROUTING | WEBHOOK_ALLOWED_HOSTS | WEBHOOK_SECRET_ARN => String::new(),
            _ => "1".into(),
        };
        let only = |vars: &[&str]| {
            let map: HashMap<String, String> = vars.iter().map(|v| (v.to_string(), value(v))).collect();
            Env(move |name: &str| map.get(name).cloned())
        };
        ApiConfig::from_env(&only(ApiConfig::VARIABLES)).unwrap();
        PreprocessConfig::from_env(&only(PreprocessConfig::VARIABLES)).unwrap();
        InferenceConfig::from_env(&only(InferenceConfig::VARIABLES)).unwrap();
        SweeperConfig::from_env(&only(SweeperConfig::VARIABLES)).unwrap();
        NotifyConfig::from_env(&only(NotifyConfig::VARIABLES)).unwrap();
    }
}
