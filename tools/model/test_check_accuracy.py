"""Tests of check_accuracy.py: the preprocessing rules every model tool shares and the JSON lines."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

import check_accuracy as ca

META_224 = {"input": {"name": "input", "layout": "NCHW", "channels": "RGB", "height": 224, "width": 224},
            "normalization": {"mean": [127.0] * 3, "std": [128.0] * 3},
            "preprocess": {"resize": "shorter_side_then_center_crop", "resize_shorter_side": 256, "center_crop": 224,
                           "filter": "bicubic", "antialias": True}}


def gradient(w, h):
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    return Image.fromarray(np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)),
                                           np.full((h, w, 1), 60, np.float32)], axis=2).astype(np.uint8))


def test_rules_and_their_names():
    im = gradient(500, 375)
    assert ca.prepare(im, META_224).shape == (224, 224, 3)
    assert ca.rule_name(META_224) == "shorter_side_then_center_crop/256/224/bicubic"
    stretch = dict(META_224, input=dict(META_224["input"], height=20, width=30),
                   preprocess={"resize": "stretch", "filter": "bilinear"})
    assert ca.prepare(im, stretch).shape == (20, 30, 3)
    assert ca.rule_name(stretch) == "stretch/20x30/bilinear"
    # A missing resize is the schema-1 default, the crop rule.
    legacy = dict(META_224, preprocess={k: v for k, v in META_224["preprocess"].items() if k != "resize"})
    assert np.array_equal(ca.prepare(im, legacy), ca.prepare(im, META_224))


def test_candidate_rules_of_each_input_size():
    names = [ca.rule_name(dict(META_224, preprocess=p)) for p in ca.candidate_rules(META_224)]
    # 224 + 32 == round(224 / 0.875): four distinct rules, model.json's first.
    assert names == ["shorter_side_then_center_crop/256/224/bicubic", "center_crop_then_resize/0.8750/224/bicubic",
                     "shorter_side_then_center_crop/256/224/bilinear", "center_crop_then_resize/0.8750/224/bilinear"]
    meta = dict(META_224, input=dict(META_224["input"], height=260, width=260),
                preprocess=dict(META_224["preprocess"], resize_shorter_side=292, center_crop=260))
    names = [ca.rule_name(dict(meta, preprocess=p)) for p in ca.candidate_rules(meta)]
    assert len(names) == 6 and "shorter_side_then_center_crop/297/260/bicubic" in names


def test_crop_then_resize_takes_the_reference_window():
    im = gradient(300, 200)
    out = ca.crop_then_resize(im, 100, 0.5, "bilinear")  # a 100x100 window at (100, 50): no resize needed
    assert np.array_equal(out, np.asarray(im)[50:150, 100:200])


def test_model_input_honours_layout_channels_and_normalisation():
    pixels = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    nchw = ca.model_input(pixels, META_224)
    assert nchw.shape == (2, 3, 4, 5) and nchw.dtype == np.float32
    np.testing.assert_allclose(nchw[1, 2, 3, 4], (pixels[1, 3, 4, 2] - 127.0) / 128.0)
    nhwc_bgr = dict(META_224, input=dict(META_224["input"], layout="NHWC", channels="BGR"),
                    normalization={"mean": [1.0, 2.0, 3.0], "std": [2.0, 4.0, 8.0]})
    x = ca.model_input(pixels, nhwc_bgr)
    assert x.shape == (2, 4, 5, 3)
    np.testing.assert_allclose(x[0, 1, 2], (pixels[0, 1, 2, ::-1] - [1.0, 2.0, 3.0]) / [2.0, 4.0, 8.0])


def test_log_probabilities():
    lp = ca.log_probabilities(np.array([[0.0, np.log(3.0)]]), "logits")
    np.testing.assert_allclose(np.exp(lp), [[0.25, 0.75]])
    np.testing.assert_allclose(ca.log_probabilities(np.array([[0.25, 0.75]]), "probabilities"), lp)


def test_one_json_line_per_model(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    import import_model
    import make_tiny_model as tiny

    tiny.build(str(tmp_path / "src"))
    assert import_model.main(tiny.import_args(str(tmp_path / "src"), str(tmp_path / "tiny"))) == 0
    demo = os.path.join(import_model.REPO, "third_party", "demo-images")
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    rows = ["file\tclass_index\tsynset\tname"]
    for i, name in enumerate(("chelsea.png", "coffee.png", "camera.png")):
        (eval_dir / name).write_bytes(open(os.path.join(demo, name), "rb").read())
        rows.append(f"{name}\t{i}\tn{i}\tc{i}")
    (eval_dir / "labels.tsv").write_text("\n".join(rows) + "\n")
    capsys.readouterr()
    args = ["--eval-dir", str(eval_dir), "--model-dir", str(tmp_path / "tiny"), "--model-dir", str(tmp_path / "tiny")]
    assert ca.main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and lines[0] == lines[1]
    assert list(lines[0]) == ["model", "variant", "top1", "top5", "n", "rule"]
    assert lines[0]["model"] == "tiny-nhwc" and lines[0]["n"] == 3
    assert lines[0]["rule"] == "shorter_side_then_center_crop/36/32/bilinear"
    assert ca.main(args[:4] + ["--candidates"]) == 0
    cand = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert cand[0]["candidate"] is False and all(c["candidate"] for c in cand[1:]) and "nll" in cand[0]
