#!/usr/bin/env python3
"""The accuracy gate of `make test`: the Rust path's top-1 per model and variant (`imgpipe-eval`) against
the Python cross-check's (`tools/model/check_accuracy.py`, Pillow + onnxruntime) on the same photos.

    gate.py RUST.jsonl PYTHON.jsonl [--max-drop 0.015] [--min-top1 0.88]

Fails when a shipped fp32 model's Rust top-1 is more than --max-drop below its Python cross-check, when
any variant's Rust top-1 is under --min-top1 (a floor that catches a wrong channel order or
normalisation in the quantised models too), when a model has no Python figure to compare with, or when
the two were made with different preprocessing rules. Prints one JSON line per model and variant.
"""

from __future__ import annotations

import argparse
import json
import sys


def read(path: str) -> dict:
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            record = json.loads(line)
            if record.get("candidate"):
                continue
            out[(record["model"], record["variant"])] = record
    return out


def gate(rust: dict, python: dict, max_drop: float, min_top1: float) -> tuple[list[dict], list[str]]:
    rows, problems = [], []
    if not rust:
        problems.append("the Rust evaluation printed no model")
    for (model, variant), r in sorted(rust.items()):
        p = python.get((model, variant))
        row = {"model": model, "variant": variant, "images": r["images"], "rust_top1": r["top1"],
               "rust_top5": r["top5"], "python_top1": p["top1"] if p else None,
               "python_top5": p["top5"] if p else None}
        rows.append(row)
        if r.get("failed"):
            problems.append(f"{model} {variant}: {r['failed']} images could not be prepared")
        if r["top1"] < min_top1:
            problems.append(f"{model} {variant}: Rust top-1 {r['top1']:.3f} < {min_top1:.3f}")
        if p is None:
            problems.append(f"{model} {variant}: no Python cross-check to compare with")
            continue
        if p.get("n") not in (None, r["images"]):
            problems.append(f"{model} {variant}: Rust scored {r['images']} images, Python {p['n']}")
        row["drop"] = round(p["top1"] - r["top1"], 6)
        if variant == "fp32" and p["top1"] - r["top1"] > max_drop + 1e-9:
            problems.append(f"{model} fp32: Rust top-1 {r['top1']:.3f} is {p['top1'] - r['top1']:.3f} below "
                            f"Python's {p['top1']:.3f} (at most {max_drop:.3f} allowed)")
    return rows, problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rust")
    ap.add_argument("python")
    ap.add_argument("--max-drop", type=float, default=0.015)
    ap.add_argument("--min-top1", type=float, default=0.88)
    args = ap.parse_args(argv)
    rows, problems = gate(read(args.rust), read(args.python), args.max_drop, args.min_top1)
    for row in rows:
        print(json.dumps(row))
    if problems:
        print("accuracy gate: FAIL\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"accuracy gate: PASS ({len(rows)} models and variants; fp32 within {args.max_drop:.3f} of Python, "
          f"every variant >= {args.min_top1:.2f})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
