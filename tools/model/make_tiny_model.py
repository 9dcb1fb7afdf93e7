#!/usr/bin/env python3
"""A tiny image classifier for tests of the bring-your-own-model path: NHWC input, probabilities output.

    python tools/model/make_tiny_model.py DIR [--import OUT]

Writes ``DIR/tiny.onnx`` and ``DIR/labels.txt`` (10 classes), the same bytes every time (seeded weights,
fixed producer fields): input ``image`` float32 [batch, 32, 32, 3] (NHWC, RGB, (x - 127.5) / 127.5),
Transpose -> Conv 3x3 stride 2 (8 channels) -> Relu -> Conv 3x3 stride 2 (16) -> Relu ->
GlobalAveragePool -> Flatten -> Gemm (10) -> Softmax, output ``probabilities`` float32 [batch, 10].
The weights are random but large enough that different photos get different classes, so a pipeline
that mixes up layout, channel order or normalisation gives different scores from onnxruntime's.

``--import OUT`` then runs import_model.py on it with the facts of ``IMPORT_FACTS`` (resize the shorter
side to 36 with bilinear, centre crop 32), writing OUT/{model.onnx,labels.txt,model.json} and OUT.zip.
``build(dir)`` and ``import_args(dir, out)`` do the same for tests.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

SIZE = 32
CLASSES = 10
SEED = 20260
LABELS = [f"tiny-class-{i}" for i in range(CLASSES)]
MODEL_FILE = "tiny.onnx"
LABELS_FILE = "labels.txt"
# The facts import_model.py needs, as its command-line arguments.
IMPORT_FACTS = ["--name", "tiny-nhwc", "--version", "1.0.0", "--variant", "fp32", "--size", str(SIZE),
                "--layout", "NHWC", "--channels", "RGB", "--mean", "127.5,127.5,127.5", "--std", "127.5,127.5,127.5",
                "--resize", "shorter_side_then_center_crop", "--resize-shorter-side", "36", "--filter", "bilinear"]


def tiny_model(batch="batch", seed: int = SEED):
    """The ModelProto (batch: a dimension name for a dynamic batch, or an int)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = []

    def init(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    nodes = [
        helper.make_node("Transpose", ["image"], ["nchw"], name="to_nchw", perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", init("conv1.w", rng.normal(0, 0.6, (8, 3, 3, 3))),
                                  init("conv1.b", rng.normal(0, 0.1, 8))], ["c1"], name="conv1",
                         kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", init("conv2.w", rng.normal(0, 0.4, (16, 8, 3, 3))),
                                  init("conv2.b", rng.normal(0, 0.1, 16))], ["c2"], name="conv2",
                         kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["pool"], name="pool"),
        helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", init("fc.w", rng.normal(0, 1.5, (CLASSES, 16))),
                                  init("fc.b", rng.normal(0, 0.2, CLASSES))], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny-nhwc",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, SIZE, SIZE, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [batch, CLASSES])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="imgpipe-tiny",
                              producer_version="1")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def build(out_dir: str, batch="batch") -> dict:
    """Writes tiny.onnx and labels.txt into out_dir; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    model_path = os.path.join(out_dir, MODEL_FILE)
    labels_path = os.path.join(out_dir, LABELS_FILE)
    with open(model_path, "wb") as f:
        f.write(tiny_model(batch).SerializeToString())
    with open(labels_path, "w", encoding="utf-8") as f:
        f.write("\n".join(LABELS) + "\n")
    return {"model": model_path, "labels": labels_path}


def import_args(src_dir: str, out_dir: str) -> list:
    """import_model.py's arguments for the model build(src_dir) wrote."""
    return ["--model", os.path.join(src_dir, MODEL_FILE), "--labels", os.path.join(src_dir, LABELS_FILE),
            "--out", out_dir, *IMPORT_FACTS]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="where to write tiny.onnx and labels.txt")
    ap.add_argument("--import", dest="import_to", metavar="OUT", help="also import it into OUT (and OUT.zip)")
    args = ap.parse_args(argv)
    paths = build(args.dir)
    print(f"wrote {paths['model']} and {paths['labels']}", file=sys.stderr)
    if args.import_to:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import import_model

        return import_model.main(import_args(args.dir, args.import_to))
    return 0


if __name__ == "__main__":
    sys.exit(main())
