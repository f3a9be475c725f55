"""Recompiles requirements_lock.txt from requirements.in and requirements-dev.in.

Run as `bazel run //:requirements.update` (or `./dev relock`). Resolves for the pinned
interpreter (CPython 3.11, Linux x86_64) with uv, writes exact versions and sha256
hashes of every file of each locked version, and records the inputs' digest in the
header so that `//:requirements_lock_test` fails when an input changes without a relock.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from tools.lock.lock_inputs import INPUTS, LOCK, inputs_digest

HEADER = """\
# Cadenza's locked Python dependencies. Generated: do not edit by hand.
# Inputs: requirements.in (runtime) and requirements-dev.in (development only).
# Relock with `bazel run //:requirements.update` after changing an input.
# inputs-sha256: {digest}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", required=True, help="path of the uv binary")
    parser.add_argument(
        "--upgrade", action="store_true", help="move every pin to the newest allowed"
    )
    args = parser.parse_args()
    root = pathlib.Path(os.environ.get("BUILD_WORKSPACE_DIRECTORY", "."))
    uv = str(pathlib.Path(args.uv).resolve())
    command = [
        uv,
        "pip",
        "compile",
        "--quiet",
        "--generate-hashes",
        "--no-header",
        "--python-version",
        "3.11",
        "--python-platform",
        "x86_64-manylinux_2_28",
        *INPUTS,
    ]
    if args.upgrade:
        command.append("--upgrade")
    with tempfile.TemporaryDirectory() as scratch:
        output = pathlib.Path(scratch) / LOCK
        if (root / LOCK).exists() and not args.upgrade:
            shutil.copy(root / LOCK, output)  # uv keeps existing pins that still fit
        print(f"Resolving {', '.join(INPUTS)} ...", file=sys.stderr)
        result = subprocess.run([*command, "--output-file", str(output)], cwd=root)
        if result.returncode != 0:
            print(f"relock failed: uv exited with {result.returncode}", file=sys.stderr)
            return result.returncode
        text = HEADER.format(digest=inputs_digest(root)) + output.read_text()
    (root / LOCK).write_text(text)
    pins = sum(1 for line in text.splitlines() if "==" in line and not line.startswith("#"))
    print(f"Wrote {LOCK}: {pins} pinned distributions.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
