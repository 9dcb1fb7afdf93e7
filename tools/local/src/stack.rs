//! Starts and stops the local pipeline: moto, the resources, every function with its own recorded AWS
//! calls, the event source mappings (pollers) and the schedule, and the HTTP gateway.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use imgpipe_api::{Api, AwsApi};
use imgpipe_domain::config::{self, ApiConfig, Env, InferenceConfig, NotifyConfig, PreprocessConfig, SweeperConfig};
use imgpipe_domain::model_spec::{DeployedModel, ModelBundle};
use imgpipe_inference::Inferrer;
use imgpipe_model::{Classifier, RuntimeOptions};
use imgpipe_notify::Notifier;
use imgpipe_preprocess::Preprocessor;
use imgpipe_sweeper::Sweeper;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::calls::AwsCalls;
use crate::clients::Clients;
use crate::moto::MotoServer;
use crate::poller::{self, PollerConfig};
use crate::resources::{self, Names, Resources};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Webhooks on the local pipeline: the signing key (stored in the emulated Secrets Manager) and the hosts
/// allowed; `http://127.0.0.1` receivers are allowed here, and only here.
#[derive(Clone, Debug)]
pub struct WebhookOptions {
    pub secret: String,
    pub allowed_hosts: String,
}

#[derive(Clone, Debug)]
pub struct StackOptions {
    /// The `moto_server` executable (tools/setup.sh installs it in .venv/moto/bin).
    pub moto_server: PathBuf,
    pub moto_log: Option<PathBuf>,
    /// The models to deploy (model directories), the first one the default unless `routing` says.
    pub models: Vec<PathBuf>,
    /// `IMGPIPE_MODEL_ROUTING`: `name=weight,...`; empty: the first model.
    pub routing: String,
    pub ort_library: PathBuf,
    pub environment: String,
    pub region: String,
    /// 0 picks a free port.
    pub api_port: u16,
    /// Short locally so that retries are observable in seconds; AWS uses 6x the function timeout.
    pub visibility_timeout_secs: u32,
    pub ort_threads: usize,
    /// Chaos for reliability runs: per-service fault rates injected into the preprocess and inference
    /// functions' AWS calls, the probability of a worker crash per batch, the probability that a worker
    /// dies on a batch holding a message on its queue's last allowed delivery, and the seed of all.
    pub fault_rates: Vec<(String, f64)>,
    pub crash_rate: f64,
    pub last_crash_rate: f64,
    pub chaos_seed: u64,
    /// Deliveries the queues allow before the DLQ, instead of services/pipeline.json's.
    pub max_receive_count: Option<u32>,
    /// Browser origins the local API allows (CORS); empty: no CORS, as Terraform's default.
    pub cors_origins: Vec<String>,
    /// How often the scheduled sweep runs (5 minutes on AWS).
    pub sweep_interval: Duration,
    /// The sweeper's bounds (on AWS computed by Terraform from the queue settings).
    pub pending_upload_timeout_secs: u64,
    pub working_timeout_secs: u64,
    /// Run no sweeper at all (to show what it prevents).
    pub sweeper: bool,
    pub webhooks: Option<WebhookOptions>,
    pub quota_images_per_day: u64,
    /// Fail `stop` when a message the API gave a client names an internal resource (tests set it).
    pub refuse_internal_names: bool,
    /// Bearer tokens (token -> subject) of an emulated JWT authorizer in front of the API, which then
    /// runs in the `jwt` mode; empty: no authorizer, the `none` mode.
    pub jwt_tokens: BTreeMap<String, String>,
}

impl StackOptions {
    /// Paths as `tools/setup.sh` lays them out under the repository root.
    pub fn from_repo_root(root: &std::path::Path) -> Self {
        Self {
            moto_server: root.join(".venv/moto/bin/moto_server"),
            moto_log: None,
            models: vec![root.join("build/model")],
            routing: String::new(),
            ort_library: root.join("build/onnxruntime/x64/libonnxruntime.so.1"),
            environment: "local".into(),
            region: "us-east-1".into(),
            api_port: 0,
            visibility_timeout_secs: 5,
            ort_threads: 0,
            cors_origins: Vec::new(),
            fault_rates: Vec::new(),
            crash_rate: 0.0,
            last_crash_rate: 0.0,
            chaos_seed: 0,
            max_receive_count: None,
            sweep_interval: Duration::from_secs(5),
            pending_upload_timeout_secs: 900 + 900,
            working_timeout_secs: 4 * 86_400,
            sweeper: true,
            webhooks: None,
            quota_images_per_day: 0,
            jwt_tokens: BTreeMap::new(),
            refuse_internal_names: false,
        }
    }
}

/// The AWS calls of each function, recorded separately as each function has its own IAM role.
#[derive(Clone, Debug)]
pub struct FunctionCalls {
    pub api: Arc<AwsCalls>,
    pub preprocess: Arc<AwsCalls>,
    /// One per model, in the models' order.
    pub inference: Vec<Arc<AwsCalls>>,
    pub sweeper: Arc<AwsCalls>,
    pub notify: Arc<AwsCalls>,
}

pub struct Stack {
    pub api_url: String,
    pub moto: MotoServer,
    pub resources: Resources,
    /// Clients for tests and tools (not recorded).
    pub clients: Clients,
    pub calls: FunctionCalls,
    /// Workers killed mid-batch so far (preprocess, inference), with a crash rate > 0.
    pub crashes: Option<(Arc<poller::Crashes>, Arc<poller::Crashes>)>,
    /// The deployed models (name, version, rule).
    pub models: Vec<DeployedModel>,
    refuse_internal_names: bool,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// What each function reads from its environment, built from the variables Terraform sets on it (so
/// `from_env` is exercised exactly as in Lambda).
pub struct FunctionConfigs {
    pub api: ApiConfig,
    pub preprocess: PreprocessConfig,
    /// One per model, with its model directory.
    pub inference: Vec<InferenceConfig>,
    pub sweeper: SweeperConfig,
    pub notify: NotifyConfig,
}

/// The model manifest (`IMGPIPE_MODELS`) of these model directories, with their queues when asked.
pub fn models_manifest(model_dirs: &[PathBuf], resources: Option<&Resources>) -> Result<Vec<DeployedModel>, Error> {
    let mut models = Vec::new();
    for dir in model_dirs {
        let mut model = ModelBundle::load(dir)?.meta.deployed();
        if let Some(resources) = resources {
            let queue = resources
                .inference_queue(&model.name)
                .ok_or_else(|| format!("no inference queue for model {}", model.name))?;
            model.queue_url = Some(queue.url.clone());
        }
        models.push(model);
    }
    Ok(models)
}

pub fn function_configs(
    resources: &Resources,
    options: &StackOptions,
    webhook_secret_arn: &str,
) -> Result<FunctionConfigs, Error> {
    let models = serde_json::to_string(&models_manifest(&options.models, None)?)?;
    let queued_models = serde_json::to_string(&models_manifest(&options.models, Some(resources))?)?;
    let hosts = options
        .webhooks
        .as_ref()
        .map(|w| w.allowed_hosts.clone())
        .unwrap_or_default();
    let common = [
        (config::TABLE_NAME, resources.table.clone()),
        (config::BUCKET_NAME, resources.bucket.clone()),
        (config::EVENT_BUS_NAME, resources.event_bus.clone()),
        (config::MODEL_ROUTING, options.routing.clone()),
        (config::WEBHOOK_ALLOWED_HOSTS, hosts),
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
    let auth_mode = if options.jwt_tokens.is_empty() { "none" } else { "jwt" };
    let mut api = ApiConfig::from_env(&environment(vec![
        (config::AUTH_MODE, auth_mode.into()),
        (config::MODELS, models),
        (config::QUOTA_IMAGES_PER_DAY, options.quota_images_per_day.to_string()),
    ]))?;
    api.local_webhooks = true;
    let preprocess = PreprocessConfig::from_env(&environment(vec![
        (config::MODELS, queued_models),
        (config::AUTH_MODE, api.auth_mode.as_str().to_owned()),
    ]))?;
    let inference = options
        .models
        .iter()
        .map(|dir| {
            InferenceConfig::from_env(&environment(vec![
                (config::MODEL_DIR, dir.display().to_string()),
                (config::ORT_LIBRARY, options.ort_library.display().to_string()),
                (config::ORT_THREADS, options.ort_threads.to_string()),
            ]))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let sweeper = SweeperConfig::from_env(&environment(vec![
        (
            config::PENDING_UPLOAD_TIMEOUT_SECS,
            options.pending_upload_timeout_secs.to_string(),
        ),
        (config::WORKING_TIMEOUT_SECS, options.working_timeout_secs.to_string()),
    ]))?;
    let mut notify = NotifyConfig::from_env(&environment(vec![
        (config::WEBHOOK_SECRET_ARN, webhook_secret_arn.to_owned()),
        (
            config::MAX_RECEIVE_COUNT,
            resources.notify.max_receive_count.to_string(),
        ),
        (config::WEBHOOK_TIMEOUT_SECS, "5".into()),
    ]))?;
    notify.local_webhooks = true;
    Ok(FunctionConfigs {
        api,
        preprocess,
        inference,
        sweeper,
        notify,
    })
}

/// One entry of the bucket's version listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectVersion {
    pub key: String,
    pub version_id: Option<String>,
    pub delete_marker: bool,
}

impl Stack {
    pub async fn start(options: StackOptions) -> Result<Self, Error> {
        let moto = MotoServer::start(&options.moto_server, options.moto_log.as_deref()).await?;
        let clients = Clients::for_emulator(&moto.endpoint, &options.region, None).await;
        let bundles = options
            .models
            .iter()
            .map(|dir| ModelBundle::load(dir))
            .collect::<Result<Vec<_>, _>>()?;
        let model_names: Vec<&str> = bundles.iter().map(|b| b.meta.name.as_str()).collect();
        let calls = FunctionCalls {
            api: AwsCalls::new(),
            preprocess: AwsCalls::new(),
            inference: bundles.iter().map(|_| AwsCalls::new()).collect(),
            sweeper: AwsCalls::new(),
            notify: AwsCalls::new(),
        };
        let recorded = |recorder: &Arc<AwsCalls>| {
            imgpipe_aws::AwsConfig::for_emulator(&moto.endpoint, &options.region, Some(recorder.interceptor()))
        };
        calls
            .preprocess
            .set_fault_rates(&options.fault_rates, options.chaos_seed);
        for (n, recorder) in calls.inference.iter().enumerate() {
            recorder.set_fault_rates(&options.fault_rates, options.chaos_seed.wrapping_add(1 + 10 * n as u64));
        }
        let crashes = (options.crash_rate > 0.0 || options.last_crash_rate > 0.0).then(|| {
            (
                poller::Crashes::new(
                    options.crash_rate,
                    options.last_crash_rate,
                    options.chaos_seed.wrapping_add(2),
                ),
                poller::Crashes::new(
                    options.crash_rate,
                    options.last_crash_rate,
                    options.chaos_seed.wrapping_add(3),
                ),
            )
        });
        let names = Names::new("imgpipe", &options.environment);
        let mut resources = resources::create(&clients, names, &model_names, options.visibility_timeout_secs).await?;
        if let Some(max) = options.max_receive_count {
            resources::set_max_receive_count(&clients, &mut resources.preprocess, max).await?;
            for (_, queue) in &mut resources.inference {
                resources::set_max_receive_count(&clients, queue, max).await?;
            }
            resources::set_max_receive_count(&clients, &mut resources.notify, max).await?;
        }
        let secret_arn = match &options.webhooks {
            Some(webhooks) => clients
                .secrets
                .create_secret()
                .name(format!("{}-webhooks", resources.names.prefix))
                .secret_string(&webhooks.secret)
                .send()
                .await?
                .arn
                .unwrap_or_default(),
            None => String::new(),
        };
        info!(
            endpoint = moto.endpoint,
            bucket = resources.bucket,
            "emulated AWS resources created"
        );
        let configs = function_configs(&resources, &options, &secret_arn)?;
        let settings = crate::pipeline_settings();
        let setting = |function: &str, key: &str, default: u64| {
            settings["functions"][function][key]
                .as_u64()
                .or_else(|| settings["model_defaults"][key].as_u64())
                .unwrap_or(default)
        };
        let (shutdown, _) = watch::channel(false);
        let mut tasks = Vec::new();
        let poller_config = |name: &'static str,
                             queue: &resources::Queue,
                             function: &str,
                             crashes: Option<Arc<poller::Crashes>>| PollerConfig {
            name,
            queue_url: queue.url.clone(),
            queue_arn: queue.arn.clone(),
            region: options.region.clone(),
            batch_size: setting(function, "batch_size", 10) as usize,
            batching_window: Duration::from_secs(setting(function, "batching_window", 0)),
            max_receive_count: queue.max_receive_count,
            crashes,
        };

        let models = configs.preprocess.models.clone();
        let preprocessor = Arc::new(Preprocessor::on_aws(
            configs.preprocess,
            &recorded(&calls.preprocess).await,
        ));
        let config = poller_config(
            "preprocess",
            &resources.preprocess,
            "preprocess",
            crashes.as_ref().map(|c| Arc::clone(&c.0)),
        );
        tasks.push(tokio::spawn(poller::run(
            clients.sqs.clone(),
            config,
            move |event| {
                let preprocessor = Arc::clone(&preprocessor);
                async move { imgpipe_preprocess::handle_batch(&preprocessor, event).await }
            },
            shutdown.subscribe(),
        )));

        let runtime = RuntimeOptions {
            library: options.ort_library.clone(),
            intra_threads: options.ort_threads,
        };
        for ((bundle, inference_config), recorder) in bundles.into_iter().zip(configs.inference).zip(&calls.inference) {
            let queue = resources
                .inference_queue(&bundle.meta.name)
                .ok_or("no inference queue")?
                .clone();
            let classifier = Arc::new(Classifier::load(bundle, &runtime)?);
            let inferrer = Arc::new(Inferrer::on_aws(
                inference_config,
                classifier,
                &recorded(recorder).await,
            ));
            let config = poller_config(
                "inference",
                &queue,
                "inference",
                crashes.as_ref().map(|c| Arc::clone(&c.1)),
            );
            tasks.push(tokio::spawn(poller::run(
                clients.sqs.clone(),
                config,
                move |event| {
                    let inferrer = Arc::clone(&inferrer);
                    async move { imgpipe_inference::handle_batch(&inferrer, event).await }
                },
                shutdown.subscribe(),
            )));
        }

        if options.sweeper {
            let sweeper = Arc::new(Sweeper::on_aws(configs.sweeper, &recorded(&calls.sweeper).await));
            let dead_letter_queues =
                std::iter::once(&resources.preprocess).chain(resources.inference.iter().map(|(_, q)| q));
            for queue in dead_letter_queues {
                let dlq = resources::Queue {
                    url: queue.dlq_url.clone(),
                    arn: queue.dlq_arn.clone(),
                    ..queue.clone()
                };
                let config = poller_config("sweeper", &dlq, "sweeper", None);
                let sweeper = Arc::clone(&sweeper);
                tasks.push(tokio::spawn(poller::run(
                    clients.sqs.clone(),
                    config,
                    move |event| {
                        let sweeper = Arc::clone(&sweeper);
                        async move { imgpipe_sweeper::dead_letters::handle_batch(&sweeper, event).await }
                    },
                    shutdown.subscribe(),
                )));
            }
            tasks.push(tokio::spawn(schedule(
                sweeper,
                options.sweep_interval,
                shutdown.subscribe(),
            )));
        }

        let notifier = Arc::new(Notifier::on_aws(configs.notify, &recorded(&calls.notify).await).await?);
        let config = poller_config("notify", &resources.notify, "notify", None);
        tasks.push(tokio::spawn(poller::run(
            clients.sqs.clone(),
            config,
            move |event| {
                let notifier = Arc::clone(&notifier);
                async move { imgpipe_notify::handle_batch(&notifier, event).await }
            },
            shutdown.subscribe(),
        )));

        let api: Arc<AwsApi> = Arc::new(Api::on_aws(configs.api, &recorded(&calls.api).await));
        let listener = TcpListener::bind(("127.0.0.1", options.api_port)).await?;
        let api_url = format!("http://{}", listener.local_addr()?);
        tasks.push(tokio::spawn(crate::http_api::serve(
            listener,
            api,
            crate::http_api::Cors::from_pipeline(options.cors_origins.clone()),
            crate::http_api::JwtAuthorizer {
                tokens: options.jwt_tokens.clone(),
            },
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
            models,
            refuse_internal_names: options.refuse_internal_names,
            shutdown,
            tasks,
        })
    }

    /// Every version and delete marker the bucket holds under `prefix`, through the tests' client.
    pub async fn object_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>, Error> {
        let mut versions = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .clients
                .s3
                .list_object_versions()
                .bucket(&self.resources.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "ListObjectVersions {prefix}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    )
                })?;
            let entry = |key: Option<&str>, version: Option<&str>, delete_marker| ObjectVersion {
                key: key.unwrap_or_default().to_owned(),
                version_id: version.map(str::to_owned),
                delete_marker,
            };
            versions.extend(page.versions().iter().map(|v| entry(v.key(), v.version_id(), false)));
            versions.extend(
                page.delete_markers()
                    .iter()
                    .map(|m| entry(m.key(), m.version_id(), true)),
            );
            if page.is_truncated() != Some(true) {
                return Ok(versions);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        let leaks =
            crate::messages::naming_internals(&crate::messages::internal_names(&self.resources, &self.moto.endpoint));
        self.moto.stop().await;
        assert!(
            !self.refuse_internal_names || leaks.is_empty(),
            "clients were told internal names: {leaks:?}"
        );
    }
}

/// The sweeper's schedule (an EventBridge rule on AWS).
async fn schedule<S>(sweeper: Arc<S>, every: Duration, mut shutdown: watch::Receiver<bool>)
where
    S: SweepOnce + Send + Sync + 'static,
{
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => break,
        }
        sweeper.sweep_once().await;
    }
}

/// One scheduled sweep of a sweeper, whatever its ports.
pub trait SweepOnce {
    fn sweep_once(&self) -> impl std::future::Future<Output = ()> + Send;
}

impl<J, O, A> SweepOnce for Sweeper<J, O, A>
where
    J: imgpipe_domain::ports::Jobs,
    O: imgpipe_domain::ports::Objects,
    A: imgpipe_domain::events::Announce,
{
    async fn sweep_once(&self) {
        if let Err(err) = imgpipe_sweeper::scheduled::sweep(self, imgpipe_domain::time::now_ms()).await {
            warn!(error = err.chain(), "the scheduled sweep failed");
        }
    }
}
