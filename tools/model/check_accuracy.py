#!/usr/bin/env python3
"""Measure top-1 / top-5 of built models on labelled ImageNet images with onnxruntime.

    python check_accuracy.py --model-dir build/models/efficientnet-lite0-fp32 \\
        [--model-dir build/models/efficientnet-lite1-fp32 ...] --eval-dir ../shared/eval/imagenet-dev \\
        [--filter bicubic|bilinear] [--bgr] [--imagenet-norm] [--candidates]

Preprocessing follows each model's model.json, with Pillow (``prepare``; quantize.py, import_model.py
and bench/python_baseline.py use the same functions):
  1. open, apply the EXIF orientation, convert to RGB;
  2. ``preprocess.resize`` "shorter_side_then_center_crop" (the default when absent): resize so the
     shorter side is ``resize_shorter_side`` (256 for Lite0) and the longer side
     ``round(256 * long / short)`` (as Pillow's ImageOps.contain / thumbnail round it; torchvision's
     Resize truncates instead), with the Pillow filter (``filter``; Pillow antialiases when it
     shrinks); then centre crop ``center_crop`` (224): left = round((w - 224) / 2),
     top = round((h - 224) / 2), as torchvision's CenterCrop computes it.
     "stretch": resize to the input width x height, ignoring the aspect ratio.
  Both rounds are Python's round(): halves go to the even neighbour (Rust: f64::round_ties_even).
  It matters for the crop, where (w - 224) / 2 ends in .5 whenever w - 224 is odd: 341 -> 58.
  These one-pixel choices move one or two of the 200 dev images (0.5-1 point of top-1); the Rust
  preprocessing must make the same ones for its scores to match this script's.
  3. float32, (x - mean) / std with model.json's normalization ((x - 127) / 128), in the input's
     channel order (RGB | BGR) and layout (NCHW | NHWC).
``--bgr`` (the other channel order than model.json's) and ``--imagenet-norm`` deliberately feed the wrong channel order / normalisation, to show
how much a preprocessing mistake costs.

Output: one JSON line per model directory, in the order given, on stdout:
``{"model": "efficientnet-lite0", "variant": "fp32", "top1": 0.91, "top5": 0.985, "n": 200,
"rule": "shorter_side_then_center_crop/256/224/bicubic"}``; details go to stderr. ``rule`` names the
preprocessing actually used (resize / resize side / crop / filter, and ``/swapped-channels`` or
``/imagenet-norm`` for the deliberate mistakes), so a gate can check that the Rust figure it compares
with was made with the same one.

``--candidates`` scores, for each model, the preprocessing rules the EfficientNet-Lite reference could
mean instead of the one in model.json (one JSON line each, ``"candidate": true``): the shorter side
resized to S + 32 or to round(S / 0.875), then a centre crop of S; and the reference's own order,
a centre crop of S / (S + 32) of the shorter side resized to S x S; each bicubic and bilinear. Those
lines also carry ``nll``, the mean negative log-likelihood of the true class, which separates rules
that top-1 on a few hundred images cannot.

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
CROP_MODE = "shorter_side_then_center_crop"
STRETCH_MODE = "stretch"
# Not a model.json rule: the reference's crop-then-resize order, scored by --candidates only.
CROP_FIRST_MODE = "center_crop_then_resize"


def fail(msg: str, code: int = 2):
    print(f"check_accuracy: error: {msg}", file=sys.stderr)
    sys.exit(code)


def _filter(name: str):
    from PIL import Image

    filters = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
    if name not in filters:
        raise ValueError(f"unknown resize filter {name!r} (bicubic, bilinear)")
    return filters[name]


def load_rgb(source):
    """Open an image (a path or a binary file object), apply its EXIF orientation, convert to RGB."""
    from PIL import Image, ImageOps

    with Image.open(source) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def resize_crop(im, pre: dict, filt: str):
    """RGB Pillow image -> HxWx3 uint8 array: shorter side to resize_shorter_side, centre crop."""
    short_target, crop = int(pre["resize_shorter_side"]), int(pre["center_crop"])
    w, h = im.size
    if w <= h:
        size = (short_target, round(short_target * h / w))
    else:
        size = (round(short_target * w / h), short_target)
    if size != (w, h):
        im = im.resize(size, _filter(filt))
    w, h = im.size
    left, top = round((w - crop) / 2), round((h - crop) / 2)
    im = im.crop((left, top, left + crop, top + crop))
    return np.asarray(im, dtype=np.uint8)


def stretch(im, height: int, width: int, filt: str):
    """RGB Pillow image -> height x width x 3 uint8 array, aspect ratio not kept."""
    if im.size != (width, height):
        im = im.resize((width, height), _filter(filt))
    return np.asarray(im, dtype=np.uint8)


def crop_then_resize(im, size: int, fraction: float, filt: str):
    """The reference's order: a centre square of int(fraction * shorter side) (offset (d + 1) // 2),
    resized to size x size."""
    w, h = im.size
    side = int(fraction * min(w, h))
    top, left = (h - side + 1) // 2, (w - side + 1) // 2
    im = im.crop((left, top, left + side, top + side))
    if im.size != (size, size):
        im = im.resize((size, size), _filter(filt))
    return np.asarray(im, dtype=np.uint8)


def prepare(im, meta: dict, filt: str | None = None):
    """RGB Pillow image -> the HxWx3 uint8 RGB pixels model.json's preprocessing makes (the pixels the
    pipeline sends to inference)."""
    pre = meta["preprocess"]
    filt = filt or pre["filter"]
    mode = pre.get("resize", CROP_MODE)
    if mode == CROP_MODE:
        return resize_crop(im, pre, filt)
    if mode == STRETCH_MODE:
        return stretch(im, int(meta["input"]["height"]), int(meta["input"]["width"]), filt)
    if mode == CROP_FIRST_MODE:
        return crop_then_resize(im, int(pre["center_crop"]), float(pre["crop_fraction"]), filt)
    raise ValueError(f"unknown preprocess.resize {mode!r}")


def preprocess(path: str, pre: dict, filt: str):
    """Pillow image -> HxWx3 uint8 RGB array, resized and centre-cropped as model.json says."""
    return resize_crop(load_rgb(path), pre, filt)


def to_input(pixels, mean, std, channel_order=(0, 1, 2), layout: str = "NCHW"):
    """NxHxWx3 uint8 RGB pixels -> float32 model input, (x - mean) / std per channel (mean / std in the
    order of the channels fed), in ``layout`` (NCHW or NHWC)."""
    pixels = np.asarray(pixels).astype(np.float32)
    mean, std = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)
    pixels = (pixels[..., list(channel_order)] - mean) / std
    if layout == "NHWC":
        return np.ascontiguousarray(pixels)
    if layout != "NCHW":
        raise ValueError(f"unknown layout {layout!r} (NCHW, NHWC)")
    return np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))


def model_input(pixels, meta: dict, *, bgr: bool | None = None, imagenet_norm: bool = False):
    """NxHxWx3 uint8 RGB pixels -> the float32 tensor model.json's input contract describes."""
    spec = meta["input"]
    if bgr is None:
        bgr = spec.get("channels", "RGB") == "BGR"
    norm = meta["normalization"]
    mean = IMAGENET_MEAN if imagenet_norm else norm["mean"]
    std = IMAGENET_STD if imagenet_norm else norm["std"]
    return to_input(pixels, mean, std, [2, 1, 0] if bgr else [0, 1, 2], spec.get("layout", "NCHW"))


def rule_name(meta: dict, filt: str | None = None) -> str:
    """A short, stable name of the preprocessing rule: resize/side/crop/filter, or stretch/HxW/filter."""
    pre = meta["preprocess"]
    filt = filt or pre["filter"]
    mode = pre.get("resize", CROP_MODE)
    if mode == STRETCH_MODE:
        return f"{STRETCH_MODE}/{meta['input']['height']}x{meta['input']['width']}/{filt}"
    if mode == CROP_FIRST_MODE:
        return f"{CROP_FIRST_MODE}/{pre['crop_fraction']:.4f}/{pre['center_crop']}/{filt}"
    return f"{CROP_MODE}/{pre['resize_shorter_side']}/{pre['center_crop']}/{filt}"


def candidate_rules(meta: dict) -> list:
    """The preprocess objects --candidates scores, the model.json one first."""
    size = int(meta["input"]["height"])
    out = [dict(meta["preprocess"])]
    for filt in ("bicubic", "bilinear"):
        for side in (size + 32, round(size / 0.875)):
            out.append({"resize": CROP_MODE, "resize_shorter_side": side, "center_crop": size, "filter": filt,
                        "antialias": True})
        out.append({"resize": CROP_FIRST_MODE, "crop_fraction": size / (size + 32), "center_crop": size,
                    "filter": filt, "antialias": True})
    seen, unique = set(), []
    for pre in out:
        key = rule_name({"input": meta["input"], "preprocess": pre})
        if key not in seen:
            seen.add(key)
            unique.append(pre)
    return unique


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


def load_model(model_dir: str):
    """(model.json, model bytes) of a model folder, the bytes checked against model.json's sha256."""
    meta_path = os.path.join(model_dir, "model.json")
    if not os.path.isfile(meta_path):
        fail(f"{meta_path} not found: build the model first (bash tools/setup.sh)")
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    model_path = os.path.join(model_dir, meta["file"])
    with open(model_path, "rb") as f:
        model_bytes = f.read()
    if hashlib.sha256(model_bytes).hexdigest() != meta["sha256"]:
        fail(f"{model_path} does not match the sha256 in {meta_path}")
    return meta, model_bytes


def score(session, meta: dict, images: list, labels: list, *, filt=None, bgr=None, imagenet_norm=False,
          batch_size: int = 25) -> dict:
    """top-1 / top-5 of one session over decoded RGB images, preprocessed as ``meta`` says."""
    in_name, out_name = meta["input"]["name"], meta["output"]["name"]
    top1 = top5 = 0
    nll = 0.0
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        pixels = np.stack([prepare(im, meta, filt) for im in chunk])
        batch = model_input(pixels, meta, bgr=bgr, imagenet_norm=imagenet_norm)
        if meta["input"].get("batch", "dynamic") != "dynamic":
            outs = [session.run([out_name], {in_name: batch[i : i + 1]})[0] for i in range(len(batch))]
            scores = np.concatenate(outs).reshape(len(chunk), -1)
        else:
            (scores,) = session.run([out_name], {in_name: batch})
            scores = scores.reshape(len(chunk), -1)
        if scores.shape != (len(chunk), meta["num_classes"]):
            fail(f"output shape {scores.shape}, expected ({len(chunk)}, {meta['num_classes']})", 1)
        best = np.argsort(-scores, axis=1, kind="stable")[:, :5]
        log_p = log_probabilities(scores, meta["output"].get("kind", "logits"))
        for label, row, lp in zip(labels[start : start + batch_size], best, log_p):
            top1 += int(row[0] == label)
            top5 += int(label in row)
            nll -= float(lp[label])
    n = len(images)
    return {"top1": round(top1 / n, 4), "top5": round(top5 / n, 4), "n": n, "nll": round(nll / n, 4)}


def log_probabilities(scores, kind: str):
    """Natural log of the class probabilities: log-softmax of logits, or the log of probabilities."""
    scores = np.asarray(scores, dtype=np.float64)
    if kind == "probabilities":
        return np.log(np.clip(scores, 1e-12, None))
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", required=True, action="append",
                    help="folder with model.json, the model file and labels.txt (repeat for several)")
    ap.add_argument("--eval-dir", required=True, help="folder with labels.tsv and the images it names")
    ap.add_argument("--filter", choices=["bicubic", "bilinear"], help="resize filter (default: model.json's)")
    ap.add_argument("--bgr", action="store_true",
                    help="swap the channel order model.json asks for, RGB <-> BGR (a deliberate mistake)")
    ap.add_argument("--imagenet-norm", action="store_true",
                    help="normalise with ImageNet mean/std instead of model.json's (a deliberate mistake)")
    ap.add_argument("--candidates", action="store_true",
                    help="also score the alternative preprocessing rules (see above)")
    ap.add_argument("--batch-size", type=int, default=25)
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: its default)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images (0: all)")
    args = ap.parse_args(argv)

    models = [(d, *load_model(d)) for d in args.model_dir]
    samples = read_labels(args.eval_dir)
    if args.limit:
        samples = samples[: args.limit]
    missing = [p for p, _ in samples if not os.path.isfile(p)]
    if missing:
        fail(f"{len(missing)} images named in labels.tsv are missing, e.g. {missing[0]}")
    # Decoded once for every model and rule: the decode is not what differs between them.
    images = [load_rgb(p) for p, _ in samples]
    labels = [label for _, label in samples]

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if args.threads:
        opts.intra_op_num_threads = args.threads
    for model_dir, meta, model_bytes in models:
        session = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
        rules = candidate_rules(meta) if args.candidates else [meta["preprocess"]]
        for i, pre in enumerate(rules):
            m = dict(meta, preprocess=pre)
            filt = args.filter if i == 0 else None
            # --bgr swaps the model's channel order (RGB models get BGR and the other way round).
            bgr = (meta["input"].get("channels", "RGB") != "BGR") if args.bgr else None
            print(f"{model_dir}: {meta['name']} {meta['version']} {meta['variant']}; {len(images)} images; "
                  f"{rule_name(m, filt)}; {'BGR' if args.bgr else meta['input'].get('channels', 'RGB')}; "
                  f"{'ImageNet mean/std' if args.imagenet_norm else 'model.json normalisation'}", file=sys.stderr)
            result = score(session, m, images, labels, filt=filt, bgr=bgr, imagenet_norm=args.imagenet_norm,
                           batch_size=args.batch_size)
            nll = result.pop("nll")
            rule = rule_name(m, filt) + ("/swapped-channels" if args.bgr else "") + \
                ("/imagenet-norm" if args.imagenet_norm else "")
            line = {"model": meta["name"], "variant": meta["variant"], **result, "rule": rule}
            if args.candidates:
                # The mean negative log-likelihood of the true class moves with every image, where
                # top-1 on 200 images moves in steps of half a point: it separates close rules.
                line.update({"nll": nll, "candidate": i != 0})
            print(json.dumps(line, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
