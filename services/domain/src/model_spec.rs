//! Models as the pipeline describes them.
//!
//! - [`PreprocessSpec`]/[`PixelRule`]: how to turn an image into a model's input pixels; every stage that
//!   prepares pixels needs only this, never the weights.
//! - [`DeployedModel`]: one entry of a deployment's model manifest (`IMGPIPE_MODELS`, written by Terraform
//!   from the artifacts manifest, or by the local pipeline): the API lists them, preprocess prepares pixels
//!   for them and routes them to the model's queue.
//! - [`ModelMetadata`]/[`ModelBundle`]: a model directory's `model.json` (written by tools/model) with its
//!   labels; inference loads the weights it names (`imgpipe-model`).
//!
//! Every fact about a model the Rust code needs comes from `model.json`, so no constant lives in both
//! Python and Rust. A model this code cannot serve is refused when its metadata is read (at cold start),
//! never at its first image.

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

/// How an image is brought to the model's input size.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Resize the shorter side (keeping the aspect ratio), then take the centre square: ImageNet's rule.
    #[default]
    ShorterSideThenCenterCrop,
    /// Resize to the input size exactly, whatever the aspect ratio.
    Stretch,
}

/// The preprocessing rule as `model.json` states it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct PreprocessSpec {
    #[serde(default)]
    pub resize: ResizeMode,
    /// Crop mode: the shorter side is resized to this many pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize_shorter_side: Option<u32>,
    /// Crop mode: side of the square taken from the centre after resizing (the input size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub center_crop: Option<u32>,
    pub filter: ResizeFilter,
    /// Downscaling averages over the whole source footprint (as Pillow does), never point-samples.
    pub antialias: bool,
}

/// A model's input image size.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct InputSize {
    pub height: u32,
    pub width: u32,
}

/// What the decode path must produce for one model: `width * height` RGB pixels, made by `resize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelRule {
    pub width: u32,
    pub height: u32,
    pub resize: Resize,
    pub filter: ResizeFilter,
    pub antialias: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resize {
    ShorterSideThenCenterCrop { shorter_side: u32 },
    Stretch,
}

impl PixelRule {
    /// The rule of `spec` for a model of input size `input`, or why it cannot be applied.
    pub fn new(spec: &PreprocessSpec, input: InputSize) -> Result<Self, String> {
        if input.width == 0 || input.height == 0 {
            return Err("the input size must be positive".into());
        }
        let resize = match spec.resize {
            ResizeMode::Stretch => Resize::Stretch,
            ResizeMode::ShorterSideThenCenterCrop => {
                let (Some(shorter_side), Some(crop)) = (spec.resize_shorter_side, spec.center_crop) else {
                    return Err("the centre-crop rule needs resize_shorter_side and center_crop".into());
                };
                if input.width != input.height || crop != input.width {
                    return Err(format!(
                        "the centre crop ({crop}) must equal the model's square input ({}x{}); use \"stretch\" \
                         for other input shapes",
                        input.width, input.height
                    ));
                }
                if shorter_side < crop {
                    return Err(format!(
                        "resize_shorter_side {shorter_side} is smaller than the crop {crop}"
                    ));
                }
                Resize::ShorterSideThenCenterCrop { shorter_side }
            }
        };
        Ok(Self {
            width: input.width,
            height: input.height,
            resize,
            filter: spec.filter,
            antialias: spec.antialias,
        })
    }

    /// The ImageNet-style rule: the shorter side to `shorter_side`, then the centre `crop` square.
    pub fn center_crop(shorter_side: u32, crop: u32, filter: ResizeFilter) -> Self {
        Self {
            width: crop,
            height: crop,
            resize: Resize::ShorterSideThenCenterCrop { shorter_side },
            filter,
            antialias: true,
        }
    }

    /// Bytes of one image's pixels: `height * width * 3` RGB.
    pub fn input_bytes(&self) -> usize {
        self.height as usize * self.width as usize * 3
    }

    /// The shorter side a reduced-scale decode must keep, so that the resize after it only shrinks.
    pub fn min_decoded_shorter_side(&self) -> u32 {
        match self.resize {
            Resize::ShorterSideThenCenterCrop { shorter_side } => shorter_side,
            // Either side may become the longer one after EXIF rotation: keep both at the larger target.
            Resize::Stretch => self.width.max(self.height),
        }
    }
}

/// One model of a deployment, as the stages other than its own inference function know it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct DeployedModel {
    pub name: String,
    pub version: String,
    pub variant: String,
    pub num_classes: usize,
    pub input: InputSize,
    pub preprocess: PreprocessSpec,
    /// The model's inference queue (preprocess only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<String>,
}

impl DeployedModel {
    pub fn rule(&self) -> Result<PixelRule, String> {
        PixelRule::new(&self.preprocess, self.input)
    }

    /// `IMGPIPE_MODELS`: a JSON array of models with unique, well-formed names and rules that apply.
    pub fn parse_manifest(json: &str) -> Result<Vec<DeployedModel>, String> {
        let models: Vec<DeployedModel> = serde_json::from_str(json).map_err(|e| format!("not a model list: {e}"))?;
        if models.is_empty() {
            return Err("lists no model".into());
        }
        for (index, model) in models.iter().enumerate() {
            if !valid_model_name(&model.name) {
                return Err(format!("model name {:?} must be 1-32 of a-z, 0-9 and -", model.name));
            }
            if models[..index].iter().any(|other| other.name == model.name) {
                return Err(format!("model {} is listed twice", model.name));
            }
            let rule = model.rule().map_err(|e| format!("model {}: {e}", model.name))?;
            if !pixels_fit_in_a_message(rule.input_bytes()) {
                return Err(format!(
                    "model {}: its input does not fit in an inference message",
                    model.name
                ));
            }
        }
        Ok(models)
    }
}

/// Model names become parts of function, queue and layer names: `{prefix}-inference-{model}`.
pub fn valid_model_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
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

/// A model directory's `model.json`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ModelMetadata {
    #[serde(default = "schema_one")]
    pub schema: u32,
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
    /// The same model, pre-optimised by the runtime's own version (tools/model/optimize_model.py).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternatives: Option<Alternatives>,
}

fn schema_one() -> u32 {
    1
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum Layout {
    #[serde(rename = "NCHW")]
    Nchw,
    #[serde(rename = "NHWC")]
    Nhwc,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum ChannelOrder {
    #[serde(rename = "RGB")]
    Rgb,
    #[serde(rename = "BGR")]
    Bgr,
}

/// The batch dimension: any size, or a fixed one (the batch is then run in chunks of it, padded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    Dynamic,
    Fixed(u32),
}

impl Serialize for Batch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Batch::Dynamic => serializer.serialize_str("dynamic"),
            Batch::Fixed(n) => serializer.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Fixed(u32),
            Named(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Fixed(0) => Err(serde::de::Error::custom("a fixed batch must be at least 1")),
            Raw::Fixed(n) => Ok(Batch::Fixed(n)),
            Raw::Named(name) if name == "dynamic" => Ok(Batch::Dynamic),
            Raw::Named(other) => Err(serde::de::Error::custom(format!(
                "batch must be \"dynamic\" or a number, not {other:?}"
            ))),
        }
    }
}

fn dynamic() -> Batch {
    Batch::Dynamic
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct InputSpec {
    pub name: String,
    pub layout: Layout,
    pub channels: ChannelOrder,
    pub height: u32,
    pub width: u32,
    pub dtype: String,
    #[serde(default = "dynamic")]
    pub batch: Batch,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// Raw scores: softmax gives the probabilities.
    Logits,
    /// Already probabilities (the graph ends in a softmax): used as they are.
    Probabilities,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct OutputSpec {
    pub name: String,
    pub kind: OutputKind,
}

/// `(pixel - mean) / std` per channel of the model's channel order, on 0..255 pixel values.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Alternatives {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimized_onnx: Option<AlternativeFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ort: Option<AlternativeFile>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct AlternativeFile {
    pub file: String,
    pub sha256: String,
}

/// The metadata plus the label names, as read from a model directory.
#[derive(Clone, Debug)]
pub struct ModelBundle {
    pub dir: PathBuf,
    pub meta: ModelMetadata,
    pub labels: Vec<String>,
    /// The rule the model's pixels are made by.
    pub rule: PixelRule,
}

impl ModelMetadata {
    pub fn from_json(json: &str, origin: &Path) -> Result<Self, ModelMetaError> {
        let meta: ModelMetadata = serde_json::from_str(json).map_err(|source| ModelMetaError::Parse {
            path: origin.to_path_buf(),
            source,
        })?;
        meta.rule()?;
        Ok(meta)
    }

    pub fn input_size(&self) -> InputSize {
        InputSize {
            height: self.input.height,
            width: self.input.width,
        }
    }

    /// The pixel rule, after checking everything this code must honour.
    pub fn rule(&self) -> Result<PixelRule, ModelMetaError> {
        let invalid = |what: String| ModelMetaError::Invalid(format!("model {}: {what}", self.name));
        if !valid_model_name(&self.name) {
            return Err(invalid("the name must be 1-32 of a-z, 0-9 and -".into()));
        }
        if self.input.dtype != "float32" {
            return Err(invalid(format!(
                "the input must be float32, metadata says {}",
                self.input.dtype
            )));
        }
        if self.num_classes == 0 {
            return Err(invalid("num_classes must be positive".into()));
        }
        if self.normalization.std.iter().any(|s| *s <= 0.0) {
            return Err(invalid("normalisation std must be positive".into()));
        }
        let rule = PixelRule::new(&self.preprocess, self.input_size()).map_err(invalid)?;
        if !pixels_fit_in_a_message(rule.input_bytes()) {
            return Err(invalid(format!(
                "its {} bytes of input pixels do not fit in the inference message (SQS takes {} bytes)",
                rule.input_bytes(),
                MAX_SQS_MESSAGE_BYTES
            )));
        }
        Ok(rule)
    }

    /// Number of bytes of one preprocessed image: `height * width * 3` RGB bytes.
    pub fn input_bytes(&self) -> usize {
        self.input.height as usize * self.input.width as usize * 3
    }

    /// The model as a deployment's manifest lists it.
    pub fn deployed(&self) -> DeployedModel {
        DeployedModel {
            name: self.name.clone(),
            version: self.version.clone(),
            variant: self.variant.clone(),
            num_classes: self.num_classes,
            input: self.input_size(),
            preprocess: self.preprocess.clone(),
            queue_url: None,
        }
    }
}

impl ModelBundle {
    pub const METADATA_FILE: &'static str = "model.json";

    /// Reads `model.json` and the labels from `dir`. Does not touch the (large) model file.
    pub fn load(dir: &Path) -> Result<Self, ModelMetaError> {
        let meta_path = dir.join(Self::METADATA_FILE);
        let json = read_to_string(&meta_path)?;
        let meta = ModelMetadata::from_json(&json, &meta_path)?;
        let rule = meta.rule()?;
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
            rule,
        })
    }

    /// The model file to load and the sha256 it must have: the pre-optimised graph when the directory
    /// has it (the session then skips most graph rewriting at cold start), else the plain one.
    pub fn model_file(&self) -> (PathBuf, &str) {
        if let Some(optimized) = self.meta.alternatives.as_ref().and_then(|a| a.optimized_onnx.as_ref()) {
            let path = self.dir.join(&optimized.file);
            if path.is_file() {
                return (path, &optimized.sha256);
            }
        }
        (self.dir.join(&self.meta.file), &self.meta.sha256)
    }

    pub fn model_path(&self) -> PathBuf {
        self.model_file().0
    }

    /// The model file's bytes; the session is created from them, and `check_model_digest` checks them.
    pub fn read_model_file(&self) -> Result<Vec<u8>, ModelMetaError> {
        let path = self.model_path();
        std::fs::read(&path).map_err(|source| ModelMetaError::Read { path, source })
    }

    /// Checks the model's bytes against the sha256 in its metadata, so a model and metadata from
    /// different builds cannot be paired by accident.
    pub fn check_model_digest(&self, bytes: &[u8]) -> Result<(), ModelMetaError> {
        let (path, expected) = self.model_file();
        let hex = sha256_hex(bytes);
        if hex != expected {
            return Err(ModelMetaError::Invalid(format!(
                "{} has sha256 {hex}, model.json expects {expected}",
                path.display(),
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
        assert_eq!(meta.input.batch, Batch::Dynamic, "schema 1: dynamic by default");
        assert_eq!(
            meta.rule().unwrap(),
            PixelRule {
                width: 224,
                height: 224,
                resize: Resize::ShorterSideThenCenterCrop { shorter_side: 256 },
                filter: ResizeFilter::Bicubic,
                antialias: true,
            }
        );
    }

    #[test]
    fn reads_schema_two_with_other_layouts_outputs_and_resize_rules() {
        let imported = SAMPLE
            .replace("\"NCHW\"", "\"NHWC\"")
            .replace("\"RGB\"", "\"BGR\"")
            .replace("\"dtype\": \"float32\"", "\"dtype\": \"float32\", \"batch\": 1")
            .replace("\"kind\": \"logits\"", "\"kind\": \"probabilities\"")
            .replace(
                "\"resize_shorter_side\": 256, \"filter\": \"bicubic\", \"antialias\": true, \"center_crop\": 224",
                "\"resize\": \"stretch\", \"filter\": \"bilinear\", \"antialias\": true",
            );
        let meta = ModelMetadata::from_json(&imported, Path::new("x")).unwrap();
        assert_eq!(
            (meta.input.layout, meta.input.channels),
            (Layout::Nhwc, ChannelOrder::Bgr)
        );
        assert_eq!(meta.input.batch, Batch::Fixed(1));
        assert_eq!(meta.output.kind, OutputKind::Probabilities);
        assert_eq!(meta.rule().unwrap().resize, Resize::Stretch);
        assert_eq!(meta.rule().unwrap().min_decoded_shorter_side(), 224);
    }

    #[test]
    fn rejects_metadata_the_code_cannot_honour() {
        for (from, to, says) in [
            ("\"center_crop\": 224", "\"center_crop\": 200", "centre crop"),
            ("bicubic", "nearest", "not valid model metadata"),
            ("\"float32\"", "\"uint8\"", "float32"),
            ("\"NCHW\"", "\"CHW\"", "not valid model metadata"),
            (
                "\"kind\": \"logits\"",
                "\"kind\": \"embeddings\"",
                "not valid model metadata",
            ),
            (
                "\"resize_shorter_side\": 256",
                "\"resize_shorter_side\": 200",
                "smaller than the crop",
            ),
            ("\"efficientnet-lite0\"", "\"Efficient Net\"", "name"),
            (
                "\"dtype\": \"float32\"",
                "\"dtype\": \"float32\", \"batch\": 0",
                "at least 1",
            ),
        ] {
            let err = ModelMetadata::from_json(&SAMPLE.replace(from, to), Path::new("x")).unwrap_err();
            assert!(err.to_string().contains(says), "{to}: {err}");
        }
        let too_big = SAMPLE
            .replace("\"height\": 224, \"width\": 224", "\"height\": 384, \"width\": 384")
            .replace("\"center_crop\": 224", "\"center_crop\": 384")
            .replace("\"resize_shorter_side\": 256", "\"resize_shorter_side\": 384");
        let err = ModelMetadata::from_json(&too_big, Path::new("x")).unwrap_err();
        assert!(err.to_string().contains("do not fit in the inference message"), "{err}");
    }

    #[test]
    fn the_model_manifest_lists_valid_unique_models() {
        let entry = serde_json::to_value(sample().deployed()).unwrap();
        let one = serde_json::json!([entry]).to_string();
        assert_eq!(
            DeployedModel::parse_manifest(&one).unwrap()[0].name,
            "efficientnet-lite0"
        );
        let twice = serde_json::json!([entry, entry]).to_string();
        assert!(DeployedModel::parse_manifest(&twice).unwrap_err().contains("twice"));
        assert!(DeployedModel::parse_manifest("[]").unwrap_err().contains("no model"));
        assert!(DeployedModel::parse_manifest("{").is_err());
        let mut bad = entry.clone();
        bad["preprocess"]["center_crop"] = 100.into();
        assert!(DeployedModel::parse_manifest(&serde_json::json!([bad]).to_string()).is_err());
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
    fn a_pre_optimised_file_is_preferred_and_checked_against_its_own_digest() {
        let dir = bundle_dir("alternative", b"plain");
        std::fs::write(dir.join("model.opt.onnx"), b"optimised").unwrap();
        let mut bundle = ModelBundle::load(&dir).unwrap();
        bundle.meta.alternatives = Some(Alternatives {
            optimized_onnx: Some(AlternativeFile {
                file: "model.opt.onnx".into(),
                sha256: sha256_hex(b"optimised"),
            }),
            ort: None,
        });
        let bytes = bundle.read_model_file().unwrap();
        assert_eq!(bytes, b"optimised");
        bundle.check_model_digest(&bytes).unwrap();
        std::fs::remove_file(dir.join("model.opt.onnx")).unwrap();
        assert_eq!(bundle.read_model_file().unwrap(), b"plain", "absent: the plain file");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn load_names_the_missing_file() {
        let err = ModelBundle::load(Path::new("/nonexistent/model")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/model/model.json"), "{err}");
    }
}
