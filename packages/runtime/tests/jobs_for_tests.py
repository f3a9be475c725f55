"""Configs and logic used by the runtime tests: small, real, on temporary folders."""

import pathlib
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
