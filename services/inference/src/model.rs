//! What the batch needs from a model: its input size, its name, and one run over a batch of pixels.

use imgpipe_domain::messages::ModelRef;
use imgpipe_domain::record::Prediction;
use imgpipe_model::{Classifier, ModelError};

pub trait Model: Send + Sync + 'static {
    /// Bytes of one image's pixels (`height * width * 3`).
    fn input_bytes(&self) -> usize;

    /// The model as results name it: its name, and its version with the variant (`0.1.0-fp32`).
    fn model_ref(&self) -> ModelRef;

    /// The `top_k` predictions of each image, best first, from one run.
    fn classify(&self, images: &[&[u8]], top_k: usize) -> Result<Vec<Vec<Prediction>>, ModelError>;
}

impl Model for Classifier {
    fn input_bytes(&self) -> usize {
        self.metadata().input_bytes()
    }

    fn model_ref(&self) -> ModelRef {
        let meta = self.metadata();
        ModelRef {
            name: meta.name.clone(),
            version: format!("{}-{}", meta.version, meta.variant),
        }
    }

    fn classify(&self, images: &[&[u8]], top_k: usize) -> Result<Vec<Vec<Prediction>>, ModelError> {
        Classifier::classify(self, images, top_k)
    }
}
