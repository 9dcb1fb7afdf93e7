//! Starts and stops the local pipeline.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clients::Clients;
use imgpipe_api::Api;
use imgpipe_domain::config::{self, ApiConfig, Env, InferenceConfig, PreprocessConfig};
use imgpipe_domain::model_spec::ModelBundle;
use imgpipe_inference::Inferrer;
use imgpipe_model::{Classifier, RuntimeOptions};
use imgpipe_preprocess::Preprocessor;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use crate::calls::AwsCalls;
use crate::moto::MotoServer;
use crate::poller::{self, PollerConfig};
use crate::resources::{self, Names, Resources};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Debug)]
pub struct StackOptions {
    /// The `moto_server` executable (tools/setup.sh installs it in .venv/moto/bin).
    pub moto_server: PathBuf,
    pub moto_log: Option<PathBuf>,
    pub model_dir: PathBuf,
    pub ort_library: PathBuf,
    pub environment: String,
    pub region: String,
    /// 0 picks a free port.
    pub api_port: u16,
    /// Short locally so that retries are observable in seconds; AWS uses 6x the function timeout.
    pub visibility_timeout_secs: u32,
    pub ort_threads: usize,
    /// Chaos for reliability runs: per-service fault rates injected into the preprocess and inference
    /// functions' AWS calls, the probability of a worker crash per batch, and the seed of both.
    pub fault_rates: Vec<(String, f64)>,
    pub crash_rate: f64,
    pub chaos_seed: u64,
    /// Deliveries both queues allow before the DLQ, instead of services/pipeline.json's.
    pub max_receive_count: Option<u32>,
    /// Browser origins the local API allows (CORS); empty: no CORS, as Terraform's default.
    pub cors_origins: Vec<String>,
}

impl StackOptions {
    /// Paths as `tools/setup.sh` lays them out under the repository root.
    pub fn from_repo_root(root: &std::path::Path) -> Self {
        Self {
            moto_server: root.join(".venv/moto/bin/moto_server"),
            moto_log: None,
            model_dir: root.join("build/model"),
            ort_library: root.join("build/onnxruntime/x64/libonnxruntime.so.1"),
            environment: "local".into(),
            region: "us-east-1".into(),
            api_port: 0,
            visibility_timeout_secs: 5,
            ort_threads: 0,
            cors_origins: Vec::new(),
            fault_rates: Vec::new(),
            crash_rate: 0.0,
            chaos_seed: 0,
            max_receive_count: None,
        }
    }
}

/// The AWS calls of each function, recorded separately as each function has its own IAM role.
#[derive(Clone, Debug)]
pub struct FunctionCalls {
    pub api: Arc<AwsCalls>,
    pub preprocess: Arc<AwsCalls>,
    pub inference: Arc<AwsCalls>,
}

pub struct Stack {
    pub api_url: String,
    pub moto: MotoServer,
    pub resources: Resources,
    /// Clients for tests and tools (not recorded).
    pub clients: Clients,
    pub calls: FunctionCalls,
    /// Workers killed mid-batch so far (preprocess, inference), with `crash_rate` > 0.
    pub crashes: Option<(Arc<poller::Crashes>, Arc<poller::Crashes>)>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// The configuration each function reads from its environment, built from the variables Terraform sets
/// on it (so `from_env` is exercised exactly as in Lambda).
pub fn function_configs(
    resources: &Resources,
    options: &StackOptions,
) -> Result<(ApiConfig, PreprocessConfig, InferenceConfig), Error> {
    let common = [
        (config::TABLE_NAME, resources.table.clone()),
        (config::BUCKET_NAME, resources.bucket.clone()),
        (config::MODEL_DIR, options.model_dir.display().to_string()),
    ];
    let environment = |extra: Vec<(&'static str, String)>| {
        let map: HashMap<String, String> = common
            .iter()
            .cloned()
            .chain(extra)
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        Env(move |name: &str| map.get(name).cloned())
    };
    let api = ApiConfig::from_env(&environment(vec![]))?;
    let preprocess = PreprocessConfig::from_env(&environment(vec![
        (config::INFERENCE_QUEUE_URL, resources.inference.url.clone()),
        (
            config::MAX_RECEIVE_COUNT,
            resources.preprocess.max_receive_count.to_string(),
        ),
    ]))?;
    let inference = InferenceConfig::from_env(&environment(vec![
        (config::ORT_LIBRARY, options.ort_library.display().to_string()),
        (config::ORT_THREADS, options.ort_threads.to_string()),
        (
            config::MAX_RECEIVE_COUNT,
            resources.inference.max_receive_count.to_string(),
        ),
    ]))?;
    Ok((api, preprocess, inference))
}

impl Stack {
    pub async fn start(options: StackOptions) -> Result<Self, Error> {
        let moto = MotoServer::start(&options.moto_server, options.moto_log.as_deref()).await?;
        let clients = Clients::for_emulator(&moto.endpoint, &options.region, None).await;
        let calls = FunctionCalls {
            api: AwsCalls::new(),
            preprocess: AwsCalls::new(),
            inference: AwsCalls::new(),
        };
        let function_clients = |recorder: &Arc<AwsCalls>| {
            Clients::for_emulator(&moto.endpoint, &options.region, Some(recorder.interceptor()))
        };
        let (api_clients, preprocess_clients, inference_clients) = (
            function_clients(&calls.api).await,
            function_clients(&calls.preprocess).await,
            function_clients(&calls.inference).await,
        );
        calls
            .preprocess
            .set_fault_rates(&options.fault_rates, options.chaos_seed);
        calls
            .inference
            .set_fault_rates(&options.fault_rates, options.chaos_seed.wrapping_add(1));
        let crashes = (options.crash_rate > 0.0).then(|| {
            (
                poller::Crashes::new(options.crash_rate, options.chaos_seed.wrapping_add(2)),
                poller::Crashes::new(options.crash_rate, options.chaos_seed.wrapping_add(3)),
            )
        });
        let names = Names::new("imgpipe", &options.environment);
        let mut resources = resources::create(&clients, names, options.visibility_timeout_secs).await?;
        if let Some(max) = options.max_receive_count {
            resources::set_max_receive_count(&clients, &mut resources.preprocess, max).await?;
            resources::set_max_receive_count(&clients, &mut resources.inference, max).await?;
        }
        info!(
            endpoint = moto.endpoint,
            bucket = resources.bucket,
            "emulated AWS resources created"
        );

        let settings = crate::pipeline_settings();
        let (api_config, preprocess_config, inference_config) = function_configs(&resources, &options)?;

        let bundle = ModelBundle::load(&options.model_dir)?;
        let runtime = RuntimeOptions {
            library: options.ort_library.clone(),
            intra_threads: options.ort_threads,
        };
        let classifier = Arc::new(Classifier::load(bundle.clone(), &runtime)?);

        let preprocessor = Arc::new(Preprocessor::on_aws(preprocess_config, bundle, &preprocess_clients.aws));
        let inferrer = Arc::new(Inferrer::on_aws(inference_config, classifier, &inference_clients.aws));
        let api = Arc::new(Api::on_aws(api_config, &api_clients.aws));

        let (shutdown, _) = watch::channel(false);
        let function =
            |name: &str, key: &str, default: u64| settings["functions"][name][key].as_u64().unwrap_or(default);
        let mut tasks = Vec::new();
        let preprocess_poller = PollerConfig {
            name: "preprocess",
            queue_url: resources.preprocess.url.clone(),
            queue_arn: resources.preprocess.arn.clone(),
            region: options.region.clone(),
            batch_size: function("preprocess", "batch_size", 10) as usize,
            batching_window: Duration::from_secs(function("preprocess", "batching_window", 0)),
            crashes: crashes.as_ref().map(|(preprocess, _)| Arc::clone(preprocess)),
        };
        tasks.push(tokio::spawn(poller::run(
            // The event source mapping is Lambda's, not the function's code: its calls are not recorded.
            clients.sqs.clone(),
            preprocess_poller,
            move |event| {
                let preprocessor = Arc::clone(&preprocessor);
                async move { imgpipe_preprocess::handle_batch(&preprocessor, event).await }
            },
            shutdown.subscribe(),
        )));
        let inference_poller = PollerConfig {
            name: "inference",
            queue_url: resources.inference.url.clone(),
            queue_arn: resources.inference.arn.clone(),
            region: options.region.clone(),
            batch_size: function("inference", "batch_size", 8) as usize,
            batching_window: Duration::from_secs(function("inference", "batching_window", 1)),
            crashes: crashes.as_ref().map(|(_, inference)| Arc::clone(inference)),
        };
        tasks.push(tokio::spawn(poller::run(
            clients.sqs.clone(),
            inference_poller,
            move |event| {
                let inferrer = Arc::clone(&inferrer);
                async move { imgpipe_inference::handle_batch(&inferrer, event).await }
            },
            shutdown.subscribe(),
        )));

        let listener = TcpListener::bind(("127.0.0.1", options.api_port)).await?;
        let api_url = format!("http://{}", listener.local_addr()?);
        tasks.push(tokio::spawn(crate::http_api::serve(
            listener,
            api,
            crate::http_api::Cors::from_pipeline(options.cors_origins.clone()),
            shutdown.subscribe(),
        )));
        info!(api_url, "local stack ready");
        Ok(Self {
            api_url,
            moto,
            resources,
            clients,
            calls,
            crashes,
            shutdown,
            tasks,
        })
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.moto.stop().await;
    }
}
