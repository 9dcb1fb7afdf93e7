//! `imgpipe-eval`: accuracy of the Rust path (the same preprocessing and model code the Lambdas run) on a
//! folder of labelled images, one JSON line per model; or, with `--images`, the top-5 of each image, so
//! that two builds of the path (x86_64 and arm64) can be compared prediction by prediction.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use imgpipe_domain::limits::Limits;
use imgpipe_domain::model_spec::{ModelBundle, PixelRule};
use imgpipe_model::{Classifier, RuntimeOptions};
use imgpipe_vision::preprocess;

const USAGE: &str = "usage: imgpipe-eval --model-dir DIR [--model-dir DIR2 ...] --ort-library PATH
         (--dir FOLDER | --images FILE [FILE ...]) [--batch N] [--threads N]
FOLDER holds the images and labels.tsv (columns: file, class_index, ...; header line first): one JSON line
per model, {model, version, variant, images, failed, top1, top5}.
--images: one JSON line per model and image, {model, variant, file, top5: [{class_index, score}]}.";

enum Input {
    Labelled(PathBuf),
    Images(Vec<PathBuf>),
}

struct Args {
    model_dirs: Vec<PathBuf>,
    ort_library: PathBuf,
    input: Input,
    batch: usize,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut model_dirs, mut ort_library, mut dir, mut images) = (Vec::new(), None, None, Vec::new());
    let (mut batch, mut threads) = (8, 0);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        if !images.is_empty() && !flag.starts_with("--") {
            images.push(PathBuf::from(flag));
            continue;
        }
        match flag.as_str() {
            "--model-dir" => model_dirs.push(PathBuf::from(value()?)),
            "--ort-library" => ort_library = Some(PathBuf::from(value()?)),
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--images" => images.push(PathBuf::from(value()?)),
            "--batch" => batch = value()?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--threads" => threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if model_dirs.is_empty() {
        return Err("--model-dir is required".into());
    }
    let input = match (dir, images.is_empty()) {
        (Some(dir), true) => Input::Labelled(dir),
        (None, false) => Input::Images(images),
        (Some(_), false) => return Err("--dir and --images exclude each other".into()),
        (None, true) => return Err(format!("--dir or --images is required\n{USAGE}")),
    };
    Ok(Args {
        model_dirs,
        ort_library: ort_library.ok_or("--ort-library is required")?,
        input,
        batch: batch.max(1),
        threads,
    })
}

/// `(file, class_index)` rows of labels.tsv.
fn read_labels(dir: &Path) -> Result<Vec<(String, u32)>, String> {
    let path = dir.join("labels.tsv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut fields = line.split('\t');
            let file = fields.next().unwrap_or_default().to_owned();
            let class = fields
                .next()
                .and_then(|c| c.trim().parse().ok())
                .ok_or_else(|| format!("bad line in {}: {line:?}", path.display()))?;
            Ok((file, class))
        })
        .collect()
}

fn load(model_dir: &Path, args: &Args) -> Result<(Classifier, PixelRule), String> {
    let bundle = ModelBundle::load(model_dir).map_err(|e| format!("{}: {e}", model_dir.display()))?;
    let spec = bundle.rule;
    let options = RuntimeOptions {
        library: args.ort_library.clone(),
        intra_threads: args.threads,
    };
    let classifier = Classifier::load(bundle, &options).map_err(|e| format!("{}: {e}", model_dir.display()))?;
    Ok((classifier, spec))
}

/// Scores one model on every labelled image of `dir`.
fn score(model_dir: &Path, args: &Args, dir: &Path, labels: &[(String, u32)]) -> Result<serde_json::Value, String> {
    let (classifier, spec) = load(model_dir, args)?;
    let (mut top1, mut top5, mut failed) = (0usize, 0usize, 0usize);
    for chunk in labels.chunks(args.batch) {
        let mut inputs = Vec::new();
        let mut expected = Vec::new();
        for (file, class) in chunk {
            let bytes = std::fs::read(dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
            match preprocess(&bytes, &spec, &Limits::default()) {
                Ok(prepared) => {
                    inputs.push(prepared.pixels);
                    expected.push(*class);
                }
                Err(err) => {
                    eprintln!("{file}: {err}");
                    failed += 1;
                }
            }
        }
        let views: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let results = classifier.classify(&views, 5).map_err(|e| e.to_string())?;
        for (predictions, class) in results.iter().zip(expected) {
            top1 += usize::from(predictions.first().map(|p| p.class_index) == Some(class));
            top5 += usize::from(predictions.iter().any(|p| p.class_index == class));
        }
    }
    let images = labels.len();
    let meta = classifier.metadata();
    Ok(serde_json::json!({
        "model": meta.name,
        "version": meta.version,
        "variant": meta.variant,
        "images": images,
        "failed": failed,
        "top1": top1 as f64 / images.max(1) as f64,
        "top5": top5 as f64 / images.max(1) as f64,
    }))
}

/// One line per image: its top-5 by one model. An image that cannot be prepared is an error: the
/// comparison this serves needs every image.
fn top5(model_dir: &Path, args: &Args, files: &[PathBuf]) -> Result<Vec<serde_json::Value>, String> {
    let (classifier, spec) = load(model_dir, args)?;
    let meta = classifier.metadata();
    let mut lines = Vec::new();
    for file in files {
        let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let prepared = preprocess(&bytes, &spec, &Limits::default()).map_err(|e| format!("{}: {e}", file.display()))?;
        let results = classifier
            .classify(&[prepared.pixels.as_slice()], 5)
            .map_err(|e| e.to_string())?;
        let predictions: Vec<_> = results
            .first()
            .into_iter()
            .flatten()
            .map(|p| serde_json::json!({"class_index": p.class_index, "score": p.score}))
            .collect();
        lines.push(serde_json::json!({
            "model": meta.name,
            "variant": meta.variant,
            "file": file.file_name().map(|n| n.to_string_lossy().into_owned()),
            "top5": predictions,
        }));
    }
    Ok(lines)
}

fn run(args: &Args) -> Result<(), String> {
    match &args.input {
        Input::Labelled(dir) => {
            if !dir.is_dir() {
                return Err(format!("evaluation folder {} is absent", dir.display()));
            }
            let labels = read_labels(dir)?;
            for model_dir in &args.model_dirs {
                println!("{}", score(model_dir, args, dir, &labels)?);
            }
        }
        Input::Images(files) => {
            for model_dir in &args.model_dirs {
                for line in top5(model_dir, args, files)? {
                    println!("{line}");
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(|args| run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("imgpipe-eval: {message}");
            ExitCode::FAILURE
        }
    }
}
