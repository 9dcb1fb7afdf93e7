"""Tests of optimize_model.py on the tiny imported model (with whatever onnxruntime the venv has; setup.sh
runs it with the runtime's 1.30.0, which the tool insists on unless told otherwise)."""

from __future__ import annotations

import hashlib
import json

import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import import_model as im  # noqa: E402
import make_tiny_model as tiny  # noqa: E402
import optimize_model as om  # noqa: E402


@pytest.fixture()
def model_dir(tmp_path):
    src = tiny.build(str(tmp_path / "src"))
    out = tmp_path / "tiny"
    assert im.main(tiny.import_args(str(tmp_path / "src"), str(out))) == 0
    return out, src


def test_alternatives_are_written_checked_and_listed(model_dir):
    out, _ = model_dir
    before = json.loads((out / "model.json").read_text())
    result = om.optimize(str(out), require_version="", bench_runs=2, threads=1)
    meta = json.loads((out / "model.json").read_text())
    assert {k: v for k, v in meta.items() if k != "alternatives"} == before  # file / sha256 stay the plain model
    assert list(meta)[-1] == "alternatives" and set(meta["alternatives"]) == {"optimized_onnx", "ort"}
    for key, name in (("optimized_onnx", "model.opt.onnx"), ("ort", "model.ort")):
        alt = meta["alternatives"][key]
        data = (out / name).read_bytes()
        assert alt["file"] == name and alt["sha256"] == hashlib.sha256(data).hexdigest()
        assert alt["onnxruntime"] == ort.__version__ and alt["graph_optimization_level"] == "extended"
        assert result[key]["all_argmax_agreement"] == 1.0 and result[key]["all_max_abs_diff"] <= om.MAX_ABS_DIFF
        ort.InferenceSession(data, providers=["CPUExecutionProvider"])  # loads from bytes, as the Rust side does
    assert result["check_photos"] == 4  # the repository's demo photos
    assert result["bench"]["model@all"]["session_vs_plain_all"] == 1.0
    # Running again replaces the alternatives rather than stacking them; the optimised ONNX is reproducible.
    opt = (out / "model.opt.onnx").read_bytes()
    om.optimize(str(out), require_version="")
    assert (out / "model.opt.onnx").read_bytes() == opt
    assert set(json.loads((out / "model.json").read_text())["alternatives"]) == {"optimized_onnx", "ort"}


def test_another_onnxruntime_version_is_refused(model_dir):
    out, _ = model_dir
    with pytest.raises(om.OptimizeError, match="is not the runtime's 0.0.1"):
        om.optimize(str(out), require_version="0.0.1")
    assert not (out / "model.ort").exists()
