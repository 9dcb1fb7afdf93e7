//! `imgpipe-local`: the pipeline on this machine.
//!
//! - `imgpipe-local up [--state-dir DIR] [--port N] [--model-dir DIR]... [--routing NAME=WEIGHT,...]
//!   [--cors-origin ORIGIN]... [--jwt-token TOKEN=SUBJECT]...`: start moto, create the resources, run the
//!   handlers and serve the API until SIGINT/SIGTERM. Writes `DIR/api-url` when ready. Each `--model-dir`
//!   deploys a model (its own queue and inference worker; the first is the default unless `--routing`
//!   splits it; none: build/model). With `--jwt-token`, the API sits behind an emulated JWT authorizer
//!   that knows those bearer tokens (401 without one) and runs in the `jwt` mode.
//!
//! - `imgpipe-local soak ...`: N images through a stack with faults and worker crashes on; the last line
//!   printed is the JSON verdict (lost, stuck, duplicates, mismatched predictions, latency); exit 1
//!   unless it is clean.
//!
//! The client is `imgpipe` (tools/cli): `imgpipe submit --wait FILE...` finds this stack's URL itself.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use imgpipe_local::{Stack, StackOptions};

type Error = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "usage:
  imgpipe-local up [--state-dir DIR] [--port N] [--root DIR] [--model-dir DIR]... [--routing NAME=WEIGHT,...]
                   [--cors-origin ORIGIN]... [--jwt-token TOKEN=SUBJECT]...
  imgpipe-local soak [--images N] [--concurrency C] [--fault-rate P] [--crash-rate P] [--last-crash-rate P]
                     [--no-sweeper] [--ingest] [--seed S] [--max-receive-count N] [--deadline SECS]
                     [--root DIR] [--report FILE]";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result = match args.first().map(String::as_str) {
        Some("up") => up(&args[1..]).await,
        Some("soak") => soak(&args[1..]).await,
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("imgpipe-local: {err}");
            ExitCode::FAILURE
        }
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

async fn up(args: &[String]) -> Result<ExitCode, Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let root = PathBuf::from(flag(args, "--root").unwrap_or_else(|| ".".into()));
    let state_dir = PathBuf::from(flag(args, "--state-dir").unwrap_or_else(|| "build/local".into()));
    std::fs::create_dir_all(&state_dir)?;
    let mut options = StackOptions::from_repo_root(&root);
    options.moto_log = Some(state_dir.join("moto.log"));
    if let Some(port) = flag(args, "--port") {
        options.api_port = port.parse()?;
    }
    let models: Vec<PathBuf> = args
        .windows(2)
        .filter(|pair| pair[0] == "--model-dir")
        .map(|pair| root.join(&pair[1]))
        .collect();
    if let Some(missing) = models.iter().find(|dir| !dir.join("model.json").is_file()) {
        return Err(format!(
            "--model-dir {}: no model.json there (make setup builds the shipped models)",
            missing.display()
        )
        .into());
    }
    if !models.is_empty() {
        options.models = models;
    }
    if let Some(routing) = flag(args, "--routing") {
        options.routing = routing;
    }
    options.cors_origins = args
        .windows(2)
        .filter(|pair| pair[0] == "--cors-origin")
        .map(|pair| pair[1].clone())
        .collect();
    if args.last().is_some_and(|a| a == "--jwt-token") {
        return Err("--jwt-token takes TOKEN=SUBJECT".into());
    }
    for pair in args.windows(2).filter(|pair| pair[0] == "--jwt-token") {
        match pair[1].split_once('=') {
            Some((token, subject)) if !token.is_empty() && !subject.is_empty() => {
                options.jwt_tokens.insert(token.to_owned(), subject.to_owned());
            }
            _ => return Err(format!("--jwt-token takes TOKEN=SUBJECT, not {:?}", pair[1]).into()),
        }
    }
    let stack = Stack::start(options).await?;
    write_state(&state_dir, "moto.pid", &stack.moto.pid.to_string())?;
    write_state(&state_dir, "moto-endpoint", &stack.moto.endpoint)?;
    // Written last: its presence means "ready".
    write_state(&state_dir, "api-url", &stack.api_url)?;

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    let _ = std::fs::remove_file(state_dir.join("api-url"));
    stack.stop().await;
    let _ = std::fs::remove_file(state_dir.join("moto.pid"));
    Ok(ExitCode::SUCCESS)
}

fn write_state(dir: &Path, name: &str, value: &str) -> std::io::Result<()> {
    std::fs::write(dir.join(name), format!("{value}\n"))
}

async fn soak(args: &[String]) -> Result<ExitCode, Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let root = PathBuf::from(flag(args, "--root").unwrap_or_else(|| ".".into())).canonicalize()?;
    let mut options = imgpipe_local::soak::default_options(&root);
    if let Some(n) = flag(args, "--images") {
        options.images = n.parse()?;
    }
    if let Some(c) = flag(args, "--concurrency") {
        options.concurrency = c.parse()?;
    }
    if let Some(p) = flag(args, "--fault-rate") {
        options.fault_rate = p.parse()?;
    }
    if let Some(p) = flag(args, "--crash-rate") {
        options.crash_rate = p.parse()?;
    }
    if let Some(s) = flag(args, "--seed") {
        options.seed = s.parse()?;
    }
    if let Some(p) = flag(args, "--last-crash-rate") {
        options.last_crash_rate = p.parse()?;
    }
    if args.iter().any(|a| a == "--no-sweeper") {
        options.sweeper = false;
    }
    if args.iter().any(|a| a == "--ingest") {
        options.ingest = true;
    }
    if let Some(m) = flag(args, "--max-receive-count") {
        options.max_receive_count = Some(m.parse()?);
    }
    options.deadline = match flag(args, "--deadline") {
        Some(d) => std::time::Duration::from_secs(d.parse()?),
        None => imgpipe_local::soak::default_deadline(options.images),
    };
    eprintln!(
        "soak: {} images through {}, {} at a time, fault rate {} per S3/SQS/DynamoDB call, crash rate {} per \
         batch, {} on a last delivery, sweeper {}, seed {}",
        options.images,
        if options.ingest { "ingest/" } else { "the API" },
        options.concurrency,
        options.fault_rate,
        options.crash_rate,
        options.last_crash_rate,
        if options.sweeper { "on" } else { "off" },
        options.seed
    );
    let report = imgpipe_local::soak::run(StackOptions::from_repo_root(&root), options).await?;
    if let Some(path) = flag(args, "--report") {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    println!("{report}");
    Ok(if imgpipe_local::soak::clean(&report) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
