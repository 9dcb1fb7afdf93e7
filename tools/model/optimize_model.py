#!/usr/bin/env python3
"""Pre-optimise a built model for a faster cold start: ONNX Runtime's offline-optimised graph and the ORT format.

    .venv/ort130/bin/python tools/model/optimize_model.py --model-dir build/models/efficientnet-lite0-fp32 \\
        [--eval-dir ../shared/eval/imagenet-dev] [--bench 15]

Writes next to the model, with the onnxruntime of the Lambda runtime (``RUNTIME_ONNXRUNTIME``, the
version of the onnxruntime-node package tools/setup.sh takes libonnxruntime.so.1 from; run it from
.venv/ort130, tools/model/requirements-ort130.txt; any other version is refused, since a saved
optimised graph or ORT format file is only guaranteed to load in the version that wrote it):

- ``model.opt.onnx``: the graph after the "extended" optimisations (constant folding, redundant node
  elimination, Conv + activation fusion, QDQ node groups to QLinear* kernels), saved as ONNX;
- ``model.ort``: the same graph in the ORT (flatbuffers) format, which loads without protobuf parsing.

Both use ``ORT_ENABLE_EXTENDED`` and ``session.qdqisint8allowed = 0``, never ``ORT_ENABLE_ALL``: the
"all" level adds layout transformations (NCHWc blocking) for the CPU it runs on, which would tie the
file to x86_64 with AVX2 / AVX-512; the extended graph is the same on x86_64 and arm64, and a session
created with the "all" level still applies the layout step at load. Fixing qdqisint8allowed makes the
int8 graph independent of the machine that writes it (arm64 onnxruntime defaults it to 1).

Before writing model.json it checks every candidate against the plain model: the logits on check
photos (the dev set of --eval-dir, else third_party/demo-images) with the candidate's session at the
runtime's "all" level and with optimisations off, the argmax agreement must be 1 and the largest
absolute difference of a logit small (``MAX_ABS_DIFF``). model.json then gets

    "alternatives": {"optimized_onnx": {"file": "model.opt.onnx", "sha256": ...,
                                        "onnxruntime": "1.30.0", "graph_optimization_level": "extended"},
                     "ort": {"file": "model.ort", "sha256": ..., ...}}

while its ``file`` / ``sha256`` stay the plain ONNX model. ``--bench N`` also times session creation
(from bytes, as the Rust loader does) of each file at the "all" and "disabled" levels, N sessions each,
interleaved, and one inference run, and prints the medians.

The saved ONNX file is byte-for-byte reproducible; the ORT format file is not (onnxruntime 1.30 lays
out a few hundred bytes of the flatbuffer differently from one run to the next; nodes, node args,
initializers and kernel type strings are the same and in the same order), so its sha256 changes with
every build. Needs numpy, onnxruntime and pillow (for the check photos).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_accuracy  # noqa: E402  (the preprocessing every model tool shares)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNTIME_ONNXRUNTIME = "1.30.0"
LEVEL = "extended"
CANDIDATES = (("optimized_onnx", "model.opt.onnx", "ONNX"), ("ort", "model.ort", "ORT"))
# Logits of an optimised graph differ from the plain one's by float reassociation only (fused kernels);
# measured at most 2e-5 on the fp32 models and 0 on the int8 ones.
MAX_ABS_DIFF = 1e-3
DEMO_DIR = os.path.join(REPO, "third_party", "demo-images")


class OptimizeError(Exception):
    """A problem reported without a traceback."""


def _options(level: str, threads: int = 0, save_to: str | None = None, save_format: str | None = None):
    import onnxruntime as ort

    levels = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = levels[level]
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    if save_to:
        opts.optimized_model_filepath = save_to
        opts.add_session_config_entry("session.qdqisint8allowed", "0")
        if save_format == "ORT":
            opts.add_session_config_entry("session.save_model_format", "ORT")
    return opts


def session(data: bytes, level: str, threads: int = 0):
    import onnxruntime as ort

    return ort.InferenceSession(data, _options(level, threads), providers=["CPUExecutionProvider"])


def write_optimized(src: bytes, dst: str, save_format: str) -> bytes:
    """Runs onnxruntime's offline optimisation of ``src`` at LEVEL and returns the file it saved."""
    import onnxruntime as ort

    tmp = dst + ".tmp"
    ort.InferenceSession(src, _options(LEVEL, save_to=tmp, save_format=save_format),
                         providers=["CPUExecutionProvider"])
    with open(tmp, "rb") as f:
        data = f.read()
    os.replace(tmp, dst)
    return data


def check_images(eval_dir: str | None, limit: int) -> tuple:
    """(source, [RGB Pillow images]): the dev photos when there, else the repository's demo photos."""
    if eval_dir and os.path.isfile(os.path.join(eval_dir, "labels.tsv")):
        paths = [p for p, _ in check_accuracy.read_labels(eval_dir)]
        source = eval_dir
    else:
        paths = sorted(p for p in glob.glob(os.path.join(DEMO_DIR, "*")) if p.endswith((".png", ".jpg")))
        source = os.path.relpath(DEMO_DIR, REPO)
    if limit:
        paths = paths[:limit]
    if not paths:
        raise OptimizeError(f"no check photos in {source}")
    return source, [check_accuracy.load_rgb(p) for p in paths]


def logits(sess, meta: dict, batch: np.ndarray) -> np.ndarray:
    in_name, out_name = meta["input"]["name"], meta["output"]["name"]
    if meta["input"].get("batch", "dynamic") != "dynamic":
        return np.concatenate([sess.run([out_name], {in_name: batch[i : i + 1]})[0] for i in range(len(batch))])
    return np.concatenate([sess.run([out_name], {in_name: batch[i : i + 25]})[0] for i in range(0, len(batch), 25)])


def compare(reference: np.ndarray, got: np.ndarray) -> dict:
    return {"max_abs_diff": float(np.abs(reference - got).max()),
            "argmax_agreement": float((reference.argmax(1) == got.argmax(1)).mean())}


def bench(files: dict, meta: dict, runs: int, threads: int, batch: np.ndarray) -> dict:
    """Median session creation (ms, from bytes) per file and level, interleaved; one warm run's time."""
    levels = ("all", "disabled")
    times = {(name, lv): [] for name in files for lv in levels}
    for _ in range(runs):
        for name, data in files.items():
            for lv in levels:
                t0 = time.perf_counter()
                session(data, lv, threads)
                times[(name, lv)].append((time.perf_counter() - t0) * 1000)
    out = {}
    x = np.ascontiguousarray(batch[:1])
    for name, data in files.items():
        for lv in levels:
            s = session(data, lv, threads)
            first = time.perf_counter()
            logits(s, meta, x)
            first = (time.perf_counter() - first) * 1000
            warm = []
            for _ in range(20):
                t0 = time.perf_counter()
                logits(s, meta, x)
                warm.append((time.perf_counter() - t0) * 1000)
            out[f"{name}@{lv}"] = {"session_ms": round(statistics.median(times[(name, lv)]), 2),
                                   "first_run_ms": round(first, 2), "run_ms": round(statistics.median(warm), 2)}
    base = out["model@all"]["session_ms"]
    for v in out.values():
        v["session_vs_plain_all"] = round(v["session_ms"] / base, 3)
    return out


def optimize(model_dir: str, eval_dir: str | None = None, limit: int = 0, bench_runs: int = 0, threads: int = 2,
             require_version: str = RUNTIME_ONNXRUNTIME, log=lambda msg: None) -> dict:
    import onnxruntime as ort

    if require_version and ort.__version__ != require_version:
        raise OptimizeError(f"onnxruntime {ort.__version__} is not the runtime's {require_version}: run this with "
                            ".venv/ort130/bin/python (tools/model/requirements-ort130.txt)")
    meta_path = os.path.join(model_dir, "model.json")
    if not os.path.isfile(meta_path):
        raise OptimizeError(f"{meta_path} not found: build the model first (bash tools/setup.sh)")
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    with open(os.path.join(model_dir, meta["file"]), "rb") as f:
        plain = f.read()
    if hashlib.sha256(plain).hexdigest() != meta["sha256"]:
        raise OptimizeError(f"{model_dir}/{meta['file']} does not match the sha256 in {meta_path}")

    source, images = check_images(eval_dir, limit)
    batch = check_accuracy.model_input(np.stack([check_accuracy.prepare(im, meta) for im in images]), meta)
    reference = logits(session(plain, "all"), meta, batch)
    log(f"{model_dir}: reference logits of {len(images)} photos from {source}")

    alternatives, report, files = {}, {}, {"model": plain}
    for key, name, fmt in CANDIDATES:
        data = write_optimized(plain, os.path.join(model_dir, name), fmt)
        checks = {lv: compare(reference, logits(session(data, lv), meta, batch)) for lv in ("all", "disabled")}
        worst = max(c["max_abs_diff"] for c in checks.values())
        agree = min(c["argmax_agreement"] for c in checks.values())
        log(f"  {name}: {len(data)} bytes; vs the plain model: max |logit diff| {worst:.3g}, argmax agreement {agree}")
        if agree != 1.0 or worst > MAX_ABS_DIFF:
            raise OptimizeError(f"{model_dir}/{name} does not compute what {meta['file']} does: {checks}")
        alternatives[key] = {"file": name, "sha256": hashlib.sha256(data).hexdigest(),
                             "onnxruntime": ort.__version__, "graph_optimization_level": LEVEL}
        report[key] = {"file": name, "bytes": len(data), **{f"{lv}_{k}": v for lv, c in checks.items()
                                                              for k, v in c.items()}}
        files[key] = data

    meta.pop("alternatives", None)
    meta["alternatives"] = alternatives
    tmp = meta_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, meta_path)

    result = {"model": meta["name"], "variant": meta["variant"], "onnxruntime": ort.__version__,
              "check_photos": len(images), **report}
    if bench_runs:
        result["bench"] = {"threads": threads, "runs": bench_runs,
                           **bench(files, meta, bench_runs, threads, batch)}
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", required=True, action="append", help="model folder (repeat for several)")
    ap.add_argument("--eval-dir", help="labelled photos to check on (default: third_party/demo-images)")
    ap.add_argument("--limit", type=int, default=0, help="check on the first N photos only (0: all)")
    ap.add_argument("--bench", type=int, default=0, metavar="N", help="also time N session creations per file")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads of the --bench sessions")
    ap.add_argument("--require-version", default=RUNTIME_ONNXRUNTIME,
                    help=f"refuse any other onnxruntime (default {RUNTIME_ONNXRUNTIME}; empty: any)")
    args = ap.parse_args(argv)
    log = lambda msg: print(f"optimize_model: {msg}", file=sys.stderr)  # noqa: E731
    try:
        for model_dir in args.model_dir:
            result = optimize(model_dir, args.eval_dir, args.limit, args.bench, args.threads, args.require_version,
                              log)
            print(json.dumps(result, separators=(",", ":")), flush=True)
    except OptimizeError as e:
        print(f"optimize_model: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
