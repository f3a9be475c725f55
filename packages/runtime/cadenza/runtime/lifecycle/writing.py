"""Step 8: write the logic's outputs atomically, each with its provenance sidecar.

Outputs are created, never replaced, unless the message is forced or the config
reprocesses outputs of older job versions. An output that already exists when it is
written (an earlier attempt of this message wrote it before a crash, or a duplicate
message won the race) is kept as it is: each output object is written exactly once.
Its provenance is then written only if it is missing (a crash between the two).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib

import apache_beam as beam
import attrs

from cadenza.core import JobConfig, Outcome
from cadenza.runtime.lifecycle._step import Step, count
from cadenza.runtime.lifecycle.records import DEAD_LETTER, PUBLISH, DeadLetter
from cadenza.runtime.storage import digest, write_atomically, write_provenance


def content_bytes(name: str, content) -> bytes:
    """Output content as bytes: bytes as they are, dict/list as JSON, a Path's file."""
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    if isinstance(content, dict | list):
        return (json.dumps(content, sort_keys=True, indent=2) + "\n").encode()
    if isinstance(content, pathlib.Path):
        return content.read_bytes()
    raise TypeError(
        f"output {name!r}: content is {type(content).__name__}; expected bytes, dict, list or Path"
    )


def provenance(config: JobConfig, message, input_digests: dict) -> dict:
    return {
        "job": config.job_name,
        "job_version": config.version,
        "element": message.element,
        "trace_id": message.trace_id,
        "message_id": message.message_id,
        "inputs": input_digests,
        "image_digest": os.environ.get("CADENZA_IMAGE_DIGEST"),
        "written_at": dt.datetime.now(dt.UTC).isoformat(),
    }


class _WriteFn(beam.DoFn):
    def __init__(self, config: JobConfig):
        self._config = config

    def process(self, item):
        message, result = item.message, item.result
        config = self._config
        try:
            inputs = {
                loc.name: digest(loc.path_for(message.element))
                for loc in config.data.inputs
                if not loc.skip_existence_check
            }
            record = provenance(config, message, inputs)
            replace = message.force or config.reprocess_on_version_change
            for loc in config.data.outputs:
                if loc.name in result.outputs:
                    path = loc.path_for(message.element)
                    data = content_bytes(loc.name, result.outputs[loc.name])
                    if write_atomically(path, data, overwrite=replace):
                        write_provenance(path, record)
                    else:
                        count(config.job_name, "outputs_kept")
                        write_provenance(path, record, overwrite=False)
        except Exception as err:
            count(config.job_name, "dead_letter_write")
            reason = f"writing outputs failed: {type(err).__name__}: {err}"
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER, DeadLetter.for_message(config.job_name, "write", message, reason, err)
            )
            return
        count(config.job_name, "processed")
        done = message.with_audit(config.job_name, Outcome.PROCESSED, job_version=config.version)
        if result.payload is not None:
            done = attrs.evolve(done, payload=result.payload)
        yield beam.pvalue.TaggedOutput(PUBLISH, done)


class WriteOutputs(Step):
    """Produced(message, Result) -> the message, audited `processed`, on the publish output."""

    step_label, stage = "WriteOutputs", "write"

    def __init__(self, config: JobConfig):
        super().__init__()
        self._config, self.job = config, config.job_name

    def step_fn(self):
        return _WriteFn(self._config)
