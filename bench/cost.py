"""Dollars per 1,000 images on AWS, from the per-image times `make bench` measured and the calls the code makes.

    python bench/cost.py [--results bench/results.json] [--json]

Reads the measured Rust per-image times from bench/results.json (written by bench/run.py; without it the
script says so and exits 2: it never invents a time) and prints the breakdown at the default settings
(services/pipeline.json), a table over Lambda memory sizes, and what each design alternative would save.
bench/run.py imports it and writes the same into results.json and RESULTS.md.

Everything that is not measured here is an assumption, written down in PRICES and ASSUMPTIONS below with its
reason, and printed with the numbers. The calls per image are counted from the code (see CALLS).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, replace

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# ------------------------------------------------------------------------------------------------------------
# Prices: AWS list prices, x86_64, region us-east-1, first pricing tier, free tiers ignored.
# Assumed as of 2026-11-27 (the figures AWS published for us-east-1 through 2025; not re-checked from this
# machine, which has no network). Change them here; every figure below follows.
# ------------------------------------------------------------------------------------------------------------
PRICES = {
    "region": "us-east-1",
    "assumed_on": "2026-11-27",
    "lambda_gb_second": 0.0000166667,  # x86_64, first 6 billion GB-s a month
    "lambda_request": 0.20 / 1e6,
    "sqs_request": 0.40 / 1e6,  # standard queue; every 64 KB chunk of a payload is one request
    "sqs_chunk_bytes": 64 * 1024,
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand write request unit: one write of up to 1 KB
    "dynamodb_read_unit": 0.125 / 1e6,  # on-demand read request unit: one strongly consistent read up to 4 KB
    "s3_put": 0.005 / 1000,  # PUT, COPY, POST, LIST (S3 Standard)
    "s3_get": 0.0004 / 1000,  # GET, SELECT and all other requests
    "http_api_request": 1.00 / 1e6,  # API Gateway HTTP API, first 300 M a month, metered per 512 KB
    "http_api_metering_bytes": 512 * 1024,
    "cloudwatch_logs_ingest_gb": 0.50,
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
    "lambda_core_vs_this_machine": 1.0,  # one Lambda vCPU runs as fast as one core of this machine
    "aws_latency_ms": {
        "dynamodb_put": 6.0,
        "dynamodb_update": 6.0,
        "dynamodb_get": 4.0,
        "s3_get_first_byte": 20.0,
        "s3_put": 30.0,
        "sqs_send": 10.0,
    },
    "s3_transfer_mb_per_s": 80.0,  # one S3 GET stream inside the region
    "api_request_ms": {"post": 15.0, "get": 8.0},  # API function per request: one DynamoDB call + handler
    "api_memory_mb": 256,  # services/pipeline.json functions.api.memory
    "poll_interval_s": 1.0,  # how often a client polls GET /images/{id}
    "expected_latency_s": 2.0,  # upload -> completed at the default settings (1 s inference batching window)
    "log_bytes_per_app_line": 450,  # one INFO line, Lambda JSON log format with span fields
    "log_bytes_per_invocation": 700,  # platform.start + platform.report (JSON, with X-Ray ids)
    "emf_bytes_per_invocation": 1500,  # one EMF metrics document per preprocess/inference invocation (telemetry.rs)
    "xray_sampled_fraction": 0.05,  # X-Ray's default rule past the first request each second
    "upload_bytes": 110_042,  # mean size of the dev JPEGs; run.py passes the measured mean
    "s3_event_message_bytes": 1_500,  # one S3 ObjectCreated notification (JSON)
    "inference_message_bytes": 420,  # InferenceRequest JSON (messages.rs)
    "result_json_bytes": 420,  # ResultDocument JSON with the top-5 (inference/src/lib.rs)
    "preprocessed_bytes": 224 * 224 * 3,  # 150,528: HWC uint8 pixels
    "retention_days": 30,  # uploads/, results/ and the DynamoDB item (IMGPIPE_RETENTION_DAYS, lifecycle)
    "preprocessed_retention_days": 1.5,  # lifecycle: 1 day, applied at the next midnight UTC
    "log_retention_days": 30,
    "owner_present": True,  # IAM or JWT auth: the owner index is written; the local `none` mode has no owner
    "gsi_entry_overhead_bytes": 100,
}

# Calls per image on the happy path, counted from the code:
#   api (services/api/src/lib.rs, create): DynamoDB PutItem (create, pending_upload), presign (no call).
#   client: PUT to the presigned URL (S3, not the API); GET /images/{id} polls (api get: DynamoDB GetItem,
#     strongly consistent).
#   S3 ObjectCreated -> preprocess queue: one SQS message per upload.
#   preprocess (services/preprocess/src/lib.rs): UpdateItem claim (preprocessing), S3 GetObject upload,
#     SQS SendMessage to the inference queue with the pixels as a binary attribute (150,528 bytes: three
#     64 KB chunks), UpdateItem preprocessed. The event source mapping: one ReceiveMessage and one
#     DeleteMessageBatch per batch.
#   inference (services/inference/src/lib.rs): GetItem (consistent), the pixels from the message,
#     one model run per batch, UpdateItem completed (the result lives in the item only).
#     The event source mapping: one ReceiveMessage and one DeleteMessageBatch per batch.
CALLS = {
    "api": ["dynamodb PutItem (pending_upload)"],
    "preprocess": [
        "dynamodb UpdateItem (preprocessing, claim)",
        "s3 GetObject uploads/{id}",
        "sqs SendMessage inference (with the pixels)",
        "dynamodb UpdateItem (preprocessed)",
    ],
    "inference": [
        "dynamodb GetItem (consistent)",
        "dynamodb UpdateItem (completed)",
    ],
}


# Fixed monthly costs: paid whatever the volume (shown apart, and amortised over a few volumes).
FIXED_MONTHLY_USD = {
    # Lambda's SQS pollers long-poll each queue (20 s) even when it is empty: ~5 pollers x 3 receives a minute.
    "SQS receives of idle event source mappings (2 queues)": 2 * 5 * 3 * 60 * 24 * 30 * PRICES["sqs_request"],
    # EMF metrics (services/core/src/telemetry.rs): function x stage x step, ~13 while nothing fails,
    # up to ~29 with failure codes; $0.30 per metric-month (first 10,000).
    "CloudWatch custom metrics (~13 steady)": 13 * 0.30,
    # terraform/modules/monitoring: DLQ (2), queue age (2), errors/throttles/duration (3 x 3), API 5xx, DynamoDB.
    "CloudWatch alarms (~17 standard, $0.10 each)": 17 * 0.10,
    "KMS key of the alarm topic": 1.00,
}


@dataclass
class Measured:
    """Per-image times measured by `make bench` (Rust path, this machine), in milliseconds."""

    preprocess_ms: float  # one image, one thread, bytes in memory (dev images: median)
    inference_ms_t1: dict  # {batch: ms per image} with 1 intra-op thread
    inference_ms_t2: dict  # {batch: ms per image} with 2 intra-op threads
    source: str = "bench/results.json"


@dataclass
class Design:
    """The choices the cost depends on. Defaults: the code and services/pipeline.json as they are."""

    preprocess_mb: int = 1024
    preprocess_batch: int = 10
    inference_mb: int = 2048
    inference_batch: int = 8
    inference_threads: int = 0  # IMGPIPE_ORT_THREADS: 0 = every vCPU the function sees (the default)
    pixels_via: str = "sqs"  # "sqs" (binary message attribute; S3 until 2026-11-27) | "s3" | "none" (one function)
    result_json_in_s3: bool = False  # inference wrote results/{id}.json too until 2026-11-27
    gsi_projection: str = "KEYS_ONLY"  # "KEYS_ONLY" (both indexes; ALL until 2026-11-27) | "ALL"
    status_writes: tuple = ("create", "preprocessing", "preprocessed", "completed")
    poll_interval_s: float = ASSUMPTIONS["poll_interval_s"]
    expected_latency_s: float = ASSUMPTIONS["expected_latency_s"]
    app_log_lines: bool = True  # INFO application logs (False: log level WARN)
    # The api's platform lines (start, report), system_log_levels in terraform/modules/compute: WARN by default
    # since 2026-11-27, so its ~4 invocations per image write none.
    api_platform_logs: bool = False
    slim_item: bool = True  # a terminal write REMOVEs the claim fields (store.rs; until 2026-11-27 it did not)


def load_pipeline_defaults(path: str = os.path.join(REPO, "services", "pipeline.json")) -> Design:
    with open(path, encoding="utf-8") as f:
        pipeline = json.load(f)
    fn, model = pipeline["functions"], pipeline["model_defaults"]
    return Design(
        preprocess_mb=fn["preprocess"]["memory"],
        preprocess_batch=fn["preprocess"]["batch_size"],
        inference_mb=model["memory"],
        inference_batch=model["batch_size"],
    )


# ------------------------------------------------------------------------------------------------------------
# Arithmetic (covered by bench/test_cost.py)
# ------------------------------------------------------------------------------------------------------------


def sqs_requests(payload_bytes: int) -> int:
    """Billed SQS requests of one API call carrying payload_bytes: one per started 64 KB chunk, at least 1."""
    return max(1, math.ceil(payload_bytes / PRICES["sqs_chunk_bytes"]))


def http_api_requests(payload_bytes: int) -> int:
    """HTTP API requests are metered in 512 KB increments."""
    return max(1, math.ceil(payload_bytes / PRICES["http_api_metering_bytes"]))


def gb_seconds(memory_mb: float, duration_ms: float) -> float:
    """Lambda GB-seconds of one invocation: memory in GB (1,024 MB) x billed duration (rounded up to 1 ms)."""
    return memory_mb / 1024.0 * math.ceil(duration_ms) / 1000.0


def vcpus(memory_mb: float) -> float:
    """CPU share Lambda gives a function: memory / 1,769 MB vCPUs."""
    return memory_mb * ASSUMPTIONS["vcpu_per_mb"]


def speed(memory_mb: float, parallel_gain: float) -> float:
    """How much faster than one core of this machine independent work (the images of a preprocess batch)
    runs: the first vCPU counts fully (scaled down below 1,769 MB), the part of a second one by parallel_gain."""
    share = vcpus(memory_mb)
    gain = min(max(parallel_gain, 0.0), 1.0)
    return (min(share, 1.0) + max(0.0, min(share, 2.0) - 1.0) * gain) * ASSUMPTIONS["lambda_core_vs_this_machine"]


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


# ------------------------------------------------------------------------------------------------------------
# The DynamoDB item at each stage, as services/core/src/store.rs writes it (representative values)
# ------------------------------------------------------------------------------------------------------------

UUID = "3f2b8c1e-9a4d-4e7b-8c21-5d6f7a8b9c0d"
MS = 1_790_000_000_000
OWNER_ARN = "arn:aws:sts::123456789012:assumed-role/imgpipe-client/client-session"


def items_by_stage(owner: bool = True) -> dict:
    """The item after each status write (UpdateItem bills the larger of before and after)."""
    label = "great_white_shark"  # labels average 9.5 characters; a long one for a margin
    created = {
        "image_id": UUID,
        "status": "pending_upload",
        "status_shard": "pending_upload#3",
        "created_at": MS,
        "updated_at": MS,
        "timeline": {"pending_upload": MS},
        "timings_ms": {},
        "content_type": "image/jpeg",
        "filename": "IMG_20261127_101530.jpg",
        "s3_key": f"uploads/{UUID}",
        "expires_at": MS // 1000 + 30 * 86400,
    }
    if owner:
        created["owner"] = OWNER_ARN
    claimed = dict(created, status="preprocessing", status_shard="preprocessing#3", updated_at=MS + 900)
    claimed["timeline"] = dict(created["timeline"], preprocessing=MS + 900)
    claimed.update(
        s3_version="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        claimant=f"sqs:{UUID}",
        claim_expires_at=MS + 900 + 900_000,
        s3_sequencer="0055AED6DCD90281E50000000000000".ljust(32, "0"),
    )
    pre = dict(claimed, status="preprocessed", status_shard="preprocessed#3", updated_at=MS + 1000)
    pre["timeline"] = dict(claimed["timeline"], preprocessed=MS + 1000)
    pre.update(size_bytes=110_042, width=500, height=375, format="jpeg")
    pre["timings_ms"] = {"preprocess": 85, "preprocess_queue_wait": 850}
    done = dict(pre, status="completed", status_shard="completed#3", updated_at=MS + 2100)
    done["timeline"] = dict(pre["timeline"], completed=MS + 2100)
    done["predictions"] = [
        {"label": label, "class_index": 2 + i, "score": 0.8734512329101562 / (i + 1)} for i in range(5)
    ]
    done["model"] = {"name": "efficientnet-lite0", "version": "0.1.0-fp32"}
    done["result_key"] = f"results/{UUID}.json"
    done["timings_ms"] = dict(pre["timings_ms"], inference=95, inference_queue_wait=1050, end_to_end=2100)
    return {"create": created, "preprocessing": claimed, "preprocessed": pre, "completed": done}


def status_write_units(design: Design, owner: bool) -> dict:
    """Write request units of each status write, base table and both GSIs (projection ALL or KEYS_ONLY).
    The status index key (status_shard) changes at every transition: a delete and a put in that index.
    The owner index key never changes, but with projection ALL every update rewrites its entry."""
    items = items_by_stage(owner)
    if not design.result_json_in_s3:
        items["completed"].pop("result_key", None)
    if design.slim_item:
        done = items["completed"]
        for name in ("claimant", "claim_expires_at", "s3_sequencer"):
            done.pop(name, None)
    order = ["create", "preprocessing", "preprocessed", "completed"]
    overhead = ASSUMPTIONS["gsi_entry_overhead_bytes"]
    keys_only = 36 + 40 + 8 + overhead  # image_id + index key + created_at + overhead

    def entry(item):
        return keys_only if design.gsi_projection == "KEYS_ONLY" else item_size(item) + overhead

    out = {}
    previous = None
    for stage in order:
        if stage not in design.status_writes:
            continue
        item = items[stage]
        size = item_size(item) if previous is None else max(item_size(item), item_size(previous))
        units = {"table": write_units(size), "status_index": 0, "owner_index": 0}
        units["status_index"] = write_units(entry(item)) + (write_units(entry(previous)) if previous else 0)
        if owner and (previous is None or design.gsi_projection == "ALL"):
            units["owner_index"] = write_units(entry(item))
        units["item_bytes"] = item_size(item)
        out[stage] = units
        previous = item
    return out


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
    """Intra-op threads of the inference function: IMGPIPE_ORT_THREADS, or with 0 (the default) every vCPU
    the function sees (Lambda shows 2 above 1,769 MB)."""
    if design.inference_threads:
        return design.inference_threads
    return 1 if vcpus(memory_mb) <= 1.0 else 2


def inference_ms(measured: Measured, design: Design, memory_mb: float, batch: int) -> float:
    """Wall ms per image of the model run on Lambda. One thread: the time measured here with one thread,
    stretched by the CPU share below 1 vCPU. Two threads: the time measured here with two, but no faster than
    the function's CPU share allows for two busy threads (ONNX Runtime's workers spin while they wait, so both
    count against the quota)."""
    n = threads_used(design, memory_mb)
    share = vcpus(memory_mb) * ASSUMPTIONS["lambda_core_vs_this_machine"]
    if n <= 1:
        return _at_batch(measured.inference_ms_t1, batch) / min(share, 1.0)
    t2 = _at_batch(measured.inference_ms_t2, batch)
    return max(t2, 2.0 * t2 / share)


def durations(measured: Measured, design: Design, a=ASSUMPTIONS) -> dict:
    """Billed milliseconds per image of each function (compute + waiting on AWS calls), and their parts."""
    lat = a["aws_latency_ms"]
    get_upload = lat["s3_get_first_byte"] + a["upload_bytes"] / (a["s3_transfer_mb_per_s"] * 1e3)
    get_pixels = lat["s3_get_first_byte"] + a["preprocessed_bytes"] / (a["s3_transfer_mb_per_s"] * 1e3)
    # Preprocess: the messages of a batch run concurrently (join_all), so the AWS-call chain of one message
    # is paid once per invocation; the decode work of the whole batch shares the function's CPU.
    pre_chain = lat["dynamodb_update"] + get_upload + lat["dynamodb_update"]
    if design.pixels_via == "s3":
        pre_chain += lat["s3_put"] + lat["sqs_send"]
    elif design.pixels_via == "sqs":
        pre_chain += lat["sqs_send"] + 5.0  # a 150 KB message body instead of a small one
    pre_compute = design.preprocess_batch * measured.preprocess_ms / speed(design.preprocess_mb, 1.0)
    inf_batch = design.inference_batch
    inf_compute = inf_batch * inference_ms(measured, design, design.inference_mb, inf_batch)
    inf_chain = lat["dynamodb_get"] + lat["dynamodb_update"]
    if design.pixels_via == "s3":
        inf_chain += get_pixels
    if design.result_json_in_s3:
        inf_chain += lat["s3_put"]
    out = {}
    if design.pixels_via == "none":
        # One function does both stages: preprocess's batch, then one model run for it.
        batch = design.preprocess_batch
        mem = design.preprocess_mb
        compute = batch * (measured.preprocess_ms / speed(mem, 1.0) + inference_ms(measured, design, mem, batch))
        chain = pre_chain + lat["dynamodb_update"] + (lat["s3_put"] if design.result_json_in_s3 else 0.0)
        out["preprocess"] = {"memory_mb": mem, "batch": batch, "compute_ms": compute / batch,
                             "aws_wait_ms": chain / batch, "billed_ms": (compute + chain) / batch}
    else:
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
    return out


def breakdown(measured: Measured, design: Design, a=ASSUMPTIONS) -> dict:
    """Dollars per 1,000 images by service and component, with the counts behind them."""
    p = PRICES
    k = 1000.0
    polls = polls_per_image(design.poll_interval_s, design.expected_latency_s)
    dur = durations(measured, design, a)
    counts: dict = {}
    cost: dict = {}

    # Lambda: requests and GB-seconds.
    invocations = {"api": 1 + polls}
    for name, d in dur.items():
        invocations[name] = 1.0 / d["batch"]
    api_ms = a["api_request_ms"]["post"] + polls * a["api_request_ms"]["get"]
    gbs = {"api": (gb_seconds(a["api_memory_mb"], a["api_request_ms"]["post"])
                   + polls * gb_seconds(a["api_memory_mb"], a["api_request_ms"]["get"]))}
    for name, d in dur.items():
        gbs[name] = gb_seconds(d["memory_mb"], d["billed_ms"] * d["batch"]) / d["batch"]
    cost["lambda"] = {
        f"{name} compute": gbs[name] * p["lambda_gb_second"] * k for name in gbs
    }
    cost["lambda"]["requests"] = sum(invocations.values()) * p["lambda_request"] * k
    counts["lambda_invocations"] = invocations
    counts["lambda_gb_seconds"] = gbs
    counts["api_billed_ms"] = api_ms

    # SQS: the S3 notification, the inference message (if any), receives and deletes per batch.
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
    cost["sqs"] = {name: n * p["sqs_request"] * k for name, n in sqs.items()}
    counts["sqs_requests"] = sqs

    # DynamoDB: status writes (table + indexes) and reads.
    owner = a["owner_present"]
    writes = status_write_units(design, owner)
    wru = {stage: w["table"] + w["status_index"] + w["owner_index"] for stage, w in writes.items()}
    done_size = items_by_stage(owner)["completed"]
    reads = {"polls": polls * read_units(item_size(done_size))}
    if design.pixels_via != "none":
        reads["inference GetItem"] = read_units(item_size(done_size))
    cost["dynamodb"] = {f"write {s}": u * p["dynamodb_write_unit"] * k for s, u in wru.items()}
    cost["dynamodb"]["reads"] = sum(reads.values()) * p["dynamodb_read_unit"] * k
    counts["dynamodb_write_units"] = writes
    counts["dynamodb_read_units"] = reads

    # S3 requests.
    puts = {"upload (client, presigned)": 1}
    gets = {"upload (preprocess)": 1}
    if design.pixels_via == "s3":
        puts["preprocessed pixels"] = 1
        gets["preprocessed pixels (inference)"] = 1
    if design.result_json_in_s3:
        puts["result JSON"] = 1
    cost["s3"] = {f"PUT {n}": c * p["s3_put"] * k for n, c in puts.items()}
    cost["s3"].update({f"GET {n}": c * p["s3_get"] * k for n, c in gets.items()})
    counts["s3_puts"], counts["s3_gets"] = puts, gets

    # HTTP API: POST /images plus the polls (the upload goes to S3, not through the API).
    api_requests = {"POST /images": http_api_requests(300), "GET polls": polls}
    cost["http_api"] = {n: c * p["http_api_request"] * k for n, c in api_requests.items()}
    counts["http_api_requests"] = api_requests
    counts["polls_per_image"] = polls

    # CloudWatch Logs: INFO lines the handlers write per image + the platform lines of every invocation.
    lines = {"api": 1.0, "preprocess": 3.0, "inference": 1.0 + 1.0 / design.inference_batch}
    if design.pixels_via == "none":
        lines = {"api": 1.0, "preprocess": 3.0 + 1.0 / design.preprocess_batch}
    app_lines = sum(lines.values()) if design.app_log_lines else 0.0
    emf = sum(v for name, v in invocations.items() if name != "api") * a["emf_bytes_per_invocation"]
    platform_invocations = sum(n for name, n in invocations.items() if name != "api" or design.api_platform_logs)
    log_bytes = (app_lines * a["log_bytes_per_app_line"] + platform_invocations * a["log_bytes_per_invocation"]
                 + emf)
    cost["cloudwatch_logs"] = {"ingestion": log_bytes * k / 1e9 * p["cloudwatch_logs_ingest_gb"]}
    counts["log_bytes_per_image"] = log_bytes

    # X-Ray (active tracing on all three functions): sampled traces.
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
        + (a["preprocessed_bytes"] * a["preprocessed_retention_days"] / month if design.pixels_via == "s3" else 0)
        + (a["result_json_bytes"] * a["retention_days"] / month if design.result_json_in_s3 else 0)
    ) * k / gb
    ddb_gb_month = item_size(done_size) * (3 if owner else 2) * a["retention_days"] / month * k / gb
    logs_gb_month = log_bytes * a["log_retention_days"] / month * k / gb
    storage = {
        "s3": s3_gb_month * p["s3_storage_gb_month"],
        "dynamodb (table + 2 indexes)": ddb_gb_month * p["dynamodb_storage_gb_month"],
        "cloudwatch logs": logs_gb_month * p["cloudwatch_logs_storage_gb_month"],
    }
    return {
        "total_usd_per_1k": total,
        "by_service_usd_per_1k": totals,
        "lambda_compute_usd_per_1k": compute,
        "requests_and_other_usd_per_1k": total - compute,
        "detail_usd_per_1k": cost,
        "counts_per_image": counts,
        "durations_ms_per_image": dur,
        "storage_usd_per_1k_for_retention": storage,
        "design": asdict(design),
    }


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


def alternatives(measured: Measured, design: Design) -> list:
    """What each design change alone (and all the cheap ones together) would do to the all-in cost."""
    base = breakdown(measured, design)["total_usd_per_1k"]
    options = [
        ("also a result JSON in S3 (the design before 2026-11-27; DynamoDB holds the top-5 anyway)",
         replace(design, result_json_in_s3=True)),
        ("preprocessed pixels through S3 (PUT + GET preprocessed/{id}: the design before 2026-11-27) instead of "
         "inside the SQS message", replace(design, pixels_via="s3")),
        ("status and owner indexes projected ALL (the design before 2026-11-27) instead of KEYS_ONLY",
         replace(design, gsi_projection="ALL")),
        ("one function for both stages (no intermediate pixels, no preprocessed write)",
         replace(design, pixels_via="none", status_writes=("create", "preprocessing", "completed"))),
        ("the completed item keeps its claim fields (over 1 KB: the design before 2026-11-27)",
         replace(design, slim_item=False)),
        ("clients poll every 0.25 s", replace(design, poll_interval_s=0.25)),
        ("clients poll every 2 s", replace(design, poll_interval_s=2.0)),
        ("application log level WARN (no per-image INFO lines)", replace(design, app_log_lines=False)),
        ("the api's platform log lines at INFO (the default before 2026-11-27)", replace(design, api_platform_logs=True)),
        ("IMGPIPE_ORT_THREADS=1 on the inference function (one intra-op thread)", replace(design, inference_threads=1)),
        ("inference batch 1 instead of 8", replace(design, inference_batch=1)),
        ("preprocess batch 1 instead of 10", replace(design, preprocess_batch=1)),
    ]
    rows = []
    for name, d in options:
        total = breakdown(measured, d)["total_usd_per_1k"]
        rows.append({"change": name, "total_usd_per_1k": total, "saves_usd_per_1k": base - total,
                     "saves_percent": 100.0 * (base - total) / base})
    lean = replace(design, pixels_via="sqs", gsi_projection="KEYS_ONLY", app_log_lines=False,
                   inference_threads=1)
    total = breakdown(measured, lean)["total_usd_per_1k"]
    rows.append({"change": "together: WARN logs, 1 ORT thread (pixels in SQS and KEYS_ONLY indexes as now)",
                 "total_usd_per_1k": total, "saves_usd_per_1k": base - total,
                 "saves_percent": 100.0 * (base - total) / base})
    lean1 = replace(lean, pixels_via="none", status_writes=("create", "preprocessing", "completed"))
    total = breakdown(measured, lean1)["total_usd_per_1k"]
    rows.append({"change": "together, with one function for both stages instead of pixels in SQS",
                 "total_usd_per_1k": total, "saves_usd_per_1k": base - total,
                 "saves_percent": 100.0 * (base - total) / base})
    total = breakdown(measured, replace(lean1, poll_interval_s=2.0))["total_usd_per_1k"]
    rows.append({"change": "the same, and clients polling every 2 s",
                 "total_usd_per_1k": total, "saves_usd_per_1k": base - total,
                 "saves_percent": 100.0 * (base - total) / base})
    return rows


def measured_from_results(results: dict) -> Measured:
    """The Rust figures the cost model needs, from bench/results.json."""
    fig = results["figures"]
    pre = fig["preprocess_dev"]["rust"]["per_image_ms"]["median"]
    t1, t2 = {}, {}
    for entry in fig["inference"]:
        if entry["side"] != "rust" or entry["variant"] != "fp32":
            continue
        target = t1 if entry["threads"] == 1 else t2 if entry["threads"] == 2 else None
        if target is not None:
            target[entry["batch"]] = entry["per_image_ms"]["median"]
    return Measured(preprocess_ms=pre, inference_ms_t1=t1, inference_ms_t2=t2)


def report(measured: Measured, design: Design | None = None, upload_bytes: float | None = None,
           log_line_bytes: float | None = None, large: tuple | None = None) -> dict:
    """Everything run.py stores under results.json's "cost". upload_bytes and log_line_bytes replace the
    assumptions with what the run measured (mean dev-image size; mean handler log line of the local stack);
    large = (preprocess ms, upload bytes) of 14.7 MP phone-size JPEGs adds that scenario."""
    global ASSUMPTIONS
    design = design or load_pipeline_defaults()
    saved = copy.deepcopy(ASSUMPTIONS)
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
        return {
            "cost_per_1k_images_usd": base["total_usd_per_1k"],
            "scenarios": scenarios,
            "default": base,
            "memory_sizes": memory_table(measured, design),
            "alternatives": alternatives(measured, design),
            "fixed_monthly_usd": FIXED_MONTHLY_USD,
            "fixed_per_1k_images_usd_at": {
                str(n): sum(FIXED_MONTHLY_USD.values()) / (n / 1000) for n in (100_000, 1_000_000, 10_000_000)
            },
            "prices": PRICES,
            "assumptions": copy.deepcopy(ASSUMPTIONS),
            "measured_inputs": asdict(measured),
            "calls_per_image": CALLS,
        }
    finally:
        ASSUMPTIONS = saved


# ------------------------------------------------------------------------------------------------------------
# Text
# ------------------------------------------------------------------------------------------------------------


def _usd(x: float) -> str:
    return f"${x:.5f}"


def markdown(cost: dict) -> str:
    d = cost["default"]
    design = d["design"]
    a = cost["assumptions"]
    c = d["counts_per_image"]
    lines = []
    lines.append(f"All-in: **{_usd(cost['cost_per_1k_images_usd'])} per 1,000 images** at the default settings "
                 f"(preprocess {design['preprocess_mb']} MB batch {design['preprocess_batch']}, inference "
                 f"{design['inference_mb']} MB batch {design['inference_batch']}, fp32, "
                 f"{c['polls_per_image']} status polls per image); Lambda compute is "
                 f"{_usd(d['lambda_compute_usd_per_1k'])} of it, requests and the rest "
                 f"{_usd(d['requests_and_other_usd_per_1k'])}.")
    if len(cost.get("scenarios", {})) > 1:
        lines.append("")
        lines.append("Other inputs, same design: " + "; ".join(f"{k}: {_usd(v)}" for k, v in cost["scenarios"].items()) + ".")
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
    w = c["dynamodb_write_units"]
    lines.append("DynamoDB write units per image (1 KB each; the status index key changes at every transition, "
                 "a delete plus a put there; the owner index's keys never change, so with both indexes "
                 "projecting keys only, as deployed, it is written once; with projection ALL every update "
                 "would rewrite it):")
    lines.append("")
    lines.append("| write | item bytes | table | status index | owner index |")
    lines.append("|---|---:|---:|---:|---:|")
    for stage, u in w.items():
        lines.append(f"| {stage} | {u['item_bytes']} | {u['table']} | {u['status_index']} | {u['owner_index']} |")
    lines.append("")
    lines.append(f"SQS requests per image: " + ", ".join(f"{k} {v:.3g}" for k, v in c["sqs_requests"].items())
                 + f". Log bytes per image: {c['log_bytes_per_image']:.0f}. Lambda invocations per image: "
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
    lines.append("What each design change would save (one at a time, then combined):")
    lines.append("")
    lines.append("| change | all-in $/1k | saves $/1k | saves |")
    lines.append("|---|---:|---:|---:|")
    for r in cost["alternatives"]:
        lines.append(f"| {r['change']} | {_usd(r['total_usd_per_1k'])} | {_usd(r['saves_usd_per_1k'])} | "
                     f"{r['saves_percent']:.0f}% |")
    lines.append("")
    fixed = cost.get("fixed_monthly_usd")
    if fixed:
        lines.append("Fixed monthly costs, whatever the volume (not in the per-image figure): " + "; ".join(
            f"{k} ${v:.2f}" for k, v in fixed.items()) + f"; together ${sum(fixed.values()):.2f} a month, i.e. "
            + ", ".join(f"${v:.4f} per 1,000 images at {int(n):,} images a month"
                        for n, v in cost["fixed_per_1k_images_usd_at"].items()) + ".")
        lines.append("")
    p = cost["prices"]
    lines.append(f"Prices ({p['region']}, x86_64, list prices assumed on {p['assumed_on']}, free tiers ignored): "
                 f"Lambda ${p['lambda_gb_second']:.10f}/GB-s and $0.20 per 1M requests; SQS $0.40 per 1M requests "
                 f"(64 KB chunks); DynamoDB on-demand $0.625 per 1M write units (1 KB), $0.125 per 1M read units "
                 f"(4 KB, strongly consistent); S3 PUT $0.005/1k, GET $0.0004/1k; HTTP API $1.00 per 1M requests "
                 f"(512 KB metering); CloudWatch Logs ingestion $0.50/GB; X-Ray $5.00 per 1M traces recorded.")
    lat = a["aws_latency_ms"]
    lines.append("")
    lines.append(
        "Assumptions (not measurable here): 1 Lambda vCPU = 1 core of this machine "
        f"(x{a['lambda_core_vs_this_machine']}); vCPU share = memory / 1,769 MB (2 vCPUs visible above 1,769 MB); "
        "the images of a preprocess batch run in parallel on the share; inference uses 1 ORT thread up to 1,769 MB "
        "and 2 above (IMGPIPE_ORT_THREADS=0), two threads taking the time measured here with two but no less than "
        "2 x that / the share (both spin against the CPU quota); "
        "AWS call latencies " + ", ".join(f"{k} {v:g} ms" for k, v in lat.items())
        + f", S3 transfer {a['s3_transfer_mb_per_s']:g} MB/s; API function {a['api_request_ms']['post']:g} ms per "
        f"POST, {a['api_request_ms']['get']:g} ms per GET at {a['api_memory_mb']} MB; clients poll every "
        f"{a['poll_interval_s']:g} s and the result is ready {a['expected_latency_s']:g} s after the upload; "
        f"{a['log_bytes_per_app_line']} bytes per application log line, {a['log_bytes_per_invocation']} bytes "
        f"of platform log per preprocess or inference invocation (the api's platform level is WARN: none) and "
        f"{a['emf_bytes_per_invocation']} bytes of EMF metrics per preprocess or "
        f"inference invocation; X-Ray samples {100 * a['xray_sampled_fraction']:g}% of requests; the "
        "owner index is written (IAM or JWT auth). Idle SQS long polling by the event source mappings "
        "is counted with the fixed monthly costs above, not per image.")
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
    measured = measured_from_results(results)
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
