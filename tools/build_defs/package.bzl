"""cadenza_package: one call per Cadenza distribution in packages/<name>/.

    load("//tools/build_defs:package.bzl", "cadenza_package")
    cadenza_package(name = "core", deps = [requirement("attrs")])

Generates, for packages/<name>/:
  :<name>          py_library over cadenza/<name>/**.py, importable as cadenza.<name>
  :dist_files      what `pip install ./packages/<name>` builds from
  :<file>_test     one pytest target per tests/*_test.py (with the lock and every
                   pyproject.toml as data, for package_test)
  :doctest_test    with doctests = True: the docstring examples of the public
                   modules and README.md
  :lint_test       ruff and buildifier over the package's files
"""

load("//tools/build_defs:python.bzl", "doctest_test", "lint_test", "pytest_tests")

def cadenza_package(
        name,
        deps = [],
        data = [],
        test_deps = [],
        test_data = [],
        test_size = "small",
        test_tags = [],
        doctests = False):
    """The targets of one Cadenza distribution.

    Args:
      name: the distribution's short name: packages/<name>, import cadenza.<name>.
      deps: the library's dependencies (other packages, requirement(...)).
      data: files the library reads at run time.
      test_deps: extra dependencies of the tests.
      test_data: extra files the tests read.
      test_size: the tests' Bazel size ("medium" or more for tests that start servers).
      test_tags: the tests' tags (["exclusive"] for tests that start servers).
      doctests: also run the docstring and README.md examples (:doctest_test).
    """
    if native.package_name() != "packages/" + name:
        fail("cadenza_package(name = %r) belongs in packages/%s/BUILD.bazel, not %s" % (
            name,
            name,
            native.package_name(),
        ))
    srcs = native.glob(["cadenza/%s/**/*.py" % name])
    if not srcs:
        fail("cadenza_package(%r): no sources under cadenza/%s/" % (name, name))
    native.exports_files(["pyproject.toml"])
    native.filegroup(
        name = "dist_files",
        srcs = srcs + [
            "README.md",
            "pyproject.toml",
        ],
    )
    native.py_library(
        name = name,
        srcs = srcs,
        data = data,
        imports = ["."],
        deps = deps,
    )
    pytest_tests(
        srcs = native.glob(["tests/*_test.py"]),
        data = test_data + [
            "//:requirements_lock.txt",
            "//packages:pyprojects",
        ],
        size = test_size,
        tags = test_tags,
        deps = [":" + name] + test_deps,
    )
    if doctests:
        doctest_test(
            name = "doctest_test",
            srcs = native.glob(
                ["cadenza/%s/**/*.py" % name],
                exclude = ["**/_*.py"],
            ),
            docs = ["README.md"],
            deps = [":" + name],
        )
    lint_test()
