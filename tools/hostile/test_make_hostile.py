"""Tests of make_hostile.py: the corpus is deterministic for a seed, the manifest lists exactly the files
written, and each expectation agrees with what the inputs really are (checked with Python mirrors of the
Rust checks that decide them: sniff, jpeg_is_complete, the header pixel count, resized_dimensions).
Run: .venv/model/bin/python -m pytest -q tools/hostile (about 10 s: the corpus is generated three times)."""

from __future__ import annotations

import json
import os
import struct
import sys
import zlib

import pytest
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_hostile as mh  # noqa: E402

KEYS = {"file", "content_type", "expect", "code", "upload", "hazard", "why"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    mh.main([str(out)])
    with open(out / "manifest.json") as f:
        return out, json.load(f)


def read(out, entry):
    with open(out / entry["file"], "rb") as f:
        return f.read()


def header_dimensions(data):
    """(width, height) from the header alone, as the Rust decoders report them, or None."""
    kind = mh.sniff(data)
    if kind == "png" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if kind == "gif" and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if kind == "jpeg":
        for marker, start, _ in mh.jpeg_segments(data):
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[start + 5:start + 9])
                return width, height
    return None


def exif_orientation(tiff):
    """Mirror of image's Orientation::from_exif_chunk: IFD0's Orientation (SHORT, count 1), or None."""
    if tiff[:4] not in (b"II*\0", b"MM\0*"):
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    pos = struct.unpack(order + "I", tiff[4:8])[0]
    if pos + 2 > len(tiff):
        return None
    count = struct.unpack(order + "H", tiff[pos:pos + 2])[0]
    pos += 2
    for _ in range(count):
        if pos + 12 > len(tiff):
            return None
        tag, kind, n, value = struct.unpack(order + "HHIH", tiff[pos:pos + 10])
        if tag == 0x112 and kind == 3 and n == 1:
            return value if 1 <= value <= 8 else None
        pos += 12
    return None


def test_same_seed_same_bytes(corpus, tmp_path):
    out, _ = corpus
    mh.main([str(tmp_path)])
    assert mh.corpus_digest(str(tmp_path)) == mh.corpus_digest(str(out))
    assert sorted(os.listdir(tmp_path)) == sorted(os.listdir(out))


def test_seed_changes_only_the_random_content(corpus, tmp_path):
    out, manifest = corpus
    mh.main([str(tmp_path), "--seed", "9"])
    with open(tmp_path / "manifest.json") as f:
        other = json.load(f)
    assert other == manifest, "the seed must not change names or expectations"
    assert read(tmp_path, {"file": "random-512.bin"}) != read(out, {"file": "random-512.bin"})


def test_every_entry_exists_and_is_well_formed(corpus):
    out, manifest = corpus
    names = [e["file"] for e in manifest]
    assert len(names) == len(set(names))
    assert sorted(names + ["manifest.json"]) == sorted(os.listdir(out)), "files and manifest differ"
    total = 0
    for entry in manifest:
        assert set(entry) == KEYS, entry["file"]
        size = os.path.getsize(out / entry["file"])
        total += size
        assert size <= mh.MAX_BYTES
        assert entry["content_type"] in mh.ACCEPTED_CONTENT_TYPES, "the API answers other types with 415"
        assert entry["expect"] in ("completed", "failed", "either", "refused")
        if entry["expect"] == "completed":
            assert entry["code"] is None
        elif entry["expect"] == "refused":
            assert entry["code"] in mh.API_ERROR_CODES
        else:
            assert entry["code"] in mh.ERROR_CODES
        assert entry["upload"] == ("inline" if 0 < size <= mh.MAX_INLINE_BYTES else "presigned")
        assert isinstance(entry["hazard"], bool)
        assert entry["why"] and "\n" not in entry["why"]
    assert total < 5_000_000, f"corpus is {total} bytes"


def test_sniffing_agrees_with_the_expectations(corpus):
    out, manifest = corpus
    for entry in manifest:
        kind = mh.sniff(read(out, entry))
        if entry["code"] == "not_an_image":
            assert kind is None, entry["file"]
        elif entry["expect"] == "completed":
            assert kind in ("png", "jpeg", "gif", "webp", "bmp"), entry["file"]
        if kind is None and entry["expect"] != "refused":
            assert (entry["expect"], entry["code"]) == ("failed", "not_an_image"), entry["file"]


def test_header_pixel_counts_agree_with_the_expectations(corpus):
    out, manifest = corpus
    for entry in manifest:
        if entry["code"] == "too_many_pixels" and entry["expect"] == "failed":
            dims = header_dimensions(read(out, entry))
            assert dims and dims[0] * dims[1] > mh.MAX_PIXELS, entry["file"]
        elif entry["expect"] == "completed":
            dims = header_dimensions(read(out, entry))
            assert dims and 0 < dims[0] * dims[1] <= mh.MAX_PIXELS, entry["file"]


def test_truncated_jpegs_fail_the_completeness_check(corpus):
    out, manifest = corpus
    by_name = {e["file"]: e for e in manifest}
    for name in ("truncated.jpg", "truncated-progressive.jpg", "jpeg-soi-then-random.jpg"):
        assert not mh.jpeg_is_complete(read(out, by_name[name])), name
    for entry in manifest:
        data = read(out, entry)
        if mh.sniff(data) == "jpeg" and entry["expect"] == "completed":
            assert mh.jpeg_is_complete(data), entry["file"]
    assert mh.jpeg_is_complete(read(out, by_name["truncated-then-eoi.jpg"])), "crafted to pass the check"


def test_strips_would_need_huge_resize_buffers(corpus):
    """What the strips are for: resizing them whole (before cropping) needs gigabytes."""
    out, manifest = corpus
    assert not any(e["hazard"] for e in manifest), "no input is known to take the worker down"
    for name in ("strip-100000x1.png", "strip-1x100000.png", "strip-65500x1.jpg"):
        width, height = header_dimensions(read(out, {"file": name}))
        assert width * height <= mh.MAX_PIXELS, "the pixel limit lets them in"
        rw, rh = mh.resized_dimensions(width, height)
        assert rw * rh * 3 > 10**10, f"{name}: resize buffer {rw}x{rh}"
    assert mh.resized_dimensions(100_000, 1) == (25_600_000, 256)
    assert mh.resized_dimensions(500, 375) == (341, 256), "same rule as preprocess.rs's test"


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # exif-count-overflow.jpg, on purpose
def test_decodable_inputs_decode_with_pillow(corpus):
    out, manifest = corpus
    skip = {"png-text-bombs.png"}  # Pillow inflates text chunks eagerly and refuses these (the point of them)
    for entry in manifest:
        if entry["expect"] != "completed" or entry["file"] in skip:
            continue
        with Image.open(out / entry["file"]) as image:
            if image.width * image.height <= 2_000_000:
                image.load()
    with Image.open(out / "animated-5000-frames.gif") as gif:
        assert gif.n_frames == 5000 and gif.size == (64, 64)
    assert read(out, {"file": "rgb16.png"})[24:26] == b"\x10\x02", "16-bit RGB IHDR"
    with Image.open(out / "cmyk.jpg") as cmyk:
        assert cmyk.mode == "CMYK"


def test_exif_inputs(corpus):
    out, _ = corpus

    def app1(name):
        data = read(out, {"file": name})
        for marker, start, end in mh.jpeg_segments(data):
            if marker == 0xE1 and data[start + 4:start + 10] == b"Exif\0\0":
                return data[start + 10:end]
        raise AssertionError(f"{name}: no Exif APP1")

    big = app1("exif-5000-entries.jpg")
    assert len(big) > 60_000 and exif_orientation(big) == 6
    loop = app1("exif-ifd-self-loop.jpg")
    assert exif_orientation(loop) == 3 and struct.unpack("<I", loop[-4:])[0] == 8, "next IFD is itself"
    assert exif_orientation(app1("exif-deep-chain.jpg")) is None
    assert exif_orientation(app1("exif-count-overflow.jpg")) is None


def test_scan_counts(corpus):
    out, _ = corpus
    count = lambda name: sum(m == 0xDA for m, _, _ in mh.jpeg_segments(read(out, {"file": name})))
    assert count("jpeg-1000-extra-scans.jpg") > 100, "zune-jpeg's default max_scans is 100"
    assert count("jpeg-2048-3000-extra-scans.jpg") > 3000
    assert count("progressive.jpg") < 100


def test_png_bombs_are_small_on_the_wire(corpus):
    out, _ = corpus
    idat = read(out, {"file": "png-idat-bomb.png"})
    assert len(idat) < 300_000
    width, height = header_dimensions(idat)
    start = idat.index(b"IDAT") + 4
    inflated = len(zlib.decompressobj().decompress(idat[start:start + 50_000], 1 << 20))
    assert inflated > (1 + width * 3) * height, "the IDAT holds more than the declared rows"
