"""Cadenza's linters: ruff (check and format) for Python, buildifier for Bazel files.

One implementation behind both the Bazel lint tests (lint_test.py) and the
pre-commit hooks (`tools/lint/hook`, which runs `bazel run //tools/lint`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence

BAZEL_FILE_NAMES = ("BUILD", "BUILD.bazel", "WORKSPACE", "WORKSPACE.bazel")


def is_bazel_file(path: str) -> bool:
    name = os.path.basename(path)
    return name in BAZEL_FILE_NAMES or name.endswith(".bzl")


def lint(
    files: Sequence[str], *, ruff: str, buildifier: str, config: str, fix: bool = False
) -> int:
    """Runs every linter over `files`; returns the number of linters that failed."""
    python = [f for f in files if f.endswith(".py")]
    bazel = [f for f in files if is_bazel_file(f)]
    commands = []
    if python:
        if fix:
            commands.append([ruff, "check", "--fix", "--config", config, *python])
            commands.append([ruff, "format", "--config", config, *python])
        else:
            commands.append([ruff, "check", "--no-cache", "--config", config, *python])
            commands.append(
                [ruff, "format", "--no-cache", "--check", "--diff", "--config", config, *python]
            )
    if bazel:
        mode, lint_mode = ("fix", "fix") if fix else ("check", "warn")
        # native-py: Bazel 4 has no rules_python here, so the native py_* rules are meant.
        commands.append(
            [buildifier, f"-mode={mode}", f"-lint={lint_mode}", "-warnings=-native-py", *bazel]
        )
    failures = 0
    for command in commands:
        if subprocess.run(command).returncode != 0:
            print(
                f"lint failed: {' '.join(command[:3])} ... ({len(command) - 3} files)",
                file=sys.stderr,
            )
            failures += 1
    print(f"linted {len(python)} Python and {len(bazel)} Bazel files: {failures} linter(s) failed")
    return failures


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ruff", required=True)
    parser.add_argument("--buildifier", required=True)
    parser.add_argument("--config", required=True, help="ruff.toml")
    parser.add_argument("--fix", action="store_true", help="rewrite files instead of checking them")
    parser.add_argument("files", nargs="*")
    return parser.parse_args(argv)
