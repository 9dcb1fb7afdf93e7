"""Tests of quantize.py on a tiny random model (a few convolutions and a classifier, built with
onnx.helper) and random calibration tensors: the same quantize_onnx that builds build/model-int8.
Run: .venv/model/bin/python -m pytest -q tools/model/test_quantize.py (a few seconds)."""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import sys
import zipfile

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quantize as qz  # noqa: E402

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

SIZE, CLASSES = 16, 10


def tiny_model(seed=0):
    """input [batch, 3, 16, 16] -> Conv 3x3 s2 + ReLU6 -> depthwise 3x3 + ReLU6 -> Conv 1x1 -> + residual
    -> Conv 1x1 + ReLU6 -> GlobalAveragePool -> Flatten -> Gemm -> logits [batch, 10]: EfficientNet's ops."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def init(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def conv(x, name, cin, cout, k, stride=1, groups=1, relu6=True):
        w = rng.standard_normal((cout, cin // groups, k, k)) * np.sqrt(2.0 / (cin // groups * k * k))
        w *= rng.uniform(0.2, 3.0, (cout, 1, 1, 1))  # per-channel scales differ, as after BatchNorm folding
        pad = k // 2
        nodes.append(helper.make_node("Conv", [x, init(f"{name}.weight", w), init(f"{name}.bias", rng.normal(0, 0.1, cout))],
                                      [name], name=name, kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[pad] * 4, group=groups))
        if not relu6:
            return name
        nodes.append(helper.make_node("Clip", [name, "relu6.min", "relu6.max"], [f"{name}.relu6"], name=f"{name}.relu6"))
        return f"{name}.relu6"

    init("relu6.min", np.array(0.0))
    init("relu6.max", np.array(6.0))
    x = conv("input", "stem", 3, 8, 3, stride=2)
    y = conv(x, "dw", 8, 8, 3, groups=8)
    y = conv(y, "project", 8, 8, 1, relu6=False)
    nodes.append(helper.make_node("Add", [y, x], ["add"], name="add"))
    x = conv("add", "head", 8, 16, 1)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], name="flat", axis=1))
    nodes.append(helper.make_node("Gemm", ["flat", init("fc.weight", rng.standard_normal((CLASSES, 16)) * 0.5),
                                           init("fc.bias", rng.normal(0, 0.1, CLASSES))], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="test")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def image_like(rng, n):
    """Smooth random 'images' in the model's input range (-1, 1): low-frequency noise, upsampled."""
    coarse = rng.uniform(-1, 1, (n, 3, SIZE // 4, SIZE // 4))
    return np.clip(coarse.repeat(4, axis=2).repeat(4, axis=3) + rng.normal(0, 0.05, (n, 3, SIZE, SIZE)),
                   -1, 1).astype(np.float32)


@pytest.fixture(scope="module")
def quantized():
    model = tiny_model()
    rng = np.random.default_rng(1)
    batches = [image_like(rng, 4) for _ in range(4)]
    data = qz.quantize_onnx(model, batches, "input")
    return model, batches, data


def initializers(model):
    return {i.name: i for i in model.graph.initializer}


def test_qdq_nodes_are_present_and_the_contract_unchanged(quantized):
    model, _, data = quantized
    q = onnx.load_from_string(data)
    onnx.checker.check_model(q, full_check=True)
    ops = collections.Counter(n.op_type for n in q.graph.node)
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > 0
    assert ops["Conv"] == 4 and ops["Gemm"] == 1 and ops["Clip"] == 0  # ReLU6 folded into the u8 ranges
    assert [i.name for i in q.graph.input] == ["input"] and [o.name for o in q.graph.output] == ["logits"]
    assert q.graph.input[0].type == model.graph.input[0].type
    assert q.graph.output[0].type == model.graph.output[0].type
    assert q.opset_import[0].version == 17 and q.ir_version == 8


def test_weights_are_int8_per_channel_and_reduced_range(quantized):
    _, _, data = quantized
    q = onnx.load_from_string(data)
    inits = initializers(q)
    producer = {o: n for n in q.graph.node for o in n.output}
    for node in (n for n in q.graph.node if n.op_type in ("Conv", "Gemm")):
        dq = producer[node.input[1]]
        assert dq.op_type == "DequantizeLinear", node.name
        weight, scale, zero = (inits[name] for name in dq.input)
        assert weight.data_type == TensorProto.INT8, node.name
        assert zero.data_type == TensorProto.INT8 and not numpy_helper.to_array(zero).any(), node.name  # symmetric
        out_channels = weight.dims[0]  # Conv: [out, in/groups, k, k]; Gemm with transB: [out, in]
        assert list(scale.dims) == [out_channels] and out_channels > 1, node.name
        axis = {a.name: a.i for a in dq.attribute}.get("axis", 1)
        assert axis == 0, node.name
        w = numpy_helper.to_array(weight)
        assert w.min() >= -64 and w.max() <= 64, node.name  # reduce_range: 7-bit weights


def test_activations_are_uint8_and_logits_stay_float(quantized):
    _, _, data = quantized
    q = onnx.load_from_string(data)
    inits = initializers(q)
    quants = [n for n in q.graph.node if n.op_type == "QuantizeLinear"]
    assert quants and all(inits[n.input[2]].data_type == TensorProto.UINT8 for n in quants)
    assert "input" in {n.input[0] for n in quants}  # the model input is quantised
    (fc,) = [n for n in q.graph.node if n.op_type == "Gemm"]
    assert list(fc.output) == ["logits"]  # no QuantizeLinear / DequantizeLinear after the classifier


def test_int8_output_is_close_to_fp32(quantized):
    model, _, data = quantized
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    fp32 = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    int8 = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    x = image_like(np.random.default_rng(2), 8)
    (want,) = fp32.run(["logits"], {"input": x})
    (got,) = int8.run(["logits"], {"input": x})
    assert got.shape == want.shape == (8, CLASSES) and got.dtype == np.float32
    span = float(want.max() - want.min())
    assert np.abs(got - want).max() <= 0.06 * span, (np.abs(got - want).max(), span)
    assert np.abs(got - want).mean() <= 0.015 * span


def test_quantisation_is_deterministic(quantized):
    model, batches, data = quantized
    assert qz.quantize_onnx(model, batches, "input") == data


def test_quantised_output_option(quantized):
    model, batches, _ = quantized
    q = onnx.load_from_string(qz.quantize_onnx(model, batches, "input", float_output=False))
    assert q.graph.node[-1].op_type == "DequantizeLinear" and list(q.graph.node[-1].output) == ["logits"]


# --------------------------------------------------------------------------------------------
# quantize() end to end on a made-up wheel and model folder
# --------------------------------------------------------------------------------------------


def png(rng, w, h, mode):
    from PIL import Image

    arr = rng.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format="PNG")
    return buf.getvalue()


def fake_inputs(tmp_path):
    rng = np.random.default_rng(3)
    wheel = tmp_path / "scikit_image-0.26.0-test.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for i, name in enumerate(qz.CALIBRATION_IMAGES):
            zf.writestr(qz.CALIBRATION_DATA_DIR + name, png(rng, 40 + 3 * i, 30 + i, "RGB" if i % 2 else "L"))
        zf.writestr(qz.CALIBRATION_DATA_DIR + "chelsea.png", png(rng, 10, 10, "RGB"))
    model_dir = tmp_path / "fp32"
    model_dir.mkdir()
    data = tiny_model().SerializeToString()
    (model_dir / "model.onnx").write_bytes(data)
    (model_dir / "labels.txt").write_text("".join(f"class_{i}\n" for i in range(CLASSES)))
    meta = {
        "name": "tiny", "version": "0", "variant": "fp32", "source": {"package": "x", "sha256": "0" * 64},
        "file": "model.onnx", "sha256": hashlib.sha256(data).hexdigest(), "labels_file": "labels.txt",
        "num_classes": CLASSES,
        "input": {"name": "input", "layout": "NCHW", "channels": "RGB", "height": SIZE, "width": SIZE,
                  "dtype": "float32"},
        "output": {"name": "logits", "kind": "logits"},
        "normalization": {"mean": [127.0] * 3, "std": [128.0] * 3},
        "preprocess": {"resize_shorter_side": 20, "filter": "bicubic", "antialias": True, "center_crop": SIZE},
    }
    (model_dir / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return str(wheel), hashlib.sha256(wheel.read_bytes()).hexdigest(), model_dir, meta


def test_quantize_end_to_end_is_deterministic(tmp_path):
    wheel, sha, model_dir, fp32_meta = fake_inputs(tmp_path)
    out1, out2 = tmp_path / "a", tmp_path / "b"
    args = ["--model-dir", str(model_dir), "--calibration-wheel", wheel]
    assert qz.main(args + ["--calibration-wheel-sha256", sha.upper(), "--out", str(out1)]) == 0
    assert qz.main(args + ["--calibration-wheel-sha256", sha, "--out", str(out2)]) == 0
    assert sorted(os.listdir(out1)) == ["labels.txt", "model.json", "model.onnx"]
    for name in ("model.onnx", "labels.txt", "model.json"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes(), name
    assert (out1 / "labels.txt").read_bytes() == (model_dir / "labels.txt").read_bytes()

    meta = json.loads((out1 / "model.json").read_text())
    assert list(meta) == list(fp32_meta) + ["quantization"]
    assert {k: v for k, v in meta.items() if k not in ("variant", "file", "sha256", "quantization")} == \
        {k: v for k, v in fp32_meta.items() if k not in ("variant", "file", "sha256")}
    assert meta["variant"] == "int8" and meta["file"] == "model.onnx"
    assert meta["sha256"] == hashlib.sha256((out1 / "model.onnx").read_bytes()).hexdigest()
    quant = meta["quantization"]
    assert {k: quant[k] for k in ("format", "activation_type", "weight_type", "per_channel", "reduce_range",
                                  "calibration_method", "output")} == {
        "format": "QDQ", "activation_type": "uint8", "weight_type": "int8", "per_channel": True,
        "reduce_range": True, "calibration_method": "MinMax", "output": "float32"}
    assert quant["fp32"] == {"file": "model.onnx", "sha256": fp32_meta["sha256"]}
    cal = quant["calibration"]
    assert cal["package"] == "scikit-image==0.26.0" and cal["sha256"] == sha
    assert [i["name"] for i in cal["images"]] == [qz.CALIBRATION_DATA_DIR + n for n in qz.CALIBRATION_IMAGES]
    assert cal["tensors"] == len(qz.CALIBRATION_IMAGES) * len(qz.VIEWS) * 2


def test_quantize_refuses_a_wheel_with_the_wrong_sha256(tmp_path, capsys):
    wheel, sha, model_dir, _ = fake_inputs(tmp_path)
    wrong = ("0" if sha[0] != "0" else "1") + sha[1:]
    rc = qz.main(["--model-dir", str(model_dir), "--calibration-wheel", wheel, "--calibration-wheel-sha256", wrong,
                  "--out", str(tmp_path / "o")])
    assert rc == 1
    assert "sha256 mismatch" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    with pytest.raises(qz.QuantizeError, match="64 hex"):
        qz.verify_wheel(wheel, "abc")


def test_calibration_never_uses_the_scored_photos(tmp_path):
    wheel, _, _, _ = fake_inputs(tmp_path)
    assert not set(qz.CALIBRATION_IMAGES) & qz.SCORED_IMAGES
    with pytest.raises(qz.QuantizeError, match="score on"):
        qz.read_calibration_images(wheel, ["astronaut.png", "chelsea.png"])


def test_views_are_crops_and_mirrors():
    from PIL import Image

    im = Image.fromarray(np.arange(20 * 10 * 3, dtype=np.uint8).reshape(10, 20, 3) % 251)
    assert qz.view(im, 1.0, 0.5, 0.5, False).tobytes() == im.tobytes()
    corner = qz.view(im, 0.5, 1.0, 1.0, False)
    assert corner.size == (10, 5) and corner.tobytes() == im.crop((10, 5, 20, 10)).tobytes()
    mirrored = np.asarray(qz.view(im, 1.0, 0.5, 0.5, True))
    assert np.array_equal(mirrored, np.asarray(im)[:, ::-1])
