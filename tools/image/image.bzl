"""Container images for jobs, built by Bazel without a container engine.

    load("//tools/image:image.bzl", "cadenza_image", "image_base", "pypi_layer")

An image is a base (a Debian root filesystem with Python, built by
`bazel run //tools/image:base` and cached outside the repository; see base.py), then
three layers, each a reproducible uncompressed tar (layer.py):

  1. third-party: the locked distributions the job imports, from a `pypi_layer` target.
     One such target serves every job that needs the same set, so the biggest layer is
     built once; an image whose job needs a different set fails at analysis time and
     names the distributions that differ.
  2. cadenza: the Cadenza packages the job depends on, and only those.
  3. job: the job's own code and config.

A job's Dataflow image (`keep_base_entrypoint = True`) has Beam's Python SDK image as
its base and keeps that image's entry point, Beam's boot program, which Dataflow runs.

`cadenza_image` writes an OCI layout (`<name>.oci/`), an `oci-archive` tarball
(`<name>.tar`, for `podman load`) and a launcher: `bazel run :image -- --inspect` prints
each layer's size and what it holds. The image config runs
`python3 -m cadenza.runtime.container` (see that module) and labels the image with the
job, the git revision (STABLE_GIT_REVISION from tools/image/workspace_status.sh), the
config's digest and the base's digest.
"""

CadenzaLayerInfo = provider(
    doc = "A third-party layer built once and shared by the images of every job that needs its set.",
    fields = {
        "tar": "File: the layer tar",
        "info": "File: JSON with the layer's digest, size and comment",
        "pypi": "list of str: the @pypi files (short paths) the layer holds",
    },
)

CadenzaBaseInfo = provider(
    doc = "An image base: an OCI layout in the image-bases cache, or its absence.",
    fields = {
        "name": "str: the base's name (tools/image/base.py BASES)",
        "files": "list of File: the layout's files (empty when the base is not built)",
        "layout": "str: the layout folder's exec path",
    },
)

_IMAGE_ROOT = "opt/cadenza"
_SITE = _IMAGE_ROOT + "/site"

_TOOL = attr.label(
    default = "//tools/image:image_tool",
    executable = True,
    cfg = "exec",
)

def _short_path(file):
    return file.short_path

def _pypi_files(targets):
    runfiles = depset(transitive = [t[DefaultInfo].default_runfiles.files for t in targets])
    return sorted(
        [f for f in runfiles.to_list() if f.owner.workspace_name == "pypi" and not f.path.endswith(".pyc")],
        key = _short_path,
    )

def _site_path(file):
    marker = "/site/"
    index = file.short_path.find(marker)
    if index < 0:
        fail("%s is not under @pypi's site/ folder" % file.short_path)
    return _SITE + "/" + file.short_path[index + len(marker):]

def _layer_action(ctx, name, pairs, comment, wheels = []):
    spec = ctx.actions.declare_file("%s.%s.spec.json" % (ctx.label.name, name))
    tar = ctx.actions.declare_file("%s.%s.tar" % (ctx.label.name, name))
    info = ctx.actions.declare_file("%s.%s.json" % (ctx.label.name, name))
    ctx.actions.write(spec, json.encode({
        "comment": comment,
        "files": [[f.path, dest] for f, dest in pairs],
        "wheels": [w.path for w in wheels],
    }))
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = ["layer", "--spec", spec.path, "--out", tar.path, "--info", info.path],
        inputs = [spec] + [f for f, _ in pairs] + wheels,
        outputs = [tar, info],
        mnemonic = "CadenzaImageLayer",
        progress_message = "Building image layer %s (%s)" % (name, ctx.label),
    )
    return tar, info

def _wheel_key(name, version):
    return name.lower().replace(".", "_").replace("-", "_") + "-" + version.lower()

def _wheels_of(files, wheels):
    """The wheels the distributions among `files` were installed from.

    A distribution is its `<name>-<version>.dist-info` folder; a layer depends only on its
    own distributions' wheels."""
    wanted = {}
    for f in files:
        if f.basename.endswith(".dist-info"):
            name, _, version = f.basename[:-len(".dist-info")].partition("-")
            wanted[_wheel_key(name, version)] = True
    chosen = []
    for wheel in wheels:
        name, _, rest = wheel.basename.partition("-")
        version = rest.partition("-")[0]
        if _wheel_key(name, version) in wanted:
            chosen.append(wheel)
    return chosen

def _pypi_layer_impl(ctx):
    files = _pypi_files(ctx.attr.deps)
    if not files:
        fail("%s: deps bring no @pypi distributions" % ctx.label)
    tar, info = _layer_action(
        ctx,
        "layer",
        [(f, _site_path(f)) for f in files],
        "third-party: %s" % ctx.label,
        # a file changed in @pypi//:site since pip installed it is taken from its wheel
        wheels = _wheels_of(files, ctx.files._wheels),
    )
    return [
        DefaultInfo(files = depset([tar, info])),
        CadenzaLayerInfo(tar = tar, info = info, pypi = [f.short_path for f in files]),
    ]

pypi_layer = rule(
    implementation = _pypi_layer_impl,
    doc = "A shared third-party layer: the @pypi distributions `deps` need, under /opt/cadenza/site.",
    attrs = {
        "deps": attr.label_list(mandatory = True, doc = "what the jobs served by this layer import"),
        "_tool": _TOOL,
        "_wheels": attr.label(default = "@pypi//:wheelhouse", allow_files = [".whl"]),
    },
)

def _image_base_impl(ctx):
    files = ctx.files.srcs
    index = [f for f in files if f.basename == "index.json"]
    layout = index[0].dirname if index else ctx.attr.cache
    return [
        DefaultInfo(files = depset(files), runfiles = ctx.runfiles(files = files)),
        CadenzaBaseInfo(name = ctx.label.name, files = files, layout = layout),
    ]

image_base = rule(
    implementation = _image_base_impl,
    doc = "A base's cached OCI layout (generated by tools/image/bases.bzl; may be empty).",
    attrs = {
        "srcs": attr.label_list(allow_files = True),
        "cache": attr.string(doc = "the base's folder in the cache (named when it is missing)"),
    },
)

def _dist_names(short_paths):
    """The distributions among @pypi short paths, as `name version` (their dist-info)."""
    names = {}
    for path in short_paths:
        top = path.split("/site/")[-1].split("/")[0]
        if top.endswith(".dist-info"):
            name, _, version = top[:-len(".dist-info")].partition("-")
            names["%s %s" % (name, version)] = True
    return sorted(names.keys())

def _check_pypi(ctx, needed):
    held = ctx.attr.pypi_layer[CadenzaLayerInfo].pypi
    if needed == held:
        return
    held_set = {p: True for p in held}
    needed_set = {p: True for p in needed}
    missing = _dist_names([p for p in needed if p not in held_set])
    extra = _dist_names([p for p in held if p not in needed_set])
    fail(("%s: job %r needs a different set of third-party distributions than %s holds.\n" +
          "  needed but not in the layer: %s\n  in the layer but not needed: %s\n" +
          "Give the job a pypi_layer with exactly its set (third_party/images/BUILD.bazel) and " +
          "pass it as cadenza_job(image_pypi_layer = ...).") % (
        ctx.label,
        ctx.attr.job,
        ctx.attr.pypi_layer.label,
        ", ".join(missing) or "-",
        ", ".join(extra) or "-",
    ))

_LAUNCHER = """#!/bin/sh
# bazel run {label} -- [--inspect | --path]
set -eu
here="${{RUNFILES_DIR:-$0.runfiles}}/{workspace}"
[ -d "$here" ] || here="$PWD"
case "${{1:---inspect}}" in
  --inspect) PYTHONPATH="$here" exec /usr/bin/python3 -S "$here/{tool}" inspect "$here/{layout}" ;;
  --path) echo "$here/{layout}"; echo "$here/{archive}" ;;
  *) echo "usage: bazel run {label} -- [--inspect | --path]" >&2; exit 2 ;;
esac
"""

def _cadenza_image_impl(ctx):
    runfiles = ctx.attr.lib[DefaultInfo].default_runfiles.files.to_list()
    pypi = _pypi_files([ctx.attr.lib])
    _check_pypi(ctx, [f.short_path for f in pypi])

    packages, job, packages_roots = [], [], {}
    for f in sorted(runfiles, key = _short_path):
        if f.owner.workspace_name == "pypi":
            continue
        if f.owner.workspace_name:
            fail("%s: %s comes from @%s; images hold only @pypi and this repository's files" % (
                ctx.label,
                f.short_path,
                f.owner.workspace_name,
            ))
        dest = _IMAGE_ROOT + "/" + f.short_path
        if f.short_path.startswith("packages/"):
            packages.append((f, dest))
            packages_roots["/%s/packages/%s" % (_IMAGE_ROOT, f.short_path.split("/")[1])] = True
        else:
            job.append((f, dest))
    if not job:
        fail("%s: %s has no files of its own" % (ctx.label, ctx.attr.lib.label))
    package_names = sorted([p.split("/")[-1] for p in packages_roots.keys()])
    packages_tar, packages_info = _layer_action(
        ctx,
        "cadenza",
        packages,
        "cadenza packages: %s" % ", ".join(package_names),
    )
    job_tar, job_info = _layer_action(ctx, "job", job, "job: %s" % ctx.attr.job)

    python_path = ["/" + _SITE] + sorted(packages_roots.keys()) + ["/" + _IMAGE_ROOT]
    settings = ctx.actions.declare_file(ctx.label.name + ".settings.json")
    keep = ctx.attr.keep_base_entrypoint
    ctx.actions.write(settings, json.encode({
        "ref_name": "cadenza/%s:latest" % (ctx.attr.image_name or ctx.attr.job),
        "entrypoint": None if keep else ["/usr/bin/python3", "-m", "cadenza.runtime.container"],
        "cmd": None if keep else ["run"],
        "env": {
            "PYTHONPATH": ":".join(python_path),
            "PYTHONUNBUFFERED": "1",
            "CADENZA_JOB": ctx.attr.job,
            "CADENZA_JOB_MODULE": ctx.attr.module,
        },
        "working_dir": "" if keep else "/data",
        "labels": {
            "org.opencontainers.image.title": "cadenza-" + ctx.attr.job,
            "dev.cadenza.job": ctx.attr.job,
            "dev.cadenza.job.module": ctx.attr.module,
            "dev.cadenza.packages": ",".join(package_names),
            "dev.cadenza.pypi-layer": str(ctx.attr.pypi_layer.label),
        },
    }))

    base = ctx.attr.base[CadenzaBaseInfo]
    layer = ctx.attr.pypi_layer[CadenzaLayerInfo]
    layout = ctx.actions.declare_directory(ctx.label.name + ".oci")
    archive = ctx.actions.declare_file(ctx.label.name + ".tar")
    arguments = [
        "assemble",
        "--base",
        base.layout,
        "--base-name",
        base.name,
        "--settings",
        settings.path,
        "--job-config",
        ctx.file.config.path,
        "--status",
        ctx.info_file.path,
        "--out-layout",
        layout.path,
        "--out-archive",
        archive.path,
    ]
    for tar, info in [(layer.tar, layer.info), (packages_tar, packages_info), (job_tar, job_info)]:
        arguments += ["--layer", tar.path, info.path]
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = arguments,
        inputs = base.files + [
            settings,
            ctx.file.config,
            ctx.info_file,
            layer.tar,
            layer.info,
            packages_tar,
            packages_info,
            job_tar,
            job_info,
        ],
        outputs = [layout, archive],
        mnemonic = "CadenzaImage",
        progress_message = "Assembling image %s on base %s" % (ctx.label, base.name),
    )

    launcher = ctx.actions.declare_file(ctx.label.name + ".launcher.sh")
    ctx.actions.write(launcher, _LAUNCHER.format(
        label = str(ctx.label),
        workspace = ctx.workspace_name,
        tool = ctx.file._inspect_main.short_path,
        layout = layout.short_path,
        archive = archive.short_path,
    ), is_executable = True)

    # The launcher runs the tool's sources with the pinned interpreter: the host-built
    # tool's runfiles would bring __init__.py files into every runfiles tree this joins.
    inspect_runfiles = ctx.attr._inspect_lib[DefaultInfo].default_runfiles
    return [
        DefaultInfo(
            files = depset([layout, archive]),
            executable = launcher,
            runfiles = ctx.runfiles(files = [layout, archive, ctx.file._inspect_main]).merge(inspect_runfiles),
        ),
        OutputGroupInfo(layout = depset([layout]), archive = depset([archive])),
    ]

cadenza_image = rule(
    implementation = _cadenza_image_impl,
    executable = True,
    doc = "A job's image: OCI layout, oci-archive tarball and an --inspect launcher.",
    attrs = {
        "lib": attr.label(mandatory = True, doc = "the job's py_library (cadenza_job's :lib)"),
        "job": attr.string(mandatory = True),
        "module": attr.string(mandatory = True, doc = "the module whose main() runs the job"),
        "config": attr.label(mandatory = True, allow_single_file = [".yaml"]),
        "base": attr.label(mandatory = True, providers = [CadenzaBaseInfo]),
        "pypi_layer": attr.label(mandatory = True, providers = [CadenzaLayerInfo]),
        "image_name": attr.string(doc = "the image's name (default: the job's)"),
        "keep_base_entrypoint": attr.bool(
            doc = "keep the base's entry point (Beam's boot program, for Dataflow images)",
        ),
        "_tool": _TOOL,
        "_inspect_main": attr.label(default = "//tools/image:image_tool.py", allow_single_file = True),
        "_inspect_lib": attr.label(default = "//tools/image:image_lib"),
    },
)

def _image_layers_check_impl(ctx):
    _check_pypi(ctx, [f.short_path for f in _pypi_files([ctx.attr.lib])])
    checked = ctx.actions.declare_file(ctx.label.name + ".checked")
    ctx.actions.write(checked, "%s fits %s\n" % (ctx.attr.lib.label, ctx.attr.pypi_layer.label))
    return [DefaultInfo(files = depset([checked]))]

image_layers_check = rule(
    implementation = _image_layers_check_impl,
    doc = ("The check `cadenza_image` makes at analysis time (the job's third-party " +
           "distributions are exactly its pypi_layer's), without building the image: a " +
           "test that depends on it fails `bazel test` on a mismatch."),
    attrs = {
        "lib": attr.label(mandatory = True),
        "job": attr.string(mandatory = True),
        "pypi_layer": attr.label(mandatory = True, providers = [CadenzaLayerInfo]),
    },
)
