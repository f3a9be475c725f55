"""Runs one pytest file as a Bazel test, with Cadenza's shared fixtures loaded.

Used by the `pytest_tests` macro (//tools/build_defs:python.bzl). Honours Bazel's test
environment: XML_OUTPUT_FILE (JUnit report), TESTBRIDGE_TEST_ONLY (--test_filter, as
a pytest -k expression) and TEST_TMPDIR (pytest's base temporary directory).
"""

import os
import sys

import pytest


def main() -> int:
    args = [
        "-p",
        "no:cacheprovider",
        "-p",
        "cadenza_fixtures",
        "-p",
        "pytester",
        "--import-mode=importlib",
        "-o",
        "python_files=*_test.py",
        "-ra",
        *sys.argv[1:],
    ]
    if "XML_OUTPUT_FILE" in os.environ:
        args.append(f"--junitxml={os.environ['XML_OUTPUT_FILE']}")
    if os.environ.get("TESTBRIDGE_TEST_ONLY"):
        args += ["-k", os.environ["TESTBRIDGE_TEST_ONLY"]]
    if "TEST_TMPDIR" in os.environ:
        args.append(f"--basetemp={os.path.join(os.environ['TEST_TMPDIR'], 'pytest')}")
    code = pytest.main(args)
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("pytest collected no tests: a test target must test something", file=sys.stderr)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
