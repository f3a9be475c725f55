"""pip_repository: installs requirements_lock.txt as Bazel targets, one per distribution.

The repository it creates holds:
  wheels/   every locked distribution as a wheel, hash-checked against the lock
            (`:wheelhouse`, used to install Cadenza's packages offline into a venv);
  site/     the wheels installed with `pip install --target` (no dependencies
            resolved by pip: the lock is complete);
  BUILD     one `py_library` per distribution, named after its normalized name
            (`@pypi//:apache_beam`), whose runfiles are exactly the files of that
            distribution and of its dependencies, read from the installed metadata
            (RECORD and Requires-Dist, with the extras requirements.in asks for);
  requirements.bzl  `requirement(name)`, the one way BUILD files name a dependency,
            and the lists of runtime and development-only distributions.

Nothing is downloaded except through pip from the configured package index.
"""

def _execute(rctx, args, what, timeout = 3600):
    rctx.report_progress(what)
    result = rctx.execute(args, timeout = timeout, quiet = True)
    if result.return_code != 0:
        fail("pip_repository(%s): %s failed (exit %d)\ncommand: %s\n%s\n%s" % (
            rctx.name,
            what,
            result.return_code,
            " ".join([str(a) for a in args]),
            result.stdout[-4000:],
            result.stderr[-4000:],
        ))
    return result

def _pip_repository_impl(rctx):
    python = rctx.attr.python_interpreter
    lock = rctx.path(rctx.attr.requirements_lock)
    runtime_in = [rctx.path(f) for f in rctx.attr.requirements_in]
    dev_in = [rctx.path(f) for f in rctx.attr.requirements_dev_in]
    generator = rctx.path(rctx.attr._generator)
    if not rctx.path(python).exists:
        fail("pip_repository(%s): the pinned interpreter %s does not exist; run ./dev setup" % (rctx.name, python))

    pip = [python, "-m", "pip", "--disable-pip-version-check", "--no-input", "--quiet"]
    _execute(
        rctx,
        pip + ["wheel", "--require-hashes", "--no-deps", "--wheel-dir", "wheels", "--requirement", lock],
        "Fetching and hash-checking the locked wheels (pip wheel --require-hashes)",
    )
    wheels = sorted([str(p) for p in rctx.path("wheels").readdir() if p.basename.endswith(".whl")])
    _execute(
        rctx,
        pip + ["install", "--no-index", "--no-deps", "--no-warn-script-location", "--target", "site"] + wheels,
        "Installing %d locked distributions into site/" % len(wheels),
    )
    args = [python, generator, "--site", "site", "--repository", rctx.name, "--lock", lock]
    for f in runtime_in:
        args += ["--runtime-in", f]
    for f in dev_in:
        args += ["--dev-in", f]
    _execute(rctx, args, "Generating one Bazel target per distribution")

pip_repository = repository_rule(
    implementation = _pip_repository_impl,
    doc = "Installs a hashed requirements lock and exposes one py_library per distribution.",
    attrs = {
        "python_interpreter": attr.string(mandatory = True, doc = "Absolute path of the pinned interpreter."),
        "requirements_dev_in": attr.label_list(allow_files = True, doc = "Development-only inputs."),
        "requirements_in": attr.label_list(allow_files = True, doc = "Runtime inputs."),
        "requirements_lock": attr.label(mandatory = True, allow_single_file = True),
        "_generator": attr.label(default = "//third_party/pip:generate_build.py", allow_single_file = True),
    },
)
