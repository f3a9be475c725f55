"""A small test kit: run a job's full lifecycle on a few elements, on the local runner.

    from cadenza.runtime.testing import run_lifecycle
    outcome = run_lifecycle(config, MyLogic(), ["track-1", "track-2"])
    assert [m.element for m in outcome.published] == [...]
    assert outcome.dead_letters == []

Elements may be ids (made into top-down messages), `Message` objects, or raw bytes
(decoded as the job's config says). Point the config's data locations at temporary
folders when loading it, with an environment for its `${VAR}` templates (a config
that still holds one is refused):

    config = load_job_config(path, env={"WORK": str(tmp_path)},
                             overrides=["data.inputs[0].location=/tmp/x"])
"""

from __future__ import annotations

import base64
import pathlib
import tempfile
from collections.abc import Iterable

import apache_beam as beam
import attrs
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from cadenza.core import JobConfig, Message, decode, encode
from cadenza.runtime.api import JobLogic
from cadenza.runtime.lifecycle import DeadLetter, Lifecycle
from cadenza.runtime.templates import require_filled


@attrs.frozen
class LifecycleOutcome:
    published: list[Message]
    finished: list[Message]
    dead_letters: list[DeadLetter]


def _as_event(item) -> bytes:
    if isinstance(item, Message):
        return encode(item)
    if isinstance(item, str):
        return encode(Message.new(item))
    return item


def run_lifecycle(config: JobConfig, logic: JobLogic, items: Iterable) -> LifecycleOutcome:
    """Runs `logic` through the whole lifecycle on `items`; returns what came out."""
    require_filled(config)
    events = [_as_event(item) for item in items]
    with tempfile.TemporaryDirectory(prefix="cadenza-test-") as scratch:
        out = pathlib.Path(scratch)
        with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions()) as pipeline:
            results = pipeline | beam.Create(events, reshuffle=False) | Lifecycle(config, logic)
            for name, to_line in (
                ("published", lambda b: base64.b64encode(b).decode()),
                ("finished", lambda m: base64.b64encode(encode(m)).decode()),
                ("dead_letter", DeadLetter.to_json),
            ):
                _ = (
                    results[name]
                    | f"{name}Lines" >> beam.Map(to_line)
                    | f"{name}Write" >> beam.io.WriteToText(str(out / name), shard_name_template="")
                )

        def lines(name):
            return [line for line in (out / name).read_text().splitlines() if line]

        return LifecycleOutcome(
            published=[decode(base64.b64decode(line)) for line in lines("published")],
            finished=[decode(base64.b64decode(line)) for line in lines("finished")],
            dead_letters=[DeadLetter.from_json(line) for line in lines("dead_letter")],
        )


def dead_letter_reasons(outcome: LifecycleOutcome) -> dict[str, str]:
    """{element: reason} of the dead letters, for short assertions."""
    return {d.element or "": d.reason for d in outcome.dead_letters}


__all__ = ["LifecycleOutcome", "dead_letter_reasons", "run_lifecycle"]
