//! `imgpipe-bench`: the Rust half of `make bench` (bench/run.py runs it side by side with the Python
//! baseline). Every subcommand prints one JSON line; times are milliseconds.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use imgpipe_domain::limits::Limits;
use imgpipe_domain::model_spec::ModelBundle;
use imgpipe_model::{Classifier, RuntimeOptions};
use imgpipe_vision::preprocess;
use serde_json::{json, Value};

const USAGE: &str = "usage:
  imgpipe-bench preprocess --model-dir DIR --repeat N FILE...
  imgpipe-bench infer      --model-dir DIR --ort-library LIB --threads T --batch B --repeat N
  imgpipe-bench pipeline   --model-dir DIR --ort-library LIB --threads T --repeat N FILE...
  imgpipe-bench cold-start --model-dir DIR --ort-library LIB --threads T FILE
  imgpipe-bench session    --model-dir DIR --ort-library LIB --threads T --repeat N";

type Error = Box<dyn std::error::Error>;

struct Args {
    model_dir: PathBuf,
    ort_library: PathBuf,
    threads: usize,
    batch: usize,
    repeat: usize,
    files: Vec<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args, Error> {
    let mut parsed = Args {
        model_dir: PathBuf::from("build/model"),
        ort_library: PathBuf::from("build/onnxruntime/x64/libonnxruntime.so.1"),
        threads: 0,
        batch: 1,
        repeat: 10,
        files: Vec::new(),
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = || iter.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--model-dir" => parsed.model_dir = PathBuf::from(value()?),
            "--ort-library" => parsed.ort_library = PathBuf::from(value()?),
            "--threads" => parsed.threads = value()?.parse()?,
            "--batch" => parsed.batch = value()?.parse::<usize>()?.max(1),
            "--repeat" => parsed.repeat = value()?.parse::<usize>()?.max(1),
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}\n{USAGE}").into()),
            file => parsed.files.push(PathBuf::from(file)),
        }
    }
    Ok(parsed)
}

/// `{"median","p10","p90","min","n"}` of a sample, in milliseconds.
fn stats(mut samples: Vec<f64>) -> Value {
    if samples.is_empty() {
        return json!({"n": 0});
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    json!({"median": at(0.5), "p10": at(0.1), "p90": at(0.9), "min": samples[0], "n": samples.len()})
}

fn millis(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

fn read_files(files: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>, Error> {
    if files.is_empty() {
        return Err(format!("no input files\n{USAGE}").into());
    }
    files
        .iter()
        .map(|f| {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            Ok((name, std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?))
        })
        .collect()
}

fn classifier(args: &Args) -> Result<Classifier, Error> {
    let bundle = ModelBundle::load(&args.model_dir)?;
    let options = RuntimeOptions {
        library: args.ort_library.clone(),
        intra_threads: args.threads,
    };
    Ok(Classifier::load(bundle, &options)?)
}

fn cmd_preprocess(args: &Args) -> Result<Value, Error> {
    let spec = ModelBundle::load(&args.model_dir)?.rule;
    let inputs = read_files(&args.files)?;
    let limits = Limits::default();
    let mut all = Vec::new();
    let mut per_file = serde_json::Map::new();
    for (name, bytes) in &inputs {
        preprocess(bytes, &spec, &limits)?;
        let mut samples = Vec::with_capacity(args.repeat);
        for _ in 0..args.repeat {
            let start = Instant::now();
            std::hint::black_box(preprocess(bytes, &spec, &limits)?);
            samples.push(millis(start));
        }
        per_file.insert(name.clone(), stats(samples.clone())["median"].clone());
        all.extend(samples);
    }
    Ok(
        json!({"files": inputs.len(), "repeat": args.repeat, "per_image_ms": stats(all), "per_file_median_ms": per_file}),
    )
}

/// Deterministic, photo-like inputs: the model's cost does not depend on the pixel values.
fn synthetic_inputs(count: usize, bytes: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| (0..bytes).map(|j| ((j * 31 + i * 17) % 251) as u8).collect())
        .collect()
}

fn cmd_infer(args: &Args) -> Result<Value, Error> {
    let classifier = classifier(args)?;
    let inputs = synthetic_inputs(args.batch, classifier.metadata().input_bytes());
    let views: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    classifier.classify(&views, 5)?;
    let mut batches = Vec::with_capacity(args.repeat);
    for _ in 0..args.repeat {
        let start = Instant::now();
        std::hint::black_box(classifier.classify(&views, 5)?);
        batches.push(millis(start));
    }
    let per_image = batches.iter().map(|ms| ms / args.batch as f64).collect();
    Ok(
        json!({"batch": args.batch, "threads": args.threads, "per_batch_ms": stats(batches), "per_image_ms": stats(per_image)}),
    )
}

fn cmd_pipeline(args: &Args) -> Result<Value, Error> {
    let classifier = classifier(args)?;
    let spec = classifier.metadata().rule()?;
    let inputs = read_files(&args.files)?;
    let limits = Limits::default();
    let (mut total, mut pre, mut inf) = (Vec::new(), Vec::new(), Vec::new());
    for (_, bytes) in &inputs {
        let warm = preprocess(bytes, &spec, &limits)?;
        classifier.classify(&[&warm.pixels], 5)?;
        for _ in 0..args.repeat {
            let start = Instant::now();
            let prepared = preprocess(bytes, &spec, &limits)?;
            let preprocessed = millis(start);
            let infer_start = Instant::now();
            std::hint::black_box(classifier.classify(&[&prepared.pixels], 5)?);
            inf.push(millis(infer_start));
            pre.push(preprocessed);
            total.push(millis(start));
        }
    }
    Ok(json!({"per_image_ms": stats(total), "preprocess_ms": stats(pre), "inference_ms": stats(inf)}))
}

fn cmd_cold_start(args: &Args, process_start: Instant) -> Result<Value, Error> {
    let file = args.files.first().ok_or("cold-start needs one image file")?;
    let bytes = std::fs::read(file)?;
    let bundle = ModelBundle::load(&args.model_dir)?;
    let options = RuntimeOptions {
        library: args.ort_library.clone(),
        intra_threads: args.threads,
    };
    let load_start = Instant::now();
    let classifier = Classifier::load(bundle, &options)?;
    let session_ms = millis(load_start);
    let first = Instant::now();
    let prepared = preprocess(&bytes, &classifier.metadata().rule()?, &Limits::default())?;
    let predictions = classifier.classify(&[&prepared.pixels], 5)?;
    let first_inference_ms = millis(first);
    Ok(json!({
        "ready_ms": millis(process_start),
        "library_and_session_ms": session_ms,
        "first_inference_ms": first_inference_ms,
        "top1": predictions.first().and_then(|p| p.first()).map(|p| p.label.clone()),
    }))
}

fn cmd_session(args: &Args) -> Result<Value, Error> {
    let bundle = ModelBundle::load(&args.model_dir)?;
    let options = RuntimeOptions {
        library: args.ort_library.clone(),
        intra_threads: args.threads,
    };
    drop(Classifier::load(bundle.clone(), &options)?);
    let mut samples = Vec::with_capacity(args.repeat);
    for _ in 0..args.repeat {
        let start = Instant::now();
        std::hint::black_box(Classifier::load(bundle.clone(), &options)?);
        samples.push(millis(start));
    }
    Ok(json!({"session_ms": stats(samples)}))
}

fn main() -> ExitCode {
    let process_start = Instant::now();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.split_first() {
        Some((command, rest)) => parse(rest).and_then(|args| match command.as_str() {
            "preprocess" => cmd_preprocess(&args),
            "infer" => cmd_infer(&args),
            "pipeline" => cmd_pipeline(&args),
            "cold-start" => cmd_cold_start(&args, process_start),
            "session" => cmd_session(&args),
            _ => Err(USAGE.into()),
        }),
        None => Err(USAGE.into()),
    };
    match result {
        Ok(value) => {
            println!("{value}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("imgpipe-bench: {err}");
            ExitCode::FAILURE
        }
    }
}
