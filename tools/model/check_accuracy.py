#!/usr/bin/env python3
"""Measure top-1 / top-5 of a built model on labelled ImageNet images with onnxruntime.

    python check_accuracy.py --model-dir build/model --eval-dir ../shared/eval/imagenet-dev \\
        [--filter bicubic|bilinear] [--bgr] [--imagenet-norm]

Preprocessing follows the model's model.json, with Pillow:
  1. open, apply the EXIF orientation, convert to RGB;
  2. resize so the shorter side is ``resize_shorter_side`` (256) and the longer side
     ``round(256 * long / short)`` (as Pillow's ImageOps.contain / thumbnail round it; torchvision's
     Resize truncates instead), with the Pillow filter (``filter``, bicubic by default; Pillow
     antialiases when it shrinks);
  3. centre crop ``center_crop`` (224): left = round((w - 224) / 2), top = round((h - 224) / 2),
     as torchvision's CenterCrop computes it.
  Both rounds are Python's round(): halves go to the even neighbour (Rust: f64::round_ties_even).
  It matters for the crop, where (w - 224) / 2 ends in .5 whenever w - 224 is odd: 341 -> 58.
  These one-pixel choices move one or two of the 200 dev images (0.5-1 point of top-1); the Rust
  preprocessing must make the same ones for its scores to match this script's.
  4. float32 NCHW, (x - mean) / std with model.json's normalization ((x - 127) / 128).
``--bgr`` and ``--imagenet-norm`` deliberately feed the wrong channel order / normalisation, to show
how much a preprocessing mistake costs. The last line on stdout is JSON:
``{"images":N,"top1":...,"top5":...}``; details go to stderr.

Needs numpy, onnxruntime and pillow. The eval folder holds ``labels.tsv`` (file, class_index,
synset, name) and the JPEGs it names; when it is absent the script says so and exits 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import numpy as np

IMAGENET_MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
IMAGENET_STD = [0.229 * 255, 0.224 * 255, 0.225 * 255]


def fail(msg: str, code: int = 2):
    print(f"check_accuracy: error: {msg}", file=sys.stderr)
    sys.exit(code)


def load_rgb(source):
    """Open an image (a path or a binary file object), apply its EXIF orientation, convert to RGB."""
    from PIL import Image, ImageOps

    with Image.open(source) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def resize_crop(im, pre: dict, filt: str):
    """RGB Pillow image -> HxWx3 uint8 array, resized and centre-cropped as model.json says."""
    from PIL import Image

    filters = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
    short_target, crop = int(pre["resize_shorter_side"]), int(pre["center_crop"])
    w, h = im.size
    if w <= h:
        size = (short_target, round(short_target * h / w))
    else:
        size = (round(short_target * w / h), short_target)
    if size != (w, h):
        im = im.resize(size, filters[filt])
    w, h = im.size
    left, top = round((w - crop) / 2), round((h - crop) / 2)
    im = im.crop((left, top, left + crop, top + crop))
    return np.asarray(im, dtype=np.uint8)


def preprocess(path: str, pre: dict, filt: str):
    """Pillow image -> HxWx3 uint8 RGB array, resized and centre-cropped as model.json says."""
    return resize_crop(load_rgb(path), pre, filt)


def to_input(pixels, mean, std, channel_order=(0, 1, 2)):
    """NxHxWx3 uint8 pixels -> float32 NCHW model input, (x - mean) / std per channel."""
    pixels = np.asarray(pixels).astype(np.float32)
    mean, std = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)
    pixels = (pixels[..., list(channel_order)] - mean) / std
    return np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))


def read_labels(eval_dir: str):
    path = os.path.join(eval_dir, "labels.tsv")
    if not os.path.isdir(eval_dir) or not os.path.isfile(path):
        fail(f"eval folder {eval_dir} is absent or has no labels.tsv: these images come with the project's "
             "shared/eval folder and are not part of the repository; pass --eval-dir")
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    header = rows[0]
    try:
        i_file, i_class = header.index("file"), header.index("class_index")
    except ValueError:
        fail(f"{path}: header {header} lacks file / class_index")
    return [(os.path.join(eval_dir, r[i_file]), int(r[i_class])) for r in rows[1:]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", required=True, help="folder with model.json, model.onnx, labels.txt")
    ap.add_argument("--eval-dir", required=True, help="folder with labels.tsv and the images it names")
    ap.add_argument("--filter", choices=["bicubic", "bilinear"], help="resize filter (default: model.json's)")
    ap.add_argument("--bgr", action="store_true", help="feed BGR instead of RGB (a deliberate mistake)")
    ap.add_argument("--imagenet-norm", action="store_true",
                    help="normalise with ImageNet mean/std instead of model.json's (a deliberate mistake)")
    ap.add_argument("--batch-size", type=int, default=25)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images (0: all)")
    args = ap.parse_args(argv)

    meta_path = os.path.join(args.model_dir, "model.json")
    if not os.path.isfile(meta_path):
        fail(f"{meta_path} not found: build the model first (tools/model/build_model.py)")
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    samples = read_labels(args.eval_dir)
    if args.limit:
        samples = samples[: args.limit]
    missing = [p for p, _ in samples if not os.path.isfile(p)]
    if missing:
        fail(f"{len(missing)} images named in labels.tsv are missing, e.g. {missing[0]}")

    model_path = os.path.join(args.model_dir, meta["file"])
    with open(model_path, "rb") as f:
        model_bytes = f.read()
    if hashlib.sha256(model_bytes).hexdigest() != meta["sha256"]:
        fail(f"{model_path} does not match the sha256 in {meta_path}")

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    in_name, out_name = meta["input"]["name"], meta["output"]["name"]

    filt = args.filter or meta["preprocess"]["filter"]
    norm = meta["normalization"]
    mean = np.array(IMAGENET_MEAN if args.imagenet_norm else norm["mean"], dtype=np.float32)
    std = np.array(IMAGENET_STD if args.imagenet_norm else norm["std"], dtype=np.float32)
    channel_order = [2, 1, 0] if args.bgr else [0, 1, 2]
    print(f"model {meta['name']} {meta['version']} {meta['variant']}; {len(samples)} images; filter {filt}; "
          f"{'BGR' if args.bgr else 'RGB'}; mean {mean.tolist()} std {std.tolist()}", file=sys.stderr)

    top1 = top5 = 0
    for start in range(0, len(samples), args.batch_size):
        chunk = samples[start : start + args.batch_size]
        pixels = np.stack([preprocess(p, meta["preprocess"], filt) for p, _ in chunk])
        batch = to_input(pixels, mean, std, channel_order)
        (logits,) = session.run([out_name], {in_name: batch})
        if logits.shape != (len(chunk), meta["num_classes"]):
            fail(f"output shape {logits.shape}, expected ({len(chunk)}, {meta['num_classes']})", 1)
        best = np.argsort(-logits, axis=1, kind="stable")[:, :5]
        for (_, label), row in zip(chunk, best):
            top1 += int(row[0] == label)
            top5 += int(label in row)

    n = len(samples)
    print(json.dumps({"images": n, "top1": round(top1 / n, 4), "top5": round(top5 / n, 4)}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
