//! The classifier of the inference function: a model directory (`model.json`, labels, the ONNX file)
//! loaded into an ONNX Runtime session once per container, then one run per batch of images.
//!
//! # Layout
//!
//! - [`classifier`]: the model directory's file checked against the sha256 of its `model.json`
//!   (`imgpipe_domain::model_spec`), the runtime library (loaded at run time, `ort`'s `load-dynamic`), the session, and
//!   pixels -> normalised tensor -> one run -> softmax -> top-k.

pub mod classifier;

pub use classifier::{Classifier, ModelError, Prediction, RuntimeOptions};
pub use imgpipe_domain::model_spec::{ModelBundle, ModelMetaError, ModelMetadata};
