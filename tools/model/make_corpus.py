"""Writes the image corpus of services/vision/tests/corpus: every input class the pipeline must handle.

Run with the model venv (Pillow): `.venv/model/bin/python tools/model/make_corpus.py`. The files are
committed (a few KB each), so the Rust tests need no Python; this script documents how each was made and
regenerates them. `expected.tsv` lists, per file, `ok` or the error code, and for `ok` the upright size.
"""
import io
import os
import struct
import zlib

from PIL import Image, ImageDraw

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "services", "vision", "tests", "corpus")


def scene(width=96, height=64, mode="RGB"):
    """Left half red, right half blue, a green square top-left: orientation mistakes change colours."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, width // 2 - 1, height - 1], fill=(255, 0, 0))
    draw.rectangle([0, 0, width // 6, height // 4], fill=(0, 255, 0))
    return image.convert(mode) if mode != "RGB" else image


def save(name, image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    write(name, buffer.getvalue())


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


# Transforms that, applied to the upright scene, give the stored pixels for EXIF orientation n.
STORED_FOR_ORIENTATION = {
    1: lambda im: im,
    2: lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    3: lambda im: im.transpose(Image.Transpose.ROTATE_180),
    4: lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    5: lambda im: im.transpose(Image.Transpose.TRANSPOSE),
    6: lambda im: im.transpose(Image.Transpose.ROTATE_90),
    7: lambda im: im.transpose(Image.Transpose.TRANSVERSE),
    8: lambda im: im.transpose(Image.Transpose.ROTATE_270),
}


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_rgb16(image):
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one): each 8-bit value v becomes v * 257."""
    width, height = image.size
    rows = b"".join(
        b"\0" + b"".join(struct.pack(">HHH", *(v * 257 for v in image.getpixel((x, y)))) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")


def main():
    os.makedirs(OUT, exist_ok=True)
    rows = []
    upright = scene()
    ok = lambda name: rows.append((name, "ok", f"{upright.width}x{upright.height}"))
    fail = lambda name, code: rows.append((name, code, "-"))

    save("baseline.jpg", upright, "JPEG", quality=92); ok("baseline.jpg")
    save("progressive.jpg", upright, "JPEG", quality=92, progressive=True); ok("progressive.jpg")
    save("greyscale.jpg", upright.convert("L"), "JPEG", quality=92); ok("greyscale.jpg")
    save("cmyk.jpg", upright.convert("CMYK"), "JPEG", quality=92); ok("cmyk.jpg")
    save("rgb8.png", upright, "PNG"); ok("rgb8.png")
    save("grey16.png", upright.convert("I;16"), "PNG"); ok("grey16.png")
    write("rgb16.png", png_rgb16(upright)); ok("rgb16.png")
    save("palette.png", upright.convert("P", palette=Image.Palette.ADAPTIVE, colors=8), "PNG"); ok("palette.png")
    rgba = upright.convert("RGBA")
    rgba.putalpha(Image.new("L", upright.size, 255))
    save("alpha.png", rgba, "PNG"); ok("alpha.png")
    transparent = Image.new("RGBA", upright.size, (0, 0, 0, 0))
    save("transparent.png", transparent, "PNG"); ok("transparent.png")
    save("grey_alpha.png", upright.convert("LA"), "PNG"); ok("grey_alpha.png")
    save("lossy.webp", upright, "WEBP", quality=90); ok("lossy.webp")
    save("lossless.webp", upright, "WEBP", lossless=True); ok("lossless.webp")
    frames = [upright, upright.transpose(Image.Transpose.ROTATE_180)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    write("animated.gif", buffer.getvalue()); ok("animated.gif")
    save("image.bmp", upright, "BMP"); ok("image.bmp")

    for n, stored in STORED_FOR_ORIENTATION.items():
        image = stored(upright)
        exif = Image.Exif()
        exif[0x0112] = n
        name = f"exif-orientation-{n}.jpg"
        save(name, image, "JPEG", quality=95, exif=exif.tobytes())
        ok(name)

    # A real photo stored sideways with the EXIF tag that makes viewers show it upright: the prediction
    # must match the upright photo's.
    coffee = Image.open(os.path.join(OUT, "..", "..", "..", "..", "third_party", "demo-images", "coffee.png")).convert("RGB")
    for n in (6, 8):
        exif = Image.Exif()
        exif[0x0112] = n
        name = f"coffee-orientation-{n}.jpg"
        save(name, STORED_FOR_ORIENTATION[n](coffee), "JPEG", quality=90, exif=exif.tobytes())
        rows.append((name, "ok", f"{coffee.width}x{coffee.height}"))

    full = io.BytesIO(); upright.save(full, "JPEG", quality=92)
    write("truncated.jpg", full.getvalue()[: len(full.getvalue()) // 2]); fail("truncated.jpg", "corrupt_image")
    png = io.BytesIO(); upright.save(png, "PNG")
    write("truncated.png", png.getvalue()[: len(png.getvalue()) // 2]); fail("truncated.png", "corrupt_image")
    save("image.tiff", upright, "TIFF"); fail("image.tiff", "unsupported_format")
    save("image.ico", upright.resize((32, 32)), "ICO"); fail("image.ico", "unsupported_format")
    write("text.txt", b"hello, this is not an image\n"); fail("text.txt", "not_an_image")
    write("empty.bin", b""); fail("empty.bin", "not_an_image")
    write("pdf.pdf", b"%PDF-1.7\n1 0 obj << >> endobj\n"); fail("pdf.pdf", "not_an_image")
    write("html-named.jpg", b"<!doctype html><title>x</title>"); fail("html-named.jpg", "not_an_image")

    # A decompression bomb: a valid PNG header declaring 100000 x 100000 pixels, a few hundred bytes.
    chunk = png_chunk
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    write("bomb.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    fail("bomb.png", "too_many_pixels")

    progressive_variants(coffee)

    with open(os.path.join(OUT, "expected.tsv"), "w") as f:
        f.write("file\texpected\tupright_size\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    print(f"wrote {len(rows)} files to {os.path.normpath(OUT)}")


def progressive_variants(photo):
    """Progressive JPEGs of a real photo for services/vision/tests/jpeg_progressive.rs: dropping their AC
    scans must not change a 1/8-scale decode. Odd sizes leave partial MCUs at the edges; every chroma
    subsampling Pillow writes, greyscale, restart markers, and libjpeg's progression (DC successive
    approximation, so DC refinement scans too) are covered."""
    out = os.path.join(OUT, "progressive")
    os.makedirs(out, exist_ok=True)
    photo = photo.resize((203, 157), Image.Resampling.LANCZOS)
    variants = {
        "420.jpg": (photo, {"subsampling": 2}),
        "422.jpg": (photo, {"subsampling": 1}),
        "444.jpg": (photo, {"subsampling": 0}),
        "grey.jpg": (photo.convert("L"), {}),
        "restart.jpg": (photo, {"subsampling": 2, "restart_marker_blocks": 3}),
    }
    for name, (image, options) in variants.items():
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90, progressive=True, **options)
        with open(os.path.join(out, name), "wb") as f:
            f.write(buffer.getvalue())


if __name__ == "__main__":
    main()
