#!/usr/bin/env python3
"""Bring your own model: check a user's ONNX image classifier and package it as an imgpipe model.

    python tools/model/import_model.py --model my.onnx --labels labels.txt --out build/models/my-model-fp32 \\
        --name my-model --version 1.0.0 [--variant fp32] \\
        --size 224 [--height H --width W] --layout NCHW|NHWC --channels RGB|BGR \\
        --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 \\
        --resize shorter_side_then_center_crop --resize-shorter-side 256 | --resize stretch \\
        [--filter bicubic|bilinear] [--output-kind auto|logits|probabilities] [--photo PHOTO] [--layer-zip ZIP]

What it checks, each failure named exactly (``ImportRefused``, exit status 1):
- the labels file: one class name a line, none empty;
- the name (``^[a-z0-9][a-z0-9-]{0,30}$``, it becomes part of Lambda function names), version and variant;
- the preprocessing facts: 3 means and 3 positive stds on 0..255 pixel values; a centre crop needs a
  square input and a resize side at least the crop; the pixels fit in the inference message
  (height * width * 3 + 4096 <= 262144 bytes, SQS's message limit: at most 293 x 293);
- the graph (onnx.checker): exactly one input (initializers aside), float32, rank 4, 3 channels on the
  axis the layout says, height and width equal to the given size where the model fixes them, a batch
  dimension that is dynamic or a fixed positive number; exactly one output, float32, whose last
  dimension is the number of labels (every other dimension but the batch 1);
- the output kind: ``--output-kind auto`` (the default) calls it probabilities when the output comes from
  a Softmax (through Reshape / Flatten / Squeeze / Identity / Cast) and the smoke run's rows sum to 1,
  logits otherwise; an explicit kind must agree with what the graph and the smoke run show;
- a smoke inference with onnxruntime on a real photo (default: third_party/demo-images/chelsea.png)
  preprocessed exactly as model.json will say (check_accuracy.py's Pillow path): the output has the
  expected shape and finite values, and prints its top-5.

Writes into --out: ``model.onnx`` (the input file's bytes, unchanged), ``labels.txt``, ``model.json``
(schema 2, the sha256 of model.onnx, ``source`` naming the imported file and its sha256), and the
Lambda layer zip (``--layer-zip``, default ``<out>.zip``): ``model/{labels.txt,model.json,model.onnx}``
written as tools/lambda/make_layers.py writes the shipped models' layers (sorted entries, fixed times
and modes: the same inputs give the same bytes). Needs numpy, onnx, onnxruntime and pillow.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tools", "lambda"))
import check_accuracy  # noqa: E402  (the preprocessing every model tool shares)
import make_layers  # noqa: E402  (the deterministic layer zip)

MAX_SQS_MESSAGE_BYTES = 262_144  # services/domain/src/messages.rs
MESSAGE_ALLOWANCE_BYTES = 4_096  # room for the message body and attribute names next to the pixels
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
VARIANT_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
LAYOUTS = ("NCHW", "NHWC")
CHANNEL_ORDERS = ("RGB", "BGR")
RESIZES = (check_accuracy.CROP_MODE, check_accuracy.STRETCH_MODE)
FILTERS = ("bicubic", "bilinear")
KINDS = ("auto", "logits", "probabilities")
DEFAULT_PHOTO = os.path.join(REPO, "third_party", "demo-images", "chelsea.png")
# Nodes that pass a Softmax's values through unchanged on their way to the graph output.
PASS_THROUGH = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Cast"}
SUM_TOLERANCE = 1e-3
FILES = ("labels.txt", "model.json", "model.onnx")


class ImportRefused(Exception):
    """The model or the facts given about it cannot be imported; the message says why."""


def largest_square_input() -> int:
    return math.isqrt((MAX_SQS_MESSAGE_BYTES - MESSAGE_ALLOWANCE_BYTES) // 3)


def check_pixels_fit(height: int, width: int) -> None:
    need = height * width * 3 + MESSAGE_ALLOWANCE_BYTES
    if need > MAX_SQS_MESSAGE_BYTES:
        side = largest_square_input()
        raise ImportRefused(
            f"a {height}x{width} RGB input is {height * width * 3} bytes of pixels; with the {MESSAGE_ALLOWANCE_BYTES} "
            f"bytes the message needs besides them that is {need} bytes, more than the {MAX_SQS_MESSAGE_BYTES} bytes "
            f"an SQS message can carry to the inference function (the largest square input that fits is "
            f"{side}x{side})")


def read_labels(path: str) -> list:
    if not os.path.isfile(path):
        raise ImportRefused(f"labels file not found: {path}")
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\r\n") for line in f]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ImportRefused(f"{path} has no labels (one class name a line)")
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            raise ImportRefused(f"{path}:{i}: empty label (one class name a line, none empty)")
    return [line.strip() for line in lines]


def parse_triple(text: str, what: str) -> list:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ImportRefused(f"{what} {text!r}: expected three numbers separated by commas") from None
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise ImportRefused(f"{what} {text!r}: expected three finite numbers (one per channel) on 0..255 pixels")
    return values


class Facts:
    """What the user says about the model: identity and preprocessing."""

    def __init__(self, *, name, version, variant="fp32", height, width, layout="NCHW", channels="RGB",
                 mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), resize=check_accuracy.CROP_MODE,
                 resize_shorter_side=None, filt="bilinear", output_kind="auto"):
        self.name, self.version, self.variant = name, version, variant
        self.height, self.width = int(height), int(width)
        self.layout, self.channels = layout, channels
        self.mean, self.std = [float(v) for v in mean], [float(v) for v in std]
        self.resize, self.resize_shorter_side, self.filter = resize, resize_shorter_side, filt
        self.output_kind = output_kind

    def check(self) -> None:
        if not NAME_RE.match(self.name or ""):
            raise ImportRefused(f"name {self.name!r}: use 1-31 lower-case letters, digits and dashes, starting with a "
                                "letter or digit (it becomes part of the inference function's and queue's names)")
        if not VERSION_RE.match(self.version or ""):
            raise ImportRefused(f"version {self.version!r}: use 1-64 letters, digits, '.', '_', '+' or '-'")
        if not VARIANT_RE.match(self.variant or ""):
            raise ImportRefused(f"variant {self.variant!r}: use 1-16 lower-case letters, digits and dashes (e.g. fp32)")
        for what, value, allowed in (("layout", self.layout, LAYOUTS), ("channels", self.channels, CHANNEL_ORDERS),
                                     ("resize", self.resize, RESIZES), ("filter", self.filter, FILTERS),
                                     ("output kind", self.output_kind, KINDS)):
            if value not in allowed:
                raise ImportRefused(f"{what} {value!r}: expected one of {', '.join(allowed)}")
        if self.height < 1 or self.width < 1:
            raise ImportRefused(f"input size {self.height}x{self.width}: height and width must be positive")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ImportRefused("mean and std need three values each, one per channel")
        if any(s <= 0 for s in self.std):
            raise ImportRefused(f"std {self.std}: every value must be positive")
        if self.resize == check_accuracy.CROP_MODE:
            if self.height != self.width:
                raise ImportRefused(
                    f"input {self.height}x{self.width} is not square: shorter_side_then_center_crop takes a square "
                    "centre crop; use --resize stretch for a non-square input")
            if self.resize_shorter_side is None:
                raise ImportRefused("shorter_side_then_center_crop needs --resize-shorter-side (e.g. 256 for a "
                                    "224 crop)")
            if int(self.resize_shorter_side) < self.height:
                raise ImportRefused(f"--resize-shorter-side {self.resize_shorter_side} is smaller than the "
                                    f"{self.height}-pixel crop")
        elif self.resize_shorter_side is not None:
            raise ImportRefused("--resize-shorter-side only applies to --resize shorter_side_then_center_crop")
        check_pixels_fit(self.height, self.width)

    def preprocess(self) -> dict:
        if self.resize == check_accuracy.STRETCH_MODE:
            return {"resize": self.resize, "filter": self.filter, "antialias": True}
        return {"resize": self.resize, "resize_shorter_side": int(self.resize_shorter_side),
                "center_crop": self.height, "filter": self.filter, "antialias": True}


def _dims(value_info) -> list:
    """Shape as a list of int (fixed) or str (symbolic, '' when unnamed); None when the rank is unknown."""
    t = value_info.type
    if not t.HasField("tensor_type"):
        return None
    if not t.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "") for d in t.tensor_type.shape.dim]


def _fmt(dims) -> str:
    return "[" + ", ".join(str(d) if d != "" else "?" for d in dims) + "]"


def _elem_type(value_info) -> str:
    import onnx

    t = value_info.type
    if not t.HasField("tensor_type"):
        return t.WhichOneof("value") or "unknown"
    return onnx.helper.tensor_dtype_to_np_dtype(t.tensor_type.elem_type).name if t.tensor_type.elem_type else "unknown"


def softmax_producer(model) -> bool:
    """Whether the graph output is a Softmax's output (through shape-only nodes)."""
    producers = {o: n for n in model.graph.node for o in n.output}
    name = model.graph.output[0].name
    for _ in range(len(model.graph.node) + 1):
        node = producers.get(name)
        if node is None:
            return False
        if node.op_type == "Softmax":
            return True
        if node.op_type not in PASS_THROUGH or not node.input:
            return False
        name = node.input[0]
    return False


def validate_graph(model, facts: Facts, num_labels: int) -> dict:
    """Checks the graph against the facts; returns input / output names, batch and the Softmax finding."""
    import onnx

    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise ImportRefused(f"not a valid ONNX model: {str(e).splitlines()[0]}") from None
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        described = ", ".join(f"{i.name!r} {_elem_type(i)} {_fmt(_dims(i) or [])}" for i in inputs) or "none"
        raise ImportRefused(f"the model has {len(inputs)} inputs ({described}); imgpipe feeds exactly one: the image "
                            "tensor")
    (inp,) = inputs
    dtype, dims = _elem_type(inp), _dims(inp)
    if dtype != "float32":
        raise ImportRefused(f"input {inp.name!r} is {dtype}{' ' + _fmt(dims) if dims else ''}, not an image: imgpipe "
                            "feeds one float32 image tensor")
    if dims is None or len(dims) != 4:
        rank = "unknown" if dims is None else len(dims)
        raise ImportRefused(f"input {inp.name!r} has rank {rank}{' ' + _fmt(dims) if dims else ''}, not an image: "
                            f"an image input has rank 4 ({facts.layout}: batch, "
                            f"{'channels, height, width' if facts.layout == 'NCHW' else 'height, width, channels'})")
    c_axis, h_axis, w_axis = (1, 2, 3) if facts.layout == "NCHW" else (3, 1, 2)
    channels = dims[c_axis]
    if isinstance(channels, int) and channels != 3:
        other = (3, 1, 2) if facts.layout == "NCHW" else (1, 2, 3)
        hint = ""
        if dims[other[0]] == 3:
            hint = f" (its dimension {other[0]} is 3: is the layout {'NHWC' if facts.layout == 'NCHW' else 'NCHW'}?)"
        raise ImportRefused(f"input {inp.name!r} {_fmt(dims)} has {channels} channels on the {facts.layout} channel "
                            f"axis (dimension {c_axis}), imgpipe feeds 3 (RGB or BGR){hint}")
    for axis, want, what in ((h_axis, facts.height, "height"), (w_axis, facts.width, "width")):
        got = dims[axis]
        if isinstance(got, int) and got != want:
            raise ImportRefused(f"input {inp.name!r} {_fmt(dims)} has {what} {got} (dimension {axis} of {facts.layout}), "
                                f"but the given input size is {facts.height}x{facts.width}")
    batch = dims[0]
    if isinstance(batch, int):
        if batch < 1:
            raise ImportRefused(f"input {inp.name!r} {_fmt(dims)} has a batch dimension of {batch}")
        batch_fact = batch
    else:
        batch_fact = "dynamic"

    outputs = list(model.graph.output)
    if len(outputs) != 1:
        names = ", ".join(repr(o.name) for o in outputs)
        raise ImportRefused(f"the model has {len(outputs)} outputs ({names}); imgpipe reads exactly one: the class "
                            "scores")
    (out,) = outputs
    out_dtype, out_dims = _elem_type(out), _dims(out)
    if out_dtype != "float32":
        raise ImportRefused(f"output {out.name!r} is {out_dtype}, not float32 class scores")
    if out_dims is not None:
        if not out_dims:
            raise ImportRefused(f"output {out.name!r} is a scalar, not one score per class")
        last = out_dims[-1]
        if isinstance(last, int) and last != num_labels:
            raise ImportRefused(f"output {out.name!r} {_fmt(out_dims)} has {last} classes in its last dimension, "
                                f"the labels file has {num_labels} labels")
        middle = [d for d in out_dims[1:-1]]
        if any(isinstance(d, int) and d != 1 for d in middle):
            raise ImportRefused(f"output {out.name!r} {_fmt(out_dims)}: every dimension between the batch and the "
                                "classes must be 1")
    return {"input": inp.name, "output": out.name, "batch": batch_fact, "input_dims": dims,
            "output_dims": out_dims, "softmax": softmax_producer(model)}


def smoke_run(data: bytes, meta: dict, photo: str, num_labels: int) -> np.ndarray:
    """Scores [batch, classes] of the photo (repeated to a fixed batch) through onnxruntime."""
    import onnxruntime as ort

    if not os.path.isfile(photo):
        raise ImportRefused(f"smoke-test photo not found: {photo}")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise ImportRefused(f"onnxruntime cannot load the model: {str(e).splitlines()[0]}") from None
    pixels = check_accuracy.prepare(check_accuracy.load_rgb(photo), meta)
    batch = meta["input"]["batch"]
    n = batch if isinstance(batch, int) else 2  # two rows also show that a dynamic batch really is one
    x = check_accuracy.model_input(np.stack([pixels] * n), meta)
    try:
        (scores,) = session.run([meta["output"]["name"]], {meta["input"]["name"]: x})
    except Exception as e:
        raise ImportRefused(f"the smoke inference failed: {str(e).splitlines()[0]}") from None
    scores = np.asarray(scores)
    if scores.size != n * num_labels or scores.shape[0] != n:
        raise ImportRefused(f"the smoke inference gave output shape {list(scores.shape)} for a batch of {n}, expected "
                            f"{n} rows of {num_labels} scores (the labels file has {num_labels} labels)")
    scores = scores.reshape(n, num_labels)
    if not np.isfinite(scores).all():
        raise ImportRefused("the smoke inference gave NaN or infinite scores")
    return scores


def output_kind(facts: Facts, softmax: bool, scores: np.ndarray) -> str:
    sums_to_one = bool(np.all(np.abs(scores.sum(axis=1) - 1) <= SUM_TOLERANCE) and scores.min() >= -SUM_TOLERANCE)
    detected = "probabilities" if softmax and sums_to_one else "logits"
    if facts.output_kind == "auto":
        return detected
    if facts.output_kind == "probabilities" and not sums_to_one:
        raise ImportRefused(f"--output-kind probabilities, but the smoke run's scores sum to "
                            f"{scores.sum(axis=1)[0]:.4g} per image, not 1: pass --output-kind logits")
    if facts.output_kind == "logits" and detected == "probabilities":
        raise ImportRefused("--output-kind logits, but the output is a Softmax whose scores sum to 1 per image: pass "
                            "--output-kind probabilities (imgpipe would otherwise apply a second softmax)")
    return facts.output_kind


def manifest(facts: Facts, graph: dict, kind: str, model_sha: str, source_name: str, num_labels: int) -> dict:
    return {
        "schema": 2,
        "name": facts.name,
        "version": facts.version,
        "variant": facts.variant,
        "source": {"file": source_name, "sha256": model_sha, "imported_by": "tools/model/import_model.py"},
        "file": "model.onnx",
        "sha256": model_sha,
        "labels_file": "labels.txt",
        "num_classes": num_labels,
        "input": {"name": graph["input"], "layout": facts.layout, "channels": facts.channels,
                  "height": facts.height, "width": facts.width, "dtype": "float32", "batch": graph["batch"]},
        "output": {"name": graph["output"], "kind": kind},
        "normalization": {"mean": facts.mean, "std": facts.std},
        "preprocess": facts.preprocess(),
    }


def _write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def import_model(model_path: str, labels_path: str, out_dir: str, facts: Facts, *, photo: str = DEFAULT_PHOTO,
                 layer_zip: str | None = None, log=lambda msg: None) -> dict:
    """Checks everything, then writes out_dir/{model.onnx,labels.txt,model.json} and the layer zip."""
    import onnx

    facts.check()
    labels = read_labels(labels_path)
    if not os.path.isfile(model_path):
        raise ImportRefused(f"model file not found: {model_path}")
    with open(model_path, "rb") as f:
        data = f.read()
    try:
        model = onnx.load_from_string(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise ImportRefused(f"{model_path} is not an ONNX model: {e}") from None
    graph = validate_graph(model, facts, len(labels))
    model_sha = hashlib.sha256(data).hexdigest()
    provisional = manifest(facts, graph, "logits", model_sha, os.path.basename(model_path), len(labels))
    scores = smoke_run(data, provisional, photo, len(labels))
    kind = output_kind(facts, graph["softmax"], scores)
    meta = manifest(facts, graph, kind, model_sha, os.path.basename(model_path), len(labels))
    top = np.argsort(-scores[0], kind="stable")[:5]
    log(f"smoke run on {os.path.basename(photo)}: output {kind}, top-5 " +
        ", ".join(f"{labels[i]} {scores[0, i]:.3g}" for i in top))

    os.makedirs(out_dir, exist_ok=True)
    _write(os.path.join(out_dir, "model.onnx"), data)
    _write(os.path.join(out_dir, "labels.txt"), ("\n".join(labels) + "\n").encode("utf-8"))
    _write(os.path.join(out_dir, "model.json"), (json.dumps(meta, indent=2) + "\n").encode("utf-8"))
    layer_zip = layer_zip or out_dir.rstrip("/") + ".zip"
    make_layers.write_zip(layer_zip, [(f"model/{f}", os.path.join(out_dir, f), 0o644) for f in FILES])
    log(f"wrote {out_dir}/{{{','.join(FILES)}}} and {layer_zip}")
    return {"meta": meta, "layer_zip": layer_zip, "top5": [labels[i] for i in top]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the .onnx file")
    ap.add_argument("--labels", required=True, help="class names, one a line, in output order")
    ap.add_argument("--out", required=True, help="output folder for model.onnx, labels.txt, model.json")
    ap.add_argument("--name", required=True, help="model name, e.g. my-classifier")
    ap.add_argument("--version", required=True)
    ap.add_argument("--variant", default="fp32")
    ap.add_argument("--size", type=int, help="input height and width (square input)")
    ap.add_argument("--height", type=int)
    ap.add_argument("--width", type=int)
    ap.add_argument("--layout", default="NCHW", choices=LAYOUTS)
    ap.add_argument("--channels", default="RGB", choices=CHANNEL_ORDERS, help="channel order the model expects")
    ap.add_argument("--mean", default="0,0,0", help="per-channel mean on 0..255 pixels, in the model's channel order")
    ap.add_argument("--std", default="1,1,1", help="per-channel std on 0..255 pixels, in the model's channel order")
    ap.add_argument("--resize", default=check_accuracy.CROP_MODE, choices=RESIZES)
    ap.add_argument("--resize-shorter-side", type=int, help="shorter side before the centre crop (crop mode)")
    ap.add_argument("--filter", default="bilinear", choices=FILTERS, help="resize filter (antialiased)")
    ap.add_argument("--output-kind", default="auto", choices=KINDS)
    ap.add_argument("--photo", default=DEFAULT_PHOTO, help="photo for the smoke inference")
    ap.add_argument("--layer-zip", help="where to write the Lambda layer zip (default: <out>.zip)")
    args = ap.parse_args(argv)
    log = lambda msg: print(f"import_model: {msg}", file=sys.stderr)  # noqa: E731
    try:
        if args.size is None and (args.height is None or args.width is None):
            raise ImportRefused("give the input size: --size N, or --height H and --width W")
        if args.size is not None and (args.height is not None or args.width is not None):
            raise ImportRefused("give either --size or --height and --width, not both")
        height = args.size if args.size is not None else args.height
        width = args.size if args.size is not None else args.width
        facts = Facts(name=args.name, version=args.version, variant=args.variant, height=height, width=width,
                      layout=args.layout, channels=args.channels, mean=parse_triple(args.mean, "--mean"),
                      std=parse_triple(args.std, "--std"), resize=args.resize,
                      resize_shorter_side=args.resize_shorter_side, filt=args.filter, output_kind=args.output_kind)
        result = import_model(args.model, args.labels, args.out, facts, photo=args.photo, layer_zip=args.layer_zip,
                              log=log)
    except ImportRefused as e:
        print(f"import_model: refused: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"model": result["meta"]["name"], "variant": result["meta"]["variant"],
                      "dir": args.out, "layer_zip": result["layer_zip"], "sha256": result["meta"]["sha256"],
                      "output_kind": result["meta"]["output"]["kind"], "top5": result["top5"]},
                     separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
