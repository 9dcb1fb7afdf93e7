//! `imgpipe`: submit images to an imgpipe API and read their predictions.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::{Parser, Subcommand, ValueEnum};
use imgpipe_cli::api::ApiError;
use imgpipe_cli::auth::{self, Auth};
use imgpipe_cli::commands::smoke::SmokeOptions;
use imgpipe_cli::commands::submit::{DEFAULT_CONCURRENCY, MAX_CONCURRENCY};
use imgpipe_cli::commands::{self, SubmitOptions};
use imgpipe_cli::ApiClient;

#[derive(Parser)]
#[command(
    name = "imgpipe",
    version,
    about = "Classify images with an imgpipe API: submit, status, list, delete, models, smoke",
    after_help = "API URL: --api, else $IMGPIPE_API, else the local stack started by `make up` \
(build/local/api-url in this directory or a parent).\n\
Exit codes: 0 ok; 1 an image failed (smoke: a check failed); 2 usage or configuration; 3 refused by the \
API (4xx); 4 unreachable, 5xx or --wait timed out (worth retrying); 130 interrupted by Ctrl-C (rerun to \
resume). With several files or ids, the highest applies."
)]
struct Cli {
    /// Base URL of the API, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com
    #[arg(long, env = "IMGPIPE_API", global = true)]
    api: Option<String>,
    /// How to authenticate: auto = jwt with a token, iam for AWS endpoints, none otherwise
    #[arg(long, env = "IMGPIPE_AUTH", value_enum, default_value_t = AuthMode::Auto, global = true)]
    auth: AuthMode,
    /// Bearer token for an API with JWT authorization
    #[arg(long, env = "IMGPIPE_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Region to sign for with IAM authorization (default: from the API URL, else the AWS configuration)
    #[arg(long, global = true)]
    region: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AuthMode {
    Auto,
    None,
    Iam,
    Jwt,
}

#[derive(Subcommand)]
enum Command {
    /// Upload images (files, or directories with --recursive); with --wait or --out, wait for their predictions
    ///
    /// Resumable: running the same command again skips what is done and uploads nothing twice.
    #[command(
        after_help = "Each file's Idempotency-Key is derived from its bytes (sha256), its name \
(the file name, or the path below the walked directory's parent), --model and --callback-url: a rerun \
after Ctrl-C or a crash replays finished images and uploads only what is missing. Directories are walked \
in sorted order; hidden entries and symlinked directories are skipped; files are taken by extension or \
content (JPEG, PNG, WebP, GIF, BMP)."
    )]
    Submit {
        /// Image files, or directories with --recursive
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Walk directories for images
        #[arg(long, short)]
        recursive: bool,
        /// Wait for each image to complete (or fail) and print its predictions
        #[arg(long)]
        wait: bool,
        /// Append one JSON line per finished image (file, image_id, status, model, predictions or
        /// error) to FILE as each finishes, instead of printing them; implies --wait. Lines already in FILE
        /// are not written again, so the same FILE serves a resumed run
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The model to classify with (`imgpipe models` lists them); default: the deployment's split
        #[arg(long, value_name = "NAME")]
        model: Option<String>,
        /// HTTPS URL to notify (signed webhook) when each image is done
        #[arg(long, value_name = "URL")]
        callback_url: Option<String>,
        /// One JSON object per image on stdout
        #[arg(long)]
        json: bool,
        /// No progress on stderr (errors are still printed)
        #[arg(long, short)]
        quiet: bool,
        /// Seconds to wait for each image with --wait
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Files in flight at once (upload and wait), 1 to 64
        #[arg(long, default_value_t = DEFAULT_CONCURRENCY,
              value_parser = clap::value_parser!(u16).range(1..=MAX_CONCURRENCY as i64).map(usize::from))]
        concurrency: usize,
        /// Content-Type to declare instead of the one the file's bytes announce
        #[arg(long)]
        content_type: Option<String>,
    },
    /// Show one image: status, timings, predictions or error
    Status {
        id: String,
        /// Wait until the image is completed or failed
        #[arg(long)]
        wait: bool,
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        #[arg(long)]
        json: bool,
    },
    /// List your images, newest first
    List {
        /// Only images in this status (pending_upload, queued, ..., completed, failed)
        #[arg(long)]
        status: Option<String>,
        /// Images per page (1-100)
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
        limit: u32,
        /// Follow every page
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Delete images: the record and every stored version of their objects
    Delete {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// The models the API serves, and how images that name none are split between them
    Models {
        #[arg(long)]
        json: bool,
    },
    /// Check a deployment end to end; one line per check, then PASS (exit 0) or FAIL (exit 1)
    ///
    /// The demo photos must be classified as expected, a request without credentials refused, and an
    /// unknown image a 404 in the API's error shape.
    #[command(
        after_help = "Uses the global --api, --auth and --token. The demo photos are built into \
the binary; their images are deleted afterwards unless --keep. Against an API without authorization (the \
local stack's default, which says `x-imgpipe-auth: none`) the unauthenticated check is reported skipped."
    )]
    Smoke {
        /// Seconds to wait for each photo
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Keep the photos' images instead of deleting them
        #[arg(long)]
        keep: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("imgpipe: {error}");
            error.exit_code()
        }
    };
    ExitCode::from(code)
}

async fn run(cli: Cli) -> Result<u8, ApiError> {
    let api = match cli.api.clone().filter(|a| !a.is_empty()) {
        Some(api) => api,
        None => local_stack_url().ok_or_else(|| {
            ApiError::Usage(
                "no API URL: pass --api URL, set IMGPIPE_API, or start the local stack with `make up`".into(),
            )
        })?,
    };
    let auth = resolve_auth(&cli, &api).await?;
    let client = ApiClient::new(&api, auth)?;
    match cli.command {
        Command::Submit {
            files,
            recursive,
            wait,
            out,
            model,
            callback_url,
            json,
            quiet,
            timeout,
            concurrency,
            content_type,
        } => {
            let options = SubmitOptions {
                wait,
                json,
                quiet,
                timeout: Duration::from_secs(timeout),
                concurrency,
                content_type,
                recursive,
                model,
                callback_url,
                out,
            };
            commands::submit(&client, &files, &options).await
        }
        Command::Status {
            id,
            wait,
            timeout,
            json,
        } => commands::status(&client, &id, wait.then(|| Duration::from_secs(timeout)), json).await,
        Command::List {
            status,
            limit,
            all,
            json,
        } => commands::list(&client, status.as_deref(), limit, all, json).await,
        Command::Delete { ids } => Ok(commands::delete(&client, &ids).await),
        Command::Models { json } => commands::models::models(&client, json).await,
        Command::Smoke { timeout, keep } => {
            let options = SmokeOptions {
                timeout: Duration::from_secs(timeout),
                keep,
            };
            commands::smoke::smoke(&client, &options).await
        }
    }
}

/// The URL `make up` wrote, looked up from the working directory upwards.
fn local_stack_url() -> Option<String> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        if let Ok(url) = std::fs::read_to_string(dir.join("build/local/api-url")) {
            let url = url.trim();
            if !url.is_empty() {
                return Some(url.to_owned());
            }
        }
        if !dir.pop() {
            return None;
        }
    }
}

async fn resolve_auth(cli: &Cli, api: &str) -> Result<Auth, ApiError> {
    let mode = match cli.auth {
        AuthMode::Auto if cli.token.is_some() => AuthMode::Jwt,
        AuthMode::Auto if auth::is_aws_endpoint(api) => AuthMode::Iam,
        AuthMode::Auto => AuthMode::None,
        mode => mode,
    };
    match mode {
        AuthMode::None | AuthMode::Auto => Ok(Auth::None),
        AuthMode::Jwt => cli
            .token
            .clone()
            .map(Auth::Bearer)
            .ok_or_else(|| ApiError::Usage("--auth jwt needs --token or IMGPIPE_TOKEN".into())),
        AuthMode::Iam => {
            use aws_credential_types::provider::ProvideCredentials;
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
            let region = cli
                .region
                .clone()
                .or_else(|| auth::region_from_url(api))
                .or_else(|| config.region().map(|r| r.to_string()))
                .ok_or_else(|| ApiError::Usage("IAM signing needs a region: pass --region".into()))?;
            let provider = config
                .credentials_provider()
                .ok_or_else(|| ApiError::Usage("no AWS credentials provider configured".into()))?;
            let credentials = provider
                .provide_credentials()
                .await
                .map_err(|e| ApiError::Usage(format!("no AWS credentials for IAM signing: {e}")))?;
            Ok(Auth::SigV4 { credentials, region })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgpipe_cli::exit;

    #[test]
    fn exit_codes_are_distinct() {
        let codes = [
            exit::OK,
            exit::IMAGE_FAILED,
            exit::USAGE,
            exit::REFUSED,
            exit::UNAVAILABLE,
            exit::INTERRUPTED,
        ];
        assert_eq!(
            codes.iter().collect::<std::collections::BTreeSet<_>>().len(),
            codes.len()
        );
    }

    #[test]
    fn the_command_line_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
