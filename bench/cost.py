"""Dollars per 1,000 images on AWS, from the per-image times `make bench` measured and the calls the code makes.

    python3 bench/cost.py [--results bench/results.json] [--json]

Reads the measured Rust per-image times from bench/results.json (written by bench/run.py; without it the
script says so and exits 2: it never invents a time) and prints: the breakdown at the default settings
(services/pipeline.json, a polling client), the four kinds of client side by side (polling, event-driven,
webhook, bulk ingest through S3; the per-owner quota on and off), both Lambda architectures, a table over
Lambda memory sizes, what each design alternative would save, and what a deployment costs a month with
nothing processed. bench/run.py imports it and writes the same into results.json and RESULTS.md.

Everything that is not measured here is a price or an assumption, written down in PRICES and ASSUMPTIONS below
with its reason and printed with the numbers. The calls per image are counted from the code (see CALLS); the
alarms and queues of the idle figure are counted from terraform/ and the metrics from services/contract.json.
A figure the results file does not have is reported as missing, never filled in.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
import sys
from dataclasses import asdict, dataclass, replace

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _load_json(*parts):
    with open(os.path.join(REPO, *parts), encoding="utf-8") as f:
        return json.load(f)


PIPELINE = _load_json("services", "pipeline.json")
CONTRACT = _load_json("services", "contract.json")

# ------------------------------------------------------------------------------------------------------------
# Prices: AWS list prices, region us-east-1, first pricing tier, free tiers ignored (the free tiers are per
# account, shared with whatever else runs there). Assumed as of 2026-11-27 (the figures AWS published for
# us-east-1 through 2025; not re-checked from this machine, which has no network). Change them here; every
# figure below follows.
# ------------------------------------------------------------------------------------------------------------
PRICES = {
    "region": "us-east-1",
    "assumed_on": "2026-11-27",
    "lambda_gb_second": 0.0000166667,  # x86_64, first 6 billion GB-s a month
    "lambda_gb_second_arm64": 0.0000133334,  # arm64 (Graviton2), first 7.5 billion GB-s a month: 20% less
    "lambda_request": 0.20 / 1e6,  # the same for both architectures
    "sqs_request": 0.40 / 1e6,  # standard queue; every 64 KB chunk of a payload is one request
    "sqs_chunk_bytes": 64 * 1024,
    "eventbridge_custom_event": 1.00 / 1e6,  # PutEvents to a custom bus; rules and delivery to SQS cost nothing more
    "eventbridge_chunk_bytes": 64 * 1024,  # each 64 KB chunk of an entry is one event
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand write request unit: one write of up to 1 KB
    "dynamodb_read_unit": 0.125 / 1e6,  # on-demand read request unit: one strongly consistent read up to 4 KB
    "s3_put": 0.005 / 1000,  # PUT, COPY, POST, LIST (S3 Standard)
    "s3_get": 0.0004 / 1000,  # GET, SELECT and all other requests
    "http_api_request": 1.00 / 1e6,  # API Gateway HTTP API, first 300 M a month, metered per 512 KB
    "http_api_metering_bytes": 512 * 1024,
    "secretsmanager_secret_month": 0.40,
    "secretsmanager_api_call": 0.05 / 10_000,
    "kms_key_month": 1.00,  # a customer managed key (the first and second automatic rotations add $1 each)
    "kms_request": 0.03 / 10_000,
    "cloudwatch_logs_ingest_gb": 0.50,
    "cloudwatch_metric_month": 0.30,  # a custom metric (name x dimension values), first 10,000, prorated by hour
    "cloudwatch_alarm_metric_month": 0.10,  # standard resolution, per metric an alarm evaluates
    "cloudwatch_dashboard_month": 3.00,  # beyond the account's first three
    "xray_trace_recorded": 5.00 / 1e6,
    # Storage: shown separately, it depends on retention rather than on the work done.
    "s3_storage_gb_month": 0.023,
    "dynamodb_storage_gb_month": 0.25,
    "cloudwatch_logs_storage_gb_month": 0.03,
}

# ------------------------------------------------------------------------------------------------------------
# Assumptions: what this machine cannot measure. Latencies are typical same-region medians for small
# objects and items (AWS does not publish them; an emulator on this CPU cannot stand in for them).
# ------------------------------------------------------------------------------------------------------------
ASSUMPTIONS = {
    "vcpu_per_mb": 1 / 1769,  # Lambda: 1 vCPU at 1,769 MB, proportional below, 2 vCPUs at 3,538 MB
    "lambda_core_vs_this_machine": 1.0,  # one x86_64 Lambda vCPU runs as fast as one core of this machine
    # arm64: Lambda's arm64 functions run on Graviton2. Nothing here measures it: this machine is x86_64, and
    # an arm64 build under an emulator runs at the emulator's speed, not Graviton's. The ratio is the assumed
    # per-vCPU throughput of Graviton2 over x86_64 Lambda on this work (decode/resize and ONNX Runtime CNN
    # inference). AWS's published claim, "up to 34% better price performance" for Graviton2 functions, with a
    # GB-s price 20% lower, implies a speed ratio of at most 1.34 x 0.8 = 1.07 on the workloads AWS chose; ONNX
    # Runtime's x86 kernels use AVX-512/VNNI where the host has them, which Graviton2 lacks, so on this model
    # the ratio may be lower. Assumed 1.0 (the same speed), printed with a sensitivity line at 0.8/1.0/1.2.
    # It scales only the compute part of the preprocess and inference durations (AWS-call waits stay).
    "arm64_speed_ratio": 1.0,
    "aws_latency_ms": {
        "dynamodb_put": 6.0,
        "dynamodb_update": 6.0,
        "dynamodb_get": 4.0,
        "s3_get_first_byte": 20.0,
        "s3_put": 30.0,
        "sqs_send": 10.0,
        "eventbridge_put": 15.0,
    },
    "s3_transfer_mb_per_s": 80.0,  # one S3 GET or PUT stream inside the region
    # API function per request at 256 MB: one DynamoDB call + the handler; each further call adds its latency.
    "api_request_ms": {"post": 15.0, "get": 8.0},
    # notify, one invocation: the batch's webhooks run concurrently (join_all), so one exchange is paid per
    # invocation: DNS, TCP and TLS to a receiver outside AWS and its answer (100-300 ms is typical for a
    # receiver that only enqueues the webhook; the 5 s timeout of services/pipeline.json caps a slow one).
    "notify_invocation_ms": 300.0,
    # The signing key is read once per execution environment (services/notify/src/main.rs): environments that
    # keep receiving work live for hours; assumed to serve 1,000 invocations each.
    "notify_invocations_per_container": 1000,
    "poll_interval_s": 1.0,  # how often a polling client calls GET /images/{id}
    "expected_latency_s": 2.0,  # upload -> completed at the default settings (1 s inference batching window)
    "log_bytes_per_app_line": 450,  # one INFO line, Lambda JSON log format with span fields
    "log_bytes_per_invocation": 700,  # platform.start + platform.report (JSON, with X-Ray ids)
    "emf_bytes_per_invocation": 1500,  # one EMF document per preprocess/inference/notify invocation
    # API Gateway access log: one JSON line per request in the 17-field format of terraform/modules/api
    # (request id, times, source IP, user agent, route, status, latencies, the IAM caller's ARN or JWT sub).
    "api_access_log_bytes": 600,
    # X-Ray's default rule: the first request each second, then 5%. At volume that is about 5%; below about one
    # invocation a second every one is recorded (the markdown prints that figure too).
    "xray_sampled_fraction": 0.05,
    "upload_bytes": 110_042,  # mean size of the dev JPEGs; run.py passes the measured mean
    "s3_event_message_bytes": 1_500,  # one S3 ObjectCreated notification (JSON)
    "inference_message_bytes": 420,  # InferenceRequest JSON (services/domain/src/messages.rs), with margin
    "preprocessed_bytes": 224 * 224 * 3,  # 150,528: HWC uint8 pixels
    "retention_days": 30,  # uploads/, ingest/, results/ and the DynamoDB item (IMGPIPE_RETENTION_DAYS, lifecycle)
    "log_retention_days": 30,  # the root module's default (envs/dev 14, envs/prod 365)
    "owner_present": True,  # IAM or JWT auth: the owner index is written; the local `none` mode has no owner
    "gsi_entry_overhead_bytes": 100,  # DynamoDB adds 100 bytes to every index entry and item for sizing storage
    "top_k": 5,  # IMGPIPE_TOP_K (terraform variable top_k, default 5)
    # Idle deployment.
    "month_days": 30,
    # Lambda's SQS event source mapping keeps long-polling an empty queue. Lambda's documentation says that
    # when messages are available it starts with five concurrent batches; assumed: the same five pollers per
    # mapping long-poll an empty queue, each a 20 s ReceiveMessage (WaitTimeSeconds 20) back to back.
    "sqs_idle_pollers_per_queue": 5,
    "sqs_long_poll_seconds": 20,
    # One scheduled sweep with nothing to do: 4 statuses x 8 shards of empty index Queries (four rounds of
    # eight concurrent ones, services/aws/src/store/list.rs stale) and the handler, at 256 MB.
    "idle_sweep_ms": 60.0,
    "empty_query_read_units": 0.5,  # a Query on a global secondary index is eventually consistent: half a unit
    "idle_sweep_log_lines": 1,  # "sweep done" (services/sweeper/src/scheduled.rs)
    # With a customer managed key on the table and the log groups (envs/prod): DynamoDB decrypts its table key
    # again after five minutes without requests (about every sweep) and CloudWatch Logs asks for a data key for
    # the sweeper's log events: about two KMS requests per sweep.
    "kms_requests_per_idle_sweep": 2,
    # A Metrics Insights alarm is billed per metric it analyses; configuration_faults exists only after a
    # fault, so at idle it is counted as one alarm metric (the floor).
    "insights_alarm_metrics_at_idle": 1,
}

# Calls per image on the happy path, counted from the code (file: what it calls, in order):
CALLS = {
    "api POST /images (services/api/src/routes/create.rs, idempotency.rs, quota.rs; services/aws/src/store)": [
        "with an Idempotency-Key only: dynamodb GetItem, consistent (is there an image of that key?)",
        "with IMGPIPE_QUOTA_IMAGES_PER_DAY > 0 and an owner: dynamodb UpdateItem on quota#{day}#{owner} "
        "(conditional counter; in no index: one write unit)",
        "dynamodb PutItem, conditional (the job: pending_upload; status and owner index entries)",
        "presigned: a presigned PUT URL (no call) | inline: s3 PutObject uploads/{id} (If-None-Match) + "
        "dynamodb UpdateItem queued",
    ],
    "client": [
        "presigned: PUT to the URL (S3, not the API; billed to the bucket owner)",
        "polling: GET /images/{id} every interval until terminal (api routes/get.rs: one consistent GetItem)",
    ],
    "S3 -> preprocess queue": ["one SQS message per ObjectCreated event (uploads/ and ingest/)"],
    "preprocess (services/preprocess/src/object.rs)": [
        "upload: dynamodb UpdateItem claim (preprocessing; ReturnValues ALL_NEW, so no GetItem: one is made "
        "only when the claim is refused) | ingest: dynamodb PutItem conditional (the job, created claimed)",
        "s3 GetObject (uploads/{id} or ingest/<key>)",
        "sqs SendMessage to the model's queue, the pixels as a binary attribute (150,528 bytes: three 64 KB chunks)",
        "dynamodb UpdateItem preprocessed",
        "the event source mapping: one ReceiveMessage and one DeleteMessageBatch per batch",
    ],
    "inference (services/inference/src/lib.rs)": [
        "dynamodb GetItem, consistent, per message (no claim: the completed write is conditional instead)",
        "one model run per batch",
        "dynamodb UpdateItem completed (removes the claim fields)",
        "announce (services/domain/src/events.rs): ingest only: s3 PutObject results/<key>.json; then "
        "events PutEvents, one entry per image (services/aws/src/events.rs)",
        "the event source mapping: one ReceiveMessage and one DeleteMessageBatch per batch",
    ],
    "webhook (terraform/modules/queues rule, services/notify/src/lib.rs)": [
        "the rule (detail.callback_url exists) -> sqs SendMessage to the notify queue (by EventBridge)",
        "notify: a signed HTTPS POST per message; secretsmanager GetSecretValue once per execution environment",
        "on failure: ChangeMessageVisibility (backoff) per retry; after the last delivery dynamodb UpdateItem "
        "(the webhook_failed note)",
    ],
}

CLIENTS = {
    "polling": "(a) polling client: POST + upload + GET polls",
    "events": "(b) event-driven client: POST + upload, no polls (the EventBridge event)",
    "webhook": "(c) webhook client: POST + upload, the event -> notify queue -> notify -> signed POST",
    "ingest": "(d) bulk ingest: a PUT under ingest/, no API",
}


@dataclass
class Measured:
    """Per-image times measured by `make bench` (Rust path, this machine), in milliseconds."""

    preprocess_ms: float  # one image, one thread, bytes in memory (dev images: median)
    inference_ms_t1: dict  # {batch: ms per image} fp32 with 1 intra-op thread
    inference_ms_t2: dict  # {batch: ms per image} fp32 with 2 intra-op threads
    source: str = "bench/results.json"
    int8_ms_t1: dict | None = None  # the int8 variant, when the run measured it
    int8_ms_t2: dict | None = None


@dataclass
class Design:
    """The choices the cost depends on. Defaults: the code and services/pipeline.json as they are."""

    preprocess_mb: int = 1024
    preprocess_batch: int = 10
    inference_mb: int = 2048
    inference_batch: int = 8
    inference_threads: int = 0  # 0 = one per vCPU the memory buys (what terraform sets by default)
    api_mb: int = 256
    notify_mb: int = 256
    notify_batch: int = 10
    client: str = "polling"  # "polling" | "events" | "webhook" | "ingest" (CLIENTS)
    upload: str = "presigned"  # "presigned" | "inline" (the image in the POST body); API clients only
    quota: bool = False  # IMGPIPE_QUOTA_IMAGES_PER_DAY > 0 (0 is the code's default; envs/dev's example sets 1000)
    idempotency_key: bool = False  # the client sends Idempotency-Key
    architecture: str = "x86_64"  # "x86_64" | "arm64", for every function
    arm64_speed_ratio: float = ASSUMPTIONS["arm64_speed_ratio"]
    variant: str = "fp32"  # "fp32" | "int8" (the model layer); int8 needs its measured times
    pixels_via: str = "sqs"  # "sqs" (binary message attribute) | "s3" (PUT + GET, the design before) | "none" (one function)
    result_json_in_s3: bool = False  # a results/ file for API uploads too (ingest images always get one)
    gsi_projection: str = "KEYS_ONLY"  # status and owner indexes: "KEYS_ONLY" (as deployed) | "ALL"
    inferring_write: bool = False  # a status write for "the model is running" (not written: status.rs)
    poll_interval_s: float = ASSUMPTIONS["poll_interval_s"]
    expected_latency_s: float = ASSUMPTIONS["expected_latency_s"]
    app_log_lines: bool = True  # INFO application logs (False: log level WARN)
    # The api's platform lines (start, report): system_log_level WARN by default (terraform/variables.tf), so
    # its invocations write none.
    api_platform_logs: bool = False
    slim_item: bool = True  # a terminal write REMOVEs the claim fields (services/aws/src/store/update.rs)


def load_pipeline_defaults(path: str = os.path.join(REPO, "services", "pipeline.json")) -> Design:
    with open(path, encoding="utf-8") as f:
        pipeline = json.load(f)
    fn, model = pipeline["functions"], pipeline["model_defaults"]
    return Design(
        preprocess_mb=fn["preprocess"]["memory"],
        preprocess_batch=fn["preprocess"]["batch_size"],
        inference_mb=model["memory"],
        inference_batch=model["batch_size"],
        api_mb=fn["api"]["memory"],
        notify_mb=fn["notify"]["memory"],
        notify_batch=fn["notify"]["batch_size"],
    )


def _a(a):
    return ASSUMPTIONS if a is None else a


# ------------------------------------------------------------------------------------------------------------
# Arithmetic (covered by bench/test_cost.py)
# ------------------------------------------------------------------------------------------------------------


def sqs_requests(payload_bytes: int) -> int:
    """Billed SQS requests of one API call carrying payload_bytes: one per started 64 KB chunk, at least 1."""
    return max(1, math.ceil(payload_bytes / PRICES["sqs_chunk_bytes"]))


def eventbridge_events(entry_bytes: int) -> int:
    """Billed EventBridge events of one PutEvents entry: one per started 64 KB chunk."""
    return max(1, math.ceil(entry_bytes / PRICES["eventbridge_chunk_bytes"]))


def http_api_requests(payload_bytes: int) -> int:
    """HTTP API requests are metered in 512 KB increments."""
    return max(1, math.ceil(payload_bytes / PRICES["http_api_metering_bytes"]))


def gb_seconds(memory_mb: float, duration_ms: float) -> float:
    """Lambda GB-seconds of one invocation: memory in GB (1,024 MB) x billed duration (rounded up to 1 ms)."""
    return memory_mb / 1024.0 * math.ceil(duration_ms) / 1000.0


def gb_second_price(architecture: str) -> float:
    if architecture == "x86_64":
        return PRICES["lambda_gb_second"]
    if architecture == "arm64":
        return PRICES["lambda_gb_second_arm64"]
    raise ValueError(f"architecture {architecture!r}")


def vcpus(memory_mb: float) -> float:
    """CPU share Lambda gives a function: memory / 1,769 MB vCPUs."""
    return memory_mb * ASSUMPTIONS["vcpu_per_mb"]


def speed(memory_mb: float, parallel_gain: float) -> float:
    """How much faster than one core of this machine independent work (the images of a preprocess batch)
    runs: the first vCPU counts fully (scaled down below 1,769 MB), the part of a second one by parallel_gain."""
    share = vcpus(memory_mb)
    gain = min(max(parallel_gain, 0.0), 1.0)
    return (min(share, 1.0) + max(0.0, min(share, 2.0) - 1.0) * gain) * ASSUMPTIONS["lambda_core_vs_this_machine"]


def architecture_speed(design: Design) -> float:
    """Compute speed of the design's architecture relative to x86_64 Lambda (an assumption for arm64)."""
    return 1.0 if design.architecture == "x86_64" else design.arm64_speed_ratio


def number_size(value) -> int:
    digits = len(str(value).replace("-", "").replace(".", "").lstrip("0").rstrip("0")) or 1
    return math.ceil(digits / 2) + 1


def value_size(value) -> int:
    """DynamoDB's size of an attribute value: strings by UTF-8 bytes, numbers by 1 byte per 2 significant
    digits + 1, maps/lists 3 bytes + 1 byte per element + the elements (names included)."""
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (int, float)):
        return number_size(value)
    if isinstance(value, dict):
        return 3 + sum(len(k.encode("utf-8")) + value_size(v) + 1 for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 3 + sum(value_size(v) + 1 for v in value)
    raise TypeError(type(value))


def item_size(item: dict) -> int:
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size_bytes: int) -> int:
    return max(1, math.ceil(size_bytes / 1024))


def read_units(size_bytes: int, consistent: bool = True) -> float:
    units = max(1, math.ceil(size_bytes / 4096))
    return units if consistent else units / 2


def polls_per_image(interval_s: float, latency_s: float) -> int:
    """GET /images/{id} calls until the result is seen: one every interval, the last one after completion."""
    return int(latency_s // interval_s) + 1


def polls(design: Design) -> int:
    return polls_per_image(design.poll_interval_s, design.expected_latency_s) if design.client == "polling" else 0


def schedule_invocations_per_month(expression: str, days: float | None = None) -> float:
    """Invocations a month of an EventBridge rate() schedule (the sweeper's, services/pipeline.json)."""
    days = ASSUMPTIONS["month_days"] if days is None else days
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not m:
        raise ValueError(f"only rate(N unit) schedules are modelled, not {expression!r}")
    n, unit = int(m.group(1)), m.group(2).rstrip("s")
    per_day = {"minute": 1440, "hour": 24, "day": 1}[unit] / n
    return per_day * days


# ------------------------------------------------------------------------------------------------------------
# The DynamoDB item at each status write, as services/aws/src/store writes it (representative values)
# ------------------------------------------------------------------------------------------------------------

UUID = "3f2b8c1e-9a4d-4e7b-8c21-5d6f7a8b9c0d"
MS = 1_790_000_000_000
OWNER = "iam:AROAEXAMPLEROLEID12345"  # owner::iam: the role's 21-character unique id
INGEST_KEY = "batch-2026-11-27/camera-01/IMG_20261127_101530.jpg"


def status_sequence(design: Design) -> list:
    """The status writes of one image, in order (services/domain/src/status.rs): a presigned upload goes
    pending_upload -> preprocessing -> preprocessed -> completed; an inline upload adds queued; an ingested
    object is created in preprocessing by preprocess. `inferring` exists only as the priced alternative."""
    if design.client == "ingest":
        seq = ["create", "preprocessed", "completed"]
    else:
        seq = ["create"] + (["queued"] if design.upload == "inline" else []) + ["preprocessing", "preprocessed", "completed"]
    if design.pixels_via == "none":
        seq.remove("preprocessed")
    if design.inferring_write:
        seq.insert(seq.index("completed"), "inferring")
    return seq


def _enter(item: dict, status: str, at: int) -> None:
    item["status"] = status
    item["status_shard"] = f"{status}#3"
    item["updated_at"] = at
    item["timeline"] = dict(item["timeline"], **{status: at})


def _preprocessed_fields(item: dict) -> None:
    item.update(s3_version="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", size_bytes=110_042, width=500, height=375, format="jpeg")
    item["timings_ms"] = dict(item["timings_ms"], preprocess=85, preprocess_queue_wait=850)


def items_by_stage(design: Design | None = None, owner: bool = True, source_key: str = INGEST_KEY) -> dict:
    """The item after each status write (an UpdateItem bills the larger of before and after), with the
    attributes services/aws/src/store/item.rs (create) and update.rs (transitions) write. source_key: the
    key below ingest/ of an ingested image (it is stored three times: s3_key, source_key and filename)."""
    design = design or Design()
    owner_value = OWNER if owner else None
    expires = MS // 1000 + ASSUMPTIONS["retention_days"] * 86400
    sequencer = "0055AED6DCD90281E5000000000000000"[:32]
    if design.client == "ingest":
        create = {
            "image_id": UUID, "status": "preprocessing", "status_shard": "preprocessing#3",
            "created_at": MS, "updated_at": MS, "timeline": {"preprocessing": MS}, "timings_ms": {},
            "content_type": "application/octet-stream", "s3_key": "ingest/" + source_key, "expires_at": expires,
            "filename": source_key, "source_key": source_key, "source_owner": owner_value or "none",
            "model_name": "efficientnet-lite0", "model_choice": "default",
            "s3_version": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", "s3_sequencer": sequencer,
            "claimant": f"sqs:{UUID}", "claim_expires_at": MS + 900_000,
        }
    else:
        create = {
            "image_id": UUID, "status": "pending_upload", "status_shard": "pending_upload#3",
            "created_at": MS, "updated_at": MS, "timeline": {"pending_upload": MS}, "timings_ms": {},
            "content_type": "image/jpeg", "s3_key": f"uploads/{UUID}", "expires_at": expires,
            "model_name": "efficientnet-lite0", "model_choice": "default",
        }
        if design.upload == "presigned":
            create["filename"] = "IMG_20261127_101530.jpg"
        if design.idempotency_key:
            create["request_fingerprint"] = "9" * 64  # sha256 hex
        if design.client == "webhook":
            create["callback_url"] = "https://hooks.example.com/imgpipe/callbacks"
    if owner_value:
        create["owner"] = owner_value
    seq = status_sequence(design)
    out = {"create": create}
    previous, at = create, MS
    for stage in seq[1:]:
        item = copy.deepcopy(previous)
        at += 300
        if stage == "queued":
            _enter(item, "queued", at)
        elif stage == "preprocessing":
            _enter(item, "preprocessing", at)
            item.update(s3_version="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", claimant=f"sqs:{UUID}",
                        claim_expires_at=at + 900_000, s3_sequencer=sequencer)
        elif stage == "preprocessed":
            _enter(item, "preprocessed", at)
            _preprocessed_fields(item)
        elif stage == "inferring":
            _enter(item, "inferring", at)
        elif stage == "completed":
            _enter(item, "completed", at)
            if "preprocessed" not in seq:  # one function: the completed write carries the preprocess fields
                _preprocessed_fields(item)
            item["predictions"] = [
                {"label": "great_white_shark", "class_index": 2 + i, "score": 0.8734512329101562 / (i + 1)}
                for i in range(ASSUMPTIONS["top_k"])
            ]
            item["model"] = {"name": "efficientnet-lite0", "version": "0.1.0-fp32"}
            item["timings_ms"] = dict(item["timings_ms"], inference=21, inference_queue_wait=950, end_to_end=2100)
            if design.slim_item:
                for name in ("claimant", "claim_expires_at", "s3_sequencer"):
                    item.pop(name, None)
        out[stage] = item
        previous = item
    return out


def longest_ingest_key_in_one_write_unit(design: Design | None = None) -> int:
    """The longest key below ingest/ (ASCII) whose completed item still fits one write unit (1 KB)."""
    design = replace(design or Design(), client="ingest")
    longest = 0
    for n in range(1, 1025):
        if item_size(items_by_stage(design, ASSUMPTIONS["owner_present"], "k" * n)["completed"]) > 1024:
            break
        longest = n
    return longest


def quota_item(owner: str = OWNER) -> dict:
    """The quota counter (services/aws/src/store/mod.rs take_quota): no status or owner attribute, so no index."""
    return {"image_id": f"quota#2026-11-27#{owner}", "images": 417, "expires_at": MS // 1000 + 90_000}


def index_entry_bytes(design: Design, item: dict) -> dict:
    """Size of the item's entry in each index that holds it (terraform/modules/storage, contract.json table):
    the status and owner indexes project keys only (or ALL, the alternative), the source-key index the keys
    and status; sparse indexes hold only items with their key attributes."""
    overhead = ASSUMPTIONS["gsi_entry_overhead_bytes"]

    def keys(*names):
        return sum(len(n) + value_size(item[n]) for n in ("image_id",) + names if n in item) + overhead

    full = item_size(item) + overhead
    out = {"status": keys("status_shard", "created_at") if design.gsi_projection == "KEYS_ONLY" else full}
    if "owner" in item:
        out["owner"] = keys("owner", "created_at") if design.gsi_projection == "KEYS_ONLY" else full
    if "source_owner" in item:
        out["source"] = keys("source_owner", "source_key", "status")
    return out


def status_write_units(design: Design, owner: bool = True) -> dict:
    """Write units of each status write: the table (item size) and each index entry it touches. The status
    index key (status_shard) changes at every transition: a delete and a put there. The owner index's keys
    never change: written once, unless it projected ALL. The source-key index (ingested images only) projects
    status, so every transition rewrites its entry."""
    items = items_by_stage(design, owner)
    ingest = design.client == "ingest"

    out = {}
    previous = None
    for stage, item in items.items():
        size = item_size(item) if previous is None else max(item_size(item), item_size(previous))
        units = {"table": write_units(size)}
        entries = index_entry_bytes(design, item)
        before = index_entry_bytes(design, previous) if previous else {}
        units["status_index"] = write_units(entries["status"]) + (write_units(before["status"]) if previous else 0)
        first_or_all = previous is None or design.gsi_projection == "ALL"
        units["owner_index"] = write_units(entries["owner"]) if "owner" in entries and first_or_all else 0
        units["source_index"] = write_units(entries["source"]) if ingest else 0
        units["item_bytes"] = item_size(item)
        out[stage] = units
        previous = item
    return out


# ------------------------------------------------------------------------------------------------------------
# Event and message payloads (their size decides the billed chunks)
# ------------------------------------------------------------------------------------------------------------


def event_detail(design: Design) -> dict:
    """The detail of an `Image Completed` event (services/domain/src/events.rs EventDetail)."""
    done = items_by_stage(design, ASSUMPTIONS["owner_present"])["completed"]
    detail = {
        "image_id": UUID, "status": "completed", "owner": done.get("owner"), "model": done["model"],
        "model_choice": "default", "predictions": done["predictions"], "timings_ms": done["timings_ms"],
        "s3_key": done["s3_key"], "s3_version": done.get("s3_version"), "created_at": MS, "ended_at": MS + 2100,
    }
    if design.client == "ingest":
        detail["source_key"] = INGEST_KEY
    if design.client == "webhook":
        detail["callback_url"] = done["callback_url"]
    return {k: v for k, v in detail.items() if v is not None}


def result_file_bytes(design: Design) -> int:
    """results/<key>.json of an ingested image (events.rs ResultFile, serde_json pretty-printed)."""
    detail = event_detail(replace(design, client="ingest"))
    file = {k: detail[k] for k in ("image_id", "source_key", "status", "model", "predictions")}
    file["ended_at"] = detail["ended_at"]
    return len(json.dumps(file, indent=2))


def event_entry_bytes(design: Design) -> int:
    """A PutEvents entry: source, detail-type, bus, time and the detail JSON."""
    detail = json.dumps(event_detail(design), separators=(",", ":"))
    return len(detail) + len("imgpipe") + len("Image Completed") + len("imgpipe-prod-events") + 24


def eventbridge_envelope_bytes(design: Design) -> int:
    """What the webhook rule delivers to the notify queue: the whole event (EventBridge's envelope + detail)."""
    envelope = {
        "version": "0", "id": UUID, "detail-type": "Image Completed", "source": "imgpipe",
        "account": "123456789012", "time": "2026-11-27T10:15:32Z", "region": PRICES["region"], "resources": [],
        "detail": event_detail(design),
    }
    return len(json.dumps(envelope, separators=(",", ":")))


# ------------------------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------------------------


def _at_batch(table: dict, batch: int):
    """ms per image at this batch, or at the nearest measured batch."""
    if not table:
        return None
    table = {int(k): v for k, v in table.items() if v}
    if batch in table:
        return table[batch]
    nearest = min(table, key=lambda b: (abs(b - batch), b))
    return table[nearest]


def threads_used(design: Design, memory_mb: float) -> int:
    """Intra-op threads of the inference function: IMGPIPE_ORT_THREADS, which terraform sets to one per vCPU
    the memory buys (max(1, ceil(memory / 1769))) unless the model says otherwise; 2 is the most modelled."""
    if design.inference_threads:
        return design.inference_threads
    return 1 if vcpus(memory_mb) <= 1.0 else 2


class MissingFigure(Exception):
    """A figure the design needs is not in results.json: the scenario is reported as not measured."""


def _inference_tables(measured: Measured, design: Design):
    if design.variant == "fp32":
        return measured.inference_ms_t1, measured.inference_ms_t2
    if design.variant == "int8":
        if not measured.int8_ms_t1 or not measured.int8_ms_t2:
            raise MissingFigure("int8 inference times (figures.inference, variant int8)")
        return measured.int8_ms_t1, measured.int8_ms_t2
    raise ValueError(f"variant {design.variant!r}")


def inference_ms(measured: Measured, design: Design, memory_mb: float, batch: int) -> float:
    """Wall ms per image of the model run on x86_64 Lambda. One thread: the time measured here with one
    thread, stretched by the CPU share below 1 vCPU. Two threads: the time measured here with two, but no
    faster than the function's CPU share allows for two busy threads (ONNX Runtime's workers spin while they
    wait, so both count against the quota)."""
    t1, t2 = _inference_tables(measured, design)
    n = threads_used(design, memory_mb)
    share = vcpus(memory_mb) * ASSUMPTIONS["lambda_core_vs_this_machine"]
    if n <= 1:
        ms = _at_batch(t1, batch)
        if ms is None:
            raise MissingFigure("inference times with 1 thread")
        return ms / min(share, 1.0)
    ms = _at_batch(t2, batch)
    if ms is None:
        raise MissingFigure("inference times with 2 threads")
    return max(ms, 2.0 * ms / share)


def api_post_ms(design: Design, a=None) -> float:
    """The api function's time for one POST /images: the handler and its PutItem, plus each further call."""
    a = _a(a)
    lat = a["aws_latency_ms"]
    ms = a["api_request_ms"]["post"]
    if design.idempotency_key:
        ms += lat["dynamodb_get"]
    if design.quota:
        ms += lat["dynamodb_update"]
    if design.upload == "inline":
        ms += lat["s3_put"] + a["upload_bytes"] / (a["s3_transfer_mb_per_s"] * 1e3) + lat["dynamodb_update"]
    return ms


def durations(measured: Measured, design: Design, a=None) -> dict:
    """Billed milliseconds per image of each function (compute + waiting on AWS calls), and their parts."""
    a = _a(a)
    lat = a["aws_latency_ms"]
    arch = architecture_speed(design)
    get_upload = lat["s3_get_first_byte"] + a["upload_bytes"] / (a["s3_transfer_mb_per_s"] * 1e3)
    get_pixels = lat["s3_get_first_byte"] + a["preprocessed_bytes"] / (a["s3_transfer_mb_per_s"] * 1e3)
    ingest = design.client == "ingest"
    # Preprocess: the messages of a batch run concurrently (join_all), so the AWS-call chain of one message
    # is paid once per invocation; the decode work of the whole batch shares the function's CPU.
    pre_chain = (lat["dynamodb_put"] if ingest else lat["dynamodb_update"]) + get_upload + lat["dynamodb_update"]
    if design.pixels_via == "s3":
        pre_chain += lat["s3_put"] + lat["sqs_send"]
    elif design.pixels_via == "sqs":
        pre_chain += lat["sqs_send"] + 5.0  # a 150 KB message body instead of a small one
    pre_compute = design.preprocess_batch * measured.preprocess_ms / speed(design.preprocess_mb, 1.0) / arch
    # Announcing a completion: the results file of an ingested image (or, as the alternative, every image),
    # then PutEvents.
    announce = lat["eventbridge_put"] + (lat["s3_put"] if ingest or design.result_json_in_s3 else 0.0)
    out = {}
    if design.pixels_via == "none":
        # One function does both stages: preprocess's batch, then one model run for it.
        batch = design.preprocess_batch
        mem = design.preprocess_mb
        compute = batch * (measured.preprocess_ms / speed(mem, 1.0) + inference_ms(measured, design, mem, batch)) / arch
        chain = pre_chain + lat["dynamodb_update"] + announce
        out["preprocess"] = {"memory_mb": mem, "batch": batch, "compute_ms": compute / batch,
                             "aws_wait_ms": chain / batch, "billed_ms": (compute + chain) / batch}
    else:
        inf_batch = design.inference_batch
        inf_compute = inf_batch * inference_ms(measured, design, design.inference_mb, inf_batch) / arch
        inf_chain = lat["dynamodb_get"] + lat["dynamodb_update"] + announce
        if design.inferring_write:
            inf_chain += lat["dynamodb_update"]
        if design.pixels_via == "s3":
            inf_chain += get_pixels
        out["preprocess"] = {
            "memory_mb": design.preprocess_mb,
            "batch": design.preprocess_batch,
            "compute_ms": pre_compute / design.preprocess_batch,
            "aws_wait_ms": pre_chain / design.preprocess_batch,
            "billed_ms": (pre_compute + pre_chain) / design.preprocess_batch,
        }
        out["inference"] = {
            "memory_mb": design.inference_mb,
            "batch": inf_batch,
            "ort_threads": threads_used(design, design.inference_mb),
            "compute_ms": inf_compute / inf_batch,
            "aws_wait_ms": inf_chain / inf_batch,
            "billed_ms": (inf_compute + inf_chain) / inf_batch,
        }
    if design.client == "webhook":
        ms = a["notify_invocation_ms"]
        out["notify"] = {"memory_mb": design.notify_mb, "batch": design.notify_batch, "compute_ms": 0.0,
                         "aws_wait_ms": ms / design.notify_batch, "billed_ms": ms / design.notify_batch}
    return out


def breakdown(measured: Measured, design: Design, a=None) -> dict:
    """Dollars per 1,000 images by service and component, with the counts behind them."""
    a = _a(a)
    p = PRICES
    k = 1000.0
    api_client = design.client != "ingest"
    n_polls = polls(design)
    dur = durations(measured, design, a)
    counts: dict = {}
    cost: dict = {}
    outside: dict = {}  # paid per image but not by the pipeline's requests (shown apart)
    gb_price = gb_second_price(design.architecture)

    # Lambda: requests and GB-seconds.
    invocations, gbs = {}, {}
    if api_client:
        invocations["api"] = 1 + n_polls
        gbs["api"] = (gb_seconds(design.api_mb, api_post_ms(design, a))
                      + n_polls * gb_seconds(design.api_mb, a["api_request_ms"]["get"]))
    for name, d in dur.items():
        invocations[name] = 1.0 / d["batch"]
        gbs[name] = gb_seconds(d["memory_mb"], d["billed_ms"] * d["batch"]) / d["batch"]
    cost["lambda"] = {f"{name} compute": gbs[name] * gb_price * k for name in gbs}
    cost["lambda"]["requests"] = sum(invocations.values()) * p["lambda_request"] * k
    counts["lambda_invocations"] = invocations
    counts["lambda_gb_seconds"] = gbs

    # SQS: the S3 notification, the inference message (if any), the webhook event; receives and deletes per batch.
    sqs = {"s3 event send": sqs_requests(a["s3_event_message_bytes"])}
    pre_batch = design.preprocess_batch
    sqs["preprocess receive"] = sqs_requests(pre_batch * a["s3_event_message_bytes"]) / pre_batch
    sqs["preprocess delete"] = 1.0 / pre_batch
    if design.pixels_via in ("s3", "sqs"):
        body = a["inference_message_bytes"] + (a["preprocessed_bytes"] if design.pixels_via == "sqs" else 0)
        b = design.inference_batch
        sqs["inference send"] = sqs_requests(body)
        sqs["inference receive"] = sqs_requests(b * body) / b
        sqs["inference delete"] = 1.0 / b
    if design.client == "webhook":
        envelope = eventbridge_envelope_bytes(design)
        b = design.notify_batch
        sqs["notify send (by the webhook rule)"] = sqs_requests(envelope)
        sqs["notify receive"] = sqs_requests(b * envelope) / b
        sqs["notify delete"] = 1.0 / b
    cost["sqs"] = {name: n * p["sqs_request"] * k for name, n in sqs.items()}
    counts["sqs_requests"] = sqs

    # EventBridge: one entry per image ended (every client: the code always publishes).
    events = eventbridge_events(event_entry_bytes(design))
    cost["eventbridge"] = {"PutEvents (Image Completed)": events * p["eventbridge_custom_event"] * k}
    counts["eventbridge_events"] = events
    counts["event_entry_bytes"] = event_entry_bytes(design)

    # DynamoDB: status writes (table + indexes), the quota counter, reads.
    owner = a["owner_present"]
    writes = status_write_units(design, owner)
    wru = {stage: w["table"] + w["status_index"] + w["owner_index"] + w["source_index"] for stage, w in writes.items()}
    if api_client and design.quota and owner:
        wru["quota counter"] = write_units(item_size(quota_item()))
    stages = items_by_stage(design, owner)
    reads = {}
    if n_polls:
        reads["polls"] = n_polls * read_units(item_size(stages["completed"]))
    if design.pixels_via != "none":
        seen = stages["preprocessed"] if "preprocessed" in stages else stages["create"]
        reads["inference GetItem"] = read_units(item_size(seen))
    if api_client and design.idempotency_key:
        reads["idempotency GetItem"] = read_units(0)
    cost["dynamodb"] = {f"write {s}": u * p["dynamodb_write_unit"] * k for s, u in wru.items()}
    cost["dynamodb"]["reads"] = sum(reads.values()) * p["dynamodb_read_unit"] * k
    counts["dynamodb_write_units"] = writes
    counts["dynamodb_write_units_total"] = sum(wru.values())
    counts["dynamodb_read_units"] = reads

    # S3 requests. Requests are billed to the bucket owner, whoever makes them (no Requester Pays).
    puts, gets = {}, {"source object (preprocess)": 1}
    if design.client == "ingest":
        outside["S3 PUT of the ingest object (the user's upload)"] = p["s3_put"] * k
        puts["results/<key>.json (announcer)"] = 1
    elif design.upload == "inline":
        puts["upload (api, inline)"] = 1
    else:
        puts["upload (client, presigned)"] = 1
    if design.pixels_via == "s3":
        puts["preprocessed pixels"] = 1
        gets["preprocessed pixels (inference)"] = 1
    if design.result_json_in_s3 and design.client != "ingest":
        puts["result JSON of an API upload"] = 1
    cost["s3"] = {f"PUT {n}": c * p["s3_put"] * k for n, c in puts.items()}
    cost["s3"].update({f"GET {n}": c * p["s3_get"] * k for n, c in gets.items()})
    counts["s3_puts"], counts["s3_gets"] = puts, gets

    # HTTP API: POST /images plus the polls (a presigned upload goes to S3, not through the API).
    api_requests = {}
    if api_client:
        body = a["upload_bytes"] if design.upload == "inline" else 300
        api_requests["POST /images"] = http_api_requests(body)
        if n_polls:
            api_requests["GET polls"] = n_polls
    cost["http_api"] = {n: c * p["http_api_request"] * k for n, c in api_requests.items()}
    counts["http_api_requests"] = api_requests
    counts["polls_per_image"] = n_polls

    # Secrets Manager: the webhook signing key, once per notify execution environment.
    if design.client == "webhook":
        calls = invocations["notify"] / a["notify_invocations_per_container"]
        cost["secrets_manager"] = {"GetSecretValue (per container)": calls * p["secretsmanager_api_call"] * k}
        counts["secret_reads_per_image"] = calls

    # CloudWatch Logs: INFO lines per image, platform lines, EMF documents, API access log lines.
    lines = {"preprocess": 3.0 + (1.0 if design.client == "ingest" else 0.0)}
    if api_client:
        lines["api"] = 1.0
    if design.pixels_via == "none":
        lines["preprocess"] += 1.0 / design.preprocess_batch
    else:
        lines["inference"] = 1.0 + 1.0 / design.inference_batch
    if design.client == "webhook":
        lines["notify"] = 1.0
    app_lines = sum(lines.values()) if design.app_log_lines else 0.0
    workers = {name: n for name, n in invocations.items() if name != "api"}
    emf = sum(workers.values()) * a["emf_bytes_per_invocation"]
    platform_invocations = sum(workers.values()) + (invocations.get("api", 0.0) if design.api_platform_logs else 0.0)
    access = sum(api_requests.values()) * a["api_access_log_bytes"]
    log_bytes = (app_lines * a["log_bytes_per_app_line"] + platform_invocations * a["log_bytes_per_invocation"]
                 + emf + access)
    cost["cloudwatch_logs"] = {"ingestion": log_bytes * k / 1e9 * p["cloudwatch_logs_ingest_gb"]}
    counts["log_bytes_per_image"] = log_bytes
    counts["access_log_bytes_per_image"] = access

    # X-Ray (active tracing on every function, terraform/modules/compute): sampled traces.
    traces = sum(invocations.values()) * a["xray_sampled_fraction"]
    cost["xray"] = {"traces recorded": traces * p["xray_trace_recorded"] * k}
    counts["xray_traces_per_image"] = traces

    totals = {service: sum(parts.values()) for service, parts in cost.items()}
    compute = sum(v for key, v in cost["lambda"].items() if key.endswith("compute"))
    total = sum(totals.values())

    # Storage while retained (not per request: shown apart from the all-in figure).
    gb = 1e9
    month = 30.0
    s3_gb_month = (
        a["upload_bytes"] * a["retention_days"] / month
        + (result_file_bytes(design) * a["retention_days"] / month
           if design.client == "ingest" or design.result_json_in_s3 else 0)
    ) * k / gb
    done = stages["completed"]
    entries = item_size(done) + a["gsi_entry_overhead_bytes"] + sum(index_entry_bytes(design, done).values())
    ddb_gb_month = entries * a["retention_days"] / month * k / gb
    logs_gb_month = log_bytes * a["log_retention_days"] / month * k / gb
    storage = {
        "s3": s3_gb_month * p["s3_storage_gb_month"],
        "dynamodb (item + index entries)": ddb_gb_month * p["dynamodb_storage_gb_month"],
        "cloudwatch logs": logs_gb_month * p["cloudwatch_logs_storage_gb_month"],
    }
    return {
        "total_usd_per_1k": total,
        "by_service_usd_per_1k": totals,
        "lambda_compute_usd_per_1k": compute,
        "requests_and_other_usd_per_1k": total - compute,
        "detail_usd_per_1k": cost,
        "outside_usd_per_1k": outside,
        "counts_per_image": counts,
        "durations_ms_per_image": dur,
        "storage_usd_per_1k_for_retention": storage,
        "design": asdict(design),
    }


def poll_usd_per_1k(design: Design, a=None) -> float:
    """What one GET /images/{id} poll costs per 1,000 images: the HTTP API request, the api invocation and
    its GB-seconds, one consistent GetItem of the completed item, its access log line and X-Ray's share."""
    a = _a(a)
    p = PRICES
    done = items_by_stage(replace(design, client="polling"), a["owner_present"])["completed"]
    usd = (p["http_api_request"] + p["lambda_request"]
           + gb_seconds(design.api_mb, a["api_request_ms"]["get"]) * gb_second_price(design.architecture)
           + read_units(item_size(done)) * p["dynamodb_read_unit"]
           + a["api_access_log_bytes"] / 1e9 * p["cloudwatch_logs_ingest_gb"]
           + a["xray_sampled_fraction"] * p["xray_trace_recorded"])
    if design.api_platform_logs:
        usd += a["log_bytes_per_invocation"] / 1e9 * p["cloudwatch_logs_ingest_gb"]
    return usd * 1000.0


def webhook_failure(design: Design, a=None) -> dict:
    """Extra cost of a webhook that fails every delivery (services/notify/src/lib.rs): each of the notify
    queue's max_receive_count deliveries is one invocation, a receive, a warn line and (all but the last) a
    ChangeMessageVisibility; the last writes the webhook_failed note (UpdateItem, no index holds `webhook`).
    Worst case per attempt: the receiver never answers and each try waits out the webhook timeout."""
    a = _a(a)
    p = PRICES
    attempts = PIPELINE["queues"]["notify"]["max_receive_count"]
    timeout_ms = PIPELINE["webhooks"]["timeout_secs"] * 1000.0
    done = items_by_stage(replace(design, client="webhook"), a["owner_present"])["completed"]
    noted = dict(done, webhook={"status": "webhook_failed", "attempts": attempts,
                                "message": "the receiver answered 503", "at": MS + 3_600_000})
    usd = {
        "notify invocations": attempts * (p["lambda_request"]
                                          + gb_seconds(design.notify_mb, timeout_ms) * gb_second_price(design.architecture)),
        "sqs receives, visibility changes, delete": (attempts + (attempts - 1) + 1) * p["sqs_request"],
        "webhook_failed note (UpdateItem)": write_units(item_size(noted)) * p["dynamodb_write_unit"],
        "logs and traces": attempts * ((a["log_bytes_per_app_line"] + a["log_bytes_per_invocation"]
                                        + a["emf_bytes_per_invocation"]) / 1e9 * p["cloudwatch_logs_ingest_gb"]
                                       + a["xray_sampled_fraction"] * p["xray_trace_recorded"]),
    }
    return {"attempts": attempts, "attempt_ms": timeout_ms,
            "usd_per_1k_failed": {key: v * 1000.0 for key, v in usd.items()},
            "total_usd_per_1k_failed": sum(usd.values()) * 1000.0}


def memory_table(measured: Measured, design: Design, sizes=(512, 1024, 1769, 2048, 3008)) -> list:
    """Per memory size (both functions at that size): billed ms and $ per 1k for each function, and the total."""
    rows = []
    for mb in sizes:
        d = replace(design, preprocess_mb=mb, inference_mb=mb)
        b = breakdown(measured, d)
        dur = b["durations_ms_per_image"]
        lam = b["detail_usd_per_1k"]["lambda"]
        rows.append({
            "memory_mb": mb,
            "vcpus": round(vcpus(mb), 3),
            "preprocess_billed_ms_per_image": dur["preprocess"]["billed_ms"],
            "preprocess_compute_usd_per_1k": lam["preprocess compute"],
            "inference_billed_ms_per_image": dur["inference"]["billed_ms"],
            "inference_ort_threads": dur["inference"]["ort_threads"],
            "inference_compute_usd_per_1k": lam["inference compute"],
            "total_usd_per_1k": b["total_usd_per_1k"],
        })
    return rows


def client_scenarios(measured: Measured, design: Design) -> list:
    """The four clients side by side, the per-owner quota off and on for the API ones, on both architectures."""
    rows = []
    for client, label in CLIENTS.items():
        for quota in ((False,) if client == "ingest" else (False, True)):
            d = replace(design, client=client, quota=quota)
            x86 = breakdown(measured, replace(d, architecture="x86_64"))
            arm = breakdown(measured, replace(d, architecture="arm64"))
            c = x86["counts_per_image"]
            rows.append({
                "client": client, "label": label, "quota": quota if client != "ingest" else None,
                "x86_64_usd_per_1k": x86["total_usd_per_1k"], "arm64_usd_per_1k": arm["total_usd_per_1k"],
                "lambda_compute_x86_64_usd_per_1k": x86["lambda_compute_usd_per_1k"],
                "lambda_compute_arm64_usd_per_1k": arm["lambda_compute_usd_per_1k"],
                "by_service_usd_per_1k": x86["by_service_usd_per_1k"],
                "outside_usd_per_1k": x86["outside_usd_per_1k"],
                "http_api_requests": sum(c["http_api_requests"].values()),
                "lambda_invocations": sum(c["lambda_invocations"].values()),
                "dynamodb_write_units": c["dynamodb_write_units_total"],
                "dynamodb_read_units": sum(c["dynamodb_read_units"].values()),
                "s3_puts": sum(c["s3_puts"].values()),
                "sqs_requests": sum(c["sqs_requests"].values()),
                "eventbridge_events": c["eventbridge_events"],
            })
    return rows


def arm64_sensitivity(measured: Measured, design: Design, ratios=(0.8, 1.0, 1.2)) -> list:
    """All-in and Lambda compute per 1,000 images with every function on arm64, at several assumed speed ratios."""
    base = breakdown(measured, replace(design, architecture="x86_64"))
    rows = [{"architecture": "x86_64", "ratio": None, "total_usd_per_1k": base["total_usd_per_1k"],
             "lambda_compute_usd_per_1k": base["lambda_compute_usd_per_1k"]}]
    for r in ratios:
        b = breakdown(measured, replace(design, architecture="arm64", arm64_speed_ratio=r))
        rows.append({"architecture": "arm64", "ratio": r, "total_usd_per_1k": b["total_usd_per_1k"],
                     "lambda_compute_usd_per_1k": b["lambda_compute_usd_per_1k"]})
    return rows


def alternatives(measured: Measured, design: Design) -> list:
    """What each design change alone (and the cheap ones together) would do to the all-in cost."""
    base = breakdown(measured, design)["total_usd_per_1k"]
    inferring = replace(design, inferring_write=True)
    w = status_write_units(inferring, ASSUMPTIONS["owner_present"])["inferring"]
    options = [
        (f"write an `inferring` status too (one more UpdateItem: {w['table']} write unit for the "
         f"{w['item_bytes']}-byte item, {w['status_index']} for its status-index delete and put; "
         "services/domain/src/status.rs says why it is not written)", inferring),
        ("the per-owner quota on (one UpdateItem on the quota counter per POST)", replace(design, quota=True)),
        ("an Idempotency-Key on every POST (one consistent GetItem first)", replace(design, idempotency_key=True)),
        ("inline upload (the image in the POST body: the api PUTs it and writes `queued`) instead of presigned",
         replace(design, upload="inline")),
        ("a result JSON in S3 for API uploads too (ingest images get one; DynamoDB holds the top-5 anyway)",
         replace(design, result_json_in_s3=True)),
        ("preprocessed pixels through S3 (PUT + GET, the design before 2026-11-27) instead of inside the SQS "
         "message", replace(design, pixels_via="s3")),
        ("status and owner indexes projected ALL instead of KEYS_ONLY", replace(design, gsi_projection="ALL")),
        ("one function for both stages (no intermediate pixels, no preprocessed write)", replace(design, pixels_via="none")),
        ("the completed item keeps its claim fields", replace(design, slim_item=False)),
        ("clients poll every 0.25 s", replace(design, poll_interval_s=0.25)),
        ("clients poll every 2 s", replace(design, poll_interval_s=2.0)),
        ("application log level WARN (no per-image INFO lines)", replace(design, app_log_lines=False)),
        ("the api's platform log lines at INFO", replace(design, api_platform_logs=True)),
        ("IMGPIPE_ORT_THREADS=1 on the inference function (one intra-op thread)", replace(design, inference_threads=1)),
        ("the int8 model variant (measured times)", replace(design, variant="int8")),
        (f"every function on arm64 (speed ratio {design.arm64_speed_ratio:.1f}, assumed)", replace(design, architecture="arm64")),
        ("inference batch 1 instead of 8", replace(design, inference_batch=1)),
        ("preprocess batch 1 instead of 10", replace(design, preprocess_batch=1)),
    ]
    rows = []
    for name, d in options:
        try:
            total = breakdown(measured, d)["total_usd_per_1k"]
        except MissingFigure as e:
            rows.append({"change": name, "total_usd_per_1k": None, "saves_usd_per_1k": None,
                         "saves_percent": None, "missing": str(e)})
            continue
        rows.append({"change": name, "total_usd_per_1k": total, "saves_usd_per_1k": base - total,
                     "saves_percent": 100.0 * (base - total) / base})
    lean = replace(design, app_log_lines=False, pixels_via="none", poll_interval_s=2.0)
    total = breakdown(measured, lean)["total_usd_per_1k"]
    rows.append({"change": "together: WARN logs, one function for both stages, clients polling every 2 s",
                 "total_usd_per_1k": total, "saves_usd_per_1k": base - total,
                 "saves_percent": 100.0 * (base - total) / base})
    return rows


# ------------------------------------------------------------------------------------------------------------
# A deployment with nothing processed: what it costs a month
# ------------------------------------------------------------------------------------------------------------

TERRAFORM = os.path.join(REPO, "terraform")
SERVICE_FUNCTIONS = ("api", "preprocess", "sweeper", "notify")  # terraform/main.tf service_functions
SERVICE_QUEUES = ("preprocess", "notify")  # terraform/main.tf service_queues (each with a DLQ)


def _blocks(text: str, kind: str) -> dict:
    """Top-level `resource "<kind>" "<name>" { ... }` blocks of a Terraform file, by name."""
    out = {}
    for m in re.finditer(r'(?m)^resource "' + re.escape(kind) + r'" "(\w+)" \{\n', text):
        end = re.compile(r"(?m)^\}").search(text, m.end())
        out[m.group(1)] = text[m.end():end.start() if end else len(text)]
    return out


def _read(*parts) -> str:
    with open(os.path.join(TERRAFORM, *parts), encoding="utf-8") as f:
        return f.read()


def alarm_inventory(models: int = 1) -> dict:
    """The CloudWatch alarms of a deployment, counted from terraform/modules/monitoring (and compute, which
    defines none), and the alarm metrics they are billed by: a plain alarm watches one metric, a metric-math
    alarm every metric in it (the DynamoDB one a metric per index too), a Metrics Insights alarm the metrics
    its query analyses (ASSUMPTIONS insights_alarm_metrics_at_idle)."""
    per = {"function_names": len(SERVICE_FUNCTIONS) + models, "queue_names": len(SERVICE_QUEUES) + models,
           "dlq_names": len(SERVICE_QUEUES) + models}
    indexes = len(CONTRACT["table"]["indexes"])
    rows = {}
    for module in ("monitoring", "compute"):
        for name, body in _blocks(_read("modules", module, "main.tf"), "aws_cloudwatch_metric_alarm").items():
            each = re.search(r"(?m)^  for_each\s*=\s*var\.(\w+)", body)
            count = per[each.group(1)] if each else 1
            if "SELECT " in body:
                metrics = ASSUMPTIONS["insights_alarm_metrics_at_idle"]
            elif "metric_query" in body:
                static = len(re.findall(r"(?m)^    metric \{", body))
                dynamic = len(re.findall(r"(?m)^      metric \{", body))
                metrics = static + dynamic * (indexes if "var.table_index_names" in body else 1)
            else:
                metrics = 1
            rows[f"{module}.{name}"] = {"alarms": count, "alarm_metrics": count * metrics,
                                        "per": each.group(1) if each else None}
    return {"by_resource": rows, "alarms": sum(r["alarms"] for r in rows.values()),
            "alarm_metrics": sum(r["alarm_metrics"] for r in rows.values())}


def dashboards() -> int:
    return len(_blocks(_read("modules", "monitoring", "main.tf"), "aws_cloudwatch_dashboard"))


def terraform_preset(preset: str) -> dict:
    """What the preset sets that an idle deployment pays for (terraform/envs/<preset>/main.tf)."""
    text = _read("envs", preset, "main.tf")
    retention = re.search(r"(?m)^\s*log_retention_days\s*=\s*(\d+)", text)
    return {
        "log_retention_days": int(retention.group(1)) if retention else ASSUMPTIONS["log_retention_days"],
        # A customer managed key of the preset's own for bucket, table and logs.
        "storage_cmk": bool(re.search(r'(?m)^resource "aws_kms_key"', text)),
        # The monitoring module creates the alarm topic and its key unless an existing topic is given;
        # both examples create it (alarm emails), so both pay for its key.
        "alarm_topic_cmk": True,
        "point_in_time_recovery": bool(re.search(r"point_in_time_recovery_enabled\s*=\s*true", text)),
    }


def _functions(models: int) -> list:
    return list(SERVICE_FUNCTIONS) + [f"inference-m{i}" for i in range(models)]


def metric_series(models: int = 1, state: str = "load", webhooks: bool = False, quota: bool = False) -> dict:
    """Custom metrics (name x dimension values) the code's EMF would create (services/contract.json
    metrics; the values each dimension takes from services/domain/src/telemetry.rs and its callers).
    `idle`: nothing processed; `load`: images flowing, nothing failing; `failing`: also every failure kind."""
    inference = [f"inference-m{i}" for i in range(models)]
    model_names = [f"m{i}" for i in range(models)]
    codes = CONTRACT["error_codes"]
    rejections = ["not_an_image", "unsupported_format", "too_large", "too_many_pixels", "corrupt_image"]
    happy = {
        "images_processed": [("preprocess", "preprocess")] + [(f, "inference") for f in inference],
        "stage_ms": [("preprocess", "preprocess", s) for s in ("decode_resize", "total", "queue_wait")]
        + [(f, "inference", s) for f in inference for s in ("model_run", "queue_wait", "end_to_end")],
        "batch_size": [("preprocess", "preprocess")] + [(f, "inference") for f in inference]
        + ([("notify", "notify")] if webhooks else []),
        "cold_start": [("api",), ("preprocess",), ("sweeper",)] + [(f,) for f in inference]
        + ([("notify",)] if webhooks else []),
        "jobs_ended": [("completed",)],
        "jobs_completed": [(m,) for m in model_names],
        "end_to_end_ms": [(m,) for m in model_names],
        "webhooks": [("delivered",)] if webhooks else [],
        "failures": [], "jobs_failed": [], "configuration_faults": [], "swept": [],
        "event_publish_failures": [], "quota_refusals": [],
    }
    failing = {
        "failures": [("preprocess", "preprocess", c) for c in rejections + ["upload_missing", "internal"]]
        + [(f, "inference", "internal") for f in inference]
        + [("sweeper", "sweeper", c) for c in ("retries_exhausted", "upload_missing")],
        "jobs_failed": [(c,) for c in codes],
        "jobs_ended": [("completed",), ("failed",)],
        "swept": [("dead_letter",), ("upload_missing",), ("stale",)],
        "event_publish_failures": [("preprocess",), ("sweeper",)] + [(f,) for f in inference],
        "batch_size": happy["batch_size"] + [("sweeper", "sweeper")],
        "webhooks": [(o,) for o in ("delivered", "retried", "failed", "refused")] if webhooks else [],
        "quota_refusals": [("api",)] if quota else [],
        "configuration_faults": [],  # a deployment fault, not a steady state
    }
    if state == "idle":
        # The scheduled sweep emits nothing but the sweeper's cold start (a new environment now and then;
        # counted for the whole month, an upper bound: metrics are billed by the hour they receive data).
        series = {name: [] for name in happy}
        series["cold_start"] = [("sweeper",)]
    elif state == "load":
        series = happy
    elif state == "failing":
        series = dict(happy, **failing)
    else:
        raise ValueError(state)
    names = [m["name"] for m in CONTRACT["metrics"]["metrics"]]
    missing = set(names) - set(series)
    if missing:
        raise KeyError(f"services/contract.json metrics not modelled here: {sorted(missing)}")
    for m in CONTRACT["metrics"]["metrics"]:
        for combo in series[m["name"]]:
            if len(combo) != len(m["dimensions"]):
                raise ValueError(f"{m['name']}: {combo} does not match its dimensions {m['dimensions']}")
    by_name = {name: len(series[name]) for name in names}
    return {"by_metric": by_name, "total": sum(by_name.values())}


def idle_monthly(preset: str = "dev", models: int = 1, webhooks: bool = False, a=None) -> dict:
    """Dollars a month of a deployment that processes nothing: alarms, the EMF metrics that still exist,
    the dashboard, KMS keys, the webhook secret, the event source mappings long-polling empty queues, the
    sweeper's schedule and the logs it keeps."""
    a = _a(a)
    p = PRICES
    env = terraform_preset(preset)
    alarms = alarm_inventory(models)
    metrics = metric_series(models, "idle", webhooks)
    minutes = a["month_days"] * 24 * 60
    # Event source mappings: preprocess, notify, each model's queue, and the sweeper's on the preprocess DLQ
    # and every model's DLQ (terraform/main.tf; the notify DLQ is not consumed).
    polled = len(SERVICE_QUEUES) + models + 1 + models
    receives = polled * a["sqs_idle_pollers_per_queue"] * (60 / a["sqs_long_poll_seconds"]) * minutes
    sweeper = PIPELINE["functions"]["sweeper"]
    sweeps = schedule_invocations_per_month(sweeper["schedule"], a["month_days"])
    statuses = 4  # pending_upload, queued, preprocessing, preprocessed (services/sweeper/src/scheduled.rs)
    queries = sweeps * statuses * CONTRACT["table"]["status_shards"]
    log_bytes = sweeps * (a["log_bytes_per_invocation"] + a["idle_sweep_log_lines"] * a["log_bytes_per_app_line"])
    items = {
        "CloudWatch alarms (per alarm metric)": alarms["alarm_metrics"] * p["cloudwatch_alarm_metric_month"],
        "EMF custom metrics that exist at idle": metrics["total"] * p["cloudwatch_metric_month"],
        "CloudWatch dashboard (free if among the account's first 3)": dashboards() * p["cloudwatch_dashboard_month"],
        "SQS receives of the idle event source mappings": receives * p["sqs_request"],
        "sweeper schedule: Lambda requests and GB-s":
            sweeps * (p["lambda_request"] + gb_seconds(sweeper["memory"], a["idle_sweep_ms"]) * p["lambda_gb_second"]),
        "sweeper schedule: empty status-index Queries": queries * a["empty_query_read_units"] * p["dynamodb_read_unit"],
        # One invocation every few minutes is always the first request of its second: X-Ray traces all of them.
        "sweeper schedule: X-Ray traces": sweeps * p["xray_trace_recorded"],
        "sweeper logs: ingestion": log_bytes / 1e9 * p["cloudwatch_logs_ingest_gb"],
        "sweeper logs: storage (the preset's retention)":
            log_bytes / 1e9 * env["log_retention_days"] / a["month_days"] * p["cloudwatch_logs_storage_gb_month"],
    }
    if env["alarm_topic_cmk"]:
        items["KMS key of the alarm topic"] = p["kms_key_month"]
    if env["storage_cmk"]:
        items["KMS key of bucket, table and logs"] = p["kms_key_month"]
        items["KMS requests (table key, log events)"] = sweeps * a["kms_requests_per_idle_sweep"] * p["kms_request"]
    if webhooks:
        items["Secrets Manager secret (webhook signing key)"] = p["secretsmanager_secret_month"]
    return {
        "preset": preset, "models": models, "webhooks": webhooks, "items_usd": items,
        "total_usd": sum(items.values()),
        "counts": {"alarms": alarms["alarms"], "alarm_metrics": alarms["alarm_metrics"], "dashboards": dashboards(),
                   "idle_metrics": metrics["total"], "polled_queues": polled, "sqs_receives": receives,
                   "sweeps": sweeps, "sweep_queries": queries},
        "terraform": env,
    }


# ------------------------------------------------------------------------------------------------------------
# Inputs and the report
# ------------------------------------------------------------------------------------------------------------


def measured_from_results(results: dict) -> Measured:
    """The Rust figures the cost model needs, from bench/results.json."""
    fig = results["figures"]
    pre = fig["preprocess_dev"]["rust"]["per_image_ms"]["median"]
    tables = {("fp32", 1): {}, ("fp32", 2): {}, ("int8", 1): {}, ("int8", 2): {}}
    for entry in fig["inference"]:
        key = (entry.get("variant"), entry.get("threads"))
        if entry.get("side") == "rust" and key in tables:
            tables[key][entry["batch"]] = entry["per_image_ms"]["median"]
    if not tables[("fp32", 1)] or not tables[("fp32", 2)]:
        raise KeyError("figures.inference has no Rust fp32 times for 1 and 2 threads")
    return Measured(preprocess_ms=pre, inference_ms_t1=tables[("fp32", 1)], inference_ms_t2=tables[("fp32", 2)],
                    int8_ms_t1=tables[("int8", 1)] or None, int8_ms_t2=tables[("int8", 2)] or None)


def report(measured: Measured, design: Design | None = None, upload_bytes: float | None = None,
           log_line_bytes: float | None = None, large: tuple | None = None) -> dict:
    """Everything run.py stores under results.json's "cost". upload_bytes and log_line_bytes replace the
    assumptions with what the run measured (mean dev-image size; mean handler log line of the local stack);
    large = (preprocess ms, upload bytes) of 14.7 MP phone-size JPEGs adds that scenario."""
    design = design or load_pipeline_defaults()
    saved = copy.deepcopy(ASSUMPTIONS)
    missing = []
    try:
        if upload_bytes:
            ASSUMPTIONS["upload_bytes"] = int(upload_bytes)
        if log_line_bytes:
            ASSUMPTIONS["log_bytes_per_app_line"] = int(round(log_line_bytes))
        base = breakdown(measured, design)
        scenarios = {"dev images (the default figure)": base["total_usd_per_1k"]}
        if large:
            ASSUMPTIONS["upload_bytes"] = int(large[1])
            phone = breakdown(replace(measured, preprocess_ms=large[0]), design)
            scenarios[f"14.7 MP JPEG uploads ({large[0]:.0f} ms preprocess, {large[1] / 1e6:.1f} MB)"] = phone["total_usd_per_1k"]
            ASSUMPTIONS["upload_bytes"] = int(upload_bytes) if upload_bytes else saved["upload_bytes"]
        else:
            missing.append("14.7 MP JPEG uploads: figures.preprocess_large.jpeg_14mp (or its mean size) is not in "
                           "the results, so that scenario is not shown")
        if not measured.int8_ms_t1 or not measured.int8_ms_t2:
            missing.append("int8 variant: no Rust int8 inference times in the results")
        missing.append("arm64: no measured arm64 time (this machine is x86_64); arm64 durations rest on the assumed "
                       f"speed ratio {design.arm64_speed_ratio:.1f}")
        missing.append("notify: no measured webhook time; ASSUMPTIONS notify_invocation_ms is used")
        idle = [idle_monthly(preset, m) for preset in ("dev", "prod") for m in (1, 3)]
        return {
            "cost_per_1k_images_usd": base["total_usd_per_1k"],
            "scenarios": scenarios,
            "default": base,
            "clients": client_scenarios(measured, design),
            "poll_usd_per_1k": poll_usd_per_1k(design),
            "arm64_sensitivity": arm64_sensitivity(measured, design),
            "webhook_failure": webhook_failure(design),
            "ingest": breakdown(measured, replace(design, client="ingest")),
            "ingest_key_limit": longest_ingest_key_in_one_write_unit(design),
            "memory_sizes": memory_table(measured, design),
            "alternatives": alternatives(measured, design),
            "idle_monthly": idle,
            "metrics": {state: {m: metric_series(m, state)["total"] for m in (1, 3)} for state in ("idle", "load", "failing")},
            "idle_per_1k_images_usd_at": {
                f"{i['preset']}, {i['models']} model{'s' if i['models'] > 1 else ''}": {
                    str(n): i["total_usd"] / (n / 1000) for n in (100_000, 1_000_000, 10_000_000)}
                for i in idle
            },
            "webhook_secret_monthly_usd": idle_monthly("prod", 1, True)["total_usd"] - idle_monthly("prod", 1)["total_usd"],
            "missing": missing,
            "prices": PRICES,
            "assumptions": copy.deepcopy(ASSUMPTIONS),
            "measured_inputs": asdict(measured),
            "calls_per_image": CALLS,
        }
    finally:
        # In place: the functions read the module's dict, whatever names refer to it.
        ASSUMPTIONS.clear()
        ASSUMPTIONS.update(saved)


# ------------------------------------------------------------------------------------------------------------
# Text
# ------------------------------------------------------------------------------------------------------------


def _usd(x: float | None) -> str:
    if x is None:
        return "not measured"
    return f"-${-x:.5f}" if x < 0 else f"${x:.5f}"


def markdown(cost: dict) -> str:
    d = cost["default"]
    design = d["design"]
    a = cost["assumptions"]
    c = d["counts_per_image"]
    lines = []
    lines.append(f"All-in: **{_usd(cost['cost_per_1k_images_usd'])} per 1,000 images** at the default settings "
                 f"(a polling client, presigned upload, quota off, x86_64; preprocess {design['preprocess_mb']} MB "
                 f"batch {design['preprocess_batch']}, inference {design['inference_mb']} MB batch "
                 f"{design['inference_batch']}, fp32, {c['polls_per_image']} status polls per image); Lambda "
                 f"compute is {_usd(d['lambda_compute_usd_per_1k'])} of it, requests and the rest "
                 f"{_usd(d['requests_and_other_usd_per_1k'])}.")
    if len(cost.get("scenarios", {})) > 1:
        lines.append("")
        lines.append("Other inputs, same design: " + "; ".join(f"{k}: {_usd(v)}" for k, v in cost["scenarios"].items()) + ".")

    clients = cost.get("clients")
    if clients:
        lines.append("")
        lines.append("By kind of client ($ per 1,000 images; every client gets the EventBridge event, the code "
                     "always publishes it; arm64 at the assumed speed ratio "
                     f"{a['arm64_speed_ratio']:.1f}):")
        lines.append("")
        lines.append("| client | quota | x86_64 | arm64 | API requests | Lambda invocations | DynamoDB write units | "
                     "read units | S3 PUTs | SQS requests | events |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in clients:
            quota = "n/a" if r["quota"] is None else ("on" if r["quota"] else "off")
            lines.append(f"| {r['label']} | {quota} | {_usd(r['x86_64_usd_per_1k'])} | {_usd(r['arm64_usd_per_1k'])} | "
                         f"{r['http_api_requests']:g} | {r['lambda_invocations']:.3g} | {r['dynamodb_write_units']:g} | "
                         f"{r['dynamodb_read_units']:g} | {r['s3_puts']:g} | {r['sqs_requests']:.3g} | "
                         f"{r['eventbridge_events']:g} |")
        poll, ev = clients[0], next(r for r in clients if r["client"] == "events" and not r["quota"])
        ingest = next(r for r in clients if r["client"] == "ingest")
        outside = sum(ingest["outside_usd_per_1k"].values())
        lines.append("")
        lines.append(
            f"- Event-driven instead of polling saves exactly the polls: {c['polls_per_image']} x "
            f"{_usd(cost['poll_usd_per_1k'])} = {_usd(poll['x86_64_usd_per_1k'] - ev['x86_64_usd_per_1k'])} per "
            "1,000 images (per poll: the HTTP API request, the api invocation and its GB-s, one consistent GetItem, "
            "its access-log line, X-Ray's sample).")
        q_on = next(r for r in clients if r["client"] == "polling" and r["quota"])
        lines.append(
            f"- The per-owner quota adds one write unit per POST (the quota#{{day}}#{{owner}} counter is in no "
            f"index): {_usd(q_on['x86_64_usd_per_1k'] - poll['x86_64_usd_per_1k'])} per 1,000 images with its "
            f"{a['aws_latency_ms']['dynamodb_update']:g} ms of api time. Bulk ingest is not counted against it (the "
            "quota lives in the API only).")
        wf = cost["webhook_failure"]
        lines.append(
            f"- Webhooks: the rule's SendMessage to the notify queue, the notify invocation "
            f"({a['notify_invocation_ms']:g} ms per batch, assumed), GetSecretValue once per execution environment "
            f"(every {a['notify_invocations_per_container']:,} invocations, assumed). A webhook that fails every one "
            f"of its {wf['attempts']} deliveries (each waiting out the {wf['attempt_ms'] / 1000:g} s timeout) and "
            f"ends in the webhook_failed note costs {_usd(wf['total_usd_per_1k_failed'])} more per 1,000 such "
            "webhooks (not in the table: a failure, not the happy path).")
        lines.append(
            f"- Bulk ingest has no API request and no polls; preprocess creates the job (a conditional PutItem "
            f"that enters preprocessing, so one status write fewer), the source-key index takes a write at each "
            f"status (it projects status), and the announcer PUTs results/<key>.json. The user's own PUT under "
            f"ingest/ ({_usd(outside)} per 1,000) is not in the figure; S3 bills it to the bucket owner unless "
            "the bucket is Requester Pays.")

    sens = cost.get("arm64_sensitivity")
    if sens:
        lines.append("")
        x86 = sens[0]
        lines.append(
            "arm64 (Lambda GB-s $0.0000133334 against $0.0000166667, requests the same; its speed is an "
            "assumption, not a measurement: no arm64 host here, and emulated speed is not real speed): polling "
            "client, all-in / Lambda compute per 1,000 images: x86_64 "
            f"{_usd(x86['total_usd_per_1k'])} / {_usd(x86['lambda_compute_usd_per_1k'])}; arm64 at speed ratio "
            + "; ".join(f"{r['ratio']:.1f}: {_usd(r['total_usd_per_1k'])} / {_usd(r['lambda_compute_usd_per_1k'])}"
                        for r in sens[1:]) + ".")

    lines.append("")
    lines.append("Default breakdown (polling client):")
    lines.append("")
    lines.append("| service | component | $ per 1,000 images | share |")
    lines.append("|---|---|---:|---:|")
    total = d["total_usd_per_1k"]
    for service, parts in d["detail_usd_per_1k"].items():
        for name, usd in parts.items():
            lines.append(f"| {service} | {name} | {_usd(usd)} | {100 * usd / total:.1f}% |")
    lines.append(f"| **total** | | **{_usd(total)}** | 100% |")
    lines.append("")
    lines.append("By service: " + ", ".join(
        f"{s} {_usd(v)} ({100 * v / total:.0f}%)" for s, v in sorted(d["by_service_usd_per_1k"].items(),
                                                                   key=lambda kv: -kv[1])) + ".")
    every = sum(c["lambda_invocations"].values()) * cost["prices"]["xray_trace_recorded"] * 1000
    lines.append("")
    lines.append(f"X-Ray at volume samples {100 * a['xray_sampled_fraction']:g}% ({_usd(d['by_service_usd_per_1k']['xray'])}); "
                 "below about one invocation a second its reservoir (the first request each second) records every "
                 f"one: {_usd(every)} per 1,000 images, which would make it the largest single line at low volume.")
    lines.append("")
    dur = d["durations_ms_per_image"]
    lines.append("Billed Lambda time per image (compute from the measured Rust times scaled by the CPU share; "
                 "AWS-call waits assumed, one chain per invocation since a batch's messages run concurrently):")
    lines.append("")
    lines.append("| function | memory | vCPU share | batch | compute ms/image | AWS-call wait ms/image | billed ms/image |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for name, x in dur.items():
        lines.append(f"| {name} | {x['memory_mb']} MB | {vcpus(x['memory_mb']):.2f} | {x['batch']} | "
                     f"{x['compute_ms']:.2f} | {x['aws_wait_ms']:.2f} | {x['billed_ms']:.2f} |")
    lines.append("")
    lines.append("DynamoDB write units per image (1 KB each; the status index key changes at every transition, "
                 "a delete plus a put there; the owner index's keys never change, so keys-only it is written "
                 "once; the source-key index holds ingested images only and projects status):")
    lines.append("")
    lines.append("| client | write | item bytes | table | status index | owner index | source index |")
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    ingest_w = cost.get("ingest", {}).get("counts_per_image", {}).get("dynamodb_write_units", {})
    for label, w in (("polling", c["dynamodb_write_units"]), ("ingest", ingest_w)):
        for stage, u in w.items():
            lines.append(f"| {label} | {stage} | {u['item_bytes']} | {u['table']} | {u['status_index']} | "
                         f"{u['owner_index']} | {u['source_index']} |")
    lines.append("")
    lines.append(f"The ingest rows use a {len(INGEST_KEY)}-character key below ingest/ ({INGEST_KEY}); the key is "
                 "stored three times in the item (s3_key, source_key, and filename, which preprocess sets to the "
                 "same key), so the completed item fits one write unit only for keys up to "
                 f"{cost['ingest_key_limit']} characters.")
    lines.append("")
    lines.append(f"SQS requests per image: " + ", ".join(f"{k} {v:.3g}" for k, v in c["sqs_requests"].items())
                 + f". Event entry {c['event_entry_bytes']} bytes ({c['eventbridge_events']} billed event). "
                 f"Log bytes per image: {c['log_bytes_per_image']:.0f} (API access log "
                 f"{c['access_log_bytes_per_image']:.0f}). Lambda invocations per image: "
                 + ", ".join(f"{k} {v:.3g}" for k, v in c["lambda_invocations"].items()) + ".")
    lines.append("")
    lines.append("Storage while retained (not in the all-in figure: it depends on retention, not on the work): "
                 + ", ".join(f"{k} {_usd(v)}" for k, v in d["storage_usd_per_1k_for_retention"].items())
                 + f" per 1,000 images kept {a['retention_days']} days (uploads of {a['upload_bytes']:,} bytes).")
    lines.append("")
    lines.append("By Lambda memory size (both functions at that size; the rest of the pipeline unchanged):")
    lines.append("")
    lines.append("| memory | vCPUs | preprocess billed ms/image | preprocess compute $/1k | ORT threads | inference billed ms/image | inference compute $/1k | all-in $/1k |")
    lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in cost["memory_sizes"]:
        lines.append(f"| {r['memory_mb']} MB | {r['vcpus']:.2f} | {r['preprocess_billed_ms_per_image']:.2f} | "
                     f"{_usd(r['preprocess_compute_usd_per_1k'])} | {r['inference_ort_threads']} | {r['inference_billed_ms_per_image']:.2f} | "
                     f"{_usd(r['inference_compute_usd_per_1k'])} | {_usd(r['total_usd_per_1k'])} |")
    lines.append("")
    lines.append("What each design change would do (one at a time from the default, then combined):")
    lines.append("")
    lines.append("| change | all-in $/1k | saves $/1k | saves |")
    lines.append("|---|---:|---:|---:|")
    for r in cost["alternatives"]:
        if r["total_usd_per_1k"] is None:
            lines.append(f"| {r['change']} | not measured ({r['missing']}) | | |")
            continue
        lines.append(f"| {r['change']} | {_usd(r['total_usd_per_1k'])} | {_usd(r['saves_usd_per_1k'])} | "
                     f"{int(round(r['saves_percent']))}% |")
    idle = cost.get("idle_monthly")
    if idle:
        lines.append("")
        lines.append("Idle: a deployment that processes nothing, per month (alarms counted from "
                     "terraform/modules/monitoring, metrics from services/contract.json):")
        lines.append("")
        head = [f"{i['preset']}, {i['models']} model{'s' if i['models'] > 1 else ''}" for i in idle]
        lines.append("| $ a month | " + " | ".join(head) + " |")
        lines.append("|---|" + "---:|" * len(idle))
        for name in dict.fromkeys(k for i in idle for k in i["items_usd"]):
            lines.append(f"| {name} | " + " | ".join(
                f"{i['items_usd'][name]:.4f}" if name in i["items_usd"] else "-" for i in idle) + " |")
        lines.append("| **total** | " + " | ".join(f"**${i['total_usd']:.2f}**" for i in idle) + " |")
        lines.append("")
        one, three = idle[0]["counts"], next(i for i in idle if i["models"] == 3)["counts"]
        m = cost["metrics"]
        lines.append(
            f"Counts: alarms {one['alarms']} with one model, {three['alarms']} with three ({one['alarm_metrics']} / "
            f"{three['alarm_metrics']} alarm metrics: the metric-math alarms bill each metric they read; at $0.10 "
            f"per alarm alone it would be ${one['alarms'] * 0.10:.2f} / ${three['alarms'] * 0.10:.2f}); event "
            f"source mappings polling {one['polled_queues']} / {three['polled_queues']} queues "
            f"({one['sqs_receives'] / one['polled_queues']:,.0f} receives per queue a month); sweeper "
            f"{one['sweeps']:,.0f} runs a month ({one['sweep_queries']:,.0f} empty Queries). EMF custom metrics: "
            f"{m['idle'][1]} at idle, {m['load'][1]} / {m['load'][3]} under load (one / three models; "
            f"${m['load'][1] * 0.30:.2f} / ${m['load'][3] * 0.30:.2f} a month while traffic flows), up to "
            f"{m['failing'][1]} / {m['failing'][3]} once every failure kind has been seen. Webhooks on: "
            f"+${cost['webhook_secret_monthly_usd']:.2f} (the secret). Log retention: dev "
            f"{idle[0]['terraform']['log_retention_days']} days, prod {idle[-1]['terraform']['log_retention_days']}; "
            "prod's point-in-time recovery bills by table size (nothing when empty).")
        lines.append("")
        lines.append("Idle cost per 1,000 images at a volume: " + "; ".join(
            f"{name}: " + ", ".join(f"${v:.4f} at {int(n):,}/month" for n, v in per.items())
            for name, per in cost["idle_per_1k_images_usd_at"].items()) + ".")
    if cost.get("missing"):
        lines.append("")
        lines.append("Not in the results (said, not invented): " + "; ".join(cost["missing"]) + ".")
    lines.append("")
    p = cost["prices"]
    lines.append(f"Prices ({p['region']}, list prices assumed on {p['assumed_on']}, free tiers ignored): "
                 f"Lambda ${p['lambda_gb_second']:.10f}/GB-s x86_64, ${p['lambda_gb_second_arm64']:.10f}/GB-s arm64, "
                 f"$0.20 per 1M requests; SQS $0.40 per 1M requests (64 KB chunks); EventBridge $1.00 per 1M custom "
                 f"events (64 KB chunks); DynamoDB on-demand $0.625 per 1M write units (1 KB), $0.125 per 1M read "
                 f"units (4 KB, strongly consistent); S3 PUT $0.005/1k, GET $0.0004/1k; HTTP API $1.00 per 1M "
                 f"requests (512 KB metering); Secrets Manager $0.40 per secret-month, $0.05 per 10k calls; KMS $1 "
                 f"per key-month, $0.03 per 10k requests; CloudWatch Logs $0.50/GB ingested, $0.03/GB-month; custom "
                 f"metrics $0.30 per metric-month; alarms $0.10 per alarm metric-month; dashboards $3 a month; "
                 f"X-Ray $5.00 per 1M traces recorded.")
    lat = a["aws_latency_ms"]
    lines.append("")
    lines.append(
        "Assumptions (not measurable here): 1 x86_64 Lambda vCPU = 1 core of this machine "
        f"(x{a['lambda_core_vs_this_machine']}); arm64 compute at x{a['arm64_speed_ratio']:.1f} of x86_64 (AWS's "
        "\"up to 34% better price performance\" for Graviton2 with a 20% lower GB-s price implies at most x1.07; "
        "ONNX Runtime's AVX-512/VNNI kernels on x86 may tip it the other way); vCPU share = memory / 1,769 MB; the "
        "images of a preprocess batch run in parallel on the share; inference uses 1 ORT thread up to 1,769 MB and "
        "2 above, two threads taking the time measured here with two but no less than 2 x that / the share; "
        "batches are full (steady volume); AWS call latencies " + ", ".join(f"{k} {v:g} ms" for k, v in lat.items())
        + f", S3 transfer {a['s3_transfer_mb_per_s']:g} MB/s; API function {a['api_request_ms']['post']:g} ms per "
        f"POST (+ each further call), {a['api_request_ms']['get']:g} ms per GET; notify "
        f"{a['notify_invocation_ms']:g} ms per invocation; polling clients poll every {a['poll_interval_s']:g} s and "
        f"the result is ready {a['expected_latency_s']:g} s after the upload; {a['log_bytes_per_app_line']} bytes "
        f"per application log line, {a['log_bytes_per_invocation']} bytes of platform log per preprocess, inference "
        f"or notify invocation (the api's platform level is WARN: none), {a['emf_bytes_per_invocation']} bytes of "
        f"EMF per such invocation, {a['api_access_log_bytes']} bytes of API access log per request; X-Ray samples "
        f"{100 * a['xray_sampled_fraction']:g}% of requests; the owner index is written (IAM or JWT auth). Idle: "
        f"{a['sqs_idle_pollers_per_queue']} pollers per event source mapping, {a['sqs_long_poll_seconds']} s long "
        f"polls; an empty sweep {a['idle_sweep_ms']:g} ms; an empty index Query {a['empty_query_read_units']:g} read "
        f"units; {a['kms_requests_per_idle_sweep']} KMS requests per sweep with the storage key; the Metrics Insights "
        f"alarm counted as {a['insights_alarm_metrics_at_idle']} alarm metric.")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--json", action="store_true", help="print the whole model as JSON")
    args = ap.parse_args(argv)
    if not os.path.isfile(args.results):
        print(f"cost.py: {args.results} not found: run `make bench` first (the cost model uses measured "
              "per-image times and invents none)", file=sys.stderr)
        return 2
    with open(args.results, encoding="utf-8") as f:
        results = json.load(f)
    try:
        measured = measured_from_results(results)
    except (KeyError, TypeError) as e:
        print(f"cost.py: {args.results} lacks a figure the model needs ({e}); run `make bench`", file=sys.stderr)
        return 2
    stack = results.get("figures", {}).get("stack") or {}
    big = results.get("figures", {}).get("preprocess_large", {}).get("jpeg_14mp")
    inputs = results.get("inputs", {})
    large = (big["rust"], inputs["large_14mp_mean_bytes"]) if big and inputs.get("large_14mp_mean_bytes") else None
    cost = report(measured, upload_bytes=inputs.get("dev_mean_bytes"),
                  log_line_bytes=stack.get("handler_log_line_bytes", {}).get("median"), large=large)
    if args.json:
        print(json.dumps(cost, indent=2))
    else:
        print(f"imgpipe: dollars per 1,000 images on AWS, from {args.results} (run of "
              f"{results.get('finished_at', '?')})\n")
        print(markdown(cost))
    return 0


if __name__ == "__main__":
    sys.exit(main())
