#!/usr/bin/env python3
"""onnxruntime (Python, CPU) latency of built model variants: session creation and one run per batch size.

    python bench_latency.py build/model build/model-int8 [--batch 1 8] [--threads 2] [--runs 30]

For each model folder (model.json + its model file): the median session-creation time over --sessions
sessions, then for each batch size the median (and 10th / 90th percentile) wall time of one
``session.run`` over --runs runs after --warmup runs, with intra-op threads --threads, inter-op 1,
full graph optimisation (onnxruntime's default, as the Rust inference code uses it). The models are
measured interleaved (run i of every model before run i + 1), so a busy machine slows them alike.
The input is a fixed pseudo-random image-like tensor; latency does not depend on the pixel values.
Prints one JSON line per model and batch size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


def load(model_dir: str):
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as f:
        meta = json.load(f)
    with open(os.path.join(model_dir, meta["file"]), "rb") as f:
        return meta, f.read()


def session(data: bytes, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def pct(values, q):
    return float(np.percentile(values, q))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dirs", nargs="+")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=5)
    args = ap.parse_args(argv)

    models = [(d, *load(d)) for d in args.model_dirs]
    created = {d: [] for d, _, _ in models}
    sessions = {}
    for _ in range(args.sessions):
        for d, _meta, data in models:
            t0 = time.perf_counter()
            sessions[d] = session(data, args.threads)
            created[d].append(time.perf_counter() - t0)

    rng = np.random.default_rng(0)
    for batch in args.batch:
        times = {d: [] for d, _, _ in models}
        feeds = {}
        for d, meta, _ in models:
            shape = (batch, 3, meta["input"]["height"], meta["input"]["width"])
            feeds[d] = {meta["input"]["name"]: rng.uniform(-1, 1, shape).astype(np.float32)}
        for i in range(args.warmup + args.runs):
            for d, meta, _ in models:
                t0 = time.perf_counter()
                sessions[d].run([meta["output"]["name"]], feeds[d])
                if i >= args.warmup:
                    times[d].append(time.perf_counter() - t0)
        for d, meta, data in models:
            t = [x * 1000 for x in times[d]]
            print(json.dumps({
                "model": d, "variant": meta["variant"], "bytes": len(data), "batch": batch,
                "threads": args.threads, "runs": args.runs,
                "median_ms": round(statistics.median(t), 2), "p10_ms": round(pct(t, 10), 2),
                "p90_ms": round(pct(t, 90), 2), "per_image_ms": round(statistics.median(t) / batch, 2),
                "session_create_ms": round(statistics.median(created[d]) * 1000, 1),
            }, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
