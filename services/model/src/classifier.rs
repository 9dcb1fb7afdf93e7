//! The classifier: preprocessed RGB pixels -> normalised NCHW tensor -> one ONNX Runtime call per batch
//! -> softmax -> top-k labels.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use imgpipe_domain::record::Prediction;
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{Tensor, TensorElementType};

use imgpipe_domain::model_spec::{Batch, ChannelOrder, Layout, ModelBundle, ModelMetaError, ModelMetadata, OutputKind};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot load the ONNX Runtime library {path}: {message}")]
    Runtime { path: PathBuf, message: String },
    #[error(transparent)]
    Metadata(#[from] ModelMetaError),
    #[error("cannot create the model session: {0}")]
    Session(String),
    #[error("model run failed: {0}")]
    Run(String),
    #[error("the model cannot be served: {0}")]
    Graph(String),
    #[error("input {index} has {actual} bytes, the model needs {expected}")]
    InputSize {
        index: usize,
        actual: usize,
        expected: usize,
    },
}

/// How ONNX Runtime is loaded and run.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Path of `libonnxruntime.so.1` (the layer puts it at `/opt/lib`).
    pub library: PathBuf,
    /// Threads for one model run; 0 lets ONNX Runtime use every core it sees.
    pub intra_threads: usize,
}

pub struct Classifier {
    session: Mutex<Session>,
    bundle: ModelBundle,
}

/// ONNX Runtime allows one environment per process; every classifier shares it.
static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

fn environment(library: &Path) -> Result<Environment, ModelError> {
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(env) = slot.as_ref() {
        return Ok(env.clone());
    }
    let runtime_error = |message: String| ModelError::Runtime {
        path: library.to_path_buf(),
        message,
    };
    if !library.is_file() {
        return Err(runtime_error("no such file".into()));
    }
    let env = ort::init_from(library)
        .map_err(|e| runtime_error(e.to_string()))?
        .with_name("imgpipe")
        .build()
        .map_err(|e| runtime_error(e.to_string()))?;
    *slot = Some(env.clone());
    Ok(env)
}

fn create_session(model_bytes: &[u8], options: &RuntimeOptions) -> Result<Session, ModelError> {
    fn session_error<T>(e: ort::Error<T>) -> ModelError {
        ModelError::Session(e.to_string())
    }
    let env = environment(&options.library)?;
    let mut builder = Session::builder(&env)
        .map_err(session_error)?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(session_error)?;
    if options.intra_threads > 0 {
        builder = builder
            .with_intra_threads(options.intra_threads)
            .map_err(session_error)?;
    }
    builder.commit_from_memory(model_bytes).map_err(session_error)
}

impl Classifier {
    /// Loads the runtime library (once per process), checks the model file against its metadata, creates
    /// the session and checks that the graph takes and returns what the metadata says. Call once per
    /// container, at cold start: a model this code cannot serve fails here, never at its first image.
    pub fn load(bundle: ModelBundle, options: &RuntimeOptions) -> Result<Self, ModelError> {
        let model_bytes = bundle.read_model_file()?;
        // Hashing the 18 MB model takes ~11 ms, as long as a third of the session set-up. It runs on a
        // second thread next to the library load and session creation, which are mostly single-threaded,
        // and a mismatch still fails the load before the session is ever used.
        let (digest, session) = std::thread::scope(|scope| {
            let digest = scope.spawn(|| bundle.check_model_digest(&model_bytes));
            let session = create_session(&model_bytes, options);
            let digest = digest
                .join()
                .unwrap_or_else(|_| Err(ModelMetaError::Invalid("the model digest check panicked".into())));
            (digest, session)
        });
        // A model that is not the one the metadata describes is the error worth reporting, whatever
        // the runtime made of it.
        digest?;
        let session = session?;
        check_graph(&session, &bundle.meta)?;
        Ok(Self {
            session: Mutex::new(session),
            bundle,
        })
    }

    pub fn metadata(&self) -> &ModelMetadata {
        &self.bundle.meta
    }

    /// Classifies a batch of preprocessed images (each `height * width * 3` RGB bytes, HWC) and returns
    /// the `top_k` predictions of each, best first: one model run for a dynamic batch, one run per chunk
    /// (the last one padded) for a model with a fixed batch size.
    pub fn classify(&self, images: &[&[u8]], top_k: usize) -> Result<Vec<Vec<Prediction>>, ModelError> {
        let chunk = match self.bundle.meta.input.batch {
            Batch::Dynamic => images.len().max(1),
            Batch::Fixed(n) => n as usize,
        };
        let mut predictions = Vec::with_capacity(images.len());
        for part in images.chunks(chunk) {
            predictions.extend(self.run(part, chunk, top_k)?);
        }
        Ok(predictions)
    }

    fn run(&self, images: &[&[u8]], chunk: usize, top_k: usize) -> Result<Vec<Vec<Prediction>>, ModelError> {
        let meta = &self.bundle.meta;
        let batch = match meta.input.batch {
            Batch::Dynamic => images.len(),
            Batch::Fixed(_) => chunk,
        };
        let mut tensor = to_tensor(images, meta)?;
        // A fixed batch is filled with zero images, whose results are dropped.
        tensor.resize(batch * meta.input_bytes(), 0.0);
        let (h, w) = (i64::from(meta.input.height), i64::from(meta.input.width));
        let shape = match meta.input.layout {
            Layout::Nchw => [batch as i64, 3, h, w],
            Layout::Nhwc => [batch as i64, h, w, 3],
        };
        let input = Tensor::from_array((shape, tensor)).map_err(|e| ModelError::Run(e.to_string()))?;
        let mut session = self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let outputs = session
            .run(ort::inputs![meta.input.name.as_str() => input])
            .map_err(|e| ModelError::Run(e.to_string()))?;
        let (out_shape, scores) = outputs[meta.output.name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| ModelError::Run(e.to_string()))?;
        let classes = meta.num_classes;
        // [N, C] or the same with unit dimensions between ([N, 1, 1, C]).
        let per_image: i64 = out_shape.iter().skip(1).product();
        if out_shape.first() != Some(&(batch as i64)) || per_image != classes as i64 {
            return Err(ModelError::Run(format!("unexpected output shape {out_shape:?}")));
        }
        Ok(scores
            .chunks_exact(classes)
            .take(images.len())
            .map(|row| match meta.output.kind {
                OutputKind::Logits => top_k_predictions(&softmax(row), top_k, &self.bundle.labels),
                OutputKind::Probabilities => top_k_predictions(row, top_k, &self.bundle.labels),
            })
            .collect())
    }
}

/// Whether the graph takes one float32 image tensor named as the metadata says, in its layout and size,
/// and returns `num_classes` scores per image under the output's name; says exactly what differs.
fn check_graph(session: &Session, meta: &ModelMetadata) -> Result<(), ModelError> {
    let refuse = |what: String| Err(ModelError::Graph(format!("model {}: {what}", meta.name)));
    let inputs = session.inputs();
    if inputs.len() != 1 {
        return refuse(format!(
            "the graph has {} inputs; an image classifier has one",
            inputs.len()
        ));
    }
    let input = &inputs[0];
    if input.name() != meta.input.name {
        return refuse(format!(
            "its input is {:?}, model.json says {:?}",
            input.name(),
            meta.input.name
        ));
    }
    if input.dtype().tensor_type() != Some(TensorElementType::Float32) {
        return refuse(format!(
            "its input {} is {:?}, not a float32 tensor",
            input.name(),
            input.dtype()
        ));
    }
    let dims: Vec<i64> = input.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default();
    let (h, w) = (i64::from(meta.input.height), i64::from(meta.input.width));
    let want: [i64; 3] = match meta.input.layout {
        Layout::Nchw => [3, h, w],
        Layout::Nhwc => [h, w, 3],
    };
    let fits = |dim: i64, want: i64| dim == want || dim < 0;
    if dims.len() != 4 || !dims[1..].iter().zip(want).all(|(d, w)| fits(*d, w)) {
        return refuse(format!(
            "its input has shape {dims:?}; model.json describes {:?} images of {}x{}",
            meta.input.layout, meta.input.width, meta.input.height
        ));
    }
    match meta.input.batch {
        Batch::Fixed(n) if !fits(dims[0], i64::from(n)) => {
            return refuse(format!("its batch dimension is {}, model.json says {n}", dims[0]))
        }
        Batch::Dynamic if dims[0] > 0 && dims[0] != 1 => {
            return refuse(format!(
                "its batch dimension is fixed at {}; say so in model.json",
                dims[0]
            ))
        }
        _ => {}
    }
    let Some(output) = session.outputs().iter().find(|o| o.name() == meta.output.name) else {
        let names: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        return refuse(format!(
            "it has no output {:?} (outputs: {})",
            meta.output.name,
            names.join(", ")
        ));
    };
    if output.dtype().tensor_type() != Some(TensorElementType::Float32) {
        return refuse(format!("its output {} is not a float32 tensor", output.name()));
    }
    let out: Vec<i64> = output.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default();
    let classes = out.last().copied().unwrap_or(0);
    let units = out.iter().skip(1).rev().skip(1).all(|d| *d == 1 || *d < 0);
    if out.len() < 2 || !(classes == meta.num_classes as i64 || classes < 0) || !units {
        return refuse(format!(
            "its output {} has shape {out:?}; {} scores per image were expected",
            output.name(),
            meta.num_classes
        ));
    }
    Ok(())
}

/// HWC RGB bytes -> the model's layout and channel order, normalised as the metadata says.
pub fn to_tensor(images: &[&[u8]], meta: &ModelMetadata) -> Result<Vec<f32>, ModelError> {
    let plane = meta.input.height as usize * meta.input.width as usize;
    let expected = plane * 3;
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / meta.normalization.std[c]);
    // Which RGB channel feeds the model's channel `c`.
    let source: [usize; 3] = match meta.input.channels {
        ChannelOrder::Rgb => [0, 1, 2],
        ChannelOrder::Bgr => [2, 1, 0],
    };
    let mut tensor = vec![0f32; images.len() * expected];
    for (index, (pixels, out)) in images.iter().zip(tensor.chunks_exact_mut(expected)).enumerate() {
        if pixels.len() != expected {
            return Err(ModelError::InputSize {
                index,
                actual: pixels.len(),
                expected,
            });
        }
        for (position, pixel) in pixels.chunks_exact(3).enumerate() {
            for (c, &from) in source.iter().enumerate() {
                let value = (f32::from(pixel[from]) - meta.normalization.mean[c]) * scale[c];
                match meta.input.layout {
                    Layout::Nchw => out[c * plane + position] = value,
                    Layout::Nhwc => out[position * 3 + c] = value,
                }
            }
        }
    }
    Ok(tensor)
}

pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

pub fn top_k_predictions(scores: &[f32], k: usize, labels: &[String]) -> Vec<Prediction> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(k)
        .map(|index| Prediction {
            label: labels.get(index).cloned().unwrap_or_else(|| format!("class_{index}")),
            class_index: index as u32,
            score: scores[index],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgpipe_domain::digest::sha256_hex;
    use imgpipe_domain::model_spec::ModelMetadata;
    use imgpipe_domain::testing::{model_dir, SAMPLE_MODEL_JSON};

    fn sample() -> ModelMetadata {
        ModelMetadata::from_json(SAMPLE_MODEL_JSON, Path::new("sample")).unwrap()
    }

    #[test]
    fn a_model_that_does_not_match_its_metadata_is_refused_whatever_the_runtime_says() {
        let dir = model_dir("classifier-digest", b"not the model");
        let bundle = ModelBundle::load(&dir).unwrap();
        let options = RuntimeOptions {
            library: dir.join("no-such-libonnxruntime.so"),
            intra_threads: 1,
        };
        let err = Classifier::load(bundle, &options)
            .err()
            .expect("a mismatched model must not load");
        assert!(err.to_string().contains("model.json expects cd"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn nchw_layout_and_normalisation() {
        let meta = sample();
        let plane = 224 * 224;
        let mut pixels = vec![0u8; plane * 3];
        // First pixel: R=255, G=127, B=0; last pixel R=0 G=0 B=255.
        pixels[..3].copy_from_slice(&[255, 127, 0]);
        let n = pixels.len();
        pixels[n - 3..].copy_from_slice(&[0, 0, 255]);
        let tensor = to_tensor(&[&pixels, &pixels], &meta).unwrap();
        assert_eq!(tensor.len(), 2 * 3 * plane);
        assert!((tensor[0] - 1.0).abs() < 1e-6, "R plane first");
        assert_eq!(tensor[plane], 0.0, "G plane second");
        assert!((tensor[2 * plane] + 127.0 / 128.0).abs() < 1e-6, "B plane third");
        assert!((tensor[3 * plane - 1] - 1.0).abs() < 1e-6, "last B");
        assert_eq!(
            tensor[3 * plane..],
            tensor[..3 * plane],
            "second image follows the first"
        );
    }

    #[test]
    fn nhwc_and_bgr_models_get_their_layout_and_channel_order() {
        let mut meta = sample();
        meta.input.layout = Layout::Nhwc;
        meta.input.channels = ChannelOrder::Bgr;
        let plane = 224 * 224;
        let mut pixels = vec![127u8; plane * 3];
        pixels[..3].copy_from_slice(&[255, 127, 0]);
        let tensor = to_tensor(&[&pixels], &meta).unwrap();
        // The first pixel's three channels come first, blue first.
        assert!((tensor[0] + 127.0 / 128.0).abs() < 1e-6, "B");
        assert_eq!(tensor[1], 0.0, "G");
        assert!((tensor[2] - 1.0).abs() < 1e-6, "R");
        assert_eq!(tensor[3], 0.0, "the second pixel follows");
    }

    #[test]
    fn wrong_input_size_is_an_error_not_a_panic() {
        let err = to_tensor(&[&[0u8; 10]], &sample()).unwrap_err();
        assert!(matches!(
            err,
            ModelError::InputSize {
                index: 0,
                actual: 10,
                ..
            }
        ));
    }

    #[test]
    fn softmax_and_top_k() {
        let scores = softmax(&[1.0, 3.0, 2.0, 3.0]);
        assert!((scores.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let labels: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let top = top_k_predictions(&scores, 3, &labels);
        // Ties keep class-index order, so results are deterministic.
        assert_eq!(top.iter().map(|p| p.class_index).collect::<Vec<_>>(), vec![1, 3, 2]);
        assert_eq!(top[0].label, "b");
        assert!(top[0].score > top[2].score);
    }

    #[test]
    fn missing_runtime_library_is_an_error() {
        let model = b"a model file that matches its metadata";
        let dir = model_dir("missing-runtime", model);
        let mut meta = sample();
        meta.sha256 = sha256_hex(model);
        let bundle = ModelBundle {
            dir: dir.clone(),
            rule: meta.rule().unwrap(),
            meta,
            labels: vec![String::new(); 1000],
        };
        let options = RuntimeOptions {
            library: PathBuf::from("/nonexistent/libonnxruntime.so.1"),
            intra_threads: 1,
        };
        let err = Classifier::load(bundle, &options).err().expect("must fail");
        assert!(matches!(err, ModelError::Runtime { .. }), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
