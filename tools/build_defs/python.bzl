"""Cadenza's Python macros: tests run by pytest, and lint as a test.

    load("//tools/build_defs:python.bzl", "doctest_test", "lint_test", "pytest_tests")

pytest_tests(srcs, deps, ...) generates one py_test per `*_test.py` file, named after
the file (`tests/message_test.py` -> `:message_test`), run by pytest through
//tools/pytest:pytest_main.py with Cadenza's shared fixtures loaded.

pytest_benchmark(name, src, deps) is a benchmark target, run only by `./dev bench`.

doctest_test(name, srcs, deps) runs the examples in the docstrings of `srcs`.

lint_test(name) generates one test that fails on ruff (check and format) or
buildifier findings in this Bazel package's own files.
"""

def pytest_tests(srcs, deps = [], data = [], size = "small", tags = [], **kwargs):
    """One py_test per test file, named after the file.

    Args:
      srcs: the `*_test.py` files, e.g. glob(["tests/*_test.py"]).
      deps: libraries every test imports.
      data: files every test reads.
      size: Bazel test size; tests that start servers take "medium" or more.
      tags: e.g. ["exclusive"] for tests that start servers (CONTRIBUTING.md).
      **kwargs: passed to each py_test (timeout, flaky, env, ...).
    """
    if not srcs:
        fail("pytest_tests: `srcs` is empty; pass the test files, e.g. glob([\"tests/*_test.py\"])")
    for src in srcs:
        if not src.endswith("_test.py"):
            fail("pytest_tests: %r: test files are named *_test.py" % src)
        pytest_test(
            name = src.split("/")[-1][:-len(".py")],
            src = src,
            deps = deps,
            data = data,
            size = size,
            tags = tags,
            **kwargs
        )

def pytest_test(name, src, deps = [], data = [], args = [], **kwargs):
    """A py_test that runs one pytest file.

    Args:
      name: the test target's name.
      src: the `*_test.py` file.
      deps: libraries the test imports.
      data: files the test reads.
      args: extra pytest arguments.
      **kwargs: passed to py_test.
    """
    native.py_test(
        name = name,
        srcs = [src, "//tools/pytest:pytest_main.py"],
        main = "//tools/pytest:pytest_main.py",
        args = ["$(location %s)" % src] + args,
        data = data,
        deps = deps + [
            "//tools/pytest:fixtures",
            "@pypi//:pytest",
        ],
        python_version = "PY3",
        srcs_version = "PY3",
        **kwargs
    )

def pytest_benchmark(name, src, deps = [], tags = [], **kwargs):
    """A benchmark: never part of `bazel test //...`; run by `./dev bench` (CONTRIBUTING.md).

    Args:
      name: the target's name, also the name of its results file.
      src: the `*_bench.py` file, using pytest-benchmark's `benchmark` fixture.
      deps: libraries the benchmark imports.
      tags: extra tags; "manual" and "bench" are always added.
      **kwargs: passed to py_test.
    """
    if not src.endswith("_bench.py"):
        fail("pytest_benchmark: %r: benchmark files are named *_bench.py" % src)
    pytest_test(
        name = name,
        src = src,
        args = ["-o", "python_files=*_bench.py", "--benchmark-sort=name"],
        deps = deps + ["@pypi//:pytest_benchmark"],
        tags = tags + ["manual", "bench"],
        **kwargs
    )

def doctest_test(name, srcs, docs = [], deps = [], **kwargs):
    """Runs the examples in the docstrings of `srcs` as tests (pytest --doctest-modules).

    Args:
      name: the test target's name.
      srcs: the modules whose docstring examples run.
      docs: Markdown files whose `>>>` examples run.
      deps: libraries the modules import.
      **kwargs: passed to py_test.
    """
    native.py_test(
        name = name,
        srcs = srcs + ["//tools/pytest:pytest_main.py"],
        main = "//tools/pytest:pytest_main.py",
        args = ["--doctest-modules", "--doctest-glob=*.md"] +
               ["$(location %s)" % s for s in srcs + docs],
        data = docs,
        deps = deps + [
            "//tools/pytest:fixtures",
            "@pypi//:pytest",
        ],
        python_version = "PY3",
        srcs_version = "PY3",
        **kwargs
    )

def lint_test(name = "lint_test", srcs = None, tags = [], **kwargs):
    """ruff check, ruff format --check and buildifier over this package's files.

    Args:
      name: the test target's name.
      srcs: the files to lint; by default every *.py, BUILD.bazel and *.bzl file of
        the Bazel package (globs stop at sub-packages, which have their own lint_test).
      tags: extra tags; "lint" is always added.
      **kwargs: passed to py_test.
    """
    if srcs == None:
        srcs = native.glob(
            ["**/*.py", "**/*.bzl", "BUILD.bazel", "**/BUILD.bazel", "WORKSPACE"],
            exclude = ["bazel-*/**"],  # Bazel's convenience symlinks at the root
            allow_empty = True,
        )
    native.py_test(
        name = name,
        srcs = ["//tools/lint:lint_test.py"],
        main = "//tools/lint:lint_test.py",
        args = [
            "--ruff=$(location @pypi//:site/bin/ruff)",
            "--buildifier=$(location @buildifier//:buildifier)",
            "--config=$(location //:ruff.toml)",
        ] + ["$(location %s)" % s for s in srcs],
        data = srcs + [
            "//:ruff.toml",
            "@buildifier//:buildifier",
            "@pypi//:site/bin/ruff",
        ],
        deps = ["//tools/lint:lint_lib"],
        size = "small",
        tags = tags + ["lint"],
        **kwargs
    )
