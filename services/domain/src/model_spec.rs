//! Models as the pipeline describes them: the preprocessing rule every stage needs, and a model
//! directory's metadata file (`model.json`, written by tools/model) with its labels.
//!
//! Every fact about a model that the Rust code needs (input size, normalisation, resize and crop rule,
//! labels) comes from `model.json`, so no constant lives in both Python and Rust. Reading it needs no
//! ONNX Runtime: preprocess reads the rule, inference (`imgpipe-model`) the rest.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::sha256_hex;
use crate::messages::{pixels_fit_in_a_message, MAX_SQS_MESSAGE_BYTES};

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ResizeFilter {
    Bilinear,
    Bicubic,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct PreprocessSpec {
    /// The shorter side is resized to this many pixels, keeping the aspect ratio.
    pub resize_shorter_side: u32,
    pub filter: ResizeFilter,
    /// Downscaling averages over the whole source footprint (as Pillow does), never point-samples.
    pub antialias: bool,
    /// Side of the square taken from the centre after resizing.
    pub center_crop: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelMetaError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid model metadata: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ModelMetadata {
    pub name: String,
    pub version: String,
    pub variant: String,
    pub file: String,
    pub sha256: String,
    pub labels_file: String,
    pub num_classes: usize,
    pub input: InputSpec,
    pub output: OutputSpec,
    pub normalization: Normalization,
    pub preprocess: PreprocessSpec,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct InputSpec {
    pub name: String,
    pub layout: String,
    pub channels: String,
    pub height: u32,
    pub width: u32,
    pub dtype: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct OutputSpec {
    pub name: String,
    pub kind: String,
}

/// `(pixel - mean) / std` per RGB channel, on 0..255 pixel values.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// The metadata plus the label names, as read from a model directory.
#[derive(Clone, Debug)]
pub struct ModelBundle {
    pub dir: PathBuf,
    pub meta: ModelMetadata,
    pub labels: Vec<String>,
}

impl ModelMetadata {
    pub fn from_json(json: &str, origin: &Path) -> Result<Self, ModelMetaError> {
        let meta: ModelMetadata = serde_json::from_str(json).map_err(|source| ModelMetaError::Parse {
            path: origin.to_path_buf(),
            source,
        })?;
        meta.validate()?;
        Ok(meta)
    }

    /// Rejects metadata this code cannot honour, so a mismatched model fails at cold start, not per image.
    fn validate(&self) -> Result<(), ModelMetaError> {
        let invalid = |what: String| Err(ModelMetaError::Invalid(format!("model {}: {what}", self.name)));
        if self.input.layout != "NCHW" || self.input.channels != "RGB" || self.input.dtype != "float32" {
            return invalid(format!(
                "input must be NCHW RGB float32, metadata says {} {} {}",
                self.input.layout, self.input.channels, self.input.dtype
            ));
        }
        if self.input.width != self.preprocess.center_crop || self.input.height != self.preprocess.center_crop {
            return invalid("the centre crop must equal the model input size".into());
        }
        if self.preprocess.resize_shorter_side < self.preprocess.center_crop {
            return invalid("resize_shorter_side is smaller than the crop".into());
        }
        if self.output.kind != "logits" {
            return invalid(format!("output kind {:?} is not supported", self.output.kind));
        }
        if self.normalization.std.iter().any(|s| *s <= 0.0) {
            return invalid("normalisation std must be positive".into());
        }
        if !pixels_fit_in_a_message(self.input_bytes()) {
            return invalid(format!(
                "its {} bytes of input pixels do not fit in the inference message (SQS takes {} bytes)",
                self.input_bytes(),
                MAX_SQS_MESSAGE_BYTES
            ));
        }
        Ok(())
    }

    /// Number of bytes of one preprocessed image: `height * width * 3` RGB bytes.
    pub fn input_bytes(&self) -> usize {
        self.input.height as usize * self.input.width as usize * 3
    }
}

impl ModelBundle {
    pub const METADATA_FILE: &'static str = "model.json";

    /// Reads `model.json` and the labels from `dir`. Does not touch the (large) model file.
    pub fn load(dir: &Path) -> Result<Self, ModelMetaError> {
        let meta_path = dir.join(Self::METADATA_FILE);
        let json = read_to_string(&meta_path)?;
        let meta = ModelMetadata::from_json(&json, &meta_path)?;
        let labels_path = dir.join(&meta.labels_file);
        let labels: Vec<String> = read_to_string(&labels_path)?.lines().map(str::to_owned).collect();
        if labels.len() != meta.num_classes {
            return Err(ModelMetaError::Invalid(format!(
                "{} has {} labels, the metadata says {}",
                labels_path.display(),
                labels.len(),
                meta.num_classes
            )));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            meta,
            labels,
        })
    }

    pub fn model_path(&self) -> PathBuf {
        self.dir.join(&self.meta.file)
    }

    /// The model file's bytes; the session is created from them, and `check_model_digest` checks them.
    pub fn read_model_file(&self) -> Result<Vec<u8>, ModelMetaError> {
        let path = self.model_path();
        std::fs::read(&path).map_err(|source| ModelMetaError::Read { path, source })
    }

    /// Checks the model's bytes against the sha256 in its metadata, so a model and metadata from
    /// different builds cannot be paired by accident.
    pub fn check_model_digest(&self, bytes: &[u8]) -> Result<(), ModelMetaError> {
        let hex = sha256_hex(bytes);
        if hex != self.meta.sha256 {
            return Err(ModelMetaError::Invalid(format!(
                "{} has sha256 {hex}, model.json expects {}",
                self.model_path().display(),
                self.meta.sha256
            )));
        }
        Ok(())
    }
}

fn read_to_string(path: &Path) -> Result<String, ModelMetaError> {
    std::fs::read_to_string(path).map_err(|source| ModelMetaError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{model_dir as bundle_dir, SAMPLE_MODEL_JSON as SAMPLE};

    fn sample() -> ModelMetadata {
        ModelMetadata::from_json(SAMPLE, Path::new("sample")).unwrap()
    }

    #[test]
    fn parses_the_builder_output_shape() {
        let meta = sample();
        assert_eq!(meta.preprocess.filter, ResizeFilter::Bicubic);
        assert_eq!(meta.input_bytes(), 224 * 224 * 3);
    }

    #[test]
    fn rejects_metadata_the_code_cannot_honour() {
        let bgr = SAMPLE.replace("\"RGB\"", "\"BGR\"");
        assert!(ModelMetadata::from_json(&bgr, Path::new("x")).is_err());
        let crop = SAMPLE.replace("\"center_crop\": 224", "\"center_crop\": 200");
        assert!(ModelMetadata::from_json(&crop, Path::new("x")).is_err());
        let filter = SAMPLE.replace("bicubic", "nearest");
        assert!(ModelMetadata::from_json(&filter, Path::new("x")).is_err());
        let too_big = SAMPLE
            .replace("\"height\": 224, \"width\": 224", "\"height\": 384, \"width\": 384")
            .replace("\"center_crop\": 224", "\"center_crop\": 384")
            .replace("\"resize_shorter_side\": 256", "\"resize_shorter_side\": 384");
        let err = ModelMetadata::from_json(&too_big, Path::new("x")).unwrap_err();
        assert!(err.to_string().contains("do not fit in the inference message"), "{err}");
    }

    #[test]
    fn the_model_digest_must_match_the_metadata() {
        let dir = bundle_dir("digest", b"not the model");
        let mut bundle = ModelBundle::load(&dir).unwrap();
        let bytes = bundle.read_model_file().unwrap();
        let err = bundle.check_model_digest(&bytes).unwrap_err();
        assert!(err.to_string().contains("model.json expects cd"), "{err}");
        bundle.meta.sha256 = sha256_hex(&bytes);
        bundle.check_model_digest(&bytes).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn load_names_the_missing_file() {
        let err = ModelBundle::load(Path::new("/nonexistent/model")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/model/model.json"), "{err}");
    }
}
