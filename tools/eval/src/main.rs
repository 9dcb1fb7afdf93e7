//! `imgpipe-eval`: accuracy of the Rust path (the same preprocessing and model code the Lambdas run) on a
//! folder of labelled images. The last line printed is the JSON summary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use imgpipe_domain::limits::Limits;
use imgpipe_domain::model_spec::ModelBundle;
use imgpipe_model::{Classifier, RuntimeOptions};
use imgpipe_vision::preprocess;

const USAGE: &str = "usage: imgpipe-eval --model-dir DIR [--model-dir DIR2 ...] --ort-library PATH --dir FOLDER [--batch N] [--threads N]
FOLDER holds the images and labels.tsv (columns: file, class_index, ...; header line first).
One JSON line per model; the last line repeats the first model's figures with every model under \"variants\".";

struct Args {
    model_dirs: Vec<PathBuf>,
    ort_library: PathBuf,
    dir: PathBuf,
    batch: usize,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut model_dirs, mut ort_library, mut dir) = (Vec::new(), None, None);
    let (mut batch, mut threads) = (8, 0);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model-dir" => model_dirs.push(PathBuf::from(value()?)),
            "--ort-library" => ort_library = Some(PathBuf::from(value()?)),
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--batch" => batch = value()?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--threads" => threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if model_dirs.is_empty() {
        return Err("--model-dir is required".into());
    }
    Ok(Args {
        model_dirs,
        ort_library: ort_library.ok_or("--ort-library is required")?,
        dir: dir.ok_or("--dir is required")?,
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

/// Scores one model on every labelled image.
fn score(model_dir: &Path, args: &Args, labels: &[(String, u32)]) -> Result<serde_json::Value, String> {
    let bundle = ModelBundle::load(model_dir).map_err(|e| e.to_string())?;
    let spec = bundle.rule;
    let options = RuntimeOptions {
        library: args.ort_library.clone(),
        intra_threads: args.threads,
    };
    let classifier = Classifier::load(bundle, &options).map_err(|e| e.to_string())?;
    let (mut top1, mut top5, mut failed) = (0usize, 0usize, 0usize);
    for chunk in labels.chunks(args.batch) {
        let mut inputs = Vec::new();
        let mut expected = Vec::new();
        for (file, class) in chunk {
            let bytes = std::fs::read(args.dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
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
        "model": format!("{}-{}", meta.name, meta.version),
        "variant": meta.variant,
        "images": images,
        "failed": failed,
        "top1": top1 as f64 / images.max(1) as f64,
        "top5": top5 as f64 / images.max(1) as f64,
    }))
}

fn run(args: Args) -> Result<serde_json::Value, String> {
    if !args.dir.is_dir() {
        return Err(format!("evaluation folder {} is absent", args.dir.display()));
    }
    let labels = read_labels(&args.dir)?;
    let mut variants = serde_json::Map::new();
    let mut first: Option<serde_json::Value> = None;
    for model_dir in &args.model_dirs {
        let result = score(model_dir, &args, &labels)?;
        println!("{result}");
        let variant = result["variant"].as_str().unwrap_or("unknown").to_owned();
        first.get_or_insert_with(|| result.clone());
        variants.insert(variant, result);
    }
    let mut summary = first.unwrap_or_default();
    summary["variants"] = serde_json::Value::Object(variants);
    Ok(summary)
}

fn main() -> ExitCode {
    let outcome = parse_args().and_then(run);
    match outcome {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("imgpipe-eval: {message}");
            ExitCode::FAILURE
        }
    }
}
