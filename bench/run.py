#!/usr/bin/env python3
"""`make bench`: every benchmark side by side, Rust and the Python baseline, in one run on this machine.

    python3 bench/run.py [--quick] [--rounds N] [--no-stack]        (BENCH_QUICK=1 is --quick)

Writes bench/results.json (machine, every figure with median and spread, peak memory, ratios, the cost model)
and bench/RESULTS.md (the same as tables); raw per-process outputs go to bench/out/ (git-ignored).

Needs target/release/imgpipe-bench and imgpipe-eval (`cargo build --release -p imgpipe-bench -p imgpipe-eval`;
this script never builds), the model venv .venv/model and build/model, build/model-int8,
build/onnxruntime (`bash tools/setup.sh`), and the eval images in ../shared/eval (figures that need an absent
folder are skipped and say so). The local-stack figure also needs target/release/imgpipe-local.

Fairness: both sides get the same files, the bytes already in memory, the same model file, the same thread
count and one warm-up; each figure is measured in `rounds` rounds, and in every round Rust and Python run
back to back, alternating which goes first, so that a busy machine slows both alike. A figure's median is the
median of its rounds' medians (p10/p90 likewise); the rounds are kept in results.json. Peak memory is each
process's maximum resident set size (os.wait4). Python runs with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset
(some machines here set them for old OpenBLAS builds; they would slow a current numpy), and the OpenBLAS
kernel it then picks is recorded. Before each round the script waits (300 s in all at most, BENCH_QUIET_BUDGET)
until other processes use under a quarter of a core, and it records how much CPU other processes took during
every measurement (other_processes_cores_max), so that a figure taken next to a build says so. Nothing here is a
test: speed decides nothing in `make test`.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import cost  # noqa: E402

BIN = os.path.join(REPO, "target", "release")
BENCH_BIN = os.path.join(BIN, "imgpipe-bench")
EVAL_BIN = os.path.join(BIN, "imgpipe-eval")
LOCAL_BIN = os.path.join(BIN, "imgpipe-local")
CLI_BIN = os.path.join(BIN, "imgpipe")
# Files `imgpipe submit` uploads (and then polls) at once in the local end-to-end figure.
STACK_CONCURRENCY = 4
VENV_PY = os.path.join(REPO, ".venv", "model", "bin", "python")
BASELINE = os.path.join(HERE, "python_baseline.py")
ORT_LIBRARY = os.path.join(REPO, "build", "onnxruntime", "x64", "libonnxruntime.so.1")
MODELS = {"fp32": os.path.join(REPO, "build", "model"), "int8": os.path.join(REPO, "build", "model-int8")}
EVAL = os.path.normpath(os.path.join(REPO, "..", "shared", "eval"))
DEV_DIR = os.path.join(EVAL, "imagenet-dev")
LARGE_DIR = os.path.join(EVAL, "large")
LARGE_14MP = ["SafeLanding_5120x2880.jpg", "Volna_5120x2880.jpg"]
OUT = os.path.join(HERE, "out")
WORK = os.path.join(REPO, "build", "bench")

SETTINGS = {
    "full": {
        "rounds": 3, "dev_limit": 0, "pre_dev_repeat": 3, "pre_large_repeat": 4, "pipe_repeat": 2,
        "infer_images": 160, "infer_min_repeat": 8, "session_repeat": 10, "cold_runs": 8, "stack_images": 40,
        "grid_batches": [1, 4, 8, 16],
    },
    "quick": {
        "rounds": 1, "dev_limit": 40, "pre_dev_repeat": 2, "pre_large_repeat": 2, "pipe_repeat": 1,
        "infer_images": 40, "infer_min_repeat": 3, "session_repeat": 3, "cold_runs": 3, "stack_images": 12,
        "grid_batches": [1, 8],
    },
}

T_START = time.perf_counter()


class BenchError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[bench {time.perf_counter() - T_START:6.1f}s] {msg}", file=sys.stderr, flush=True)


def rel(path: str) -> str:
    return os.path.relpath(path, REPO)


# ------------------------------------------------------------------------------------------------------------
# Processes
# ------------------------------------------------------------------------------------------------------------


HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
QUIET = {"budget_s": 300.0, "waited_s": 0.0, "threshold_cores": 0.25, "foreign_max": 0.0, "gates": 0}


def busy_seconds() -> float | None:
    """CPU seconds all processes have spent busy so far (/proc/stat, every core)."""
    try:
        with open("/proc/stat", encoding="utf-8") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(v) - v[3] - v[4]) / HZ


def wait_quiet() -> None:
    """Waits (within a budget for the whole run) until other processes use less than a quarter of a core, so
    that a build or test run elsewhere on the machine does not land in one side's figures."""
    QUIET["gates"] += 1
    while True:
        b0 = busy_seconds()
        time.sleep(0.3)
        b1 = busy_seconds()
        if b0 is None or b1 is None:
            return
        cores = (b1 - b0) / 0.3
        if cores < QUIET["threshold_cores"] or QUIET["waited_s"] >= QUIET["budget_s"]:
            return
        if QUIET["waited_s"] == 0.0:
            log(f"waiting for the machine to be quiet (other processes use {cores:.1f} cores)")
        QUIET["waited_s"] += 1.0
        time.sleep(0.7)


def python_env() -> dict:
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run(cmd: list, env: dict | None = None, timeout: float = 900.0, tag: str = "") -> dict:
    """Runs one process; returns its last stdout line as JSON, the wall time to its first stdout line and to
    its exit, and its peak RSS (wait4)."""
    with tempfile.TemporaryFile() as err:
        b0 = busy_seconds()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, cwd=REPO)
        timer = threading.Timer(timeout, lambda: proc.kill())
        timer.start()
        try:
            first = proc.stdout.readline()
            t_first = time.perf_counter() - t0
            rest = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            t_exit = time.perf_counter() - t0
            b1 = busy_seconds()
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    text = (first + rest).decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise BenchError(f"{' '.join(rel(c) if c.startswith(REPO) else c for c in cmd[:6])} ... exited "
                         f"{proc.returncode}: {stderr.strip()[-1500:]}")
    try:
        data = json.loads(lines[-1])
    except json.JSONDecodeError as e:
        raise BenchError(f"{cmd[:3]}: last line is not JSON ({e}): {lines[-1][:200]}") from None
    if tag:
        os.makedirs(OUT, exist_ok=True)
        with open(os.path.join(OUT, "runs.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps({"tag": tag, "cmd": [rel(c) if c.startswith(REPO) else c for c in cmd],
                                "result": data}) + "\n")
    # CPU that other processes used meanwhile, in cores (ours: the child's user + system time).
    foreign = None
    if b0 is not None and b1 is not None and t_exit > 0:
        foreign = max(0.0, (b1 - b0) - (usage.ru_utime + usage.ru_stime)) / t_exit
        QUIET["foreign_max"] = max(QUIET["foreign_max"], foreign)
    return {
        "json": data,
        "first_line_ms": t_first * 1000.0,
        "wall_ms": t_exit * 1000.0,
        "maxrss_mb": usage.ru_maxrss / 1024.0,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "foreign_cores": foreign,
        "stderr": stderr,
    }


def rust(sub: str, *args) -> list:
    return [BENCH_BIN, sub, *map(str, args)]


def py(sub: str, *args) -> list:
    return [VENV_PY, BASELINE, sub, *map(str, args)]


def model_args(variant_dir: str, threads: int | None = None) -> list:
    out = ["--model-dir", variant_dir, "--ort-library", ORT_LIBRARY]
    if threads is not None:
        out += ["--threads", threads]
    return out


def paired(rounds: int, rust_cmd: list, py_cmd: list, tag: str) -> dict:
    """Rust and Python back to back in every round, alternating which goes first."""
    got = {"rust": [], "python": []}
    env_py = python_env()
    for r in range(rounds):
        wait_quiet()
        order = ["rust", "python"] if r % 2 == 0 else ["python", "rust"]
        for side in order:
            if side == "rust":
                got["rust"].append(run(rust_cmd, tag=f"{tag}/rust/{r}"))
            else:
                got["python"].append(run(py_cmd, env=env_py, tag=f"{tag}/python/{r}"))
    return got


# ------------------------------------------------------------------------------------------------------------
# Statistics over rounds
# ------------------------------------------------------------------------------------------------------------


def combine(stats_list: list) -> dict:
    """Median of the rounds' medians (p10, p90 likewise), min of mins, total n, and the rounds' medians."""
    stats_list = [s for s in stats_list if s and s.get("n")]
    if not stats_list:
        return {"n": 0}
    med = lambda key: statistics.median(s[key] for s in stats_list)  # noqa: E731
    return {
        "median": med("median"),
        "p10": med("p10"),
        "p90": med("p90"),
        "min": min(s["min"] for s in stats_list),
        "n": sum(s["n"] for s in stats_list),
        "round_medians": [s["median"] for s in stats_list],
    }


def plain(values: list) -> dict:
    """Stats of raw samples (same nearest-rank rule as the binaries)."""
    if not values:
        return {"n": 0}
    s = sorted(values)
    at = lambda q: s[int(round((len(s) - 1) * q))]  # noqa: E731
    return {"median": at(0.5), "p10": at(0.1), "p90": at(0.9), "min": s[0], "n": len(s)}


def side_summary(runs: list, key: str) -> dict:
    out = combine([r["json"][key] for r in runs])
    out["peak_rss_mb"] = max(r["maxrss_mb"] for r in runs)
    foreign = [r["foreign_cores"] for r in runs if r.get("foreign_cores") is not None]
    if foreign:
        out["other_processes_cores_max"] = max(foreign)
    return out


def per_file(runs: list) -> dict:
    names = runs[0]["json"].get("per_file_median_ms", {}).keys()
    return {n: statistics.median(r["json"]["per_file_median_ms"][n] for r in runs) for n in names}


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


# ------------------------------------------------------------------------------------------------------------
# Machine
# ------------------------------------------------------------------------------------------------------------


def machine() -> dict:
    info = {}
    cpu = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if ":" in line:
                    k, v = (x.strip() for x in line.split(":", 1))
                    cpu.setdefault(k, v)
    except OSError:
        pass
    flags = cpu.get("flags", "").split()
    info["cpu_model"] = cpu.get("model name", platform.processor() or "unknown")
    info["cpu_vendor_family_model"] = f"{cpu.get('vendor_id', '?')} family {cpu.get('cpu family', '?')} model {cpu.get('model', '?')}"
    info["cpu_mhz"] = cpu.get("cpu MHz")
    info["cpu_flags"] = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16") if f in flags]
    info["hypervisor"] = "hypervisor" in flags
    info["cores"] = os.cpu_count()
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        info["memory_gib"] = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration):
        info["memory_gib"] = None
    info["kernel"] = platform.release()
    info["os"] = platform.platform()

    def out(cmd, env=None):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, cwd=REPO).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    info["rustc"] = out(["rustc", "--version"])
    info["python"] = out([VENV_PY, "-c", "import sys; print(sys.version.split()[0])"])
    versions = out([VENV_PY, "-c", "import json, numpy, onnxruntime, PIL; print(json.dumps({'numpy': numpy.__version__, "
                    "'onnxruntime': onnxruntime.__version__, 'pillow': PIL.__version__}))"], env=python_env())
    info["python_packages"] = json.loads(versions) if versions else None
    info["onnxruntime_python"] = (info["python_packages"] or {}).get("onnxruntime")
    probe = ("import ctypes, sys\n"
             "lib = ctypes.CDLL(sys.argv[1])\n"
             "class Base(ctypes.Structure):\n"
             "    _fields_ = [('GetApi', ctypes.c_void_p), ('GetVersionString', ctypes.CFUNCTYPE(ctypes.c_char_p))]\n"
             "lib.OrtGetApiBase.restype = ctypes.POINTER(Base)\n"
             "print(lib.OrtGetApiBase().contents.GetVersionString().decode())\n")
    info["onnxruntime_rust"] = out([sys.executable, "-c", probe, ORT_LIBRARY])
    info["onnxruntime_rust_library"] = rel(ORT_LIBRARY)
    info["onnxruntime_rust_source"] = "npm onnxruntime-node@1.30.0 (tools/setup.sh); version read with OrtGetApiBase()->GetVersionString()"
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        info[f"env_{name}"] = os.environ.get(name)
    info["loadavg_at_start"] = loadavg()
    info["git_commit"] = out(["git", "rev-parse", "HEAD"])
    dirty = out(["git", "status", "--porcelain"])
    info["git_dirty"] = bool(dirty)
    return info


def loadavg():
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def binary_staleness() -> list:
    """Warnings for each binary older than the Rust sources it is built from."""
    out = []
    for binary, tool in ((BENCH_BIN, "tools/bench"), (EVAL_BIN, "tools/eval"), (LOCAL_BIN, None)):
        if not os.path.isfile(binary):
            continue
        # The library crates every binary here is built from (imgpipe-local also links services/aws and the
        # function crates: all of services/ below).
        roots = [f"services/{crate}/{part}" for crate in ("domain", "vision", "model")
                 for part in ("src", "Cargo.toml")]
        roots += [f"{tool}/src", f"{tool}/Cargo.toml"] if tool else ["services", "tools/local/src"]
        built = os.path.getmtime(binary)
        newest, newest_path = 0.0, None
        for root in roots:
            path = os.path.join(REPO, root)
            if os.path.isfile(path):
                paths = [path]
            else:
                paths = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith((".rs", ".toml"))]
            for p in paths:
                m = os.path.getmtime(p)
                if m > newest:
                    newest, newest_path = m, p
        if newest > built:
            name = os.path.basename(binary)
            out.append(f"{rel(binary)} is older than {rel(newest_path)}: its figures are of the last build, not of the "
                       f"current sources (cargo build --release -p {name})")
    return out


# ------------------------------------------------------------------------------------------------------------
# The benchmarks
# ------------------------------------------------------------------------------------------------------------


def dev_files(limit: int) -> list:
    files = sorted(os.path.join(DEV_DIR, f) for f in os.listdir(DEV_DIR) if f.lower().endswith((".jpeg", ".jpg")))
    return files[:limit] if limit else files


def bench_accuracy(res: dict) -> None:
    log("accuracy: Rust imgpipe-eval and the Python baseline on the dev images")
    out = run([EVAL_BIN, "--model-dir", MODELS["fp32"], "--model-dir", MODELS["int8"], "--ort-library", ORT_LIBRARY,
               "--dir", DEV_DIR], tag="accuracy/rust")
    rust_variants = out["json"].get("variants", {})
    acc = {"rust": {k: {"top1": v["top1"], "top5": v["top5"], "images": v["images"]} for k, v in rust_variants.items()},
           "python": {}, "same_top1_within_half_point": {}}
    for variant, mdir in MODELS.items():
        p = run(py("accuracy", "--model-dir", mdir, "--threads", 2, "--batch", 8, "--eval-dir", DEV_DIR),
                env=python_env(), tag=f"accuracy/python/{variant}")["json"]
        acc["python"][variant] = {"top1": p["top1"], "top5": p["top5"], "images": p["images"]}
        if variant in rust_variants:
            same = abs(p["top1"] - rust_variants[variant]["top1"]) <= 0.005 + 1e-9
            acc["same_top1_within_half_point"][variant] = same
            if not same:
                log(f"WARNING: {variant} top-1 differs: Python {p['top1']:.3f} vs Rust {rust_variants[variant]['top1']:.3f}")
    res["figures"]["accuracy"] = acc


def bench_preprocess_dev(res: dict, s: dict, files: list) -> None:
    log(f"preprocess: {len(files)} dev images x {s['pre_dev_repeat']} repetitions x {s['rounds']} rounds, each side")
    got = paired(s["rounds"], rust("preprocess", "--model-dir", MODELS["fp32"], "--repeat", s["pre_dev_repeat"], *files),
                 py("preprocess", "--model-dir", MODELS["fp32"], "--repeat", s["pre_dev_repeat"], *files), "preprocess_dev")
    fig = {"files": len(files), "repeat": s["pre_dev_repeat"], "rounds": s["rounds"]}
    for side in ("rust", "python"):
        fig[side] = {"per_image_ms": side_summary(got[side], "per_image_ms")}
    pf_r, pf_p = per_file(got["rust"]), per_file(got["python"])
    per_file_ratio = sorted(pf_p[n] / pf_r[n] for n in pf_r if pf_r[n])
    fig["per_file_ratio_python_over_rust"] = plain(per_file_ratio)
    fig["total_ms"] = {"rust": sum(pf_r.values()), "python": sum(pf_p.values())}
    slow = sorted(((pf_p[n] / pf_r[n], n, pf_r[n], pf_p[n]) for n in pf_r), key=lambda t: t[0])[:5]
    fig["rust_slowest_relative"] = [{"file": n, "rust_ms": r, "python_ms": p, "ratio": q} for q, n, r, p in slow]
    res["figures"]["preprocess_dev"] = fig


def bench_preprocess_large(res: dict, s: dict) -> None:
    files = sorted(os.path.join(LARGE_DIR, f) for f in os.listdir(LARGE_DIR) if f.lower().endswith((".jpg", ".jpeg", ".png")))
    log(f"preprocess: {len(files)} large images x {s['pre_large_repeat']} x {s['rounds']} rounds (+ Pillow draft)")
    args = ["--model-dir", MODELS["fp32"], "--repeat", s["pre_large_repeat"], *files]
    got = paired(s["rounds"], rust("preprocess", *args), py("preprocess", *args), "preprocess_large")
    draft = [run(py("preprocess", "--draft", *args), env=python_env(), tag=f"preprocess_large/python_draft/{r}")
             for r in range(s["rounds"])]
    pf = {"rust": per_file(got["rust"]), "python": per_file(got["python"]), "python_draft": per_file(draft)}
    fig = {"files": [os.path.basename(f) for f in files], "per_file_median_ms": pf,
           "peak_rss_mb": {"rust": max(r["maxrss_mb"] for r in got["rust"]),
                           "python": max(r["maxrss_mb"] for r in got["python"]),
                           "python_draft": max(r["maxrss_mb"] for r in draft)}}
    fig["ratio_python_over_rust"] = {n: pf["python"][n] / pf["rust"][n] for n in pf["rust"]}
    fig["ratio_python_draft_over_rust"] = {n: pf["python_draft"][n] / pf["rust"][n] for n in pf["rust"]}
    big = [n for n in LARGE_14MP if n in pf["rust"]]
    if len(big) == len(LARGE_14MP):
        fig["jpeg_14mp"] = {side: sum(pf[side][n] for n in big) / len(big) for side in pf}
    res["figures"]["preprocess_large"] = fig


def bench_pipeline(res: dict, s: dict, files: list) -> None:
    fig = {"files": len(files), "repeat": s["pipe_repeat"], "rounds": s["rounds"]}
    for threads in (2, 1):
        log(f"pipeline (preprocess + batch-1 inference), {len(files)} dev images, threads {threads}")
        args = [*model_args(MODELS["fp32"], threads), "--repeat", s["pipe_repeat"], *files]
        got = paired(s["rounds"], rust("pipeline", *args), py("pipeline", *args), f"pipeline/t{threads}")
        entry = {}
        for side in ("rust", "python"):
            entry[side] = {k: side_summary(got[side], k) for k in ("per_image_ms", "preprocess_ms", "inference_ms")}
        entry["ratio_python_over_rust"] = ratio(entry["python"]["per_image_ms"]["median"], entry["rust"]["per_image_ms"]["median"])
        fig[f"threads_{threads}"] = entry
    res["figures"]["pipeline_dev"] = fig


def infer_repeat(s: dict, batch: int) -> int:
    return max(s["infer_min_repeat"], s["infer_images"] // batch)


def bench_inference(res: dict, s: dict) -> None:
    """Both sides at batch 1 and 8, threads 1 and 2, fp32 and int8; Rust alone for the rest of the grid."""
    entries = []
    for variant, mdir in MODELS.items():
        for threads in (1, 2):
            for batch in s["grid_batches"]:
                both = batch in (1, 8)
                args = [*model_args(mdir, threads), "--batch", batch, "--repeat", infer_repeat(s, batch)]
                log(f"infer {variant} threads {threads} batch {batch} ({'Rust + Python' if both else 'Rust'})")
                if both:
                    got = paired(s["rounds"], rust("infer", *args), py("infer", *args), f"infer/{variant}/t{threads}/b{batch}")
                else:
                    got = {"rust": []}
                    for r in range(s["rounds"]):
                        wait_quiet()
                        got["rust"].append(run(rust("infer", *args), tag=f"infer/{variant}/t{threads}/b{batch}/rust/{r}"))
                for side, runs in got.items():
                    entries.append({
                        "side": side, "variant": variant, "threads": threads, "batch": batch,
                        "per_image_ms": side_summary(runs, "per_image_ms"),
                        "per_batch_ms": side_summary(runs, "per_batch_ms"),
                    })
    res["figures"]["inference"] = entries


def find(entries, **kw):
    for e in entries:
        if all(e.get(k) == v for k, v in kw.items()):
            return e
    return None


def throughput(res: dict) -> None:
    macs = (res.get("model") or {}).get("macs_per_image")
    ceiling = (res.get("machine") or {}).get("sgemm_gmacs") or {}
    out = {}
    for variant in MODELS:
        grid = []
        for e in res["figures"]["inference"]:
            if e["side"] == "rust" and e["variant"] == variant:
                ips = 1000.0 / e["per_image_ms"]["median"]
                grid.append({"threads": e["threads"], "batch": e["batch"], "images_per_s": ips,
                             "gmacs": macs * ips / 1e9 if macs else None})
        if not grid:
            continue
        best = max(grid, key=lambda g: g["images_per_s"])
        entry = {"grid": grid, "best": best}
        if macs and ceiling:
            peak = ceiling.get(str(best["threads"])) or max(ceiling.values())
            entry["best_vs_sgemm_ceiling_percent"] = 100.0 * best["gmacs"] / peak if peak else None
        out[variant] = entry
    res["figures"]["throughput"] = out


def bench_sessions(res: dict, s: dict) -> None:
    log("session creation fp32 / int8 (and an ORT-format model), both sides")
    entries = []
    dirs = dict(MODELS)
    ort = make_ort_format()
    res["figures"]["ort_format"] = ort
    if ort.get("model_dir"):
        dirs["fp32-ort"] = os.path.join(REPO, ort["model_dir"])
    for variant, mdir in dirs.items():
        args = [*model_args(mdir, 2), "--repeat", s["session_repeat"]]
        try:
            got = paired(s["rounds"], rust("session", *args), py("session", *args), f"session/{variant}")
        except BenchError as e:
            log(f"session {variant}: {e}")
            entries.append({"variant": variant, "error": str(e)[:500]})
            continue
        for side, runs in got.items():
            entries.append({"side": side, "variant": variant, "threads": 2, "session_ms": side_summary(runs, "session_ms")})
    res["figures"]["session"] = entries
    if ort.get("model_dir"):
        log("ORT-format model: batch-1 inference, threads 1 (it loses the runtime layout optimisations)")
        args = [*model_args(dirs["fp32-ort"], 1), "--batch", 1, "--repeat", infer_repeat(s, 1)]
        got = paired(s["rounds"], rust("infer", *args), py("infer", *args), "infer/fp32-ort/t1/b1")
        ort["infer_batch1_threads1_ms"] = {side: side_summary(runs, "per_image_ms") for side, runs in got.items()}


SHIPPED = [f"efficientnet-lite{i}-{v}" for i in (0, 1, 2) for v in ("fp32", "int8")]


def bench_models(res: dict, s: dict) -> None:
    """Every shipped model and variant side by side: Rust and Python per-image time at batch 1 and 8 with
    two threads, session creation (ready-time: the library loaded, the session built, as each side loads
    the model folder), the layer's size (make_layers.py's zip) and, from the accuracy gate's files when
    present, the Rust path's dev-set top-1/top-5."""
    sys.path.insert(0, os.path.join(REPO, "tools", "lambda"))
    import make_layers  # noqa: E402  (the layer zip as Terraform deploys it)

    accuracy = {}
    rust_accuracy = os.path.join(REPO, "build", "accuracy", "rust.jsonl")
    if os.path.isfile(rust_accuracy):
        with open(rust_accuracy, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    accuracy[f"{r['model']}-{r['variant']}"] = {"top1": r["top1"], "top5": r["top5"], "images": r["images"]}
    entries = []
    for folder in SHIPPED:
        mdir = os.path.join(REPO, "build", "models", folder)
        if not os.path.isfile(os.path.join(mdir, "model.json")):
            res["absent"].append(f"ABSENT: {rel(mdir)}: run make setup")
            continue
        entry = {"model": folder.rsplit("-", 1)[0], "variant": folder.rsplit("-", 1)[1], "threads": 2}
        layer = os.path.join(WORK, f"model-{folder}.zip")
        make_layers.model_layer_zip(mdir, layer)
        entry["layer_bytes"] = os.path.getsize(layer)
        for batch in (1, 8):
            args = [*model_args(mdir, 2), "--batch", batch, "--repeat", infer_repeat(s, batch)]
            log(f"models: infer {folder} threads 2 batch {batch} (Rust + Python)")
            got = paired(s["rounds"], rust("infer", *args), py("infer", *args), f"models/{folder}/b{batch}")
            entry[f"batch{batch}"] = {side: side_summary(runs, "per_image_ms") for side, runs in got.items()}
        log(f"models: session {folder} (Rust + Python)")
        args = [*model_args(mdir, 2), "--repeat", s["session_repeat"]]
        got = paired(s["rounds"], rust("session", *args), py("session", *args), f"models/{folder}/session")
        entry["session"] = {side: side_summary(runs, "session_ms") for side, runs in got.items()}
        if folder in accuracy:
            entry["accuracy_rust"] = accuracy[folder]
        entries.append(entry)
    res["figures"]["models"] = entries


def make_ort_format() -> dict:
    """Converts the fp32 model to ORT format with onnxruntime 1.32's converter and packs it as a model dir
    (model.json pointing at model.ort, its sha256) that both sides can load."""
    info = {"converter": "python -m onnxruntime.tools.convert_onnx_models_to_ort --optimization_style Fixed "
                         "(onnxruntime from .venv/model)"}
    src_dir = os.path.join(WORK, "ort-src")
    dst = os.path.join(WORK, "model-ort")
    shutil.rmtree(src_dir, ignore_errors=True)
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(src_dir)
    with open(os.path.join(MODELS["fp32"], "model.json"), encoding="utf-8") as f:
        meta = json.load(f)
    shutil.copy(os.path.join(MODELS["fp32"], meta["file"]), os.path.join(src_dir, "model.onnx"))
    proc = subprocess.run([VENV_PY, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", os.path.join(src_dir, "model.onnx"),
                           "--optimization_style", "Fixed", "--output_dir", os.path.join(src_dir, "out")],
                          capture_output=True, text=True, env=python_env(), cwd=REPO)
    produced = os.path.join(src_dir, "out", "model.ort")
    if proc.returncode != 0 or not os.path.isfile(produced):
        info["error"] = (proc.stderr or proc.stdout)[-800:]
        info["loadable_by_rust_ort"] = False
        return info
    os.makedirs(dst)
    shutil.copy(produced, os.path.join(dst, "model.ort"))
    shutil.copy(os.path.join(MODELS["fp32"], meta.get("labels_file", "labels.txt")), dst)
    with open(produced, "rb") as f:
        data = f.read()
    meta.update(file="model.ort", variant="fp32-ort", sha256=hashlib.sha256(data).hexdigest())
    with open(os.path.join(dst, "model.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
    info["bytes"] = len(data)
    info["model_dir"] = rel(dst)
    try:
        run(rust("session", *model_args(dst, 1), "--repeat", 1))
        info["loadable_by_rust_ort"] = True
    except BenchError as e:
        info["loadable_by_rust_ort"] = False
        info["error"] = str(e)[-800:]
        info.pop("model_dir")
    return info


def bench_cold_start(res: dict, s: dict, image: str) -> None:
    log(f"cold start: {s['cold_runs']} fresh processes per side and variant, alternating")
    fig = {"image": os.path.basename(image), "runs": s["cold_runs"], "threads": 2,
           "note": "model and library files are in the page cache for both sides (a Lambda cold start also "
                   "pays for fetching the layers, which this machine cannot reproduce)"}
    for variant, mdir in MODELS.items():
        got = {"rust": [], "python": []}
        for i in range(s["cold_runs"]):
            wait_quiet()
            order = ["rust", "python"] if i % 2 == 0 else ["python", "rust"]
            for side in order:
                cmd = (rust if side == "rust" else py)("cold-start", *model_args(mdir, 2), image)
                got[side].append(run(cmd, env=python_env() if side == "python" else None, tag=f"cold/{variant}/{side}/{i}"))
        entry = {}
        for side, runs in got.items():
            internal = {}
            for key in runs[0]["json"]:
                if key.endswith("_ms"):
                    internal[key] = plain([r["json"][key] for r in runs if key in r["json"]])
            entry[side] = {
                "spawn_to_result_ms": plain([r["first_line_ms"] for r in runs]),
                "spawn_to_exit_ms": plain([r["wall_ms"] for r in runs]),
                "internal": internal,
                "peak_rss_mb": max(r["maxrss_mb"] for r in runs),
                "top1": sorted({r["json"].get("top1") for r in runs}, key=str),
            }
        entry["ratio_python_over_rust"] = ratio(entry["python"]["spawn_to_result_ms"]["median"],
                                                entry["rust"]["spawn_to_result_ms"]["median"])
        fig[variant] = entry
    res["figures"]["cold_start"] = fig


def bench_model(res: dict) -> None:
    log("model arithmetic (bench/model_macs.py) and what the CPU sustains (bench/cpu_peak.py)")
    out = subprocess.run([VENV_PY, os.path.join(HERE, "model_macs.py"), MODELS["fp32"], MODELS["int8"]],
                         capture_output=True, text=True, env=python_env(), cwd=REPO)
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise BenchError(f"model_macs.py failed: {out.stderr[-800:]}")
    res["model"] = {"macs_per_image": lines[0]["macs_per_image"], "gmacs_per_image": lines[0]["gmacs_per_image"],
                    "parameters": lines[0]["parameters"], "by_variant": {v: l for v, l in zip(MODELS, lines)}}
    peak = {}
    cores = {}
    for threads in (1, 2):
        env = python_env()
        env["OPENBLAS_NUM_THREADS"] = str(threads)
        r = run([VENV_PY, os.path.join(HERE, "cpu_peak.py")], env=env, tag=f"cpu_peak/t{threads}")["json"]
        peak[str(threads)] = r["sgemm_gmacs"]
        cores[str(threads)] = r["openblas_core"]
    res["machine"]["sgemm_gmacs"] = peak
    res["machine"]["openblas_core_unset_env"] = cores
    # The same with this machine's OPENBLAS_* overrides left in place, to show what they cost a current numpy.
    if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("OPENBLAS_L2_SIZE"):
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
        r = run([VENV_PY, os.path.join(HERE, "cpu_peak.py")], env=env, tag="cpu_peak/overrides/t1")["json"]
        res["machine"]["sgemm_gmacs_with_openblas_overrides"] = {"1": r["sgemm_gmacs"], "core": r["openblas_core"]}


def bench_stack(res: dict, s: dict, files: list) -> None:
    """End to end through the local stack (moto + the handlers + the API on 127.0.0.1)."""
    if not (os.access(LOCAL_BIN, os.X_OK) and os.access(CLI_BIN, os.X_OK)):
        res["figures"]["stack"] = {"skipped": f"{rel(LOCAL_BIN)} or {rel(CLI_BIN)} is missing (cargo build --release)"}
        log("stack: skipped, imgpipe-local missing")
        return
    state = os.path.join(WORK, "local")
    shutil.rmtree(state, ignore_errors=True)
    os.makedirs(state)
    log(f"local stack: start, submit {len(files)} dev images, stop")
    stack_log = open(os.path.join(state, "stack.log"), "wb")
    proc = subprocess.Popen([LOCAL_BIN, "up", "--state-dir", state], stdout=stack_log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=REPO)
    fig = {"images": len(files)}
    try:
        url_file = os.path.join(state, "api-url")
        deadline = time.time() + 120
        while not os.path.isfile(url_file):
            if proc.poll() is not None or time.time() > deadline:
                raise BenchError(f"local stack did not start; see {rel(state)}/stack.log")
            time.sleep(0.1)
        with open(url_file, encoding="utf-8") as f:
            api = f.read().strip()
        t0 = time.perf_counter()
        sub = subprocess.run([CLI_BIN, "--api", api, "submit", "--wait", "--json", "--quiet", "--timeout", "120",
                              "--concurrency", str(STACK_CONCURRENCY), *files], capture_output=True, text=True,
                             cwd=REPO)
        wall = time.perf_counter() - t0
        with open(os.path.join(state, "submit.out"), "w", encoding="utf-8") as f:
            f.write(sub.stdout + sub.stderr)
        if sub.returncode != 0:
            raise BenchError(f"imgpipe submit exited {sub.returncode}: {sub.stderr[-500:]}")
        images = [json.loads(line) for line in sub.stdout.splitlines() if line.strip()]
        timings = [image["timings_ms"] for image in images if image.get("status") == "completed"]
        fig["completed"] = len(timings)
        fig["wall_s"] = wall
        fig["images_per_s"] = len(files) / wall
        keys = sorted({k for t in timings for k in t})
        fig["timings_ms"] = {k: plain([t[k] for t in timings if k in t]) for k in keys}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stack_log.close()
        moto_pid = os.path.join(state, "moto.pid")
        if os.path.isfile(moto_pid):  # left behind only if the stack died: stop the moto server it started
            try:
                with open(moto_pid, encoding="utf-8") as f:
                    os.kill(int(f.read().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
    # The handlers' own log lines: compute inside the handler, batch sizes, and log bytes per line.
    compute, model_runs, line_bytes = [], [], []
    with open(os.path.join(state, "stack.log"), encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            target = rec.get("target", "")
            if target not in ("imgpipe_api", "imgpipe_preprocess", "imgpipe_inference"):
                continue
            line_bytes.append(len(line.encode("utf-8")))
            fields = rec.get("fields", {})
            if fields.get("message") == "preprocessed" and "compute_ms" in fields:
                compute.append(fields["compute_ms"])
            if fields.get("message") == "model run":
                model_runs.append((fields.get("batch_size"), fields.get("inference_ms")))
    fig["preprocess_compute_ms"] = plain(compute)
    fig["inference_batches"] = {"count": len(model_runs), "batch_sizes": plain([b for b, _ in model_runs if b]),
                                "model_run_ms": plain([m for _, m in model_runs if m is not None])}
    fig["handler_log_line_bytes"] = plain(line_bytes)
    fig["handler_log_lines_per_image"] = len(line_bytes) / max(1, len(files))
    t = fig.get("timings_ms", {})
    if "preprocess" in t and compute:
        fig["split_ms_per_image"] = {
            "preprocess_handler": t["preprocess"]["median"],
            "preprocess_compute": statistics.median(compute),
            "preprocess_emulated_aws_calls_and_waiting": t["preprocess"]["median"] - statistics.median(compute),
            "preprocess_queue_wait": t.get("preprocess_queue_wait", {}).get("median"),
            "inference_model_run_per_batch": t.get("inference", {}).get("median"),
            "inference_queue_wait": t.get("inference_queue_wait", {}).get("median"),
            "end_to_end": t.get("end_to_end", {}).get("median"),
        }
    fig["note"] = ("moto on this CPU stands in for S3, SQS and DynamoDB: the AWS-call share here is the emulator's, "
                   "not AWS's (the cost model assumes AWS latencies instead); submit uploads one image at a time "
                   "and polls every 250 ms; the inference queue's 1 s batching window is in its queue wait")
    res["figures"]["stack"] = fig


# ------------------------------------------------------------------------------------------------------------
# Ratios, targets, cost, report
# ------------------------------------------------------------------------------------------------------------


def ratios_and_targets(res: dict) -> None:
    f = res["figures"]
    r = {}
    if "preprocess_dev" in f:
        d = f["preprocess_dev"]
        r["python_over_rust_preprocess"] = ratio(d["python"]["per_image_ms"]["median"], d["rust"]["per_image_ms"]["median"])
        r["python_over_rust_preprocess_total"] = ratio(d["total_ms"]["python"], d["total_ms"]["rust"])
    if "pipeline_dev" in f:
        r["python_over_rust_per_image"] = f["pipeline_dev"]["threads_2"]["ratio_python_over_rust"]
        r["python_over_rust_per_image_threads1"] = f["pipeline_dev"]["threads_1"]["ratio_python_over_rust"]
    if "preprocess_large" in f and "jpeg_14mp" in f["preprocess_large"]:
        j = f["preprocess_large"]["jpeg_14mp"]
        r["pillow_over_rust_large_jpeg"] = ratio(j["python"], j["rust"])
        r["pillow_draft_over_rust_large_jpeg"] = ratio(j["python_draft"], j["rust"])
    if "cold_start" in f:
        r["python_over_rust_cold_start"] = f["cold_start"]["fp32"]["ratio_python_over_rust"]
        r["python_over_rust_cold_start_int8"] = f["cold_start"]["int8"]["ratio_python_over_rust"]
    inf = f.get("inference", [])
    for variant in MODELS:
        for batch in (1, 8):
            rr, pp = find(inf, side="rust", variant=variant, threads=2, batch=batch), find(inf, side="python", variant=variant, threads=2, batch=batch)
            if rr and pp:
                r[f"python_over_rust_inference_{variant}_b{batch}_t2"] = ratio(pp["per_image_ms"]["median"], rr["per_image_ms"]["median"])
    for threads in (1, 2):
        for batch in (1, 8):
            a, b = find(inf, side="rust", variant="fp32", threads=threads, batch=batch), find(inf, side="rust", variant="int8", threads=threads, batch=batch)
            if a and b:
                r[f"int8_speedup_rust_b{batch}_t{threads}"] = ratio(a["per_image_ms"]["median"], b["per_image_ms"]["median"])
    res["ratios"] = r
    cost_total = res.get("cost_per_1k_images_usd")
    targets = [
        ("preprocessing >= 2x faster than the Python baseline on the dev images", r.get("python_over_rust_preprocess"), 2.0),
        ("14.7 MP JPEG >= 3x faster than Pillow's full decode + resize", r.get("pillow_over_rust_large_jpeg"), 3.0),
        ("preprocess + inference per image >= 1.3x", r.get("python_over_rust_per_image"), 1.3),
        ("process start -> ready <= 1/5 of the Python baseline's", r.get("python_over_rust_cold_start"), 5.0),
    ]
    out = [{"target": name, "value": v, "threshold": t, "met": (v is not None and v >= t)} for name, v, t in targets]
    out.append({"target": "all-in cost <= $0.015 per 1,000 images at the default settings", "value": cost_total,
                "threshold": 0.015, "met": cost_total is not None and cost_total <= 0.015})
    res["targets"] = out


def add_cost(res: dict, files: list) -> None:
    try:
        measured = cost.measured_from_results(res)
    except (KeyError, TypeError) as e:
        res["cost"] = {"skipped": f"missing measured inputs: {e}"}
        res["cost_per_1k_images_usd"] = None
        return
    upload = statistics.mean(os.path.getsize(p) for p in files) if files else None
    res.setdefault("inputs", {})["dev_mean_bytes"] = upload
    line = (res["figures"].get("stack") or {}).get("handler_log_line_bytes", {}).get("median")
    large = None
    big = res["figures"].get("preprocess_large", {}).get("jpeg_14mp")
    if big:
        res["inputs"]["large_14mp_mean_bytes"] = statistics.mean(os.path.getsize(os.path.join(LARGE_DIR, n)) for n in LARGE_14MP)
        large = (big["rust"], res["inputs"]["large_14mp_mean_bytes"])
    c = cost.report(measured, upload_bytes=upload, log_line_bytes=line, large=large)
    res["cost"] = c
    res["cost_per_1k_images_usd"] = c["cost_per_1k_images_usd"]


def fmt(x, digits=2):
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def spread(st: dict) -> str:
    if not st or not st.get("n"):
        return "n/a"
    return f"{st['median']:.2f} ({st['p10']:.2f}–{st['p90']:.2f})"


def markdown(res: dict) -> str:
    m, f, r = res["machine"], res["figures"], res["ratios"]
    L = []
    L.append("# imgpipe benchmark results")
    L.append("")
    L.append(f"One run of `make bench` ({res['mode']} mode, {res['settings']['rounds']} rounds), finished "
             f"{res['finished_at']}, {res['duration_s']:.0f} s. Generated by bench/run.py from bench/results.json; "
             "how to read it: docs/performance.md. Times in milliseconds: median (p10–p90).")
    L.append("")
    L.append(f"Machine: {m['cpu_model']} ({m['cpu_vendor_family_model']}, {', '.join(m['cpu_flags'])}), "
             f"{m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; {m['rustc']}; Python {m['python']}; "
             f"onnxruntime {m['onnxruntime_python']} (Python wheel) and {m['onnxruntime_rust']} (Rust, "
             f"{m['onnxruntime_rust_library']}); numpy's OpenBLAS kernel with the OPENBLAS_* overrides unset: "
             f"{(m.get('openblas_core_unset_env') or {}).get('1')}. Git {str(m.get('git_commit'))[:10]}"
             f"{' (with uncommitted changes)' if m.get('git_dirty') else ''}.")
    for w in res.get("warnings", []):
        L.append("")
        L.append(f"**Warning:** {w}")
    L.append("")
    L.append("## Ratios (> 1: Rust is faster) and the targets")
    L.append("")
    L.append("| target | measured | threshold | met |")
    L.append("|---|---:|---:|---|")
    for t in res["targets"]:
        v = t["value"]
        shown = f"${v:.4f}" if "cost" in t["target"] and v is not None else (f"{v:.2f}x" if v is not None else "not measured")
        thr = f"${t['threshold']:.3f}" if "cost" in t["target"] else f"{t['threshold']:g}x"
        L.append(f"| {t['target']} | {shown} | {thr} | {'yes' if t['met'] else '**no**'} |")
    L.append("")
    L.append("All ratios: " + ", ".join(f"`{k}` {fmt(v)}" for k, v in r.items()) + ".")
    if f.get("models"):
        L.append("")
        L.append("## Every shipped model and variant (two threads)")
        L.append("")
        runs = [p for p in res.get("partial_runs", []) if "models" in p["steps"]]
        if runs:
            L.append(f"Measured by `python3 bench/run.py --only models` on {runs[-1]['started_at']} "
                     f"({runs[-1]['mode']} mode, {runs[-1]['settings']['rounds']} rounds).")
            L.append("")
        L.append("| model | variant | Rust top-1 / top-5 | Rust ms/image b1 | images/s b1 | Rust ms/image b8 | "
                 "Python ms/image b1 | Rust ready ms | Python ready ms | layer MB |")
        L.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for e in f["models"]:
            acc = e.get("accuracy_rust")
            shown_acc = f"{acc['top1']:.3f} / {acc['top5']:.3f}" if acc else "not measured"
            b1, b8, ses = e["batch1"], e["batch8"], e["session"]
            L.append(f"| {e['model']} | {e['variant']} | {shown_acc} | "
                     f"{b1['rust']['median']:.2f} | {1000 / b1['rust']['median']:.0f} | {b8['rust']['median']:.2f} | "
                     f"{b1['python']['median']:.2f} | {ses['rust']['median']:.1f} | {ses['python']['median']:.1f} | "
                     f"{e['layer_bytes'] / 1e6:.1f} |")
    if "accuracy" in f:
        a = f["accuracy"]
        L.append("")
        L.append("## Same answers")
        L.append("")
        L.append("| variant | Rust top-1 / top-5 | Python baseline top-1 / top-5 | top-1 within 0.5 point |")
        L.append("|---|---|---|---|")
        for v in MODELS:
            ru, pyv = a["rust"].get(v, {}), a["python"].get(v, {})
            L.append(f"| {v} | {fmt(ru.get('top1'), 3)} / {fmt(ru.get('top5'), 3)} | {fmt(pyv.get('top1'), 3)} / "
                     f"{fmt(pyv.get('top5'), 3)} | {a['same_top1_within_half_point'].get(v)} |")
    if "preprocess_dev" in f:
        d = f["preprocess_dev"]
        L.append("")
        L.append(f"## Preprocessing, dev images ({d['files']} photos, ~500x375, bytes in memory)")
        L.append("")
        L.append("| side | per image | peak RSS MB | sum of per-file medians |")
        L.append("|---|---:|---:|---:|")
        for side, name in (("rust", "Rust (imgpipe-bench)"), ("python", "Python (Pillow + numpy)")):
            st = d[side]["per_image_ms"]
            L.append(f"| {name} | {spread(st)} | {st['peak_rss_mb']:.0f} | {d['total_ms'][side]:.0f} |")
        L.append("")
        L.append(f"Per-file ratio Python/Rust: {spread(d['per_file_ratio_python_over_rust'])}. Files where Rust "
                 "does least well: " + ", ".join(f"{x['file']} ({x['ratio']:.2f}x)" for x in d["rust_slowest_relative"][:3]) + ".")
    if "preprocess_large" in f:
        g = f["preprocess_large"]
        pf = g["per_file_median_ms"]
        L.append("")
        L.append("## Preprocessing, large images (median per file)")
        L.append("")
        L.append("| file | Rust | Pillow (full decode) | Pillow with draft (reduced-scale JPEG decode) | Pillow / Rust | draft / Rust |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for n in g["files"]:
            L.append(f"| {n} | {pf['rust'][n]:.1f} | {pf['python'][n]:.1f} | {pf['python_draft'][n]:.1f} | "
                     f"{g['ratio_python_over_rust'][n]:.2f}x | {g['ratio_python_draft_over_rust'][n]:.2f}x |")
        L.append("")
        L.append("Peak RSS MB: " + ", ".join(f"{k} {v:.0f}" for k, v in g["peak_rss_mb"].items()) + ".")
    if "pipeline_dev" in f:
        p = f["pipeline_dev"]
        L.append("")
        L.append("## Per image end to end: preprocess + batch-1 inference (dev images, fp32, same model file)")
        L.append("")
        L.append("| threads | side | per image | preprocess | inference | peak RSS MB | Python / Rust |")
        L.append("|---:|---|---:|---:|---:|---:|---:|")
        for t in (2, 1):
            e = p[f"threads_{t}"]
            for side in ("rust", "python"):
                x = e[side]
                L.append(f"| {t} | {side} | {spread(x['per_image_ms'])} | {spread(x['preprocess_ms'])} | "
                         f"{spread(x['inference_ms'])} | {x['per_image_ms']['peak_rss_mb']:.0f} | "
                         f"{fmt(e['ratio_python_over_rust']) + 'x' if side == 'python' else ''} |")
    if f.get("inference"):
        L.append("")
        L.append("## Inference (model run + normalisation + softmax/top-5), ms per image")
        L.append("")
        L.append("| variant | threads | batch | Rust | Python | Python / Rust | Rust peak RSS MB | Python peak RSS MB |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for e in f["inference"]:
            if e["side"] != "rust":
                continue
            pe = find(f["inference"], side="python", variant=e["variant"], threads=e["threads"], batch=e["batch"])
            L.append(f"| {e['variant']} | {e['threads']} | {e['batch']} | {spread(e['per_image_ms'])} | "
                     f"{spread(pe['per_image_ms']) if pe else '–'} | "
                     f"{fmt(ratio(pe['per_image_ms']['median'], e['per_image_ms']['median'])) + 'x' if pe else '–'} | "
                     f"{e['per_image_ms']['peak_rss_mb']:.0f} | {pe['per_image_ms']['peak_rss_mb'] if pe else 0:.0f} |")
    if f.get("throughput"):
        mo = res.get("model", {})
        L.append("")
        L.append("## The limit: bare model throughput (Rust, ONNX Runtime alone) and the model's arithmetic")
        L.append("")
        L.append(f"EfficientNet-Lite0: {mo.get('macs_per_image', 0) / 1e6:.1f} M multiply-accumulates per image "
                 f"(conv + gemm, from the ONNX graph by bench/model_macs.py), {mo.get('parameters', 0) / 1e6:.2f} M "
                 "parameters. What this CPU sustains on dense float32 (numpy OpenBLAS SGEMM 2048^3, bench/cpu_peak.py): "
                 + ", ".join(f"{v:.0f} GMAC/s on {k} thread{'s' if k != '1' else ''}"
                             for k, v in (m.get("sgemm_gmacs") or {}).items()) + "."
                 + (f" With this machine's OPENBLAS_* overrides left in place numpy picks the "
                    f"{m['sgemm_gmacs_with_openblas_overrides']['core']} kernel and reaches "
                    f"{m['sgemm_gmacs_with_openblas_overrides']['1']:.0f} GMAC/s on 1 thread."
                    if m.get("sgemm_gmacs_with_openblas_overrides") else ""))
        L.append("")
        L.append("| variant | best threads x batch | images/s | achieved GMAC/s | vs the fp32 SGEMM ceiling |")
        L.append("|---|---|---:|---:|---:|")
        for v, t in f["throughput"].items():
            b = t["best"]
            L.append(f"| {v} | {b['threads']} x {b['batch']} | {b['images_per_s']:.0f} | {fmt(b['gmacs'], 1)} | "
                     f"{fmt(t.get('best_vs_sgemm_ceiling_percent'), 0)}% |")
        L.append("")
        L.append("int8 runs its convolutions on VNNI integer dot-products (up to 4x the fp32 multiply-accumulate rate), "
                 "so exceeding the fp32 ceiling is expected there. "
                 "Grid (images/s): " + "; ".join(
            f"{v}: " + ", ".join(f"t{g['threads']}b{g['batch']} {g['images_per_s']:.0f}" for g in t["grid"])
            for v, t in f["throughput"].items()) + ".")
    if f.get("session"):
        L.append("")
        L.append("## Session creation (library already loaded), threads 2")
        L.append("")
        L.append("| model | Rust | Python |")
        L.append("|---|---:|---:|")
        variants = []
        for e in f["session"]:
            if e["variant"] not in variants:
                variants.append(e["variant"])
        for v in variants:
            rr = find(f["session"], side="rust", variant=v)
            pp = find(f["session"], side="python", variant=v)
            L.append(f"| {v} | {spread(rr['session_ms']) if rr else 'failed'} | {spread(pp['session_ms']) if pp else 'failed'} |")
        o = f.get("ort_format", {})
        L.append("")
        if o.get("loadable_by_rust_ort"):
            inf1 = o.get("infer_batch1_threads1_ms", {})
            L.append(f"ORT format: converted by onnxruntime {m['onnxruntime_python']}'s converter "
                     f"(--optimization_style Fixed) and loaded by ONNX Runtime {m['onnxruntime_rust']} in Rust. "
                     f"Batch-1 inference with it, threads 1: Rust {spread(inf1.get('rust'))}, Python "
                     f"{spread(inf1.get('python'))} ms per image (compare the fp32 .onnx row above: the ORT-format "
                     "session skips the runtime layout optimisations).")
        else:
            L.append(f"ORT format: not loadable by the Rust side's ONNX Runtime {m['onnxruntime_rust']}: "
                     f"{o.get('error', 'conversion failed')[:300]}")
    if "cold_start" in f:
        c = f["cold_start"]
        L.append("")
        L.append(f"## Cold start: process start -> first result ({c['image']}, threads 2, {c['runs']} fresh processes each)")
        L.append("")
        L.append("| variant | side | spawn -> result | spawn -> exit | inside the process | peak RSS MB | Python / Rust |")
        L.append("|---|---|---:|---:|---|---:|---:|")
        for v in MODELS:
            e = c[v]
            for side in ("rust", "python"):
                x = e[side]
                inside = ", ".join(f"{k} {st['median']:.0f}" for k, st in x["internal"].items())
                L.append(f"| {v} | {side} | {spread(x['spawn_to_result_ms'])} | {spread(x['spawn_to_exit_ms'])} | {inside} | "
                         f"{x['peak_rss_mb']:.0f} | {fmt(e['ratio_python_over_rust']) + 'x' if side == 'python' else ''} |")
        L.append("")
        L.append(c["note"] + ".")
    s = f.get("stack")
    if s:
        L.append("")
        L.append("## Local end to end (imgpipe-local: moto + the handlers + the API on this machine)")
        L.append("")
        if "skipped" in s:
            L.append(s["skipped"])
        else:
            L.append(f"{s.get('completed', 0)}/{s['images']} dev images submitted with `imgpipe submit --wait` "
                     f"({STACK_CONCURRENCY} at a time) and polled to completion in "
                     f"{fmt(s.get('wall_s'), 1)} s ({fmt(s.get('images_per_s'), 1)} images/s).")
            L.append("")
            L.append("| stage timing (from the job record) | median (p10–p90) ms |")
            L.append("|---|---:|")
            for k, st in s.get("timings_ms", {}).items():
                L.append(f"| {k} | {spread(st)} |")
            L.append(f"| preprocess compute inside the handler (its log) | {spread(s['preprocess_compute_ms'])} |")
            L.append(f"| model run per batch (its log; batch sizes {spread(s['inference_batches']['batch_sizes'])}) | "
                     f"{spread(s['inference_batches']['model_run_ms'])} |")
            sp = s.get("split_ms_per_image")
            if sp:
                L.append("")
                L.append("Where a preprocess handler's time goes, per image (medians): "
                         f"{sp['preprocess_handler']:.0f} ms in the handler = {sp['preprocess_compute']:.0f} ms of "
                         f"decode/resize (ours) + {sp['preprocess_emulated_aws_calls_and_waiting']:.0f} ms of emulated "
                         f"S3/DynamoDB/SQS calls (moto's, on the same 2 cores: not ours and not AWS's); "
                         f"{fmt(sp['preprocess_queue_wait'], 0)} ms waiting in the preprocess queue. Inference: "
                         f"{fmt(sp['inference_model_run_per_batch'], 0)} ms model run per batch, "
                         f"{fmt(sp['inference_queue_wait'], 0)} ms waiting in its queue (1 s batching window). "
                         "The cost model below replaces the emulated calls with assumed AWS latencies.")
            L.append("")
            L.append(s["note"] + ".")
    if res.get("cost") and "default" in res["cost"]:
        L.append("")
        L.append("## Cost on AWS (bench/cost.py)")
        L.append("")
        L.append(cost.markdown(res["cost"]))
    L.append("")
    return "\n".join(L)


# ------------------------------------------------------------------------------------------------------------


def preflight() -> list:
    problems = []
    if not os.access(BENCH_BIN, os.X_OK):
        problems.append(f"{rel(BENCH_BIN)} is missing: run cargo build --release -p imgpipe-bench")
    if not os.access(EVAL_BIN, os.X_OK):
        problems.append(f"{rel(EVAL_BIN)} is missing: run cargo build --release -p imgpipe-eval")
    if not os.access(VENV_PY, os.X_OK):
        problems.append(f"{rel(VENV_PY)} is missing: run bash tools/setup.sh")
    for path in (*MODELS.values(), ORT_LIBRARY):
        if not os.path.exists(path):
            problems.append(f"{rel(path)} is missing: run bash tools/setup.sh")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
                    help="a ~2-minute smoke run (also BENCH_QUICK=1)")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS") or 0) or None,
                    help="rounds per figure (default 3, quick 1; also BENCH_ROUNDS)")
    ap.add_argument("--no-stack", action="store_true", help="skip the local end-to-end stack figure")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--markdown", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--only", action="append", metavar="STEP",
                    help="measure only this step (repeatable), keeping the other figures of the existing results.json")
    ap.add_argument("--report-only", action="store_true",
                    help="measure nothing: recompute the cost model, ratios and RESULTS.md from the existing results.json")
    args = ap.parse_args(argv)

    if args.report_only:
        with open(args.out, encoding="utf-8") as f:
            res = json.load(f)
        files = dev_files(res["settings"]["dev_limit"]) if os.path.isfile(os.path.join(DEV_DIR, "labels.tsv")) else []
        add_cost(res, files)
        ratios_and_targets(res)
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(markdown(res))
        log(f"re-rendered {rel(args.out)} and {rel(args.markdown)} from the measured figures")
        return 0

    problems = preflight()
    if problems:
        for p in problems:
            print(f"bench: {p}", file=sys.stderr)
        return 2
    mode = "quick" if args.quick else "full"
    s = dict(SETTINGS[mode])
    if args.rounds:
        s["rounds"] = args.rounds
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(WORK, exist_ok=True)
    runs_log = os.path.join(OUT, "runs.jsonl")
    if os.path.exists(runs_log):
        os.remove(runs_log)

    res = {"mode": mode, "settings": s, "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(), "figures": {}, "absent": [], "warnings": []}
    for stale in binary_staleness():
        res["warnings"].append(stale)
        log(f"WARNING: {stale}")
    QUIET["budget_s"] = float(os.environ.get("BENCH_QUIET_BUDGET") or (30 if mode == "quick" else 300))
    log(f"{mode} mode, {s['rounds']} rounds; machine: {res['machine']['cpu_model']}, {res['machine']['cores']} cores")

    dev_ok = os.path.isfile(os.path.join(DEV_DIR, "labels.tsv"))
    large_ok = os.path.isdir(LARGE_DIR) and all(os.path.isfile(os.path.join(LARGE_DIR, n)) for n in LARGE_14MP)
    if not dev_ok:
        msg = f"ABSENT: {DEV_DIR} (the dev images): accuracy, dev preprocessing, per-image and cold-start figures NOT measured"
        res["absent"].append(msg)
        log(msg)
    if not large_ok:
        msg = f"ABSENT: {LARGE_DIR} (the large images): the large-image figures NOT measured"
        res["absent"].append(msg)
        log(msg)
    files = dev_files(s["dev_limit"]) if dev_ok else []
    res["inputs"] = {"dev_files": len(files), "dev_dir": DEV_DIR if dev_ok else None, "large_dir": LARGE_DIR if large_ok else None}

    steps = [
        ("model", lambda: bench_model(res)),
        ("accuracy", (lambda: bench_accuracy(res)) if dev_ok else None),
        ("preprocess_dev", (lambda: bench_preprocess_dev(res, s, files)) if dev_ok else None),
        ("preprocess_large", (lambda: bench_preprocess_large(res, s)) if large_ok else None),
        ("pipeline", (lambda: bench_pipeline(res, s, files)) if dev_ok else None),
        ("inference", lambda: bench_inference(res, s)),
        ("sessions", lambda: bench_sessions(res, s)),
        ("cold_start", (lambda: bench_cold_start(res, s, files[0])) if dev_ok else None),
        ("stack", (lambda: bench_stack(res, s, files[: s["stack_images"]])) if dev_ok and not args.no_stack else None),
        ("models", lambda: bench_models(res, s)),
    ]
    if args.only:
        unknown = set(args.only) - {name for name, _ in steps}
        if unknown:
            ap.error(f"--only: unknown steps {sorted(unknown)}; the steps are {[name for name, _ in steps]}")
        # The other figures stay those of the last full run.
        with open(args.out, encoding="utf-8") as f:
            previous = json.load(f)
        res = dict(previous, figures=dict(previous.get("figures", {})), warnings=[], absent=[])
        res["partial_runs"] = [r for r in previous.get("partial_runs", []) if r["steps"] != args.only] + [{
            "steps": args.only, "mode": mode, "settings": s,
            "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine()}]
        steps = [(name, step) for name, step in steps if name in args.only]
    failed = []
    for name, step in steps:
        if step is None:
            continue
        try:
            step()
        except BenchError as e:
            failed.append(name)
            res["warnings"].append(f"{name} failed: {e}")
            log(f"FAILED {name}: {e}")
    if res["figures"].get("inference"):
        throughput(res)
    add_cost(res, files)
    ratios_and_targets(res)
    res["machine"]["loadavg_at_end"] = loadavg()
    res["quiet"] = dict(QUIET)
    if QUIET["foreign_max"] > 0.3:
        res["warnings"].append(
            f"other processes used up to {QUIET['foreign_max']:.1f} cores during some measurements (see "
            "other_processes_cores_max per figure in results.json); those figures are slower than on an idle machine")
    if QUIET["waited_s"] >= QUIET["budget_s"]:
        res["warnings"].append(f"the machine never became quiet within the {QUIET['budget_s']:.0f} s waiting budget")
    res["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    res["duration_s"] = time.perf_counter() - T_START
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1, sort_keys=False)
        f.write("\n")
    with open(args.markdown, "w", encoding="utf-8") as f:
        f.write(markdown(res))
    log(f"wrote {rel(args.out)} and {rel(args.markdown)} in {res['duration_s']:.0f} s")
    for k, v in res["ratios"].items():
        if k in ("python_over_rust_preprocess", "python_over_rust_per_image", "pillow_over_rust_large_jpeg",
                 "python_over_rust_cold_start"):
            print(f"{k}: {fmt(v)}")
    print(f"cost_per_1k_images_usd: {fmt(res['cost_per_1k_images_usd'], 5)}")
    for t in res["targets"]:
        print(f"{'met   ' if t['met'] else 'MISSED'} {t['target']}")
    if failed:
        print(f"bench: these steps failed: {', '.join(failed)} (see the warnings in {rel(args.out)})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
