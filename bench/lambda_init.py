"""Init time of each Lambda function binary: from exec to its first call of the Lambda Runtime API.

A Lambda function is ready when its runtime asks for the first event (GET .../runtime/invocation/next); what
comes before is the cold start our code controls (configuration, clients, the model session). This script
plays the Runtime API on 127.0.0.1, starts each function's `bootstrap` from its zip with the environment
Terraform would give it (resource names are made up: nothing is called before the first event), and times
exec -> first `next` request, N times each, alternating functions. It also reports each zip's size.

    python3 bench/lambda_init.py --zips build/artifacts/lambda --runs 20 [--json out.json]

What it does not measure: Lambda's own download and extraction of the zip (which grows with its size) and
the sandbox start, which only AWS shows (the `Init Duration` of the REPORT log line).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class RuntimeApi(http.server.ThreadingHTTPServer):
    """Records when the first `next` request arrives; never hands out an event."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.ready = threading.Event()
        self.ready_at = 0.0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path.endswith("/runtime/invocation/next"):
            if not self.server.ready.is_set():
                self.server.ready_at = time.perf_counter()
                self.server.ready.set()
            # Hold the request: the function waits here for an event, as on Lambda between invocations.
            time.sleep(30)
        self.send_response(404)
        self.end_headers()

    def do_POST(self):  # noqa: N802
        # An init error report: the function could not start.
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length).decode(errors="replace")
        self.server.init_error = body
        self.server.ready_at = time.perf_counter()
        self.server.ready.set()
        self.send_response(202)
        self.end_headers()

    def log_message(self, *_args):
        pass


def function_environment(function: str, model_dir: Path, ort_library: Path) -> dict[str, str]:
    """What the compute module sets, with made-up resource names (no AWS call happens before an event)."""
    common = {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": f"imgpipe-bench-{function}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "WARN",
        "IMGPIPE_TABLE_NAME": "imgpipe-bench-images",
        "IMGPIPE_BUCKET_NAME": "imgpipe-bench-images",
        "IMGPIPE_EVENT_BUS_NAME": "imgpipe-bench-events",
    }
    model = json.loads((model_dir / "model.json").read_text())
    models = json.dumps(
        [
            {
                "name": model["name"],
                "version": model["version"],
                "variant": model["variant"],
                "input": {"height": model["input"]["height"], "width": model["input"]["width"]},
                "preprocess": model["preprocess"],
                "num_classes": model["num_classes"],
                "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/imgpipe-bench-inference",
            }
        ]
    )
    per_function = {
        "api": {"IMGPIPE_AUTH_MODE": "iam", "IMGPIPE_MODELS": models},
        "preprocess": {
            "IMGPIPE_AUTH_MODE": "iam",
            "IMGPIPE_INFERENCE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/imgpipe-bench-inference",
            "IMGPIPE_MODEL_DIR": str(model_dir),
            "IMGPIPE_MODELS": models,
        },
        "inference": {
            "IMGPIPE_MODEL_DIR": str(model_dir),
            "IMGPIPE_ORT_LIBRARY": str(ort_library),
            "IMGPIPE_ORT_THREADS": "2",
        },
        "sweeper": {},
        # With a secret configured, notify reads it from Secrets Manager before its first event, a call
        # only AWS answers: timed here with webhooks off, so its figure leaves out that one round trip.
        "notify": {"IMGPIPE_WEBHOOK_SECRET_ARN": ""},
    }
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(common)
    env.update(per_function.get(function, {}))
    return env


def time_init(bootstrap: Path, env: dict[str, str]) -> float:
    server = RuntimeApi()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
    started = time.perf_counter()
    process = subprocess.Popen([str(bootstrap)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not server.ready.wait(60):
            raise RuntimeError(f"{bootstrap} did not ask for an event within 60 s")
        if getattr(server, "init_error", None):
            raise RuntimeError(f"{bootstrap} reported an init error: {server.init_error}")
        return (server.ready_at - started) * 1000
    finally:
        process.kill()
        _, stderr = process.communicate()
        server.shutdown()
        server.server_close()
        if process.returncode not in (0, -9) and not server.ready.is_set():
            sys.stderr.write(stderr.decode(errors="replace"))


def find_zips(root: Path) -> dict[str, Path]:
    """`<function>-<arch>.zip` (build/artifacts/lambda) or `<arch>/<function>/bootstrap.zip` (older layout)."""
    zips = {}
    for path in sorted(root.rglob("*.zip")):
        if path.name == "bootstrap.zip":
            function = path.parent.name
            arch = path.parent.parent.name
        else:
            function, _, arch = path.stem.rpartition("-")
        if arch == "x86_64":
            zips[function] = path
    return zips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zips", type=Path, required=True, help="folder with the x86_64 function zips")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--model-dir", type=Path, default=REPO / "build/model")
    parser.add_argument("--ort-library", type=Path, default=REPO / "build/onnxruntime/x64/libonnxruntime.so.1")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()

    zips = find_zips(args.zips)
    if not zips:
        sys.exit(f"no x86_64 function zips under {args.zips}")
    with tempfile.TemporaryDirectory() as tmp:
        bootstraps = {}
        for function, path in zips.items():
            target = Path(tmp) / function
            target.mkdir()
            with zipfile.ZipFile(path) as archive:
                archive.extract("bootstrap", target)
            (target / "bootstrap").chmod(0o755)
            bootstraps[function] = target / "bootstrap"
        samples: dict[str, list[float]] = {f: [] for f in bootstraps}
        for _ in range(args.runs):
            for function, bootstrap in bootstraps.items():
                env = function_environment(function, args.model_dir, args.ort_library)
                samples[function].append(time_init(bootstrap, env))
    result = {
        function: {
            "zip_bytes": zips[function].stat().st_size,
            "init_ms_median": round(statistics.median(values), 2),
            "init_ms_min": round(min(values), 2),
            "runs": len(values),
        }
        for function, values in samples.items()
    }
    for function, figures in result.items():
        print(
            f"{function:<12} zip {figures['zip_bytes'] / 1e6:6.2f} MB   init median {figures['init_ms_median']:7.2f} ms"
            f"   min {figures['init_ms_min']:7.2f} ms   ({figures['runs']} runs)"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
