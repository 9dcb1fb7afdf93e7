"""Tests of import_model.py and make_tiny_model.py: a small classifier built here with the onnx helper API
imports; each kind of model imgpipe cannot feed is refused with a message naming the problem."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import check_accuracy  # noqa: E402
import import_model as im  # noqa: E402
import make_tiny_model as tiny  # noqa: E402


def run(tmp_path, model_path, labels_path, extra=(), facts=tiny.IMPORT_FACTS, out="out"):
    return im.main(["--model", str(model_path), "--labels", str(labels_path), "--out", str(tmp_path / out),
                    *facts, *extra])


@pytest.fixture()
def tiny_files(tmp_path):
    return tiny.build(str(tmp_path / "src"))


def test_the_tiny_model_imports(tmp_path, tiny_files, capsys):
    assert run(tmp_path, tiny_files["model"], tiny_files["labels"]) == 0
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["labels.txt", "model.json", "model.onnx"]
    assert (out / "model.onnx").read_bytes() == open(tiny_files["model"], "rb").read()
    meta = json.loads((out / "model.json").read_text())
    assert meta["schema"] == 2 and meta["name"] == "tiny-nhwc" and meta["version"] == "1.0.0"
    assert meta["sha256"] == hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest()
    assert meta["source"]["sha256"] == meta["sha256"] and meta["source"]["file"] == "tiny.onnx"
    assert meta["num_classes"] == 10 and meta["labels_file"] == "labels.txt"
    assert meta["input"] == {"name": "image", "layout": "NHWC", "channels": "RGB", "height": 32, "width": 32,
                             "dtype": "float32", "batch": "dynamic"}
    assert meta["output"] == {"name": "probabilities", "kind": "probabilities"}  # detected: Softmax, rows sum to 1
    assert meta["normalization"] == {"mean": [127.5] * 3, "std": [127.5] * 3}
    assert meta["preprocess"] == {"resize": "shorter_side_then_center_crop", "resize_shorter_side": 36,
                                  "center_crop": 32, "filter": "bilinear", "antialias": True}
    assert (out / "labels.txt").read_text().splitlines() == tiny.LABELS

    with zipfile.ZipFile(str(out) + ".zip") as zf:
        assert zf.namelist() == ["model/labels.txt", "model/model.json", "model/model.onnx"]
        assert zf.read("model/model.json") == (out / "model.json").read_bytes()
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) and (i.external_attr >> 16) & 0o777 == 0o644
                   for i in zf.infolist())
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["output_kind"] == "probabilities" and len(line["top5"]) == 5


def test_import_and_tiny_model_are_deterministic(tmp_path):
    a, b = tiny.build(str(tmp_path / "a")), tiny.build(str(tmp_path / "b"))
    assert open(a["model"], "rb").read() == open(b["model"], "rb").read()
    assert run(tmp_path, a["model"], a["labels"], out="x") == 0
    assert run(tmp_path, b["model"], b["labels"], out="y") == 0
    assert (tmp_path / "x.zip").read_bytes() == (tmp_path / "y.zip").read_bytes()


def test_the_tiny_model_tells_photos_apart_and_honours_its_layout(tiny_files):
    """Different photos, different top classes; feeding NCHW-ordered data instead changes the scores."""
    meta = {"input": {"name": "image", "layout": "NHWC", "channels": "RGB", "height": 32, "width": 32,
                      "batch": "dynamic"},
            "normalization": {"mean": [127.5] * 3, "std": [127.5] * 3},
            "preprocess": {"resize": "shorter_side_then_center_crop", "resize_shorter_side": 36, "center_crop": 32,
                           "filter": "bilinear"}}
    demo = os.path.join(im.REPO, "third_party", "demo-images")
    photos = [check_accuracy.load_rgb(os.path.join(demo, n)) for n in ("chelsea.png", "coffee.png", "camera.png",
                                                                       "rocket.jpg")]
    x = check_accuracy.model_input(np.stack([check_accuracy.prepare(p, meta) for p in photos]), meta)
    session = ort.InferenceSession(open(tiny_files["model"], "rb").read(), providers=["CPUExecutionProvider"])
    (p,) = session.run(None, {"image": x})
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
    assert len(set(p.argmax(1).tolist())) >= 2
    assert np.abs(p.max(1) - p.min(1)).min() > 0.05  # not flat
    swapped = np.ascontiguousarray(x[..., ::-1])  # BGR instead of RGB
    (q,) = session.run(None, {"image": swapped})
    assert np.abs(p - q).max() > 1e-3


# --------------------------------------------------------------------------------------------
# Models imgpipe cannot feed, each built here
# --------------------------------------------------------------------------------------------


def classifier(inputs, out_dims=("batch", 10), extra_nodes=(), first="x", opset=17):
    """A minimal graph: Flatten(first) -> Gemm -> Softmax, with the given graph inputs."""
    rng = np.random.default_rng(0)
    flat = int(np.prod([d for d in inputs[0][2][1:] if isinstance(d, int)]) or 1)
    classes = out_dims[-1]
    inits = [numpy_helper.from_array(rng.normal(0, 0.01, (classes, flat)).astype(np.float32), "w"),
             numpy_helper.from_array(np.zeros(classes, np.float32), "b")]
    nodes = list(extra_nodes) + [
        helper.make_node("Flatten", [first], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1),
        helper.make_node("Softmax", ["y"], ["p"], axis=-1),
    ]
    graph = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info(n, t, d) for n, t, d in inputs],
                              [helper.make_tensor_value_info("p", TensorProto.FLOAT, list(out_dims))], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def save(tmp_path, model, labels=10, name="bad.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    lpath = tmp_path / "labels.txt"
    lpath.write_text("".join(f"c{i}\n" for i in range(labels)))
    return path, lpath


NHWC32 = ("x", TensorProto.FLOAT, ["batch", 32, 32, 3])


@pytest.mark.parametrize("case,expected", [
    ("rank3", r"input 'x' has rank 3 \[batch, 32, 96\], not an image: an image input has rank 4"),
    ("two_inputs", r"the model has 2 inputs \('x' float32 \[batch, 32, 32, 3\], 'mask' float32 \[batch, 32, 32, 3\]\); "
                   r"imgpipe feeds exactly one"),
    ("output_size", r"output 'p' \[batch, 10\] has 10 classes in its last dimension, the labels file has 11 labels"),
    ("int64_input", r"input 'x' is int64 \[batch, 32, 32, 3\], not an image: imgpipe feeds one float32 image tensor"),
    ("rank2_input", r"input 'x' has rank 2 \[batch, 3072\], not an image"),
    ("one_channel", r"input 'x' \[batch, 32, 32, 1\] has 1 channels on the NHWC channel axis \(dimension 3\), "
                    r"imgpipe feeds 3"),
    ("wrong_size", r"input 'x' \[batch, 28, 28, 3\] has height 28 \(dimension 1 of NHWC\), but the given input size "
                   r"is 32x32"),
    ("nchw_model", r"has 32 channels on the NHWC channel axis \(dimension 3\), imgpipe feeds 3 \(RGB or BGR\) "
                   r"\(its dimension 1 is 3: is the layout NCHW\?\)"),
    ("two_outputs", r"the model has 2 outputs \('p', 'y'\); imgpipe reads exactly one"),
])
def test_models_imgpipe_cannot_feed_are_refused_with_the_reason(tmp_path, capsys, case, expected):
    labels = 10
    if case == "rank3":
        model = classifier([("x", TensorProto.FLOAT, ["batch", 32, 96])])
    elif case == "two_inputs":
        add = helper.make_node("Add", ["x", "mask"], ["xm"])
        model = classifier([NHWC32, ("mask", TensorProto.FLOAT, ["batch", 32, 32, 3])], extra_nodes=[add], first="xm")
    elif case == "output_size":
        model, labels = classifier([NHWC32]), 11
    elif case == "int64_input":
        cast = helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT)
        model = classifier([("x", TensorProto.INT64, ["batch", 32, 32, 3])], extra_nodes=[cast], first="xf")
    elif case == "rank2_input":
        model = classifier([("x", TensorProto.FLOAT, ["batch", 3072])])
    elif case == "one_channel":
        model = classifier([("x", TensorProto.FLOAT, ["batch", 32, 32, 1])])
    elif case == "wrong_size":
        model = classifier([("x", TensorProto.FLOAT, ["batch", 28, 28, 3])])
    elif case == "nchw_model":
        model = classifier([("x", TensorProto.FLOAT, ["batch", 3, 32, 32])])
    elif case == "two_outputs":
        model = classifier([NHWC32])
        model.graph.output.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10]))
    path, lpath = save(tmp_path, model, labels)
    assert run(tmp_path, path, lpath) == 1
    err = capsys.readouterr().err
    assert "import_model: refused: " in err
    import re

    assert re.search(expected, err), err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.zip").exists()


def test_pixels_that_do_not_fit_in_a_message_are_refused(tmp_path, capsys, tiny_files):
    facts = [a if a != "32" else "300" for a in tiny.IMPORT_FACTS]
    facts[facts.index("--resize-shorter-side") + 1] = "320"
    assert run(tmp_path, tiny_files["model"], tiny_files["labels"], facts=facts) == 1
    err = capsys.readouterr().err
    assert "a 300x300 RGB input is 270000 bytes of pixels" in err
    assert "more than the 262144 bytes an SQS message can carry" in err and "293x293" in err
    assert im.largest_square_input() == 293
    im.check_pixels_fit(293, 293)
    with pytest.raises(im.ImportRefused):
        im.check_pixels_fit(294, 294)


def test_a_claimed_output_kind_must_match_the_model(tmp_path, capsys, tiny_files):
    assert run(tmp_path, tiny_files["model"], tiny_files["labels"], extra=["--output-kind", "logits"]) == 1
    assert "the output is a Softmax whose scores sum to 1" in capsys.readouterr().err
    logits_model = classifier([NHWC32])
    logits_model.graph.node.pop()  # no Softmax: the Gemm's output is the graph output
    logits_model.graph.output[0].name = "y"
    path, lpath = save(tmp_path, logits_model)
    assert run(tmp_path, path, lpath, extra=["--output-kind", "probabilities"]) == 1
    assert "not 1: pass --output-kind logits" in capsys.readouterr().err
    assert run(tmp_path, path, lpath) == 0
    assert json.loads((tmp_path / "out" / "model.json").read_text())["output"] == {"name": "y", "kind": "logits"}


def test_a_fixed_batch_and_stretch_and_bgr_are_recorded(tmp_path):
    src = tiny.build(str(tmp_path / "src"), batch=1)
    facts = ["--name", "tiny-fixed", "--version", "2", "--height", "32", "--width", "32", "--layout", "NHWC",
             "--channels", "BGR", "--mean", "104,117,123", "--std", "1,1,1", "--resize", "stretch",
             "--filter", "bicubic"]
    assert run(tmp_path, src["model"], src["labels"], facts=facts) == 0
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    assert meta["input"]["batch"] == 1 and meta["input"]["channels"] == "BGR"
    assert meta["preprocess"] == {"resize": "stretch", "filter": "bicubic", "antialias": True}


@pytest.mark.parametrize("facts,expected", [
    (["--name", "Bad_Name"], "name 'Bad_Name'"),
    (["--mean", "1,2"], "expected three finite numbers"),
    (["--std", "1,0,1"], "every value must be positive"),
    (["--resize-shorter-side", "30"], "smaller than the 32-pixel crop"),
])
def test_bad_facts_are_refused(tmp_path, capsys, tiny_files, facts, expected):
    merged = list(tiny.IMPORT_FACTS)
    for flag, value in zip(facts[::2], facts[1::2]):
        merged[merged.index(flag) + 1] = value
    assert run(tmp_path, tiny_files["model"], tiny_files["labels"], facts=merged) == 1
    assert expected in capsys.readouterr().err


def test_empty_label_lines_are_refused(tmp_path, capsys, tiny_files):
    labels = tmp_path / "gappy.txt"
    labels.write_text("a\nb\n\nc\n" + "".join(f"d{i}\n" for i in range(6)))
    assert run(tmp_path, tiny_files["model"], labels) == 1
    assert "gappy.txt:3: empty label" in capsys.readouterr().err


def test_make_tiny_model_cli_imports(tmp_path):
    assert tiny.main([str(tmp_path / "src"), "--import", str(tmp_path / "imported")]) == 0
    assert json.loads((tmp_path / "imported" / "model.json").read_text())["output"]["kind"] == "probabilities"
    assert (tmp_path / "imported.zip").is_file()
