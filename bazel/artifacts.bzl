"""`bazel run //:artifacts`: build/artifacts in the workspace, written by tools/lambda/package.py, the
script `make package` runs, from the Bazel-built zips (so both builders give the same tree and manifest).

    imgpipe_artifacts(
        name = "artifacts",
        functions = ["api", "inference", ...],   # each a //services/<function> imgpipe_lambda()
        models = [("efficientnet-lite0", "fp32"), ...],
    )

also declares `<name>_files`, a filegroup of the same files for `bazel build`.
"""

load("@rules_python//python:defs.bzl", "py_binary")
load(":lambda.bzl", "LAMBDA_ARCHS")
load(":model.bzl", "model_layer_name")

def imgpipe_artifacts(name, functions, models, archs = LAMBDA_ARCHS):
    """The runnable packaging target and its filegroup.

    Args:
      name: the `bazel run` target.
      functions: the functions' names; //services/<function>:lambda_zip_<arch> for every arch.
      models: (model, variant) pairs; //tools/model:model-<model>-<variant>.
      archs: the Lambda architectures.
    """
    args = ["--out", "build/artifacts"]
    data = []
    for fn in functions:
        for arch in archs:
            label = "//services/{}:lambda_zip_{}".format(fn, arch)
            args += ["--function", fn, arch, "$(rootpath {})".format(label)]
            data.append(label)
    for arch in archs:
        label = "//third_party/onnxruntime:onnxruntime-" + arch
        args += ["--onnxruntime-layer", arch, "$(rootpath {})".format(label)]
        data.append(label)
    for model, variant in models:
        label = "//tools/model:" + model_layer_name(model, variant)
        args += ["--model-layer", "$(rootpath {})".format(label)]
        data.append(label)
    py_binary(
        name = name,
        srcs = [
            "//tools/lambda:functions.py",
            "//tools/lambda:package.py",
        ],
        args = args,
        data = data,
        main = "//tools/lambda:package.py",
        python_version = "PY3",
    )
    native.filegroup(
        name = name + "_files",
        srcs = data,
    )
