"""What this CPU sustains on dense float32 arithmetic: numpy's OpenBLAS SGEMM, as a practical ceiling for the
model's convolutions (which ONNX Runtime runs with its own MLAS kernels, not OpenBLAS).

    python bench/cpu_peak.py [--size 2048] [--seconds 1.5]

Prints one JSON line: {"openblas_core", "threads", "size", "sgemm_gmacs": {"1": .., "2": ..}, ...}.

Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (bench/run.py does, for this command only): some
machines here set them so that old OpenBLAS builds pick a safe kernel, which slows a current numpy; the core
name that OpenBLAS then picked is reported so the figure can be judged. The thread count is fixed per
process through OPENBLAS_NUM_THREADS, so bench/run.py runs this once per thread count (--threads says
which one was set, for the record).
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import json
import os
import sys
import time


def openblas_core() -> str | None:
    import numpy as np

    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "*openblas*"))
    for lib in libs:
        handle = ctypes.CDLL(lib)
        for name in ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename"):
            fn = getattr(handle, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--seconds", type=float, default=1.5)
    args = ap.parse_args(argv)
    import numpy as np

    n = args.size
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up
    best = float("inf")
    runs = 0
    deadline = time.perf_counter() + args.seconds
    while runs < 3 or time.perf_counter() < deadline:
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
        runs += 1
    macs = n**3
    print(
        json.dumps(
            {
                "openblas_core": openblas_core(),
                "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"),
                "size": n,
                "runs": runs,
                "best_ms": best * 1000,
                "sgemm_gmacs": macs / best / 1e9,
            },
            separators=(",", ":"),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
