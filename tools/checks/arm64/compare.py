#!/usr/bin/env python3
"""Compares two `imgpipe-eval --images` outputs (x86_64, arm64): per model, variant and photo, the same
five classes in the same order, and scores within a tolerance that allows for the two instruction sets'
different float kernels (FMA, vector widths) but not for a wrong input.

    compare.py X86_64.jsonl ARM64.jsonl [--tolerance 1e-3]
"""

from __future__ import annotations

import argparse
import json
import sys


def read(path: str) -> dict:
    lines = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                record = json.loads(line)
                key = (record["model"], record["variant"], record["file"])
                if key in lines:
                    sys.exit(f"{path}:{n}: {key} twice")
                lines[key] = record["top5"]
    return lines


def compare(x86: dict, arm: dict, tolerance: float) -> list[str]:
    problems = []
    if set(x86) != set(arm):
        problems.append(f"different runs: only x86_64 {sorted(set(x86) - set(arm))}, "
                        f"only arm64 {sorted(set(arm) - set(x86))}")
    for key in sorted(set(x86) & set(arm)):
        a, b = x86[key], arm[key]
        if len(a) != 5 or len(b) != 5:
            problems.append(f"{key}: top-5 lengths {len(a)} and {len(b)}")
            continue
        classes_a = [p["class_index"] for p in a]
        classes_b = [p["class_index"] for p in b]
        if classes_a != classes_b:
            problems.append(f"{key}: x86_64 top-5 {classes_a}, arm64 {classes_b}")
        worst = max(abs(p["score"] - q["score"]) for p, q in zip(a, b))
        if worst > tolerance:
            problems.append(f"{key}: scores differ by {worst:.2e} > {tolerance:.0e}")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("x86_64")
    ap.add_argument("arm64")
    ap.add_argument("--tolerance", type=float, default=1e-3)
    args = ap.parse_args(argv)
    x86, arm = read(args.x86_64), read(args.arm64)
    if not x86:
        sys.exit("no predictions from the x86_64 run")
    problems = compare(x86, arm, args.tolerance)
    worst = max((abs(p["score"] - q["score"]) for k in set(x86) & set(arm) for p, q in zip(x86[k], arm[k])),
                default=0.0)
    models = sorted({(m, v) for m, v, _ in x86})
    if problems:
        print("test-arm64: FAIL\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"test-arm64: PASS: {len(x86)} top-5 lists ({len(models)} models and variants x "
          f"{len(x86) // max(1, len(models))} photos) equal on arm64 and x86_64; largest score difference {worst:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
