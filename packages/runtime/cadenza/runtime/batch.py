"""Batch runs: the job's batch event inputs, the lifecycle, and a record per element.

Batch inputs are read by the launcher and handed to the pipeline with `Create`:
a file of ids (one per line), a file of Pub/Sub messages (`format: messages`: one
JSON object per line, e.g. saved upload notifications, decoded as the job's
`events.accept` allows) or a bucket/folder listing (the id is the file name less the
suffix). Every result is recorded by the pipeline's last DoFn (batch_records.py) under
the run's folder:

    <runs>/<job>/<run id>/outcomes/    what happened to each element (a JSON-lines
                                       file per bundle)
    <runs>/<job>/<run id>/events/      the messages for the children, a JSON-lines file
                                       per bundle in the saved Pub/Sub message format
                                       (`{"data": <base64 Cadenza message>}`): a child's
                                       batch input (`type: file, format: messages`)
    <dead_letter.location or run folder>/dead_letter/   failures with their reasons

and, when the config names `dead_letter.topic`, each failure is also published there.

This shape works the same on every runner, the DaskRunner included, whose limits it
avoids: no `Read` (it cannot translate it), no side inputs (it recomputes them), no
reliance on tagged outputs (it does not split them: see lifecycle/_step.py), and one
final step that depends on every write (it computes only the last transform's
lineage). Nothing is aggregated inside the pipeline, so nothing can be lost or
doubled; the summary is read from the records. Dead-letter files are named after their
message, and each outcome and event line carries its message's key, so a bundle the
runner retries rewrites or repeats records that readers count once (children drop a
repeated event by its message id).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import uuid
from collections.abc import Iterable, Sequence

import apache_beam as beam
import attrs
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.metrics.metric import MetricsFilter

from cadenza.core import ConfigError, JobConfig, Message, encode
from cadenza.core.config import FileInput, ListingInput
from cadenza.runtime.api import JobLogic
from cadenza.runtime.batch_records import RecordResults
from cadenza.runtime.deadletters import dead_letter_folder
from cadenza.runtime.lifecycle import FusedLifecycle, Lifecycle, Routed
from cadenza.runtime.lifecycle.records import DEAD_LETTER, FINISHED, PUBLISH
from cadenza.runtime.profiles import image_digest, pipeline_options
from cadenza.runtime.pubsub_names import full_path, project_for
from cadenza.runtime.storage import PROVENANCE_SUFFIX, is_local, list_folder
from cadenza.runtime.streaming.topology import check_exists
from cadenza.runtime.templates import require_filled


def _read_text(path: str, what: str) -> str:
    """A batch input file's text (UTF-8, a byte-order mark dropped); ConfigError naming
    the file when it cannot be read."""
    try:
        with FileSystems.open(path) as handle:
            return handle.read().decode("utf-8-sig")
    except (OSError, BeamIOError) as err:
        raise ConfigError(f"{path}: cannot read the {what}: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: the {what} is not UTF-8 text: {err}") from None


def ids_from_file(path: str) -> list[str]:
    """Element ids, one per line; blank lines and lines starting with '#' are skipped."""
    lines = (line.strip() for line in _read_text(path, "file of ids").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def ids_from_listing(location: str, suffix: str) -> list[str]:
    """The ids of the files directly in `location` ending in `suffix` (the file name less
    the suffix); provenance sidecars and (local) subfolders are not elements. A local
    location that is not a folder is a ConfigError (an empty one lists nothing)."""
    folder = location.rstrip("/")
    if is_local(folder) and not os.path.isdir(folder or "/"):
        what = "is a file, not a folder" if os.path.exists(folder) else "no such folder"
        raise ConfigError(
            f"{location}: {what} (a listing input's location: check the path, or the "
            "variable the job's config takes it from)"
        )
    names = list_folder(folder) or ()  # names, taken as written (no glob)
    wanted = [n for n in names if n.endswith(suffix) and not n.endswith(PROVENANCE_SUFFIX)]
    if is_local(folder):  # a listing on gs:// holds objects only
        wanted = [n for n in wanted if not os.path.isdir(os.path.join(folder or "/", n))]
        unreadable = [n for n in wanted if not _is_utf8(n)]
        if unreadable:
            shown = repr(os.fsencode(unreadable[0]))
            raise ConfigError(
                f"{location}: {len(unreadable)} file name(s) are not UTF-8, e.g. {shown}: an "
                "element id must be text; rename them"
            )
    return sorted(n[: len(n) - len(suffix)] if suffix else n for n in wanted)


def _is_utf8(name: str) -> bool:
    """False for a local file name Python read with undecodable bytes (surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def messages_from_file(path: str) -> list[PubsubMessage]:
    """Pub/Sub messages saved one JSON object per line: `{"data": <base64>,
    "attributes": {...}}`, or wrapped as a pull response's `{"message": {...}}`."""
    lines = _read_text(path, "file of messages").splitlines()
    messages = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            record = json.loads(line)
            record = record.get("message", record)
            data = base64.b64decode(record.get("data", ""), validate=True)
            attributes = {str(k): str(v) for k, v in (record.get("attributes") or {}).items()}
        except (ValueError, AttributeError) as err:
            raise ConfigError(
                f"{path}:{number}: expected a JSON Pub/Sub message "
                f'{{"data": <base64>, "attributes": {{...}}}}: {err}'
            ) from None
        messages.append(PubsubMessage(data, attributes, message_id=record.get("messageId")))
    return messages


def batch_ids(config: JobConfig) -> list[str]:
    """Element ids from the config's batch event inputs (files of ids, listings)."""
    ids: list[str] = []
    for event_input in config.events.inputs:
        if isinstance(event_input, FileInput) and event_input.format == "ids":
            ids += ids_from_file(event_input.path)
        elif isinstance(event_input, ListingInput):
            ids += ids_from_listing(event_input.location, event_input.suffix)
    return list(dict.fromkeys(ids))


def batch_events(config: JobConfig) -> list:
    """Everything the config's batch inputs hold: ids, then Pub/Sub messages."""
    messages = [
        message
        for event_input in config.events.inputs
        if isinstance(event_input, FileInput) and event_input.format == "messages"
        for message in messages_from_file(event_input.path)
    ]
    return [*batch_ids(config), *messages]


@attrs.frozen
class BatchRun:
    config: JobConfig
    job: str
    run_id: str
    folder: str
    dead_letter_folder: str
    elements: int
    # the job's Beam counters when the runner reports them (retries, outputs kept,
    # lookups...: what the records do not say); None on runners without metrics
    counters: dict[str, int] | None = None

    @property
    def events_folder(self) -> str:
        """The run's messages for the children: JSON-lines files a child's batch run reads
        as `{type: file, path: <file>, format: messages}`."""
        return f"{self.folder}/events"

    def outcomes(self) -> list[dict]:
        """Every element's outcome record of this run (each message's once)."""
        (result,) = FileSystems.match([f"{self.folder}/outcomes/*.jsonl"])
        records: dict[str, dict] = {}
        for meta in result.metadata_list:
            with FileSystems.open(meta.path) as handle:
                for line in handle.read().decode().splitlines():
                    record = json.loads(line)
                    records[record.pop("key")] = record
        return sorted(records.values(), key=lambda r: (r["outcome"], str(r["element"])))

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.outcomes():
            counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
        return dict(sorted(counts.items()))


def _routed(results: dict) -> beam.PCollection:
    """The step-by-step lifecycle's results as one stream of `Routed(tag, value)`."""
    tagged = [
        results[name]
        | f"Tag_{tag}"
        >> beam.Map(lambda value, tag=tag: Routed(tag, value)).with_output_types(Routed)
        for name, tag in (
            ("published_messages", PUBLISH),
            ("finished", FINISHED),
            ("dead_letter", DEAD_LETTER),
        )
    ]
    return tuple(tagged) | "AllResults" >> beam.Flatten()


def _absolute(location: str) -> str:
    return os.path.abspath(location) if is_local(location) else location


def _absolute_local_paths(config: JobConfig) -> JobConfig:
    """The config with its local data and dead-letter locations made absolute here: a
    Dask worker takes a relative path from its own working directory."""
    data = attrs.evolve(
        config.data,
        inputs=tuple(attrs.evolve(i, location=_absolute(i.location)) for i in config.data.inputs),
        outputs=tuple(attrs.evolve(o, location=_absolute(o.location)) for o in config.data.outputs),
    )
    dead_letter = config.dead_letter
    if dead_letter.location:
        dead_letter = attrs.evolve(dead_letter, location=_absolute(dead_letter.location))
    return attrs.evolve(config, data=data, dead_letter=dead_letter)


def run_batch(
    config: JobConfig,
    logic: JobLogic,
    *,
    profile: str = "local",
    runs_root: str = ".cadenza/runs",
    elements: Iterable | None = None,
    extra_args: Sequence[str] = (),
    fused: bool | None = None,
) -> BatchRun:
    """Runs the job over its batch inputs (or `elements`: ids, Messages, raw bytes or
    Pub/Sub messages). An id given twice is one message.

    The lifecycle's steps run fused in one DoFn (`fused`, by default) on the local
    runner and on Dask, where each transform costs every element a task (on Dask a
    scheduled one); on Dataflow each step is its own transform, as its job graph shows.
    """
    require_filled(config)
    if config.profile(profile).runner == "dask":
        config, runs_root = _absolute_local_paths(config), _absolute(runs_root)
    items = list(elements) if elements is not None else batch_events(config)
    ids = list(dict.fromkeys(i for i in items if isinstance(i, str)))  # made messages inside
    others = [encode(i) if isinstance(i, Message) else i for i in items if not isinstance(i, str)]
    events = [*ids, *others]
    ids_key = uuid.uuid4().hex
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = f"{stamp}-{ids_key[:6]}"
    folder = f"{runs_root.rstrip('/')}/{config.job_name}/{run_id}"
    dead_folder = dead_letter_folder(config, folder)
    options = pipeline_options(config, profile, extra_args)
    if fused is None:
        fused = config.profile(profile).runner != "dataflow"
    topic = None
    if config.dead_letter.topic:
        topic = full_path("topics", config.dead_letter.topic, project_for(config, profile))
        check_exists((), (topic,), doing="run the batch (its dead-letter topic)")
    with beam.Pipeline(options=options) as pipeline:
        events_in = pipeline | "Events" >> beam.Create(events, reshuffle=False)
        settings = {
            "sync_per_bundle": True,
            "ids_key": ids_key,
            "image_digest": image_digest(options),
        }
        if fused:
            routed = events_in | FusedLifecycle(config, logic, **settings)
        else:
            routed = _routed(events_in | Lifecycle(config, logic, **settings))
        # One last step, that writes every record: the DaskRunner computes only the
        # lineage of the pipeline's last transform.
        _ = routed | "Record" >> beam.ParDo(
            RecordResults(config.job_name, folder, dead_folder, topic)
        ).with_output_types(str)
    counters = runner_counters(pipeline.result, config.job_name)
    return BatchRun(
        config, config.job_name, run_id, folder, dead_folder, len(events), counters=counters
    )


def runner_counters(result, job: str) -> dict[str, int] | None:
    """The job's Beam counters (`cadenza.<job>`: the lifecycle's and the logic's own), or
    None where the runner reports none (the DaskRunner; Dataflow's dry run, no job)."""
    try:
        query = result.metrics().query(MetricsFilter().with_namespace(f"cadenza.{job}"))
    except Exception:  # each runner says "no metrics" its own way; the records remain
        return None
    counters: dict[str, int] = {}
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        name = counter.key.metric.name
        counters[name] = counters.get(name, 0) + (value or 0)
    return dict(sorted(counters.items()))
