"""Writes the hostile-upload corpus: inputs built to break a decoder, plus manifest.json.

Run with the model venv (Pillow): `.venv/model/bin/python tools/hostile/make_hostile.py OUT_DIR [--seed N]`.
Everything is generated here, deterministically for a given seed; nothing is downloaded. The whole-pipeline
test submits each file through the API with its `content_type` (inline up to the API's inline limit, the
rest through a presigned upload) and checks the job ends as the manifest says, or the API refuses it.

manifest.json is a list of
    {"file", "content_type", "expect": "completed" | "failed" | "either" | "refused", "code", "upload", "hazard", "why"}
`code` is the ErrorCode string (services/domain/src/error.rs) expected when the job fails (for "refused", the
API's error code); null when it must complete. "either" marks inputs that the current code cannot handle as
intended (see `why`), or whose outcome depends on decoder leniency: the job may complete or fail with `code`,
but must end, within the time and memory limits. `upload` is "inline" or "presigned" (the API refuses an empty
inline body). `hazard` is true for inputs that today take the worker down or hold it for minutes (see
tools/hostile/README.md): run those only against a stack whose memory is capped, never on a shared machine
without one.

`--heavy` adds one input too slow for a routine run (a JPEG whose scans keep the worker busy for about a
minute); the default corpus is about 3 MB and every non-hazard input preprocesses in well under 2 s.

Each `why` names the function that decides the outcome; the limits are the defaults of
services/domain/src/limits.rs (`Limits`) and services/domain/src/config.rs (`ApiConfig`).
"""
import argparse
import hashlib
import io
import json
import os
import random
import struct
import zlib

from PIL import Image, ImageDraw

# Defaults from the Rust code, used to reason about each input (not enforced here).
MAX_BYTES = 25 * 1024 * 1024  # imgpipe_domain::limits::Limits::DEFAULT_MAX_BYTES
MAX_PIXELS = 50_000_000  # imgpipe_domain::limits::Limits::DEFAULT_MAX_PIXELS
MAX_INLINE_BYTES = 4 * 1024 * 1024  # imgpipe_domain::config::ApiConfig::DEFAULT_MAX_INLINE_BYTES
RESIZE_SHORTER, CENTER_CROP = 256, 224  # build/model/model.json "preprocess"

JPEG, PNG, GIF, BMP, WEBP = "image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp"
ACCEPTED_CONTENT_TYPES = (JPEG, PNG, WEBP, GIF, BMP)  # services/api/src/lib.rs
ERROR_CODES = (
    "not_an_image", "unsupported_format", "too_large", "too_many_pixels", "corrupt_image",
    "upload_missing", "retries_exhausted", "internal",
)
# The API's own refusals (the `error.code` of a 4xx answer), for inputs that never become a job.
API_ERROR_CODES = ("bad_request", "too_large", "unsupported_media_type")

# image::guess_format's table (image 0.25, src/io/free_functions.rs MAGIC_BYTES): (signature, mask).
MAGIC_BYTES = [
    (b"\x89PNG\r\n\x1a\n", b"", "png"), (b"\xff\xd8\xff", b"", "jpeg"), (b"GIF89a", b"", "gif"),
    (b"GIF87a", b"", "gif"), (b"RIFF\0\0\0\0WEBP", b"\xff\xff\xff\xff\0\0\0\0", "webp"),
    (b"MM\x00*", b"", "tiff"), (b"II*\x00", b"", "tiff"), (b"DDS ", b"", "dds"), (b"BM", b"", "bmp"),
    (b"\0\0\1\0", b"", "ico"), (b"#?RADIANCE", b"", "hdr"), (b"\0\0\0\0ftypavif", b"\xff\xff\0\0", "avif"),
    (b"\x76\x2f\x31\x01", b"", "openexr"), (b"qoif", b"", "qoi"),
    (b"P1", b"", "pnm"), (b"P2", b"", "pnm"), (b"P3", b"", "pnm"), (b"P4", b"", "pnm"), (b"P5", b"", "pnm"),
    (b"P6", b"", "pnm"), (b"P7", b"", "pnm"), (b"farbfeld", b"", "farbfeld"),
]


def sniff(data):
    """The format image::guess_format would report, or None (mirrors `preprocess::sniff`)."""
    for signature, mask, name in MAGIC_BYTES:
        if not mask:
            if data.startswith(signature):
                return name
        elif len(data) >= len(signature) and all(
            (b & (mask[i] if i < len(mask) else 0xFF)) == s for i, (b, s) in enumerate(zip(data, signature))
        ):
            return name
    return None


def jpeg_is_complete(data):
    """Mirror of `preprocess::jpeg_is_complete`: an EOI follows the last start-of-scan."""
    start = data.rfind(b"\xff\xda")
    return start >= 0 and data.find(b"\xff\xd9", start) >= 0


def resized_dimensions(width, height, shorter=RESIZE_SHORTER):
    """Mirror of `preprocess::resized_dimensions` (the buffer `resize_and_crop` allocates)."""
    scaled = lambda long, short: max(round(shorter * long / short), shorter)
    return (shorter, scaled(height, width)) if width <= height else (scaled(width, height), shorter)


# --------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------


def scene(width=320, height=240, seed=0):
    """Left half red, right half blue, a green square top-left, and seeded blotchy noise (a JPEG of a
    flat image is unrealistically small, and texture makes truncation cut through real scan data)."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, width // 2 - 1, height - 1], fill=(255, 0, 0))
    draw.rectangle([0, 0, width // 6, height // 4], fill=(0, 255, 0))
    rng = random.Random(seed)
    small = ((width + 7) // 8, (height + 7) // 8)
    noise = Image.frombytes("L", small, rng.randbytes(small[0] * small[1])).resize((width, height), Image.BILINEAR)
    return Image.merge("RGB", [Image.blend(c, noise, 0.15) for c in image.split()])


def encode(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_file(width, height, bit_depth, color_type, idat, extra_chunks=()):
    """A PNG from parts: IHDR, the extra chunks (before IDAT), one IDAT and IEND."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    chunks = [png_chunk(b"IHDR", header), *extra_chunks, png_chunk(b"IDAT", idat), png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def zlib_zeros(count, prefix=b"", level=9):
    """zlib stream of `prefix` then `count` zero bytes, compressed in 1 MiB steps (a deflate bomb: the
    stream is about count / 1030 bytes)."""
    compressor = zlib.compressobj(level)
    out = [compressor.compress(prefix)]
    block = bytes(1 << 20)
    while count > 0:
        step = min(count, len(block))
        out.append(compressor.compress(block[:step]))
        count -= step
    out.append(compressor.flush())
    return b"".join(out)


def png_rgb16(image):
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one): each 8-bit value v becomes v * 257."""
    width, height = image.size
    raw = image.tobytes()
    row_bytes = width * 3
    rows = b"".join(
        b"\0" + b"".join(struct.pack(">H", v * 257) for v in raw[y * row_bytes:(y + 1) * row_bytes])
        for y in range(height)
    )
    return png_file(width, height, 16, 2, zlib.compress(rows, 9))


def jpeg_segments(data):
    """(marker, start, end) for every segment of a JPEG after SOI; a scan's entropy-coded data (with its
    stuffed bytes and restart markers) belongs to its SOS segment."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    segments, pos = [], 2
    while pos < len(data):
        assert data[pos] == 0xFF, f"no marker at {pos}"
        marker = data[pos + 1]
        if marker == 0xD9:
            segments.append((marker, pos, pos + 2))
            break
        end = pos + 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker == 0xDA:
            while True:
                end = data.index(b"\xff", end)
                if data[end + 1] == 0x00 or 0xD0 <= data[end + 1] <= 0xD7:
                    end += 2
                else:
                    break
        segments.append((marker, pos, end))
        pos = end
    return segments


def jpeg_with_dimensions(data, width, height):
    """The JPEG with its SOF's width and height replaced (the scan data is left as it was)."""
    for marker, start, _ in jpeg_segments(data):
        if marker in (0xC0, 0xC1, 0xC2):
            out = bytearray(data)
            out[start + 5:start + 9] = struct.pack(">HH", height, width)
            return bytes(out)
    raise ValueError("no SOF")


def jpeg_insert_after_soi(data, segment):
    return data[:2] + segment + data[2:]


def app1_exif(tiff):
    payload = b"Exif\0\0" + tiff
    assert len(payload) + 2 <= 0xFFFF, "an APP1 segment holds at most 65533 bytes"
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def ifd_entry(tag, kind, count, value):
    """A little-endian IFD entry; `value` is the 4-byte value/offset field."""
    return struct.pack("<HHI", tag, kind, count) + value


def exif_many_entries(count):
    """IFD0 with `count` private-tag entries and Orientation = 6 as the very last one, so a parser walks
    all of them before finding it."""
    entries = [ifd_entry(0xC000 + i, 7, 4, struct.pack("<I", i)) for i in range(count - 1)]
    entries.append(ifd_entry(0x0112, 3, 1, struct.pack("<HH", 6, 0)))
    return b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 0)


def exif_self_loop():
    """IFD0 at offset 8 whose Exif-IFD pointer, GPS pointer, Interop pointer and next-IFD offset all point
    back at itself; Orientation = 3 (rotate 180)."""
    entries = [
        ifd_entry(0x0112, 3, 1, struct.pack("<HH", 3, 0)),
        ifd_entry(0x8769, 4, 1, struct.pack("<I", 8)),
        ifd_entry(0x8825, 4, 1, struct.pack("<I", 8)),
        ifd_entry(0xA005, 4, 1, struct.pack("<I", 8)),
    ]
    return b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 8)


def exif_deep_chain(depth):
    """`depth` IFDs, each holding one Exif-IFD pointer to the next (a recursive parser's stack test); no
    Orientation anywhere."""
    ifd_size = 2 + 12 + 4
    body = b""
    for level in range(depth):
        offset = 8 + level * ifd_size
        target = offset + ifd_size if level + 1 < depth else 0
        body += struct.pack("<H", 1) + ifd_entry(0x8769, 4, 1, struct.pack("<I", target)) + struct.pack("<I", 0)
    return b"II*\0" + struct.pack("<I", 8) + body


def exif_count_overflow():
    """IFD0 declaring 65535 entries with three present: a reader must stop at the end of the block."""
    entries = [ifd_entry(0xC000 + i, 7, 4, b"\0\0\0\0") for i in range(3)]
    return b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 0xFFFF) + b"".join(entries)


def lzw_uncompressed(indices, min_code_size=8):
    """GIF LZW data that never compresses: a clear code every 250 literals keeps the code width at
    min_code_size + 1, so the stream is trivially correct for any decoder."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    width = min_code_size + 1
    codes = []
    for i, index in enumerate(indices):
        if i % 250 == 0:
            codes.append(clear)
        codes.append(index)
    codes.append(end)
    bits, nbits, out = 0, 0, bytearray()
    for code in codes:
        bits |= code << nbits
        nbits += width
        while nbits >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8
    if nbits:
        out.append(bits & 0xFF)
    blocks = b"".join(bytes([len(out[i:i + 255])]) + bytes(out[i:i + 255]) for i in range(0, len(out), 255))
    return bytes([min_code_size]) + blocks + b"\0"


def gif_file(width, height, frames, loop=True):
    """A GIF89a with a 256-grey global palette; `frames` is a list of (left, top, w, h, indices)."""
    out = [b"GIF89a", struct.pack("<HHBBB", width, height, 0xF7, 0, 0)]
    out.append(b"".join(bytes([v, v, v]) for v in range(256)))
    if loop:
        out.append(b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")
    for left, top, w, h, indices in frames:
        out.append(b"\x21\xf9\x04\x04\x02\x00\x00\x00")  # graphic control: keep, 20 ms
        out.append(b"\x2c" + struct.pack("<HHHHB", left, top, w, h, 0))
        out.append(lzw_uncompressed(indices))
    out.append(b"\x3b")
    return b"".join(out)


def progressive_with_extra_scans(image, extra):
    """A progressive JPEG with one AC first-pass scan repeated `extra` more times right after itself (the
    Huffman tables in force are the same, so each copy is a well-formed scan)."""
    data = encode(image, "JPEG", quality=90, progressive=True)
    for marker, start, end in jpeg_segments(data):
        if marker != 0xDA:
            continue
        components = data[start + 4]
        ss, se, approx = data[start + 5 + 2 * components:start + 8 + 2 * components]
        if ss > 0 and approx >> 4 == 0:
            return data[:end] + data[start:end] * extra + data[end:]
    raise ValueError("no AC first-pass scan")


def random_without_magic(rng, size):
    """`size` random bytes that image::guess_format does not recognise (redrawn if they happen to)."""
    while True:
        data = rng.randbytes(size)
        if sniff(data) is None:
            return data


# --------------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------------


class Corpus:
    def __init__(self, out):
        self.out = out
        self.entries = []

    def add(self, name, data, content_type, expect, code, why, hazard=False):
        assert content_type in ACCEPTED_CONTENT_TYPES, name
        assert expect in ("completed", "failed", "either", "refused"), name
        assert (code is None) == (expect == "completed"), name
        assert code is None or code in (API_ERROR_CODES if expect == "refused" else ERROR_CODES), name
        assert len(data) <= MAX_BYTES, name
        assert all(e["file"] != name for e in self.entries), name
        with open(os.path.join(self.out, name), "wb") as f:
            f.write(data)
        upload = "inline" if 0 < len(data) <= MAX_INLINE_BYTES else "presigned"
        self.entries.append(
            {"file": name, "content_type": content_type, "expect": expect, "code": code, "upload": upload,
             "hazard": hazard, "why": why}
        )


def build(corpus, seed, heavy=False):
    rng = random.Random(seed)
    photo = scene(320, 240, seed)
    add = corpus.add

    # --- Not images at all -------------------------------------------------------------------------
    add("empty.bin", b"", JPEG, "refused", "bad_request",
        "api: an upload must declare its size and the size must be positive (an empty inline body and a "
        "content_length of 0 are both refused with 400), so an empty image never reaches the pipeline")
    for size, content_type in ((7, JPEG), (512, PNG), (64 * 1024, GIF), (1024 * 1024, WEBP)):
        add(f"random-{size}.bin", random_without_magic(rng, size), content_type, "failed", "not_an_image",
            f"preprocess::sniff: {size} random bytes (redrawn until no image::guess_format signature matches)")
    add("html.jpg", b"<!doctype html>\n<html><head><title>cat.jpg</title></head><body><img src=x onerror=alert(1)>"
        b"</body></html>\n", JPEG, "failed", "not_an_image",
        "preprocess::sniff: HTML has no image signature; the name and Content-Type are never trusted")
    add("image.svg", b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" '
        b'height="64"><rect width="64" height="64" fill="red"/><script>alert(1)</script></svg>\n', PNG, "failed",
        "not_an_image", "preprocess::sniff: SVG (XML text) is not in guess_format's table (sent as image/png: "
        "the API answers image/svg+xml with 415 before any job exists)")
    add("document.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages "
        b"/Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n", JPEG, "failed", "not_an_image",
        "preprocess::sniff: %PDF has no image signature")

    # --- Wrong or broken magic -----------------------------------------------------------------------
    png_bytes = encode(photo, "PNG")
    jpeg_bytes = encode(photo, "JPEG", quality=90)
    add("png-sent-as-jpeg.jpg", png_bytes, JPEG, "completed", None,
        "preprocess::sniff decides from the bytes (PNG), not the image/jpeg Content-Type; a valid PNG completes")
    add("jpeg-sent-as-png.png", jpeg_bytes, PNG, "completed", None,
        "preprocess::sniff decides from the bytes (JPEG), not the image/png Content-Type; a valid JPEG completes")
    add("jpeg-bad-magic.jpg", b"\x00" + jpeg_bytes[1:], JPEG, "failed", "not_an_image",
        "preprocess::sniff: the first byte of FF D8 FF is zeroed, so no signature matches although the rest "
        "is a whole JPEG")
    add("png-ftp-mangled.png", png_bytes.replace(b"\r\n", b"\n"), PNG, "failed", "not_an_image",
        "preprocess::sniff: an ASCII-mode transfer turned CRLF into LF, breaking the 8-byte PNG signature")
    bm_text = b"BMW 320d for sale, one owner, full service history, call after six.\n" * 4
    assert struct.unpack("<I", bm_text[14:18])[0] > 124, "must not be a known BMP header size"
    add("text-starting-BM.bmp", bm_text, BMP, "failed", "unsupported_format",
        "preprocess::sniff: guess_format takes the 2-byte 'BM' for BMP; the BMP decoder then reads an ASCII "
        "DIB header size, which it reports as ImageError::Unsupported, mapped by decode_error")
    add("gif-html-polyglot.gif", b"GIF89a<html><body><script>alert(document.domain)</script></body></html>\n",
        GIF, "failed", "too_many_pixels",
        "preprocess::sniff says GIF; the logical screen is read from the ASCII '<h' 'tm' (26684x28020 = 748 MP), "
        "so decode_upright_rgb rejects it on the header pixel count")
    add("png-signature-then-random.png", b"\x89PNG\r\n\x1a\n" + rng.randbytes(4096), PNG, "failed", "corrupt_image",
        "decode_upright_rgb: into_decoder finds no valid IHDR after the PNG signature; decode_error maps the "
        "decoding/IO error to corrupt_image")
    tail = bytearray(rng.randbytes(4096))
    for i in range(len(tail) - 1):
        if tail[i] == 0xFF and tail[i + 1] == 0xDA:
            tail[i + 1] = 0x00
    add("jpeg-soi-then-random.jpg", b"\xff\xd8\xff" + bytes(tail), JPEG, "failed", "corrupt_image",
        "preprocess: jpeg_is_complete finds no start-of-scan (FF DA) in the random tail")

    # --- Truncated --------------------------------------------------------------------------------------
    add("truncated.jpg", jpeg_bytes[: len(jpeg_bytes) * 3 // 5], JPEG, "failed", "corrupt_image",
        "preprocess: jpeg_is_complete finds no EOI after the last FF DA (a cut-off baseline JPEG)")
    progressive = encode(photo, "JPEG", quality=90, progressive=True)
    add("truncated-progressive.jpg", progressive[: len(progressive) // 2], JPEG, "failed", "corrupt_image",
        "preprocess: jpeg_is_complete: the cut falls inside a later scan, after which no EOI follows")
    add("truncated.png", png_bytes[: len(png_bytes) // 2], PNG, "failed", "corrupt_image",
        "decode_upright_rgb: the PNG decoder runs out of IDAT data; decode_error maps it to corrupt_image")
    add("truncated-then-eoi.jpg", jpeg_bytes[: len(jpeg_bytes) // 2] + b"\xff\xd9", JPEG, "either", "corrupt_image",
        "crafted: half a JPEG then EOI passes jpeg_is_complete (it only looks for FF D9 after the last FF DA); "
        "zune-jpeg is run non-strict (image's JpegDecoder) and pads the missing data, so it completes today "
        "with a grey lower half")

    # --- Dimensions declared in the header --------------------------------------------------------------
    tiny_jpeg = encode(scene(16, 16, seed), "JPEG", quality=90)
    add("jpeg-65500x65500.jpg", jpeg_with_dimensions(tiny_jpeg, 65500, 65500), JPEG, "failed", "too_many_pixels",
        "decode_upright_rgb: the SOF says 65500x65500 (4.29 GP) > max_pixels 50M, rejected from the header "
        "before any pixel buffer exists")
    add("png-100000x100000.png", png_file(100_000, 100_000, 8, 2, zlib.compress(bytes(1024))), PNG, "failed",
        "too_many_pixels", "decode_upright_rgb: IHDR says 100000x100000 (10 GP) > max_pixels with a 1 KiB body")
    add("gif-65535x65535.gif", gif_file(65535, 65535, [(0, 0, 1, 1, [255])], loop=False), GIF, "failed",
        "too_many_pixels", "decode_upright_rgb: the GIF logical screen is 65535x65535 (4.29 GP) with one 1x1 frame")
    four_rows = zlib.compress(bytes((1 + 7000 * 3) * 4))
    add("png-7000x7000-tiny-idat.png", png_file(7000, 7000, 8, 2, four_rows), PNG, "failed", "corrupt_image",
        "under max_pixels (49 MP), so decode_upright_rgb allocates the 147 MB frame, then the "
        "IDAT ends after 4 rows; decode_error maps the PNG error to corrupt_image")
    add("jpeg-7000x7000-tiny-scan.jpg", jpeg_with_dimensions(tiny_jpeg, 7000, 7000), JPEG, "either", "corrupt_image",
        "SOF says 7000x7000 (49 MP, under the limit) but the scan holds 4 blocks before EOI; jpeg_is_complete "
        "passes and decode_jpeg_reduced (jpeg-decoder pads with zero bits after a marker) completes it today "
        "with a synthetic image: a 49 MP decode for an upload of under 1 KB")
    zero_height = bytearray(tiny_jpeg)
    sof = next(start for marker, start, _ in jpeg_segments(tiny_jpeg) if marker == 0xC0)
    zero_height[sof + 5:sof + 7] = b"\0\0"
    add("jpeg-zero-height.jpg", bytes(zero_height), JPEG, "failed", "corrupt_image",
        "decode_upright_rgb: a SOF height of 0 fails in zune-jpeg's header parser, or else the 'no pixels' "
        "check: corrupt_image either way")

    # --- Extreme shapes ---------------------------------------------------------------------------------
    add("1x1.png", encode(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG"), PNG, "completed", None,
        "resize_and_crop: 1x1 is upscaled to 256x256 and cropped to 224x224; no lower size bound exists")
    add("1x1.jpg", encode(Image.new("RGB", (1, 1), (30, 30, 200)), "JPEG", quality=90), JPEG, "completed", None,
        "resize_and_crop: 1x1 is upscaled to 256x256 and cropped to 224x224")
    for width, height, fmt, name in (
        (100_000, 1, "PNG", "strip-100000x1.png"),
        (1, 100_000, "PNG", "strip-1x100000.png"),
        (65_500, 1, "JPEG", "strip-65500x1.jpg"),
    ):
        strip = Image.linear_gradient("L").resize((256, 1)).resize((max(width, height), 1)).convert("RGB")
        strip = strip if width > height else strip.transpose(Image.Transpose.ROTATE_90)
        rw, rh = resized_dimensions(width, height)
        add(name, encode(strip, fmt, **({"quality": 90} if fmt == "JPEG" else {})), JPEG if fmt == "JPEG" else PNG,
            "completed", None,
            f"{width * height} pixels passes max_pixels; resized whole it would be {rw}x{rh} RGB = "
            f"{rw * rh * 3 / 1e9:.1f} GB (the worker aborted on it until 2026-11-27), but resize_and_crop resizes "
            f"only the crop's source region straight to 224x224")
    rw, rh = resized_dimensions(4000, 4)
    add("strip-4000x4.png", encode(scene(4000, 4, seed), "PNG"), PNG, "completed", None,
        f"aspect 1000:1, 16000 pixels: resized whole {rw}x{rh} RGB = {rw * rh * 3 / 1e6:.0f} MB; resize_and_crop "
        f"crops first, so only the 224x224 output is allocated")

    # --- EXIF -----------------------------------------------------------------------------------------
    add("exif-5000-entries.jpg", jpeg_insert_after_soi(jpeg_bytes, app1_exif(exif_many_entries(5000))), JPEG,
        "completed", None, "decode_upright_rgb: orientation() (image's Orientation::from_exif_chunk) walks the "
        "60 KB IFD0 and finds Orientation 6 in its last entry; the picture completes rotated")
    add("exif-ifd-self-loop.jpg", jpeg_insert_after_soi(jpeg_bytes, app1_exif(exif_self_loop())), JPEG,
        "completed", None, "decode_upright_rgb: orientation() reads IFD0 only and follows no pointer, so the "
        "IFD offsets that point back at IFD0 cannot loop it; Orientation 3 applies")
    add("exif-deep-chain.jpg", jpeg_insert_after_soi(jpeg_bytes, app1_exif(exif_deep_chain(3000))), JPEG,
        "completed", None, "decode_upright_rgb: 3000 nested Exif-IFD pointers; orientation() does not recurse")
    add("exif-count-overflow.jpg", jpeg_insert_after_soi(jpeg_bytes, app1_exif(exif_count_overflow())), JPEG,
        "completed", None, "decode_upright_rgb: IFD0 declares 65535 entries, 3 present; the EXIF read fails, "
        "orientation falls back to NoTransforms ('a broken EXIF block should not reject a good photo')")
    small = scene(96, 64, seed)
    add("png-exif-self-loop.png", encode(small, "PNG", exif=b"Exif\0\0" + exif_self_loop()), PNG, "completed",
        None, "decode_upright_rgb: the PNG eXIf chunk's self-referencing IFD is read once (IFD0 only); "
        "Orientation 3 applies")

    # --- Animation --------------------------------------------------------------------------------------
    first = [(0, 0, 64, 64, [(x * 4 + y) % 256 for y in range(64) for x in range(64)])]
    dots = [(i % 64, (i // 64) % 64, 1, 1, [(i * 37) % 256]) for i in range(1, 5000)]
    add("animated-5000-frames.gif", gif_file(64, 64, first + dots), GIF, "completed", None,
        "decode_upright_rgb: DynamicImage::from_decoder reads the first frame only (GifDecoder::read_image); "
        "the other 4999 frames are never parsed")
    add("gif-no-frames.gif", gif_file(64, 64, []), GIF, "failed", "corrupt_image",
        "decode_upright_rgb: header and palette but no frame: GifDecoder::read_image returns NoMoreData "
        "(ImageError::Parameter), which decode_error maps to corrupt_image")

    # --- Colour models and codings ----------------------------------------------------------------------
    add("rgb16.png", png_rgb16(photo), PNG, "completed", None,
        "decode_upright_rgb: Rgb16 is converted with into_rgb8")
    rows = bytes(1 + 7000 * 8)
    add("rgba16-7000x7000.png", png_file(7000, 7000, 16, 6, zlib_zeros(7000 * len(rows))), PNG, "completed", None,
        "49 MP is under max_pixels: decoded as Rgba16 (392 MB), into_rgba8 (196 MB) and over_white; peak "
        "~590 MB against decode_memory_estimate's 343 MB (pixels * 7 assumes 8-bit), inside a 1024 MB function")
    add("cmyk.jpg", encode(photo.convert("CMYK"), "JPEG", quality=90), JPEG, "completed", None,
        "decode_upright_rgb: zune-jpeg converts CMYK (Adobe, inverted) to RGB")
    big = scene(1024, 768, seed)
    add("cmyk-1024x768.jpg", encode(big.convert("CMYK"), "JPEG", quality=90), JPEG, "completed", None,
        "shorter side >= 512: decode_jpeg_reduced decodes the whole CMYK image with jpeg-decoder, then returns "
        "None for CMYK32 and zune-jpeg decodes it again in full (twice the work, same result)")
    add("progressive.jpg", progressive, JPEG, "completed", None,
        "decode_upright_rgb: zune-jpeg decodes progressive JPEG")
    add("progressive-1024x768.jpg", encode(big, "JPEG", quality=90, progressive=True), JPEG, "completed", None,
        "decode_jpeg_reduced: jpeg-decoder decodes the progressive JPEG at 1/2 scale")

    # --- Compression and metadata bombs -----------------------------------------------------------------
    texts = [
        png_chunk(b"zTXt", b"Raw profile type iptc\0\0" + zlib_zeros(128 << 20)),
        png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\1\0\0\0" + zlib_zeros(128 << 20)),
    ]
    small_rows = b"".join(b"\0" + small.tobytes()[y * 96 * 3:(y + 1) * 96 * 3] for y in range(64))
    add("png-text-bombs.png", png_file(96, 64, 8, 2, zlib.compress(small_rows, 9), texts), PNG, "completed", None,
        "decode_upright_rgb: png keeps zTXt/iTXt compressed (each inflates to 128 MiB); only the IPTC/XMP "
        "getters would inflate them, bounded at 2 MiB, and preprocess calls neither")
    add("png-text-huge.png", png_file(96, 64, 8, 2, zlib.compress(small_rows, 9),
                                      [png_chunk(b"tEXt", b"Comment\0" + b"A" * (256 << 10))]), PNG, "completed",
        None, "decode_upright_rgb: a 256 KiB tEXt chunk is buffered (within image's 512 MiB max_alloc) and ignored")
    add("png-idat-bomb.png", png_file(96, 64, 8, 2, zlib_zeros(256 << 20, prefix=small_rows)), PNG, "completed",
        None, "decode_upright_rgb: IHDR 96x64 but IDAT inflates to 256 MiB more than the rows need; png stops "
        "inflating after the last row and skips the rest of the IDAT unread (finish_decoding_image_data)")

    # --- Scans -------------------------------------------------------------------------------------------
    add("jpeg-1000-extra-scans.jpg", progressive_with_extra_scans(Image.new("L", (64, 64), 128), 1000), JPEG,
        "failed", "corrupt_image",
        "decode_upright_rgb: 64x64 goes to zune-jpeg, whose default max_scans (100) stops the 1006-scan "
        "progressive file with a decoding error; decode_error maps it to corrupt_image")
    add("jpeg-2048-3000-extra-scans.jpg", progressive_with_extra_scans(Image.new("L", (2048, 2048), 128), 3000),
        JPEG, "failed", "corrupt_image",
        "preprocess: jpeg_scan_count finds 3006 start-of-scan markers > MAX_JPEG_SCANS (100) before any decoding "
        "(jpeg-decoder, the reduced decoder, has no scan limit of its own)")
    if heavy:
        add("jpeg-7000-10000-extra-scans.jpg", progressive_with_extra_scans(Image.new("L", (7000, 7000), 128), 10000),
            JPEG, "failed", "corrupt_image",
            "preprocess: 10006 scans > MAX_JPEG_SCANS (100), refused before decoding; without the cap the "
            "reduced decoder spent 62 s of CPU on this 0.9 MB upload (~7.7e9 block visits)")


def corpus_digest(out):
    """SHA-256 over the manifest and every file it lists: equal for equal seeds."""
    with open(os.path.join(out, "manifest.json"), "rb") as f:
        manifest = f.read()
    digest = hashlib.sha256(manifest)
    for entry in json.loads(manifest):
        with open(os.path.join(out, entry["file"]), "rb") as f:
            digest.update(entry["file"].encode() + b"\0" + hashlib.sha256(f.read()).digest())
    return digest.hexdigest()[:16]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="output directory (created; files of the same names are overwritten)")
    parser.add_argument("--seed", type=int, default=8, help="seed for the random inputs (default 8)")
    parser.add_argument("--heavy", action="store_true", help="add the slow scan-bomb JPEG (see the docstring)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    corpus = Corpus(args.out)
    build(corpus, args.seed, heavy=args.heavy)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(corpus.entries, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(args.out, e["file"])) for e in corpus.entries)
    digest = corpus_digest(args.out)
    print(f"wrote {len(corpus.entries)} files ({total / 1e6:.2f} MB) and manifest.json to {args.out} [{digest}]")


if __name__ == "__main__":
    main()
