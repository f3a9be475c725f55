"""Step 8: write the logic's outputs atomically, each with its provenance.

Outputs are created, never replaced, unless the message is forced or the config
reprocesses outputs of older job versions. An output that already exists when it is
written (an earlier attempt of this message wrote it before a crash, or a duplicate
message won the race) is kept as it is: each output object is written exactly once.
Its provenance is written with it, in the same atomic step (object metadata, or a
local file's extended attribute; a sidecar where there are none: cadenza.runtime.storage).

Local outputs reach the disk before the step lets their message go on: each file is
fsynced before its rename (streaming, where every acknowledgement depends on it), or,
with `sync_per_bundle` (batch runs), written without fsync and made durable all at once
by one `os.sync()` when the bundle finishes, before the runner commits the bundle: the
same guarantee at the point it matters, for one sync per bundle instead of one per
output.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import pathlib

import apache_beam as beam
import attrs

from cadenza.core import JobConfig, Outcome
from cadenza.runtime.lifecycle._step import Step, count
from cadenza.runtime.lifecycle.records import DEAD_LETTER, PUBLISH, DeadLetter
from cadenza.runtime.sorted_json import dumps_sorted
from cadenza.runtime.storage import (
    digest,
    is_local,
    write_atomically,
)


def output_content(name: str, content) -> bytes | pathlib.Path:
    """Output content as written: bytes as they are, dict/list as JSON (keys sorted, one
    line: indenting would cost more than the rest of the write; NaN or an infinity is a
    ValueError naming the output), a Path as the file to copy (never read whole into
    memory)."""
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    if isinstance(content, dict | list):
        try:  # NaN and infinities are not JSON: readers would refuse the file
            return (dumps_sorted(content, strict=True) + "\n").encode()
        except ValueError as err:
            hint = ": JSON has no NaN or infinity (return None, or a string)"
            raise ValueError(
                f"output {name!r}: {err}{hint if 'float' in str(err) else ''}"
            ) from None
    if isinstance(content, pathlib.Path):
        if not content.is_file():
            raise FileNotFoundError(f"output {name!r}: {content} is not a file")
        return content
    raise TypeError(
        f"output {name!r}: content is {type(content).__name__}; expected bytes, dict, list or Path"
    )


def provenance(
    config: JobConfig, message, input_digests: dict, payload=None, image_digest=None
) -> dict:
    """What an output records of how it was made. `payload`, the one the logic returned
    for the message's children, is kept too (base64), so that a redelivery after a
    crash between the write and the publish sends the children the same message.
    `image_digest`: the workers' image (from `--sdk_container_image` pinned by digest),
    else $CADENZA_IMAGE_DIGEST, else None."""
    record = {
        "job": config.job_name,
        "job_version": config.version,
        "element": message.element,
        "trace_id": message.trace_id,
        "message_id": message.message_id,
        "inputs": input_digests,
        "image_digest": image_digest or os.environ.get("CADENZA_IMAGE_DIGEST"),
        "written_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    if payload is not None:
        record["payload"] = base64.b64encode(payload).decode()
    return record


def _stored_digest(loc, element: str) -> str:
    """The digest of an input the logic did not read whole (as stored); an error names
    the input."""
    path = loc.path_for(element)
    try:
        return digest(path)
    except Exception as err:
        raise OSError(f"input {loc.name} ({path}): cannot read it for its digest: {err}") from err


class _WriteFn(beam.DoFn):
    def __init__(self, config: JobConfig, sync_per_bundle: bool = False, image_digest=None):
        self._config, self._per_bundle = config, sync_per_bundle
        self._image_digest = image_digest
        self._unsynced = False

    def start_bundle(self):
        self._unsynced = False

    def finish_bundle(self):
        if self._unsynced:
            os.sync()
            self._unsynced = False

    def _write(self, path: str, data: bytes, overwrite: bool, provenance: dict) -> bool:
        durable = not (self._per_bundle and is_local(path))
        written = write_atomically(
            path, data, overwrite=overwrite, durable=durable, provenance=provenance
        )
        self._unsynced |= written and not durable
        return written

    def process(self, item):
        message, result = item.message, item.result
        config = self._config
        try:
            read = getattr(item, "input_digests", {})
            inputs = {
                loc.name: read.get(loc.name) or _stored_digest(loc, message.element)
                for loc in config.data.inputs
                if not loc.skip_existence_check
            }
            record = provenance(config, message, inputs, result.payload, self._image_digest)
            replace = message.force or config.reprocess_on_version_change
            contents = [  # all of them first: content that cannot be written writes none
                (loc.path_for(message.element), output_content(loc.name, result.outputs[loc.name]))
                for loc in config.data.outputs
                if loc.name in result.outputs
            ]
            for path, data in contents:
                if not self._write(path, data, replace, record):
                    count(config.job_name, "outputs_kept")
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
    """Produced(message, Result) -> the message, audited `processed`, on the publish output.
    `sync_per_bundle`: see the module docstring; `image_digest`: see `provenance`."""

    step_label, stage = "WriteOutputs", "write"

    def __init__(
        self, config: JobConfig, sync_per_bundle: bool = False, image_digest: str | None = None
    ):
        super().__init__()
        self._config, self.job, self._per_bundle = config, config.job_name, sync_per_bundle
        self._image_digest = image_digest

    def step_fn(self):
        return _WriteFn(self._config, self._per_bundle, self._image_digest)
