"""The npm and PyPI packages of the layers as a module extension (MODULE.bazel):

    imgpipe_deps = use_extension("//bazel:extensions.bzl", "imgpipe_deps")
    use_repo(imgpipe_deps, "onnxruntime_node", ...)

It declares the same repositories as WORKSPACE's imgpipe_dependencies() (repositories.bzl), fetched
by `npm pack` / `pip download` and checked against the sha256s in third_party/*/SHA256SUMS and
tools/model/requirements*.txt, so the extension's result is reproducible from those files: Bazel
need not record it in MODULE.bazel.lock.
"""

load(":repositories.bzl", "imgpipe_dependencies")

def _imgpipe_deps_impl(mctx):
    imgpipe_dependencies()
    return mctx.extension_metadata(
        reproducible = True,
        root_module_direct_deps = "all",
        root_module_direct_dev_deps = [],
    )

imgpipe_deps = module_extension(
    implementation = _imgpipe_deps_impl,
    doc = "onnxruntime-node (npm), the weights and calibration wheels and the model tools' wheels (PyPI).",
)
