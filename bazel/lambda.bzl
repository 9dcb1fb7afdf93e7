"""Lambda function zips: a rust_binary renamed `bootstrap` (mode 0755) at the root of a zip, built for the
Lambda platform of one architecture whatever platform the command line asks for.

    rust_lambda_zip(name = "lambda_zip", binary = ":api")                  # <pkg>/x86_64/bootstrap.zip
    rust_lambda_zip(name = "lambda_zip_arm64", binary = ":api", arch = "arm64", tags = ["manual"])

The zip lands at bazel-bin/<package>/<arch>/bootstrap.zip, the twin of cargo-lambda's
build/lambda/<arch>/<function>/bootstrap.zip (tools/lambda/build-lambdas.sh).
"""

load("@rules_pkg//pkg:mappings.bzl", "pkg_attributes", "pkg_files")
load("@rules_pkg//pkg:zip.bzl", "pkg_zip")

LAMBDA_PLATFORMS = {
    "arm64": Label("//bazel/platforms:linux_arm64"),
    "x86_64": Label("//bazel/platforms:linux_x86_64"),
}

def _lambda_transition_impl(_settings, attr):
    return {
        # The workspace's one optimised profile ([profile.release]), as cargo-lambda's --release.
        "//command_line_option:compilation_mode": "opt",
        "//command_line_option:platforms": str(attr.platform),
    }

_lambda_transition = transition(
    implementation = _lambda_transition_impl,
    inputs = [],
    outputs = [
        "//command_line_option:compilation_mode",
        "//command_line_option:platforms",
    ],
)

def _platform_file_impl(ctx):
    src = ctx.attr.src[0] if type(ctx.attr.src) == "list" else ctx.attr.src
    files = src[DefaultInfo].files.to_list()
    if len(files) != 1:
        fail("{} must produce exactly one file, got {}".format(src.label, [f.short_path for f in files]))
    out = ctx.actions.declare_file(ctx.attr.out)
    ctx.actions.symlink(output = out, target_file = files[0])
    return [DefaultInfo(files = depset([out]))]

platform_file = rule(
    implementation = _platform_file_impl,
    doc = "The one file of `src`, built for `platform`, at `out` in this package's output folder.",
    attrs = {
        "out": attr.string(mandatory = True),
        "platform": attr.label(mandatory = True),
        "src": attr.label(mandatory = True, cfg = _lambda_transition),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)

def rust_lambda_zip(name, binary, arch = "x86_64", **kwargs):
    """`<arch>/bootstrap.zip`: `binary` as an executable `bootstrap` at the zip's root.

    Args:
      name: the target name (the zip is `<arch>/bootstrap.zip` whatever the name).
      binary: a rust_binary label in this package.
      arch: "x86_64" or "arm64" (Lambda's architecture names).
      **kwargs: common attributes (tags, visibility, ...) of the final target.
    """
    if arch not in LAMBDA_PLATFORMS:
        fail("arch must be one of {}, got {}".format(sorted(LAMBDA_PLATFORMS.keys()), arch))
    pkg_files(
        name = name + "_bootstrap",
        srcs = [binary],
        attributes = pkg_attributes(mode = "0755"),
        renames = {binary: "bootstrap"},
        tags = ["manual"],
    )
    pkg_zip(
        name = name + "_zip",
        srcs = [":" + name + "_bootstrap"],
        tags = ["manual"],
    )
    platform_file(
        name = name,
        src = ":" + name + "_zip",
        out = arch + "/bootstrap.zip",
        platform = LAMBDA_PLATFORMS[arch],
        **kwargs
    )
