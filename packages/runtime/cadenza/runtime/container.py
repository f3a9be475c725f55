"""The entry point of a job's container image (tools/image): `python3 -m cadenza.runtime.container`.

    podman run IMAGE                    # run the job (same flags as `bazel run //jobs/<job>`)
    podman run IMAGE run --profile local --set window_s=5
    podman run IMAGE self-check         # what is inside: job, Python, Cadenza packages, Beam

The image sets CADENZA_JOB (the job's name) and CADENZA_JOB_MODULE (the module whose
`main(argv)` runs it). `self-check` imports every Cadenza package in the image and
Apache Beam and prints their versions; it exits 1 naming any that fail to import.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys


def versions() -> tuple[dict[str, str], dict[str, str]]:
    """(what imported -> version, what failed -> error) for Cadenza's packages and Beam."""
    import cadenza

    found, failed = {}, {}
    names = sorted(f"cadenza.{m.name}" for m in pkgutil.iter_modules(cadenza.__path__))
    for name in [*names, "apache_beam"]:
        try:
            module = importlib.import_module(name)
        except Exception as error:
            failed[name] = f"{type(error).__name__}: {error}"
            continue
        found[name] = getattr(module, "__version__", "unknown")
    return found, failed


def self_check() -> int:
    job = os.environ.get("CADENZA_JOB", "?")
    print(f"job {job} ({os.environ.get('CADENZA_JOB_MODULE', '?')})")
    print(f"python {platform.python_version()} ({sys.executable})")
    found, failed = versions()
    for name, version in found.items():
        print(f"{name} {version}")
    for name, error in failed.items():
        print(f"{name} FAILED {error}")
    return 1 if failed else 0


def run(argv: list[str]) -> int:
    module_name = os.environ.get("CADENZA_JOB_MODULE")
    if not module_name:
        print(
            "cadenza.runtime.container: CADENZA_JOB_MODULE is not set (is this a Cadenza image?)",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(module_name)
    return module.main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv else "run"
    if command == "self-check":
        return self_check()
    if command == "run":
        return run(argv)
    print(
        f"usage: {sys.argv[0]} [run [JOB FLAGS...] | self-check]; got {command!r}", file=sys.stderr
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
