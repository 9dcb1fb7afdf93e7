"""The Python baseline of `make bench`: the same two stages as the Rust pipeline, written the way a Python user
would write them (Pillow + numpy + onnxruntime from PyPI), with the same subcommands, arguments and JSON
output as `target/release/imgpipe-bench`, so that bench/run.py treats both alike.

    python bench/python_baseline.py preprocess --model-dir DIR --repeat N [--draft] FILE...
    python bench/python_baseline.py infer      --model-dir DIR --threads T --batch B --repeat N
    python bench/python_baseline.py pipeline   --model-dir DIR --threads T --repeat N FILE...
    python bench/python_baseline.py cold-start --model-dir DIR --threads T FILE
    python bench/python_baseline.py session    --model-dir DIR --threads T --repeat N
    python bench/python_baseline.py accuracy   --model-dir DIR --threads T --eval-dir DIR

--ort-library is accepted and ignored (onnxruntime's wheel brings its own library). Every subcommand prints
exactly one JSON line on stdout; times are milliseconds; stats objects are {"median","p10","p90","min","n"}.

Stage 1, preprocess (the bytes already in memory): Pillow decode, EXIF orientation, RGB, resize shorter side to
256 with model.json's filter (bicubic, antialiased), centre crop 224 -> uint8 HxWx3. The helpers are
tools/model/check_accuracy.py's (load_rgb, resize_crop), the ones the model's accuracy was established with.
`--draft` (large-JPEG figure only) lets libjpeg decode at a reduced scale first (Image.draft), the trick a
Python user who knows Pillow well could apply; it is reported separately, never as the baseline.
Stage 2, inference: numpy normalisation (check_accuracy.to_input, (x - mean) / std from model.json), one
onnxruntime InferenceSession on the same model file (intra_op_num_threads=T, inter_op_num_threads=1,
default graph optimisation), softmax and top-5 with numpy.

`cold-start` measures from this file's first statement (a time.perf_counter() stamp) to the first result:
imports (numpy, Pillow, onnxruntime), session creation, then preprocess + inference of FILE; bench/run.py
adds the interpreter start by timing the whole process from spawn.
"""

import time as _time

_T0 = _time.perf_counter()  # the first statement: everything in cold-start is measured from here

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tools", "model"))


def _ms(start: float) -> float:
    return (_time.perf_counter() - start) * 1000.0


def stats(samples):
    """{"median","p10","p90","min","n"} with the same nearest-rank rule as imgpipe-bench."""
    if not samples:
        return {"n": 0}
    s = sorted(samples)
    at = lambda q: s[int(round((len(s) - 1) * q))]  # noqa: E731
    return {"median": at(0.5), "p10": at(0.1), "p90": at(0.9), "min": s[0], "n": len(s)}


def load_meta(model_dir: str) -> dict:
    path = os.path.join(model_dir, "model.json")
    if not os.path.isfile(path):
        raise SystemExit(f"python_baseline: {path} not found (run `bash tools/setup.sh` to build the model)")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_files(files):
    if not files:
        raise SystemExit("python_baseline: no input files")
    out = []
    for path in files:
        with open(path, "rb") as f:
            out.append((os.path.basename(path), f.read()))
    return out


# ------------------------------------------------------------------------------------------------------------
# Stage 1: preprocessing (check_accuracy's helpers)
# ------------------------------------------------------------------------------------------------------------


def preprocess_bytes(data: bytes, pre: dict, draft: bool = False):
    """Encoded image bytes -> 224x224x3 uint8 RGB array, as model.json says."""
    from check_accuracy import load_rgb, resize_crop

    if not draft:
        return resize_crop(load_rgb(io.BytesIO(data)), pre, pre["filter"])
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        if im.format == "JPEG":
            # Ask libjpeg for the smallest DCT scale that keeps the shorter side >= the resize target
            # (the orientation does not change the shorter side).
            short = int(pre["resize_shorter_side"])
            w, h = im.size
            scale = min(w, h) / short
            im.draft("RGB", (max(1, int(w / scale)), max(1, int(h / scale))))
        rgb = ImageOps.exif_transpose(im).convert("RGB")
    return resize_crop(rgb, pre, pre["filter"])


# ------------------------------------------------------------------------------------------------------------
# Stage 2: inference
# ------------------------------------------------------------------------------------------------------------


class Model:
    """One onnxruntime session on the model file named by model.json, plus normalisation and top-5."""

    def __init__(self, model_dir: str, threads: int):
        import numpy as np
        import onnxruntime as ort

        self.np = np
        self.meta = load_meta(model_dir)
        with open(os.path.join(model_dir, self.meta["file"]), "rb") as f:
            model_bytes = f.read()
        with open(os.path.join(model_dir, self.meta.get("labels_file", "labels.txt")), encoding="utf-8") as f:
            self.labels = [line.rstrip("\n") for line in f]
        opts = ort.SessionOptions()
        if threads > 0:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
        norm = self.meta["normalization"]
        self.mean = np.asarray(norm["mean"], dtype=np.float32)
        self.std = np.asarray(norm["std"], dtype=np.float32)
        self.in_name = self.meta["input"]["name"]
        self.out_name = self.meta["output"]["name"]

    def classify(self, pixels, k: int = 5):
        """NxHxWx3 uint8 -> per image [(label, class_index, probability)] best first."""
        from check_accuracy import to_input

        np = self.np
        batch = to_input(pixels, self.mean, self.std)
        (logits,) = self.session.run([self.out_name], {self.in_name: batch})
        logits = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [[(self.labels[i], int(i), float(p[i])) for i in row] for row, p in zip(top, probs)]


def synthetic_inputs(batch: int, height: int, width: int):
    """The same deterministic photo-like bytes as imgpipe-bench's infer: ((j * 31 + i * 17) % 251)."""
    import numpy as np

    n = height * width * 3
    j = np.arange(n, dtype=np.int64)
    return np.stack([((j * 31 + i * 17) % 251).astype(np.uint8).reshape(height, width, 3) for i in range(batch)])


# ------------------------------------------------------------------------------------------------------------
# Subcommands
# ------------------------------------------------------------------------------------------------------------


def cmd_preprocess(args):
    pre = load_meta(args.model_dir)["preprocess"]
    inputs = read_files(args.files)
    every, per_file = [], {}
    for name, data in inputs:
        preprocess_bytes(data, pre, args.draft)  # warm-up
        samples = []
        for _ in range(args.repeat):
            t = _time.perf_counter()
            preprocess_bytes(data, pre, args.draft)
            samples.append(_ms(t))
        per_file[name] = stats(samples)["median"]
        every.extend(samples)
    return {"files": len(inputs), "repeat": args.repeat, "per_image_ms": stats(every), "per_file_median_ms": per_file}


def cmd_infer(args):
    model = Model(args.model_dir, args.threads)
    inp = model.meta["input"]
    pixels = synthetic_inputs(args.batch, int(inp["height"]), int(inp["width"]))
    model.classify(pixels)  # warm-up
    batches = []
    for _ in range(args.repeat):
        t = _time.perf_counter()
        model.classify(pixels)
        batches.append(_ms(t))
    return {
        "batch": args.batch,
        "threads": args.threads,
        "per_batch_ms": stats(batches),
        "per_image_ms": stats([b / args.batch for b in batches]),
    }


def cmd_pipeline(args):
    model = Model(args.model_dir, args.threads)
    pre = model.meta["preprocess"]
    total, prep, inf = [], [], []
    for _name, data in read_files(args.files):
        model.classify(preprocess_bytes(data, pre)[None])  # warm-up
        for _ in range(args.repeat):
            t = _time.perf_counter()
            pixels = preprocess_bytes(data, pre)
            p = _ms(t)
            ti = _time.perf_counter()
            model.classify(pixels[None])
            inf.append(_ms(ti))
            prep.append(p)
            total.append(_ms(t))
    return {"per_image_ms": stats(total), "preprocess_ms": stats(prep), "inference_ms": stats(inf)}


def cmd_cold_start(args):
    if not args.files:
        raise SystemExit("python_baseline: cold-start needs one image file")
    t = _time.perf_counter()
    import numpy  # noqa: F401
    import PIL.Image  # noqa: F401

    t_lib = _time.perf_counter()
    import onnxruntime  # noqa: F401

    library_ms = _ms(t_lib)
    import check_accuracy  # noqa: F401

    import_ms = _ms(t)
    with open(args.files[0], "rb") as f:
        data = f.read()
    t = _time.perf_counter()
    model = Model(args.model_dir, args.threads)
    session_ms = _ms(t)
    t = _time.perf_counter()
    result = model.classify(preprocess_bytes(data, model.meta["preprocess"])[None])
    first_inference_ms = _ms(t)
    return {
        "ready_ms": _ms(_T0),
        "import_ms": import_ms,
        "library_ms": library_ms,
        "session_ms": session_ms,
        "first_inference_ms": first_inference_ms,
        "top1": result[0][0][0],
    }


def cmd_session(args):
    Model(args.model_dir, args.threads)  # warm-up: library loaded, files in the page cache
    samples = []
    for _ in range(args.repeat):
        t = _time.perf_counter()
        Model(args.model_dir, args.threads)
        samples.append(_ms(t))
    return {"session_ms": stats(samples)}


def cmd_accuracy(args):
    """Top-1/top-5 of this baseline on a labelled folder (labels.tsv: file, class_index, ...)."""
    import numpy as np
    from check_accuracy import read_labels

    if not os.path.isfile(os.path.join(args.eval_dir, "labels.tsv")):
        raise SystemExit(f"python_baseline: evaluation folder {args.eval_dir} is absent (no labels.tsv)")
    samples = read_labels(args.eval_dir)
    model = Model(args.model_dir, args.threads)
    pre = model.meta["preprocess"]
    top1 = top5 = 0
    per_image = {}
    for start in range(0, len(samples), args.batch):
        chunk = samples[start : start + args.batch]
        pixels = np.stack([preprocess_bytes(data, pre) for _, data in read_files([p for p, _ in chunk])])
        for (path, label), preds in zip(chunk, model.classify(pixels)):
            indices = [i for _, i, _ in preds]
            top1 += int(indices[0] == label)
            top5 += int(label in indices)
            per_image[os.path.basename(path)] = indices[0]
    n = len(samples)
    return {
        "variant": model.meta.get("variant"),
        "images": n,
        "top1": top1 / n,
        "top5": top5 / n,
        "top1_class_per_image": per_image,
    }


COMMANDS = {
    "preprocess": cmd_preprocess,
    "infer": cmd_infer,
    "pipeline": cmd_pipeline,
    "cold-start": cmd_cold_start,
    "session": cmd_session,
    "accuracy": cmd_accuracy,
}


def parse(argv):
    ap = argparse.ArgumentParser(prog="python_baseline.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=sorted(COMMANDS))
    ap.add_argument("--model-dir", default=os.path.join(REPO, "build", "model"))
    ap.add_argument("--ort-library", help="ignored: onnxruntime's wheel loads its own library")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: onnxruntime's default)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--draft", action="store_true", help="preprocess: reduced-scale JPEG decode (Image.draft)")
    ap.add_argument("--eval-dir", help="accuracy: folder with labels.tsv and its images")
    ap.add_argument("files", nargs="*")
    args = ap.parse_intermixed_args(argv)
    args.batch = max(1, args.batch)
    args.repeat = max(1, args.repeat)
    return args


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    result = COMMANDS[args.command](args)
    print(json.dumps(result, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
