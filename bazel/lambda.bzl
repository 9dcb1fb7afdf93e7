"""Lambda functions: one macro declares everything a function crate (services/<function>) builds.

    imgpipe_lambda(
        name = "api",                                   # the Cargo [[bin]] = the function's name
        deps = ["//services/aws", "//services/domain"],  # workspace crates of [dependencies]
        dev_deps = [],                                   # workspace crates only [dev-dependencies] have
    )

declares, in the calling package:

    :imgpipe_api               rust_library, src/**/*.rs but src/main.rs (crate `imgpipe_api`)
    :api                       rust_binary, src/main.rs, on the library
    :imgpipe_api_test          rust_test of the library's unit tests (crate = ":imgpipe_api")
    :<file>_test               one rust_test per tests/*.rs, if any
    :lambda_zip_x86_64         <package>/api-x86_64.zip: `api` as an executable `bootstrap`, Linux x86_64
    :lambda_zip_arm64          <package>/api-arm64.zip:  the same for Linux arm64 (Graviton)
    :zips                      both zips

The zips are named as in build/artifacts/lambda/ (tools/lambda/package.py), and each is built for its
Lambda platform (glibc 2.34, -c opt) by a transition, whatever the command line asks for.
External crates come from Cargo.toml through crate_universe (all_crate_deps/aliases of @crates), so a
function's BUILD file only names the workspace crates it uses; bazel_consistency.py checks those
against Cargo.toml.
"""

load("@crates//:defs.bzl", "aliases", "all_crate_deps")
load("@rules_pkg//pkg:mappings.bzl", "pkg_attributes", "pkg_files")
load("@rules_pkg//pkg:zip.bzl", "pkg_zip")
load("@rules_rust//rust:defs.bzl", "rust_binary", "rust_library", "rust_test")
load(":cargo.bzl", "CARGO_EDITION", "CARGO_VERSION")

LAMBDA_ARCHS = ["x86_64", "arm64"]

LAMBDA_PLATFORMS = {
    "arm64": Label("//bazel/platforms:linux_arm64"),
    "x86_64": Label("//bazel/platforms:linux_x86_64"),
}

# Cargo's [profile.release] has strip = "symbols"; rules_rust's opt default strips only debuginfo.
STRIP_IN_OPT = select({
    Label("//bazel:opt"): ["-Cstrip=symbols"],
    "//conditions:default": [],
})

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
    doc = "The one file of `src`, built for `platform` with -c opt, at `out` in this package's output folder.",
    attrs = {
        "out": attr.string(mandatory = True),
        "platform": attr.label(mandatory = True),
        "src": attr.label(mandatory = True, cfg = _lambda_transition),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)

def rust_lambda_zip(name, binary, function, arch, **kwargs):
    """`<function>-<arch>.zip`: `binary` as an executable `bootstrap` at the zip's root.

    Args:
      name: the target name.
      binary: a rust_binary label in this package.
      function: the function's name, the first part of the zip's name.
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
        out = "{}-{}.zip".format(function, arch),
        platform = LAMBDA_PLATFORMS[arch],
        **kwargs
    )

def imgpipe_lambda(name, deps = [], dev_deps = [], crate_name = None, compile_data = [], visibility = None):
    """The library, binary, tests and both zips of one Lambda function crate (see the file's docstring).

    Args:
      name: the function's name: Cargo's [[bin]] name (src/main.rs) and the zips' first part.
      deps: labels of the workspace crates in [dependencies] (external crates come from @crates).
      dev_deps: labels of the workspace crates only in [dev-dependencies].
      crate_name: the library's crate name; default `imgpipe_<name>` (package imgpipe-<name>).
      compile_data: files the sources include_str!/include_bytes!.
      visibility: of the library and binary (default public: the local stack links the handlers).
    """
    lib = crate_name or "imgpipe_" + name.replace("-", "_")
    visibility = visibility or ["//visibility:public"]
    rust_library(
        name = lib,
        srcs = native.glob(
            ["src/**/*.rs"],
            exclude = ["src/main.rs"],
        ),
        aliases = aliases(),
        compile_data = compile_data,
        crate_root = "src/lib.rs",
        edition = CARGO_EDITION,
        proc_macro_deps = all_crate_deps(proc_macro = True),
        version = CARGO_VERSION,
        visibility = visibility,
        deps = all_crate_deps(normal = True) + deps,
    )
    rust_binary(
        name = name,
        srcs = ["src/main.rs"],
        aliases = aliases(),
        crate_root = "src/main.rs",
        edition = CARGO_EDITION,
        proc_macro_deps = all_crate_deps(proc_macro = True),
        rustc_flags = STRIP_IN_OPT,
        version = CARGO_VERSION,
        visibility = visibility,
        deps = all_crate_deps(normal = True) + deps + [":" + lib],
    )
    rust_test(
        name = lib + "_test",
        aliases = aliases(
            normal_dev = True,
            proc_macro_dev = True,
        ),
        crate = ":" + lib,
        proc_macro_deps = all_crate_deps(proc_macro_dev = True),
        deps = all_crate_deps(normal_dev = True) + dev_deps,
    )
    for src in native.glob(["tests/*.rs"], allow_empty = True):
        rust_test(
            name = src.removeprefix("tests/").removesuffix(".rs") + "_test",
            srcs = [src],
            aliases = aliases(
                normal_dev = True,
                proc_macro_dev = True,
            ),
            crate_root = src,
            edition = CARGO_EDITION,
            proc_macro_deps = all_crate_deps(
                proc_macro = True,
                proc_macro_dev = True,
            ),
            deps = all_crate_deps(
                normal = True,
                normal_dev = True,
            ) + deps + dev_deps + [":" + lib],
        )
    for arch in LAMBDA_ARCHS:
        rust_lambda_zip(
            name = "lambda_zip_" + arch,
            arch = arch,
            binary = ":" + name,
            function = name,
            visibility = ["//visibility:public"],
        )
    native.filegroup(
        name = "zips",
        srcs = [":lambda_zip_" + arch for arch in LAMBDA_ARCHS],
        visibility = ["//visibility:public"],
    )
