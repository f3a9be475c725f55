"""Configs and logic used by the runtime tests: small, real, on temporary folders.

Run as a program, it is a streaming job for the crash test:
    python -m jobs_for_tests CONFIG [run_job_cli arguments]
(Describe, leaving `<element>.<pid>.started` in $CADENZA_TEST_MARKERS at each call.)
"""

import collections
import os
import pathlib
import sys
import threading
import time

from cadenza.core import parse_job_config
from cadenza.runtime import JobLogic, Result


def make_config(tmp: pathlib.Path, extra: str = "", **placeholders):
    text = f"""
job_name: describe
version: "2"
data:
  inputs: [{{name: audio, location: {tmp / "in"}, suffix: .txt}}]
  outputs:
    - {{name: report, location: {tmp / "out"}, suffix: .json}}
    - {{name: copy, location: {tmp / "out"}, suffix: .bin}}
{extra}
"""
    return parse_job_config(text, source="test-job.yaml", env=placeholders)


def gcs_config_text(bucket: str, job: str, extra: str = "") -> str:
    """A job reading gs://BUCKET/in/<e>.txt, writing gs://BUCKET/out/<e>.json and .bin."""
    return f"""
job_name: {job}
version: "2"
data:
  inputs: [{{name: audio, location: "gs://{bucket}/in", suffix: .txt}}]
  outputs:
    - {{name: report, location: "gs://{bucket}/out", suffix: .json}}
    - {{name: copy, location: "gs://{bucket}/out", suffix: .bin}}
{extra}
"""


def put_gcs_input(bucket: str, element: str, text: str = "hello") -> None:
    from google.cloud import storage

    storage.Client().bucket(bucket).blob(f"in/{element}.txt").upload_from_string(text)


def put_input(tmp: pathlib.Path, element: str, text: str = "hello") -> None:
    (tmp / "in").mkdir(parents=True, exist_ok=True)
    (tmp / "in" / f"{element}.txt").write_text(text)


class Describe(JobLogic):
    """Reports the input's length, copies it, and fails on inputs that say so."""

    def process(self, ctx):
        data = ctx.inputs["audio"].read_bytes()
        if data.startswith(b"fail"):
            raise ValueError(f"input of {ctx.element} asks to fail")
        if data.startswith(b"sleep"):
            time.sleep(float(data.split()[1]))
        ctx.log.info("described %d bytes", len(data))
        return Result(
            outputs={"report": {"element": ctx.element, "bytes": len(data)}, "copy": data}
        )


class Flaky(JobLogic):
    """Fails with ConnectionError a number of times, then succeeds."""

    def __init__(self, failures: int):
        self.failures = failures
        self.calls = 0

    def process(self, ctx):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"attempt {self.calls} refused")
        return Result(outputs={"report": {"calls": self.calls}, "copy": b""})


CALLS: collections.Counter = collections.Counter()  # element -> calls, in this process
_CALLS_LOCK = threading.Lock()


class Counting(Describe):
    """Describe, counting its calls per element in CALLS (for in-process runs)."""

    def process(self, ctx):
        with _CALLS_LOCK:
            CALLS[ctx.element] += 1
        return super().process(ctx)


class Marking(Describe):
    """Describe, leaving `<element>.<pid>.started` in a folder when each call starts."""

    def __init__(self, folder: str):
        self.folder = folder

    def process(self, ctx):
        (pathlib.Path(self.folder) / f"{ctx.element}.{os.getpid()}.started").touch()
        return super().process(ctx)


def main(argv) -> int:
    from cadenza.runtime.cli import run_job_cli

    return run_job_cli(Marking(os.environ["CADENZA_TEST_MARKERS"]), argv[0], argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
