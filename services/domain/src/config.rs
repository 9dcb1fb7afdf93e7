//! Configuration of each function, read once from environment variables at cold start.
//!
//! Each config lists the variables it reads in `VARIABLES`; the Terraform consistency test compares
//! those lists with what the compute module sets, so a renamed variable fails a test, not a deploy.

use std::path::PathBuf;
use std::str::FromStr;

use crate::limits::Limits;

pub const TABLE_NAME: &str = "IMGPIPE_TABLE_NAME";
pub const BUCKET_NAME: &str = "IMGPIPE_BUCKET_NAME";
pub const INFERENCE_QUEUE_URL: &str = "IMGPIPE_INFERENCE_QUEUE_URL";
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
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiConfig {
    pub table_name: String,
    pub bucket_name: String,
    pub presign_expires_secs: u64,
    /// Largest image accepted directly in a `POST /images` body (the rest use the presigned upload).
    pub max_inline_bytes: u64,
    pub max_upload_bytes: u64,
    pub retention_days: u64,
}

impl ApiConfig {
    pub const VARIABLES: &'static [&'static str] = &[
        TABLE_NAME,
        BUCKET_NAME,
        PRESIGN_EXPIRES_SECS,
        MAX_INLINE_BYTES,
        MAX_UPLOAD_BYTES,
        RETENTION_DAYS,
    ];
    /// A Lambda invocation payload is at most 6 MB and binary bodies arrive base64-encoded (4/3 larger).
    pub const DEFAULT_MAX_INLINE_BYTES: u64 = 4 * 1024 * 1024;

    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: env.required(TABLE_NAME)?,
            bucket_name: env.required(BUCKET_NAME)?,
            presign_expires_secs: env.positive(PRESIGN_EXPIRES_SECS, 900)?,
            max_inline_bytes: env.positive(MAX_INLINE_BYTES, Self::DEFAULT_MAX_INLINE_BYTES)?,
            max_upload_bytes: env.positive(MAX_UPLOAD_BYTES, Limits::DEFAULT_MAX_BYTES)?,
            retention_days: env.positive(RETENTION_DAYS, 30)?,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PreprocessConfig {
    pub table_name: String,
    pub bucket_name: String,
    pub inference_queue_url: String,
    pub model_dir: PathBuf,
    pub limits: Limits,
    /// The preprocess queue's maxReceiveCount: on that delivery a transient failure becomes final.
    pub max_receive_count: u32,
}

impl PreprocessConfig {
    pub const VARIABLES: &'static [&'static str] = &[
        TABLE_NAME,
        BUCKET_NAME,
        INFERENCE_QUEUE_URL,
        MODEL_DIR,
        MAX_UPLOAD_BYTES,
        MAX_PIXELS,
        MAX_RECEIVE_COUNT,
    ];

    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: env.required(TABLE_NAME)?,
            bucket_name: env.required(BUCKET_NAME)?,
            inference_queue_url: env.required(INFERENCE_QUEUE_URL)?,
            model_dir: PathBuf::from(env.optional(MODEL_DIR, DEFAULT_MODEL_DIR.to_string())?),
            limits: Limits {
                max_bytes: env.positive(MAX_UPLOAD_BYTES, Limits::DEFAULT_MAX_BYTES)?,
                max_pixels: env.positive(MAX_PIXELS, Limits::DEFAULT_MAX_PIXELS)?,
            },
            max_receive_count: env.positive(MAX_RECEIVE_COUNT, 5)? as u32,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct InferenceConfig {
    pub table_name: String,
    pub model_dir: PathBuf,
    pub ort_library: PathBuf,
    /// 0: let ONNX Runtime use every core the function gets.
    pub ort_threads: usize,
    pub top_k: usize,
    pub max_receive_count: u32,
}

impl InferenceConfig {
    pub const VARIABLES: &'static [&'static str] = &[
        TABLE_NAME,
        MODEL_DIR,
        ORT_LIBRARY,
        ORT_THREADS,
        TOP_K,
        MAX_RECEIVE_COUNT,
    ];

    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: env.required(TABLE_NAME)?,
            model_dir: PathBuf::from(env.optional(MODEL_DIR, DEFAULT_MODEL_DIR.to_string())?),
            ort_library: PathBuf::from(env.optional(ORT_LIBRARY, DEFAULT_ORT_LIBRARY.to_string())?),
            ort_threads: env.optional(ORT_THREADS, 0)?,
            top_k: env.positive(TOP_K, 5)? as usize,
            max_receive_count: env.positive(MAX_RECEIVE_COUNT, 5)? as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env(move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn names_the_missing_variable() {
        let err = PreprocessConfig::from_env(&env(&[(TABLE_NAME, "t")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing(BUCKET_NAME));
        assert!(err.to_string().contains("IMGPIPE_BUCKET_NAME"));
    }

    #[test]
    fn defaults_and_overrides() {
        let config = PreprocessConfig::from_env(&env(&[
            (TABLE_NAME, "t"),
            (BUCKET_NAME, "b"),
            (INFERENCE_QUEUE_URL, "q"),
            (MAX_PIXELS, "1000"),
        ]))
        .unwrap();
        assert_eq!(config.limits.max_pixels, 1000);
        assert_eq!(config.limits.max_bytes, Limits::DEFAULT_MAX_BYTES);
        assert_eq!(config.model_dir, PathBuf::from(DEFAULT_MODEL_DIR));
        assert_eq!(config.max_receive_count, 5);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let err = ApiConfig::from_env(&env(&[
            (TABLE_NAME, "t"),
            (BUCKET_NAME, "b"),
            (PRESIGN_EXPIRES_SECS, "soon"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains(PRESIGN_EXPIRES_SECS), "{err}");
        let err =
            ApiConfig::from_env(&env(&[(TABLE_NAME, "t"), (BUCKET_NAME, "b"), (RETENTION_DAYS, "0")])).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: RETENTION_DAYS,
                ..
            }
        ));
    }

    #[test]
    fn every_variable_read_is_listed() {
        // Reading with only the listed variables set must succeed, so no unlisted variable is required.
        let only = |vars: &[&str]| env(&vars.iter().map(|v| (*v, "1")).collect::<Vec<_>>());
        ApiConfig::from_env(&only(ApiConfig::VARIABLES)).unwrap();
        PreprocessConfig::from_env(&only(PreprocessConfig::VARIABLES)).unwrap();
        InferenceConfig::from_env(&only(InferenceConfig::VARIABLES)).unwrap();
    }
}
