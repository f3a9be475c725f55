"""cadenza_job: one call per job's BUILD.bazel, in jobs/<name>/.

    load("//tools/build_defs:job.bzl", "cadenza_job")
    cadenza_job(
        name = "fingerprint",
        srcs = ["cli.py", "logic.py", "pipeline.py"],
        deps = ["//packages/audio", requirement("numpy")],
    )

Generates, for jobs/<name>/:
  :lib           py_library of the job's code and job.yaml (what tests and images use)
  :<name>        the runnable job: `bazel run //jobs/<name> -- [--profile P] [--set k=v]`
  :deploy        `bazel run //jobs/<name>:deploy -- [--profile local|dask|dataflow] [--dry-run]
                 [--set k=v] [-- JOB_AND_BEAM_FLAGS]` (tools/deploy/deploy_main.py)
  :verify        `bazel run //jobs/<name>:verify`: offline checks (the config loads with
                 the job's params class, the job is in the registry) and the wiring the
                 job needs, printed
  :image         the job's container image (tools/image/image.bzl): an OCI layout and an
                 oci-archive tarball; `bazel run //jobs/<name>:image -- --inspect`
  :image_push    `bazel run //jobs/<name>:image_push -- --registry HOST/PATH` (skopeo)
  :image_dataflow, :image_dataflow_push   the same on Beam's SDK image, for Dataflow
                 (manual: its base is imported by digest, see tools/image/base.py)
  :config_test   the config loads with the job's own params class, and the job is in
                 the registry list (jobs/jobs.bzl); it depends on :image_layers, the
                 image's check that the job's third-party distributions are exactly its
                 image_pypi_layer's, so `bazel test` fails on a mismatch too
  :<file>_test   one pytest target per *_test.py in the folder
  :job_config    the config, collected by //jobs:registry (the DAG registry)
  :lint_test     ruff and buildifier over the folder

Bad arguments fail when the BUILD file is loaded, with the reason.
"""

load("//jobs:jobs.bzl", "JOBS")
load("//tools/build_defs:python.bzl", "lint_test", "pytest_tests")
load("//tools/image:image.bzl", "cadenza_image", "image_layers_check")

_RUNTIME = ["//packages/core", "//packages/runtime"]

def _check(name, srcs, main, config, deps):
    package = native.package_name()
    if package != "jobs/" + name:
        fail("cadenza_job(name = %r) belongs in jobs/%s/BUILD.bazel, not %s/" % (name, name, package))
    if not name or not name[0].isalpha() or not name.replace("_", "").isalnum() or name.lower() != name:
        fail("cadenza_job: name %r: use lower-case letters, digits and underscores" % name)
    if name not in JOBS:
        fail("cadenza_job(%r) is not listed in jobs/jobs.bzl: add it there (or create jobs with `bazel run //tools:new_job`)" % name)
    if not srcs:
        fail("cadenza_job(%r): srcs is empty; list the job's Python files" % name)
    for src in srcs:
        if not src.endswith(".py"):
            fail("cadenza_job(%r): srcs has %r; srcs are Python files (data files go in `data`)" % (name, src))
        if src.endswith("_test.py"):
            fail("cadenza_job(%r): %r is a test; tests are found by the macro, leave them out of srcs" % (name, src))
    if main not in srcs:
        fail("cadenza_job(%r): main %r is not in srcs %r" % (name, main, srcs))
    if not config.endswith(".yaml"):
        fail("cadenza_job(%r): config %r must be a YAML file (job.yaml)" % (name, config))
    for dep in deps:
        if type(dep) == "string" and (dep.startswith("//jobs/") or dep.startswith("//packages/devtools")):
            fail("cadenza_job(%r): a job may not depend on %s (ARCHITECTURE.md: jobs use core, runtime and audio only)" % (name, dep))

def _image_push(image, image_name, tags):
    native.filegroup(
        name = image + ".layout",
        srcs = [":" + image],
        output_group = "layout",
        tags = tags,
        visibility = ["//visibility:public"],
    )
    native.py_binary(
        name = image + "_push",
        srcs = ["//tools/image:push.py"],
        main = "//tools/image:push.py",
        args = ["--name=" + image_name, "--layout=$(rootpath :%s.layout)" % image],
        data = [":%s.layout" % image],
        tags = tags,
        deps = ["//tools/image:push_lib"],
    )

def cadenza_job(
        name,
        srcs,
        deps = [],
        main = "pipeline.py",
        config = "job.yaml",
        data = [],
        test_deps = [],
        test_data = [],
        test_size = "medium",
        test_tags = [],
        image_base = "python",
        image_pypi_layer = "//third_party/images:beam_librosa"):
    """The targets of one Cadenza job (see the module docstring).

    Args:
      name: the job's folder name: jobs/<name>.
      srcs: the job's Python files (not its tests).
      deps: what the job's code imports besides cadenza.core and cadenza.runtime.
      main: the file whose `main()` runs the job (through cadenza.runtime's job CLI).
      config: the job's config file.
      data: other files the job reads at run time.
      test_deps: extra dependencies of the job's tests.
      test_data: extra files the tests read.
      test_size: the tests' Bazel size.
      test_tags: the tests' tags (["exclusive"] for tests that start servers).
      image_base: the image's base (tools/image/base.py BASES), e.g. "python-ffmpeg".
      image_pypi_layer: the shared third-party layer holding exactly the job's
        distributions (third_party/images/BUILD.bazel).
    """
    _check(name, srcs, main, config, deps)
    module = "jobs.%s.%s" % (name, main[:-len(".py")])
    native.py_library(
        name = "lib",
        srcs = srcs,
        data = data + [config],
        deps = _RUNTIME + deps,
        visibility = ["//visibility:public"],
    )
    native.py_binary(
        name = name,
        srcs = [main],
        main = main,
        deps = [":lib"],
    )
    native.filegroup(
        name = "job_config",
        srcs = [config],
        visibility = ["//jobs:__pkg__"],
    )
    for tool in ["deploy", "verify"]:
        native.py_binary(
            name = tool,
            srcs = ["//tools/deploy:%s_main.py" % tool],
            main = "//tools/deploy:%s_main.py" % tool,
            args = [
                "--job=" + name,
                "--config=$(rootpath %s)" % config,
                "--module=" + module,
                "--registry=$(rootpath //jobs:registry)",
            ],
            data = [config, "//jobs:registry"],
            deps = [":lib", "//packages/devtools", "//tools/deploy:job_args"],
        )
    native.py_test(
        name = "config_test",
        srcs = ["//tools/deploy:config_test.py"],
        main = "//tools/deploy:config_test.py",
        args = [
            "--job=" + name,
            "--config=$(rootpath %s)" % config,
            "--module=" + module,
            "--registry=$(rootpath //jobs:registry)",
        ],
        # :image_layers: the image's layer check, run by `bazel test` without the image
        data = [config, "//jobs:registry", ":image_layers"],
        deps = [":lib", "//packages/devtools", "//tools/deploy:job_args"],
        size = "small",
    )
    image_layers_check(
        name = "image_layers",
        lib = ":lib",
        job = name,
        pypi_layer = image_pypi_layer,
    )
    cadenza_image(
        name = "image",
        lib = ":lib",
        job = name,
        module = module,
        config = config,
        base = "@image_bases//:" + image_base,
        pypi_layer = image_pypi_layer,
        visibility = ["//visibility:public"],
    )
    _image_push("image", name, tags = [])

    # On Beam's SDK image (imported by digest: `bazel run //tools/image:base -- beam-sdk
    # --from ...`), which cannot be pulled on every machine: built only when asked for.
    cadenza_image(
        name = "image_dataflow",
        lib = ":lib",
        job = name,
        image_name = name + "-dataflow",
        module = module,
        config = config,
        base = "@image_bases//:beam-sdk",
        keep_base_entrypoint = True,
        pypi_layer = image_pypi_layer,
        tags = ["manual"],
        visibility = ["//visibility:public"],
    )
    _image_push("image_dataflow", name + "-dataflow", tags = ["manual"])
    tests = native.glob(["*_test.py"])
    if "config_test.py" in tests:
        fail("cadenza_job(%r): config_test.py clashes with the generated :config_test; rename it" % name)
    if tests:
        pytest_tests(
            srcs = tests,
            deps = [":lib"] + test_deps,
            data = test_data,
            size = test_size,
            tags = test_tags,
        )
    lint_test()
