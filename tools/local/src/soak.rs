//! `imgpipe-local soak`: many images through the local stack with faults and crashes on, then proof that
//! nothing was lost, stuck, done twice or answered differently than without faults. Through the API
//! (inline and presigned uploads, polled), or with `ingest` as bulk ingest does it: objects written under
//! `ingest/`, found again by prefix listing, each with its result file under `results/`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use hyper::StatusCode;

use imgpipe_domain::limits::Limits;
use imgpipe_domain::model_spec::ModelBundle;
use imgpipe_model::{Classifier, RuntimeOptions};
use imgpipe_vision::preprocess;
use serde_json::{json, Value};

use crate::client::ApiClient;
use crate::stack::{Error, Stack, StackOptions};

#[derive(Clone, Debug)]
pub struct SoakOptions {
    pub images: usize,
    /// Submissions in flight at once.
    pub concurrency: usize,
    /// Probability that any one S3, SQS or DynamoDB call of the preprocess and inference functions fails.
    pub fault_rate: f64,
    /// Probability that a worker is killed in the middle of a batch.
    pub crash_rate: f64,
    /// Probability that a worker is killed when its batch holds a message's last allowed delivery.
    pub last_crash_rate: f64,
    /// Run the sweeper (off only to show what it prevents).
    pub sweeper: bool,
    /// Write the images under `ingest/` instead of submitting them through the API.
    pub ingest: bool,
    pub seed: u64,
    /// Deliveries the queues allow (None: services/pipeline.json's, as deployed).
    pub max_receive_count: Option<u32>,
    /// How long to wait, after the last submission, for every image to be terminal.
    pub deadline: Duration,
    /// Labelled photos (`labels.tsv`) and large photos mixed into the load, when present.
    pub eval_dir: PathBuf,
    pub large_dir: PathBuf,
    pub repo_root: PathBuf,
}

/// One distinct upload and what it must end as.
struct Input {
    name: String,
    bytes: Bytes,
    content_type: &'static str,
    expect: Expect,
}

#[derive(Clone, Debug, PartialEq)]
enum Expect {
    /// The class the model gives it without any fault (preprocess + one model run, no AWS at all).
    Class(u32),
    Fails(&'static str),
}

/// What an ingest run found beyond the jobs' outcomes.
#[derive(Default)]
struct IngestAccount {
    /// Image id -> its key below `ingest/`, for every object version written.
    keys: HashMap<String, String>,
    /// Object versions no job was listed for by the deadline.
    never_listed: usize,
    /// Jobs listed that no object version explains: the same version done twice.
    unexplained_jobs: usize,
    /// The same job on two pages of one listing (the final one, or one made while the batch ran).
    listing_repeats: usize,
    /// Versions beyond one per image written (an SDK retry of a write whose answer was lost).
    extra_writes: usize,
}

/// The last line `imgpipe-local soak` prints, as JSON.
pub type Report = Value;

const INLINE_LIMIT: usize = 4 * 1024 * 1024;

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().map(str::to_ascii_lowercase).as_deref() {
        Some("png") => "image/png",
        _ => "image/jpeg",
    }
}

/// The mix: the demo photos, up to 24 labelled dev photos and three large ones when `../shared/eval`
/// is there, and four kinds of bad upload from the vision crate's corpus (services/vision/tests/corpus).
fn inputs(options: &SoakOptions, notes: &mut Vec<String>) -> Result<Vec<Input>, Error> {
    let mut valid: Vec<PathBuf> = std::fs::read_dir(options.repo_root.join("third_party/demo-images"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("png" | "jpg")))
        .collect();
    valid.sort();
    match std::fs::read_to_string(options.eval_dir.join("labels.tsv")) {
        Ok(labels) => valid.extend(
            labels
                .lines()
                .skip(1)
                .take(24)
                .filter_map(|line| line.split('\t').next())
                .map(|file| options.eval_dir.join(file)),
        ),
        Err(_) => notes.push(format!(
            "{} is absent: no dev photos in the mix",
            options.eval_dir.display()
        )),
    }
    let large = ["Kite_2560x1600.jpg", "SafeLanding_5120x2880.jpg", "Volna_5120x2880.jpg"];
    if options.large_dir.is_dir() {
        valid.extend(large.iter().map(|f| options.large_dir.join(f)).filter(|p| p.is_file()));
    } else {
        notes.push(format!(
            "{} is absent: no large photos in the mix",
            options.large_dir.display()
        ));
    }
    let mut inputs = Vec::new();
    for path in valid {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
        inputs.push(Input {
            content_type: content_type(&name),
            bytes: Bytes::from(std::fs::read(&path)?),
            name,
            expect: Expect::Class(0),
        });
    }
    let corpus = options.repo_root.join("services/vision/tests/corpus");
    for (file, code) in [
        ("text.txt", "not_an_image"),
        ("truncated.jpg", "corrupt_image"),
        ("bomb.png", "too_many_pixels"),
        ("image.tiff", "unsupported_format"),
    ] {
        inputs.push(Input {
            name: file.to_owned(),
            bytes: Bytes::from(std::fs::read(corpus.join(file))?),
            content_type: if file.ends_with(".png") {
                "image/png"
            } else {
                "image/jpeg"
            },
            expect: Expect::Fails(code),
        });
    }
    Ok(inputs)
}

/// Each valid input's class without faults: the same preprocessing and model, with no AWS in between.
fn baseline(inputs: &mut [Input], stack: &StackOptions) -> Result<(), Error> {
    let bundle = ModelBundle::load(stack.models.first().ok_or("no model")?)?;
    let spec = bundle.rule;
    let classifier = Classifier::load(
        bundle,
        &RuntimeOptions {
            library: stack.ort_library.clone(),
            intra_threads: stack.ort_threads,
        },
    )?;
    for input in inputs.iter_mut().filter(|i| matches!(i.expect, Expect::Class(_))) {
        let prepared = preprocess(&input.bytes, &spec, &Limits::default())?;
        let top = classifier.classify(&[&prepared.pixels], 1)?;
        let class = top.first().and_then(|p| p.first()).map(|p| p.class_index);
        input.expect = Expect::Class(class.ok_or("the model returned no prediction")?);
    }
    Ok(())
}

/// Counts the pipeline's counters (`telemetry.rs`) in this process: the applied completions are how a
/// result written twice would show.
#[derive(Default)]
struct Counters(Mutex<HashMap<String, Arc<AtomicU64>>>);

impl Counters {
    /// The sum of `name` over every series that has the label `label` (`key=value`).
    fn get(&self, name: &str, label: &str) -> u64 {
        let Ok(map) = self.0.lock() else {
            return 0;
        };
        map.iter()
            .filter(|(key, _)| {
                key.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('{'))
                    .and_then(|rest| rest.strip_suffix('}'))
                    .is_some_and(|labels| labels.split(',').any(|l| l == label))
            })
            .map(|(_, counter)| counter.load(Ordering::Relaxed))
            .sum()
    }
}

struct CountingRecorder(Arc<Counters>);

impl metrics::Recorder for CountingRecorder {
    fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let counter = self
            .0
             .0
            .lock()
            .map(|mut map| Arc::clone(map.entry(name).or_default()))
            .unwrap_or_default();
        metrics::Counter::from_arc(counter)
    }

    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }

    fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

fn counters() -> Option<&'static Arc<Counters>> {
    static COUNTERS: OnceLock<Option<Arc<Counters>>> = OnceLock::new();
    COUNTERS
        .get_or_init(|| {
            let counters = Arc::new(Counters::default());
            metrics::set_global_recorder(CountingRecorder(Arc::clone(&counters)))
                .ok()
                .map(|_| counters)
        })
        .as_ref()
}

async fn submit(client: &ApiClient, input: &Input) -> Result<String, Error> {
    if input.bytes.len() > INLINE_LIMIT {
        return client
            .submit(input.bytes.to_vec(), input.content_type, Some(&input.name))
            .await;
    }
    client
        .submit_inline(input.bytes.clone(), input.content_type)
        .await
        .map_err(|e| format!("{}: {e}", input.name).into())
}

fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub async fn run(mut stack_options: StackOptions, options: SoakOptions) -> Result<Report, Error> {
    // The verdict reads the process's counters: two soaks at once (tests of one binary) would each count
    // the other's completions as duplicates.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _running = ONE_AT_A_TIME.lock().await;
    let mut notes = Vec::new();
    let mut inputs = inputs(&options, &mut notes)?;
    baseline(&mut inputs, &stack_options)?;
    let counters = counters().ok_or("another metrics recorder is installed; the soak needs its own")?;

    let rate = options.fault_rate;
    stack_options.fault_rates = ["s3", "sqs", "dynamodb"]
        .iter()
        .map(|s| (s.to_string(), rate))
        .collect();
    stack_options.crash_rate = options.crash_rate;
    stack_options.last_crash_rate = options.last_crash_rate;
    stack_options.sweeper = options.sweeper;
    stack_options.chaos_seed = options.seed;
    stack_options.max_receive_count = options.max_receive_count;
    let stack = Stack::start(stack_options).await?;
    let client = ApiClient::new(&stack.api_url);
    let completions_before = counters.get("images_processed", "stage=inference");
    let swept_before = counters.get("swept", "reason=dead_letter") + counters.get("swept", "reason=stale");
    let dead_letters_before = counters.get("swept", "reason=dead_letter");

    // Submit: image i is input i mod the mix, in a seeded shuffle so bad and large inputs are spread out.
    let mut order: Vec<usize> = (0..options.images).map(|i| i % inputs.len()).collect();
    let mut random = crate::calls::SplitMix64::new(options.seed);
    for i in (1..order.len()).rev() {
        order.swap(i, (random.next_u64() % (i as u64 + 1)) as usize);
    }
    let started = Instant::now();
    let batch = format!("soak-{}/", options.seed);
    let mut jobs: Vec<(usize, String)> = Vec::new();
    let mut submit_errors = Vec::new();
    let submit_s;
    let deadline;
    let mut result_files = None;
    let mut ingest = IngestAccount::default();
    if options.ingest {
        let written: Vec<(usize, Result<(), Error>)> = stream::iter(order.iter().copied().enumerate())
            .map(|(n, index)| {
                let (stack, input, key) = (&stack, &inputs[index], ingest_key(&batch, n, &inputs[index].name));
                async move { (index, put_ingest(stack, &key, input).await) }
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        submit_s = started.elapsed().as_secs_f64();
        for (index, result) in written {
            if let Err(err) = result {
                submit_errors.push(format!("{}: {err}", inputs[index].name));
            }
        }
        deadline = Instant::now() + options.deadline;
        // The jobs that must exist: one per object version S3 holds under the batch (a write the SDK
        // retried after a lost answer is a second version, and rightly a second job).
        let versions = object_versions(&stack, &batch).await?;
        let mut expected: HashMap<String, (usize, String)> = HashMap::new();
        for (source_key, version) in &versions {
            let id = imgpipe_domain::ImageId::for_ingested_object(
                &stack.resources.bucket,
                &imgpipe_domain::keys::ingest_key(source_key),
                version.as_deref(),
            );
            let position = source_key
                .strip_prefix(&batch)
                .and_then(|rest| rest.split('-').next())
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| format!("{source_key}: not a key this soak wrote"))?;
            expected.insert(id.to_string(), (position, source_key.clone()));
        }
        let (listed, repeats_while_running) = wait_for_batch(&client, &batch, expected.len(), deadline).await?;
        ingest.listing_repeats += repeats_while_running;
        let mut seen = HashSet::new();
        for (key, id) in &listed {
            if !seen.insert(id.clone()) {
                ingest.listing_repeats += 1;
            } else if expected.get(id).is_none_or(|(_, expected_key)| expected_key != key) {
                ingest.unexplained_jobs += 1;
            }
        }
        for (id, (position, _)) in &expected {
            if seen.contains(id) {
                jobs.push((order[*position], id.clone()));
            } else {
                ingest.never_listed += 1;
            }
        }
        ingest.extra_writes = versions.len().saturating_sub(options.images - submit_errors.len());
        ingest.keys = expected.into_iter().map(|(id, (_, key))| (id, key)).collect();
        result_files = Some(batch.clone());
    } else {
        let submitted: Vec<(usize, Result<String, Error>)> = stream::iter(order)
            .map(|index| {
                let (client, input) = (&client, &inputs[index]);
                async move { (index, submit(client, input).await) }
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        submit_s = started.elapsed().as_secs_f64();
        for (index, result) in submitted {
            match result {
                Ok(id) => jobs.push((index, id)),
                Err(err) => submit_errors.push(format!("{}: {err}", inputs[index].name)),
            }
        }
        deadline = Instant::now() + options.deadline;
    }

    // Wait until every job is terminal, or the deadline.
    let mut records: HashMap<String, Value> = HashMap::new();
    let mut lost: Vec<String> = Vec::new();
    loop {
        let pending: Vec<&String> = jobs
            .iter()
            .map(|(_, id)| id)
            .filter(|id| !records.get(*id).map(is_terminal).unwrap_or(false) && !lost.contains(id))
            .collect();
        if pending.is_empty() {
            break;
        }
        // Past the deadline, one last look: what is terminal by now is not stuck.
        let last_look = Instant::now() > deadline;
        let answers: Vec<(String, Option<Value>)> = stream::iter(pending)
            .map(|id| {
                let client = &client;
                async move {
                    let response = client.status(id).await.ok();
                    let record = match response {
                        Some(r) if r.status == StatusCode::OK => r.json().ok(),
                        Some(r) if r.status == StatusCode::NOT_FOUND => Some(Value::Null),
                        _ => None,
                    };
                    (id.clone(), record)
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for (id, record) in answers {
            match record {
                Some(Value::Null) => lost.push(id),
                Some(record) => {
                    records.insert(id, record);
                }
                None => {}
            }
        }
        if last_look {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let wall_s = started.elapsed().as_secs_f64();

    // The verdict.
    let (mut completed, mut failed, mut stuck, mut mismatched, mut wrong_outcome) = (0, 0, 0, 0, Vec::new());
    let mut retries_exhausted = Vec::new();
    let mut latencies = Vec::new();
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for (index, id) in &jobs {
        let input = &inputs[*index];
        let Some(record) = records.get(id).filter(|r| is_terminal(r)) else {
            if !lost.contains(id) {
                stuck += 1;
            }
            continue;
        };
        let code = record["error"]["code"].as_str();
        match (record["status"].as_str(), &input.expect) {
            (Some("completed"), Expect::Class(class)) => {
                completed += 1;
                if record["predictions"][0]["class_index"].as_u64() != Some(u64::from(*class)) {
                    mismatched += 1;
                    wrong_outcome.push(format!(
                        "{}: class {} instead of {class}",
                        input.name, record["predictions"][0]["class_index"]
                    ));
                }
                latencies.extend(record["timings_ms"]["end_to_end"].as_i64());
            }
            (Some("failed"), _) if code == Some("retries_exhausted") => {
                failed += 1;
                retries_exhausted.push(id.clone());
            }
            (Some("failed"), Expect::Fails(expected)) if code == Some(*expected) => failed += 1,
            (status, expect) => {
                failed += usize::from(status == Some("failed"));
                wrong_outcome.push(format!("{}: {status:?} {code:?}, expected {expect:?}", input.name));
            }
        }
        if let Some(code) = code {
            *codes.entry(code.to_owned()).or_default() += 1;
        }
    }
    latencies.sort_unstable();
    let applied_completions = counters.get("images_processed", "stage=inference") - completions_before;
    let duplicates = applied_completions.saturating_sub(completed as u64);

    // Every job that ended retries_exhausted was ended by the sweeper (a dead letter, or too old), and the
    // sweeper ended no other: the counts must agree.
    let swept = counters.get("swept", "reason=dead_letter") + counters.get("swept", "reason=stale") - swept_before;
    let swept_dead_letters = counters.get("swept", "reason=dead_letter") - dead_letters_before;
    let unaccounted = swept.abs_diff(retries_exhausted.len() as u64);
    let faults = stack.calls.preprocess.faults_injected()
        + stack
            .calls
            .inference
            .iter()
            .map(|calls| calls.faults_injected())
            .sum::<u64>();
    let (killed, killed_last) = stack
        .crashes
        .as_ref()
        .map(|(p, i)| {
            (
                p.killed() + i.killed(),
                p.killed_on_last_delivery() + i.killed_on_last_delivery(),
            )
        })
        .unwrap_or((0, 0));
    let max_receive_count = stack.resources.preprocess.max_receive_count;
    // Ingest: every object version has exactly one job, and every key a result file agreeing with one of
    // its jobs' records (the newest to finish, when a key has several versions).
    let mut missing_result_files = 0usize;
    if let Some(batch) = &result_files {
        let results = result_statuses(&stack, batch).await?;
        let mut jobs_of_key: HashMap<&str, Vec<&str>> = HashMap::new();
        for (_, id) in &jobs {
            if let Some(key) = ingest.keys.get(id) {
                jobs_of_key.entry(key.as_str()).or_default().push(id.as_str());
            }
        }
        for (key, ids) in &jobs_of_key {
            let agrees = results.get(*key).is_some_and(|(id, status)| {
                ids.contains(&id.as_str()) && records.get(id).and_then(|r| r["status"].as_str()) == Some(status)
            });
            missing_result_files += usize::from(!agrees);
        }
    }
    stack.stop().await;

    let lost_count = lost.len() + submit_errors.len() + ingest.never_listed;
    Ok(json!({
        "submitted": options.images,
        "accepted": jobs.len(),
        "completed": completed,
        "failed": failed,
        "failed_by_code": codes,
        "lost": lost_count,
        "stuck": stuck,
        "duplicates": duplicates + ingest.unexplained_jobs as u64,
        "listing_repeats": ingest.listing_repeats,
        "extra_writes": ingest.extra_writes,
        "through": if options.ingest { "ingest" } else { "api" },
        "missing_result_files": missing_result_files,
        "mismatched_predictions": mismatched,
        "unexpected_outcomes": wrong_outcome.len(),
        "retries_exhausted": retries_exhausted.len(),
        "swept": swept,
        "swept_dead_letters": swept_dead_letters,
        "sweeps_unaccounted": unaccounted,
        "sweeper": options.sweeper,
        "faults_injected": faults,
        "workers_killed": killed,
        "workers_killed_on_last_delivery": killed_last,
        "fault_rate": rate,
        "crash_rate": options.crash_rate,
        "last_crash_rate": options.last_crash_rate,
        "seed": options.seed,
        "max_receive_count": max_receive_count,
        "distinct_inputs": inputs.len(),
        "concurrency": options.concurrency,
        "submit_s": round(submit_s),
        "wall_s": round(wall_s),
        "throughput_images_per_s": round(jobs.len() as f64 / wall_s),
        "p50_ms": percentile(&latencies, 50.0),
        "p95_ms": percentile(&latencies, 95.0),
        "p99_ms": percentile(&latencies, 99.0),
        "examples": wrong_outcome.iter().chain(&submit_errors).take(10).collect::<Vec<_>>(),
        "notes": notes,
    }))
}

/// The key of the `n`th image of an ingest run: its position first, so that the soak finds its input again.
fn ingest_key(batch: &str, n: usize, name: &str) -> String {
    format!("{batch}{n:05}-{name}")
}

async fn put_ingest(stack: &Stack, source_key: &str, input: &Input) -> Result<(), Error> {
    stack
        .clients
        .s3
        .put_object()
        .bucket(&stack.resources.bucket)
        .key(imgpipe_domain::keys::ingest_key(source_key))
        .content_type(input.content_type)
        .body(input.bytes.to_vec().into())
        .send()
        .await
        .map_err(|e| format!("PutObject {source_key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
    Ok(())
}

/// Waits, as a user would, on the batch's counts (the first page of its listing) until they show
/// `expected` jobs, all terminal, or the deadline; then pages through the whole listing and returns
/// (source key, image id) of every job listed. The counts come from an index that may lag the items,
/// so a listing that is not all terminal yet sends it back to waiting. Every 30 s it also pages through
/// the whole batch while jobs are changing status under it, and counts the jobs that one listing
/// showed twice (the second value returned), as a user paging a running batch would see them.
async fn wait_for_batch(
    client: &ApiClient,
    batch: &str,
    expected: usize,
    deadline: Instant,
) -> Result<(Vec<(String, String)>, usize), Error> {
    let prefix = imgpipe_domain::keys::ingest_key(batch);
    let mut repeats_while_running = 0;
    let mut polls = 0u64;
    loop {
        polls += 1;
        if polls.is_multiple_of(15) {
            let (listed, _) = list_batch(client, &prefix).await?;
            repeats_while_running += listed.len() - listed.iter().map(|(_, id)| id).collect::<HashSet<_>>().len();
        }
        let past_deadline = Instant::now() > deadline;
        let first = client
            .api(
                hyper::Method::GET,
                &format!("/images?prefix={prefix}&limit=1"),
                &[],
                Bytes::new(),
            )
            .await?
            .json()?;
        let counts = &first["counts"];
        let count = |status: &str| counts["by_status"][status].as_u64().unwrap_or(0);
        let total = counts["total"].as_u64().unwrap_or(0);
        let settled = total >= expected as u64 && count("completed") + count("failed") == total;
        if settled || past_deadline {
            let (listed, terminal) = list_batch(client, &prefix).await?;
            if terminal == listed.len() && listed.len() >= expected || past_deadline {
                return Ok((listed, repeats_while_running));
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Every job of a batch's listing, page by page, and how many of them are terminal.
async fn list_batch(client: &ApiClient, prefix: &str) -> Result<(Vec<(String, String)>, usize), Error> {
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    let mut terminal = 0;
    loop {
        // The batch's prefix is plain ASCII without reserved characters; tokens are base64url.
        let mut path = format!("/images?prefix={prefix}&limit=100");
        if let Some(token) = &token {
            path.push_str(&format!("&next_token={token}"));
        }
        let page = client.api(hyper::Method::GET, &path, &[], Bytes::new()).await?.json()?;
        for image in page["images"].as_array().into_iter().flatten() {
            terminal += usize::from(is_terminal(image));
            if let (Some(key), Some(id)) = (image["source_key"].as_str(), image["image_id"].as_str()) {
                listed.push((key.to_owned(), id.to_owned()));
            }
        }
        match page["next_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => return Ok((listed, terminal)),
        }
    }
}

/// (key below `ingest/`, version id) of every object version under `ingest/<batch>`.
async fn object_versions(stack: &Stack, batch: &str) -> Result<Vec<(String, Option<String>)>, Error> {
    let listed = stack.object_versions(&imgpipe_domain::keys::ingest_key(batch)).await?;
    Ok(listed
        .into_iter()
        .filter(|v| !v.delete_marker)
        .filter_map(|v| {
            Some((
                imgpipe_domain::keys::ingest_source_key(&v.key)?.to_owned(),
                v.version_id,
            ))
        })
        .collect())
}

/// Source key -> (image id, status) of every result file under `results/<batch>`.
async fn result_statuses(stack: &Stack, batch: &str) -> Result<HashMap<String, (String, String)>, Error> {
    let prefix = format!("{}{batch}", imgpipe_domain::keys::RESULTS_PREFIX);
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = stack
            .clients
            .s3
            .list_objects_v2()
            .bucket(&stack.resources.bucket)
            .prefix(&prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| format!("ListObjectsV2: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        match page.next_continuation_token() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    let files = stream::iter(keys)
        .map(|key| async move {
            let object = stack
                .clients
                .s3
                .get_object()
                .bucket(&stack.resources.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| format!("GetObject {key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
            let bytes = object
                .body
                .collect()
                .await
                .map_err(|e| format!("{key}: {e}"))?
                .into_bytes();
            let result: Value = serde_json::from_slice(&bytes).map_err(|e| format!("{key}: {e}"))?;
            let source_key = key
                .strip_prefix(imgpipe_domain::keys::RESULTS_PREFIX)
                .and_then(|k| k.strip_suffix(".json"))
                .unwrap_or_default()
                .to_owned();
            Ok::<_, Error>((
                source_key,
                (
                    result["image_id"].as_str().unwrap_or_default().to_owned(),
                    result["status"].as_str().unwrap_or_default().to_owned(),
                ),
            ))
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    files.into_iter().collect()
}

fn is_terminal(record: &Value) -> bool {
    matches!(record["status"].as_str(), Some("completed" | "failed"))
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Whether a report shows a clean run: nothing lost, stuck, duplicated, mismatched or unexplained.
pub fn clean(report: &Report) -> bool {
    [
        "lost",
        "stuck",
        "duplicates",
        "mismatched_predictions",
        "unexpected_outcomes",
        "sweeps_unaccounted",
        "missing_result_files",
        "listing_repeats",
    ]
    .iter()
    .all(|key| report[*key].as_u64() == Some(0))
        && report["accepted"].as_u64()
            == report["submitted"]
                .as_u64()
                .map(|n| n + report["extra_writes"].as_u64().unwrap_or(0))
}

/// How long a run of `images` may take to settle after its last submission: ten minutes, or one second
/// per image when that is longer (a 2-core machine settles a few images a second with faults on).
pub fn default_deadline(images: usize) -> Duration {
    Duration::from_secs(600.max(images as u64))
}

pub fn default_options(root: &Path) -> SoakOptions {
    SoakOptions {
        images: 1000,
        concurrency: 8,
        fault_rate: 0.05,
        crash_rate: 0.02,
        last_crash_rate: 0.0,
        sweeper: true,
        ingest: false,
        seed: 20261127,
        max_receive_count: None,
        deadline: default_deadline(1000),
        eval_dir: root.join("../shared/eval/imagenet-dev"),
        large_dir: root.join("../shared/eval/large"),
        repo_root: root.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(changes: &[(&str, Value)]) -> Report {
        let mut report = json!({
            "submitted": 10, "accepted": 10, "lost": 0, "stuck": 0, "duplicates": 0,
            "mismatched_predictions": 0, "unexpected_outcomes": 0, "sweeps_unaccounted": 0,
            "missing_result_files": 0, "listing_repeats": 0, "extra_writes": 0,
        });
        for (key, value) in changes {
            report[*key] = value.clone();
        }
        report
    }

    #[test]
    fn a_run_is_clean_only_when_every_fault_count_is_zero_and_every_write_a_job() {
        assert!(clean(&report(&[])));
        // A write the SDK retried is a second version and rightly a second job.
        assert!(clean(&report(&[("extra_writes", json!(1)), ("accepted", json!(11))])));
        assert!(
            !clean(&report(&[("extra_writes", json!(1))])),
            "a version without its job"
        );
        assert!(!clean(&report(&[("accepted", json!(9))])));
        for key in ["lost", "stuck", "duplicates", "missing_result_files", "listing_repeats"] {
            assert!(!clean(&report(&[(key, json!(1))])), "{key}");
        }
        let mut missing = report(&[]);
        missing.as_object_mut().map(|m| m.remove("stuck"));
        assert!(!clean(&missing), "a report without a count is not clean");
    }

    #[test]
    fn the_deadline_grows_with_the_run() {
        assert_eq!(default_deadline(100), Duration::from_secs(600));
        assert_eq!(default_deadline(2000), Duration::from_secs(2000));
    }
}
