#!/usr/bin/env python3
"""Draws docs/models.png from bench/results.json: the Rust path's dev-set top-1 against its ms per image
(batch 1, two threads) for every shipped model and variant, so the accuracy/cost trade-off shows at a
glance. Pillow only (the model venv has it), no plotting library.

    .venv/model/bin/python bench/chart.py [--results bench/results.json] [--out docs/models.png]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
COLOURS = {"efficientnet-lite0": (31, 119, 180), "efficientnet-lite1": (255, 127, 14), "efficientnet-lite2": (44, 160, 44)}


def points(results: dict) -> list[dict]:
    out = []
    for e in (results.get("figures") or {}).get("models") or []:
        acc = e.get("accuracy_rust")
        if not acc:
            continue
        out.append({"model": e["model"], "variant": e["variant"], "ms": e["batch1"]["rust"]["median"],
                    "top1": acc["top1"], "images": acc["images"]})
    return out


def nice_range(lo: float, hi: float, step: float) -> tuple[float, float]:
    import math
    return math.floor(lo / step) * step, math.ceil(hi / step) * step


def draw(pts: list[dict], out: str, subtitle: str) -> None:
    from PIL import Image, ImageDraw, ImageFont

    width, height, left, right, top, bottom = 900, 560, 90, 40, 70, 70
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=14) if hasattr(ImageFont, "load_default") else None
    small = ImageFont.load_default(size=12)
    x0, x1 = nice_range(min(p["ms"] for p in pts) * 0.9, max(p["ms"] for p in pts) * 1.05, 2.0)
    y0, y1 = nice_range(min(p["top1"] for p in pts) - 0.01, max(p["top1"] for p in pts) + 0.01, 0.01)

    def xy(ms, top1):
        return (left + (ms - x0) / (x1 - x0) * (width - left - right),
                height - bottom - (top1 - y0) / (y1 - y0) * (height - top - bottom))

    d.rectangle([left, top, width - right, height - bottom], outline=(0, 0, 0))
    tick = x0
    while tick <= x1 + 1e-9:
        x, _ = xy(tick, y0)
        d.line([x, height - bottom, x, height - bottom + 5], fill=(0, 0, 0))
        d.line([x, top, x, height - bottom], fill=(230, 230, 230))
        d.text((x - 8, height - bottom + 8), f"{tick:g}", fill=(0, 0, 0), font=small)
        tick += 2.0
    tick = y0
    while tick <= y1 + 1e-9:
        _, y = xy(x0, tick)
        d.line([left - 5, y, left, y], fill=(0, 0, 0))
        d.line([left, y, width - right, y], fill=(230, 230, 230))
        d.text((left - 45, y - 7), f"{tick:.2f}", fill=(0, 0, 0), font=small)
        tick += 0.01
    d.rectangle([left, top, width - right, height - bottom], outline=(0, 0, 0))
    d.text((left, 15), "imgpipe models: dev-set top-1 against Rust ms per image (batch 1, 2 threads)", fill=(0, 0, 0), font=font)
    d.text((left, 38), subtitle, fill=(90, 90, 90), font=small)
    d.text(((width - left) / 2, height - 30), "ms per image (lower is cheaper)", fill=(0, 0, 0), font=font)
    d.text((10, top - 25), "top-1", fill=(0, 0, 0), font=font)
    for p in pts:
        x, y = xy(p["ms"], p["top1"])
        colour = COLOURS.get(p["model"], (100, 100, 100))
        r = 7
        if p["variant"] == "int8":
            d.rectangle([x - r, y - r, x + r, y + r], outline=colour, width=3)
        else:
            d.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        d.text((x + 10, y - 18), f"{p['model'].replace('efficientnet-', '')} {p['variant']}", fill=colour, font=small)
    d.text((width - right - 260, height - bottom - 40), "filled: fp32, hollow square: int8", fill=(90, 90, 90), font=small)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    img.save(out, optimize=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "models.png"))
    args = ap.parse_args(argv)
    with open(args.results, encoding="utf-8") as f:
        results = json.load(f)
    pts = points(results)
    if not pts:
        print("chart: results.json has no models figure with accuracy: run make accuracy, then "
              "python3 bench/run.py --only models", file=sys.stderr)
        return 1
    run = next((p for p in reversed(results.get("partial_runs", [])) if "models" in p["steps"]), None)
    machine = (run or results)["machine"]
    when = (run or results).get("started_at", "")
    subtitle = (f"{len(pts)} models and variants, {pts[0]['images']} dev photos; {machine['cpu_model']}, "
                f"{machine['cores']} cores, {when} (bench/results.json)")
    draw(pts, args.out, subtitle)
    print(f"chart: wrote {os.path.relpath(args.out, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
