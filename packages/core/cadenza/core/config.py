"""The job config: `jobs/<name>/job.yaml` as frozen attrs classes.

Loading runs in three steps: YAML is parsed; `${VAR}` (or `${VAR:-default}`) is
substituted from the environment and `key.path=value` overrides are applied, both only
when a job is run or deployed; the result is structured by one shared cattrs converter.
Every problem is reported at once, each starting with the file and the dotted key:

    jobs/fingerprint/job.yaml: events.inputs[0].subscription: expected a string, found 42 (int)
    jobs/fingerprint/job.yaml: data.inptus: unknown key; did you mean 'inputs'?
    jobs/fingerprint/job.yaml: data: key written twice, on lines 3 and 9 (YAML would keep the last)

`load_job_config(path, env=None)` leaves `${...}` templates in place and only checks the
structure (what the DAG registry does inside a Bazel action, with no environment).

>>> config = parse_job_config('''
... job_name: fingerprint
... version: 2
... data:
...   inputs: [{name: audio, location: "gs://${BUCKET}/normalized", suffix: .flac}]
... ''', env={"BUCKET": "tracks"})
>>> config.job_name, config.version, config.data.inputs[0].location
('fingerprint', '2', 'gs://tracks/normalized')
"""

from __future__ import annotations

import contextvars
import difflib
import math
import os
import pathlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args, get_origin

import attrs
import cattrs
import cattrs.gen
import yaml
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from cadenza.core.decode import DecodePolicy, Format
from cadenza.core.errors import ConfigError
from cadenza.core.message import path_problem

JOB_NAME = re.compile(r"^[a-z][a-z0-9-]{2,62}$")
DATA_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_UNCLOSED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?$")
PROFILE_NAMES = ("local", "dask", "dataflow")
# Cloud Storage bucket names; Pub/Sub topic and subscription ids, or their full paths.
BUCKET_NAME = re.compile(r"^(?=.{3,222}$)[a-z0-9][a-z0-9._-]*[a-z0-9]$")
PUBSUB_ID = r"(?!goog)[A-Za-z][A-Za-z0-9._~+%-]{2,254}"
PUBSUB_NAME = {
    kind: re.compile(rf"^(?:{PUBSUB_ID}|projects/[^/\s]+/{kind}s/{PUBSUB_ID})$")
    for kind in ("topic", "subscription")
}

# a suffix that looks like an extension missing its dot (`json`): files `<id>json`
_BARE_EXTENSION = re.compile(r"^(?=(?:[0-9]*[A-Za-z]){2})[A-Za-z0-9]{2,5}$")  # json, mp3; not v2

_TEMPLATE_MODE = contextvars.ContextVar("template_mode", default=False)


# ---- the schema ---------------------------------------------------------------------


# An image reference pinned by digest: NAME@sha256:<64 hex digits>.
PINNED_IMAGE = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")


@attrs.frozen(kw_only=True)
class PubSubInput:
    """Stream messages from a Pub/Sub subscription."""

    type: Literal["pubsub"] = "pubsub"
    subscription: str


@attrs.frozen(kw_only=True)
class GcsNotificationInput:
    """Stream upload notifications for objects in `bucket` under `prefix`."""

    type: Literal["gcs_notification"] = "gcs_notification"
    bucket: str
    prefix: str = ""


@attrs.frozen(kw_only=True)
class FileInput:
    """Batch: a file (any Beam filesystem path) of element ids, one per line; or, with
    `format: messages`, of Pub/Sub messages, one JSON object per line
    (`{"data": <base64>, "attributes": {...}}`), e.g. saved upload notifications."""

    type: Literal["file"] = "file"
    path: str
    format: Literal["ids", "messages"] = "ids"


@attrs.frozen(kw_only=True)
class ListingInput:
    """Batch: every object under a bucket prefix or folder; the id is the name less suffix."""

    type: Literal["listing"] = "listing"
    location: str
    suffix: str = ""


EventInput = PubSubInput | GcsNotificationInput | FileInput | ListingInput
EVENT_INPUT_TYPES: dict[str, type] = {
    "pubsub": PubSubInput,
    "gcs_notification": GcsNotificationInput,
    "file": FileInput,
    "listing": ListingInput,
}


@attrs.frozen(kw_only=True)
class PubSubOutput:
    """Publish the job's output message to a Pub/Sub topic."""

    type: Literal["pubsub"] = "pubsub"
    topic: str


@attrs.frozen(kw_only=True)
class EventsConfig:
    """Where messages come from and go to, and which foreign formats are accepted."""

    accept: tuple[Format, ...] = ()
    inputs: tuple[EventInput, ...] = ()
    outputs: tuple[PubSubOutput, ...] = ()

    @property
    def decode_policy(self) -> DecodePolicy:
        return DecodePolicy(accept=self.accept)


@attrs.frozen(kw_only=True)
class DataLocation:
    """One named data input or output: `location/<element><suffix>`."""

    name: str
    location: str
    suffix: str = ""
    skip_existence_check: bool = False

    def path_for(self, element: str) -> str:
        """Where this location keeps `element`'s file; refuses (ValueError) an element
        that would name a file outside the location."""
        problem = path_problem(element)
        if problem:
            raise ValueError(f"data location {self.name!r}: element {problem}")
        return f"{self.location.rstrip('/')}/{element}{self.suffix}"


@attrs.frozen(kw_only=True)
class DataConfig:
    inputs: tuple[DataLocation, ...] = ()
    outputs: tuple[DataLocation, ...] = ()


@attrs.frozen(kw_only=True)
class DeadLetterConfig:
    """Where failed messages go, with their reason: a folder/bucket of JSON records
    (`location`) and/or a Pub/Sub `topic`. Without either, records go to the job's
    local state folder."""

    location: str | None = None
    topic: str | None = None


@attrs.frozen(kw_only=True)
class ExecutionConfig:
    """Per-element limits: a timeout for the job's logic, and retries with exponential
    backoff for transient errors (ConnectionError, TimeoutError and the job's own
    `transient_errors`)."""

    timeout_s: float | None = None
    retries: int = 0
    retry_backoff_s: float = 0.5


@attrs.frozen(kw_only=True)
class Profile:
    """How to run the job: a runner and its pipeline options.

    `local` is Beam's embedded runner; `dask` needs `scheduler` (a dask.distributed
    address); `dataflow` needs `project`, `region`, `temp_location` and
    `sdk_base_image`: Beam's Python SDK image for the locked Beam version, pinned by
    digest (`apache/beam_python3.11_sdk@sha256:...`), which the job's Dataflow image is
    built on. `sdk_container_image` names the workers' image; without it, deploy uses
    the one `bazel run //jobs/<job>:image_dataflow_push` pushed last.
    """

    runner: str
    options: dict[str, Any] = attrs.field(factory=dict)
    scheduler: str | None = None
    project: str | None = None
    region: str | None = None
    temp_location: str | None = None
    sdk_container_image: str | None = None
    sdk_base_image: str | None = None


@attrs.frozen(kw_only=True)
class JobConfig:
    """One job's config, as loaded from its job.yaml."""

    job_name: str
    version: str = "1"
    description: str = ""
    upstream: tuple[str, ...] = ()
    events: EventsConfig = attrs.field(factory=EventsConfig)
    data: DataConfig = attrs.field(factory=DataConfig)
    params: Any = attrs.field(factory=dict)
    reprocess_on_version_change: bool = False
    dead_letter: DeadLetterConfig = attrs.field(factory=DeadLetterConfig)
    execution: ExecutionConfig = attrs.field(factory=ExecutionConfig)
    profiles: dict[str, Profile] = attrs.field(factory=lambda: {"local": Profile(runner="local")})

    def profile(self, name: str) -> Profile:
        """The named profile; raises ConfigError listing the ones there are."""
        if name not in self.profiles:
            raise ConfigError(
                f"{self.job_name}: no profile {name!r}; this job has {sorted(self.profiles)}"
            )
        return self.profiles[name]


# ---- the converter ------------------------------------------------------------------


def _is_placeholder(value) -> bool:
    return isinstance(value, str) and _TEMPLATE_MODE.get() and PLACEHOLDER.fullmatch(value.strip())


def _describe(value) -> str:
    if isinstance(value, FromEnv):
        return f"{str(value)!r} (str, from the environment)"
    return f"{value!r} ({type(value).__name__})"


class FromEnv(str):
    """A value that was one whole `${VAR}` placeholder: text, which a number or a
    true/false field reads as YAML would (`3`, `7.5`, `true`)."""


def _from_env(value, kinds: tuple[type, ...]):
    """The YAML reading of a FromEnv value when it is one of `kinds`, else the value."""
    if not isinstance(value, FromEnv):
        return value
    try:
        parsed = yaml.safe_load(str(value))
    except yaml.YAMLError:
        return value
    wanted = isinstance(parsed, kinds) and (bool in kinds or not isinstance(parsed, bool))
    return parsed if wanted else value


def _structure_str(value, _):
    if not isinstance(value, str):
        raise TypeError(f"expected a string, found {_describe(value)}")
    return str(value)


def _structure_bool(value, _):
    if _is_placeholder(value):
        return False
    value = _from_env(value, (bool,))
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, found {_describe(value)}")
    return value


def _structure_int(value, _):
    if _is_placeholder(value):
        return 0
    value = _from_env(value, (int,))
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, found {_describe(value)}")
    return value


def _structure_float(value, _):
    if _is_placeholder(value):
        return 1.0  # a stand-in within every range check: the real value is checked later
    value = _from_env(value, (int, float))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, found {_describe(value)}")
    return float(value)


def _structure_format(value, _):
    names = [f.value for f in Format]
    if value not in names:
        raise ValueError(
            f"expected one of {names}, found {_describe(value)}{_suggest(value, names)}"
        )
    return Format(value)


def _structure_event_input(value, _):
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping with a `type`, found {_describe(value)}")
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in EVENT_INPUT_TYPES:
        names = sorted(EVENT_INPUT_TYPES)
        raise _KeyProblem(
            "type", f"expected one of {names}, found {_describe(kind)}{_suggest(kind, names)}"
        )
    return converter.structure(value, EVENT_INPUT_TYPES[kind])


def _is_homogeneous_tuple(t) -> bool:
    args = get_args(t)
    return get_origin(t) is tuple and len(args) == 2 and args[1] is Ellipsis


def _structure_tuple(value, t):
    """A YAML list into a tuple; a lone string is refused, not split into characters."""
    if not isinstance(value, list | tuple):
        raise TypeError(f"expected a list, found {_describe(value)}")
    inner = get_args(t)[0]
    items, errors = [], []
    for index, item in enumerate(value):
        try:
            items.append(converter.structure(item, inner))
        except Exception as err:
            note = IterableValidationNote(f"Structuring {t} @ index {index}", index, inner)
            err.__notes__ = [*getattr(err, "__notes__", []), note]
            errors.append(err)
    if errors:
        raise IterableValidationError(f"While structuring {t!r}", errors, t)
    return tuple(items)


def _mapping_first(make_hook):
    """A hook factory whose hooks refuse anything but a mapping, with a clear error."""

    def factory(t):
        inner = make_hook(t, converter)

        def structure(value, cls):
            if not isinstance(value, Mapping):
                raise TypeError(f"expected a mapping, found {_describe(value)}")
            return inner(value, cls)

        return structure

    return factory


converter = cattrs.Converter(forbid_extra_keys=True)
converter.register_structure_hook_factory(
    attrs.has, _mapping_first(cattrs.gen.make_dict_structure_fn)
)
converter.register_structure_hook_factory(
    lambda t: get_origin(t) is dict, _mapping_first(cattrs.gen.make_mapping_structure_fn)
)
converter.register_structure_hook_func(_is_homogeneous_tuple, _structure_tuple)
converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(float, _structure_float)
converter.register_structure_hook(Format, _structure_format)
converter.register_structure_hook(EventInput, _structure_event_input)
converter.register_structure_hook(Any, lambda value, _: value)


class _KeyProblem(ValueError):
    """A problem with one key below the value being structured."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


# ---- errors with dotted keys --------------------------------------------------------


def _suggest(value, candidates) -> str:
    close = difflib.get_close_matches(str(value), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _join(path: str, part) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else str(part)


def _note_part(note):
    if hasattr(note, "name"):
        return note.name
    if hasattr(note, "index"):
        return note.index
    return None


def _problems(err: BaseException, path: str) -> list[tuple[str, str]]:
    """(dotted key, message) for every leaf error in a cattrs exception tree."""
    found = []
    if isinstance(err, ForbiddenExtraKeysError):
        known = [a.name for a in attrs.fields(err.cl)]
        for key in sorted(err.extra_fields):
            found.append((_join(path, key), f"unknown key{_suggest(key, known)}"))
        return found
    if isinstance(err, ClassValidationError | IterableValidationError):
        for sub in err.exceptions:
            part = next(
                (_note_part(n) for n in getattr(sub, "__notes__", []) if _note_part(n) is not None),
                None,
            )
            found.extend(_problems(sub, _join(path, part) if part is not None else path))
        return found
    if isinstance(err, _KeyProblem):
        return [(_join(path, err.key), str(err))]
    if isinstance(err, KeyError):
        return [(path, "required key missing")]
    message = str(err)
    if isinstance(err, TypeError) and "missing" in message and "required" in message:
        names = re.findall(r"'([^']+)'", message)
        return [(_join(path, name), "required key missing") for name in names] or [(path, message)]
    return [(path, message)]


def _raise_problems(source: str, problems: list[tuple[str, str]]) -> None:
    lines = [f"{source}: {key or '(top level)'}: {message}" for key, message in problems]
    raise ConfigError("\n".join(lines))


# ---- templates and overrides ---------------------------------------------------------


def substitute(value, env: Mapping[str, str], path: str = "", missing: list | None = None):
    """`value` with `${VAR}` / `${VAR:-default}` replaced from `env`, recursively."""
    if isinstance(value, str):

        def replace(match):
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            missing.append((path, f"${{{name}}} is not set in the environment"))
            return match.group(0)

        result = PLACEHOLDER.sub(replace, value)
        # a whole value from the environment may fill a number or a true/false field
        return FromEnv(result) if PLACEHOLDER.fullmatch(value.strip()) else result
    if isinstance(value, list):
        return [substitute(v, env, _join(path, i), missing) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: substitute(v, env, _join(path, k), missing) for k, v in value.items()}
    return value


def malformed_placeholders(value, path: str = "") -> list[tuple[str, str]]:
    """(key, problem) for each string holding an unclosed placeholder (`${VAR` or
    `${VAR:-default` without its `}`), which would otherwise be taken as text. Other
    `${...}` text (a format string in params, say) is left alone."""
    if isinstance(value, str):
        found = _UNCLOSED.search(PLACEHOLDER.sub("", value))
        if not found:
            return []
        shown = found.group(0)[:40]
        return [(path, f"{shown!r}: a placeholder without its closing '}}'")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in malformed_placeholders(v, _join(path, i))]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in malformed_placeholders(v, _join(path, k))]
    return []


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def apply_override(raw: dict, override: str) -> dict:
    """Sets `key.path[0].name=value` in the raw config (value parsed as YAML)."""
    if "=" not in override:
        raise ConfigError(f"override {override!r}: expected key.path=value")
    key, text = override.split("=", 1)
    parts = [int(i) if i else name for name, i in _SEGMENT.findall(key)]
    if not parts or "".join(str(p) for p in parts) == "":
        raise ConfigError(f"override {override!r}: empty key")
    node, walked = raw, ""
    for part in parts[:-1]:
        child = _child(node, part, walked, override)
        if child is None:
            child = {}
            node[part] = child
        node, walked = child, _join(walked, part)
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise ConfigError(f"override {override!r}: {walked} has no item [{last}]")
    elif not isinstance(node, dict):
        raise ConfigError(f"override {override!r}: {walked} is not a mapping")
    node[last] = yaml.safe_load(text)
    return raw


def _child(node, part, walked, override):
    if isinstance(part, int):
        if not isinstance(node, list) or part >= len(node):
            raise ConfigError(
                f"override {override!r}: {walked or '(top level)'} has no item [{part}]"
            )
        return node[part]
    if not isinstance(node, dict):
        raise ConfigError(f"override {override!r}: {walked} is not a mapping")
    return node.get(part)


# ---- loading ----------------------------------------------------------------------------


def _duplicate_keys(node, path: str = "", seen: set | None = None) -> list[tuple[str, str]]:
    """(dotted key, message) for each mapping key written twice in a composed YAML node."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias: checked where its anchor is
        return []
    seen.add(id(node))
    found = []
    if isinstance(node, yaml.MappingNode):
        keys = [(key, value) for key, value in node.value if isinstance(key, yaml.ScalarNode)]
        first_lines: dict[tuple[str, str], int] = {}
        for key, _ in keys:  # this mapping's keys first, then those below
            line = key.start_mark.line + 1
            first = first_lines.get((key.tag, key.value))
            if first is None:
                first_lines[key.tag, key.value] = line
                continue
            where = f"on line {line}" if first == line else f"on lines {first} and {line}"
            message = f"key written twice, {where} (YAML would keep the last)"
            found.append((_join(path, key.value), message))
        for key, value in keys:
            found += _duplicate_keys(value, _join(path, key.value), seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _duplicate_keys(item, _join(path, index), seen)
    return found


def _load_yaml(text: str, source: str):
    """The YAML document in `text`; a mapping key written twice is a ConfigError (PyYAML
    alone would keep the last silently)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        problems = _duplicate_keys(node)
        if problems:
            _raise_problems(source, problems)
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from None
    finally:
        loader.dispose()


def job_name_problem(name: str) -> str | None:
    """What is wrong with a `job_name`, or None.

    >>> job_name_problem("audio-info") is None, job_name_problem("ab")
    (True, "expected 3-63 characters a-z, 0-9 and '-', starting with a letter; found 'ab'")
    """
    if JOB_NAME.match(name):
        return None
    return f"expected 3-63 characters a-z, 0-9 and '-', starting with a letter; found {name!r}"


def _name_problem(value: str, kind: str, templated: bool) -> str | None:
    """What is wrong with a bucket, topic or subscription name, or None."""
    if templated and "${" in value:
        return None  # checked when the environment is substituted
    if not value:
        return "must not be empty"
    if kind == "bucket":
        if value.startswith("gs://"):
            hint = value.removeprefix("gs://").split("/", 1)[0]
            return f"expected a bucket's name, not a location: write {hint!r}, found {value!r}"
        if not BUCKET_NAME.match(value):
            return (
                "expected a bucket name (3-63 characters a-z, 0-9, '-', '_' and '.', "
                f"starting and ending with a letter or digit), found {value!r}"
            )
        return None
    if not PUBSUB_NAME[kind].match(value):
        return (
            f"expected a Pub/Sub {kind} id (3-255 characters, starting with a letter, not "
            f"'goog'; letters, digits and -_.~+%) or projects/PROJECT/{kind}s/ID, "
            f"found {value!r}"
        )
    return None


def _temp_location_problem(location: str | None, templated: bool) -> str | None:
    """What is wrong with a Dataflow temp_location (gs://BUCKET/PATH), or None."""
    if not location or (templated and "${" in location):
        return None
    if not location.startswith("gs://"):
        return f"expected gs://BUCKET/PATH, found {location!r}"
    problem = _name_problem(location.removeprefix("gs://").split("/", 1)[0], "bucket", templated)
    return f"{problem} in {location!r}" if problem else None


def _pubsub_problems(config: JobConfig, templated: bool) -> list[tuple[str, str]]:
    names = []
    for i, event_input in enumerate(config.events.inputs):
        if isinstance(event_input, GcsNotificationInput):
            names.append((f"events.inputs[{i}].bucket", event_input.bucket, "bucket"))
        elif isinstance(event_input, PubSubInput):
            names.append(
                (f"events.inputs[{i}].subscription", event_input.subscription, "subscription")
            )
    for i, output in enumerate(config.events.outputs):
        names.append((f"events.outputs[{i}].topic", output.topic, "topic"))
    if config.dead_letter.topic is not None:
        names.append(("dead_letter.topic", config.dead_letter.topic, "topic"))
    found = [(key, _name_problem(value, kind, templated)) for key, value, kind in names]
    return [(key, problem) for key, problem in found if problem]


def _execution_problems(execution: ExecutionConfig) -> list[tuple[str, str]]:
    problems = []
    timeout = execution.timeout_s
    if timeout is not None and not (isinstance(timeout, int | float) and 0 < timeout < math.inf):
        problems.append(("execution.timeout_s", f"expected a positive number, found {timeout!r}"))
    if isinstance(execution.retries, int) and execution.retries < 0:
        problems.append(("execution.retries", f"expected 0 or more, found {execution.retries}"))
    backoff = execution.retry_backoff_s
    if isinstance(backoff, int | float) and not 0 <= backoff < math.inf:
        problems.append(("execution.retry_backoff_s", f"expected 0 or more, found {backoff!r}"))
    return problems


def _own_outputs_read(config: JobConfig) -> list[tuple[str, str]]:
    """A listing or a data input that would take the job's own outputs as its input."""
    outputs = [(j, o.location.rstrip("/"), o.suffix) for j, o in enumerate(config.data.outputs)]
    problems = []
    for i, event_input in enumerate(config.events.inputs):
        if not isinstance(event_input, ListingInput):
            continue
        for j, location, suffix in outputs:
            if event_input.location.rstrip("/") == location and suffix.endswith(event_input.suffix):
                problems.append(
                    (
                        f"events.inputs[{i}]",
                        f"the listing of {event_input.location} takes in this job's own outputs "
                        f"(data.outputs[{j}] writes {location}/<id>{suffix}): each run would "
                        "process them again; give the outputs another location, or the "
                        "listing a suffix they do not end with",
                    )
                )
    for i, data_input in enumerate(config.data.inputs):
        for j, location, suffix in outputs:
            if data_input.location.rstrip("/") == location and data_input.suffix == suffix:
                problems.append(
                    (
                        f"data.inputs[{i}]",
                        f"reads the files data.outputs[{j}] writes ({location}/<id>{suffix}): "
                        "a job's outputs cannot be its inputs",
                    )
                )
    return problems


def _check_semantics(config: JobConfig, templated: bool = False) -> list[tuple[str, str]]:
    name_problem = None if _is_placeholder(config.job_name) else job_name_problem(config.job_name)
    problems = [("job_name", name_problem)] if name_problem else []
    problems += _pubsub_problems(config, templated)
    params = config.params
    if params is not None and not (isinstance(params, Mapping) or attrs.has(type(params))):
        problems.append(("params", f"expected a mapping, found {_describe(params)}"))
    if not config.profiles:
        problems.append(("profiles", "expected at least one profile, e.g. local: {runner: local}"))
    problems += _execution_problems(config.execution)
    for section in ("inputs", "outputs"):
        seen = set()
        for i, loc in enumerate(getattr(config.data, section)):
            if not DATA_NAME.match(loc.name):
                problems.append(
                    (
                        f"data.{section}[{i}].name",
                        f"expected a lower-case identifier, found {loc.name!r}",
                    )
                )
            if loc.name in seen:
                problems.append((f"data.{section}[{i}].name", f"duplicate name {loc.name!r}"))
            seen.add(loc.name)
            if not loc.location:
                problems.append((f"data.{section}[{i}].location", "must not be empty"))
            if _BARE_EXTENSION.match(loc.suffix):
                problems.append(
                    (
                        f"data.{section}[{i}].suffix",
                        f"{loc.suffix!r} is glued to the id (<id>{loc.suffix}); "
                        f"did you mean '.{loc.suffix}'?",
                    )
                )
    for name, profile in config.profiles.items():
        if name not in PROFILE_NAMES:
            problems.append(
                (
                    f"profiles.{name}",
                    f"unknown profile{_suggest(name, PROFILE_NAMES)} "
                    f"(expected one of {list(PROFILE_NAMES)})",
                )
            )
        if profile.runner not in PROFILE_NAMES:
            problems.append(
                (
                    f"profiles.{name}.runner",
                    f"expected one of {list(PROFILE_NAMES)}, found {profile.runner!r}"
                    + _suggest(profile.runner, PROFILE_NAMES),
                )
            )
        if profile.runner == "dask" and not profile.scheduler:
            problems.append(
                (
                    f"profiles.{name}.scheduler",
                    "required for the dask runner (e.g. tcp://127.0.0.1:8786)",
                )
            )
        if profile.runner == "dataflow":
            for key in ("project", "region", "temp_location"):
                if not getattr(profile, key):
                    problems.append((f"profiles.{name}.{key}", "required for the dataflow runner"))
            problem = _temp_location_problem(profile.temp_location, templated)
            if problem:
                problems.append((f"profiles.{name}.temp_location", problem))
        if profile.sdk_base_image and not PINNED_IMAGE.match(profile.sdk_base_image):
            problems.append(
                (
                    f"profiles.{name}.sdk_base_image",
                    f"pin the image by digest (NAME@sha256:<64 hex digits>), found "
                    f"{profile.sdk_base_image!r}",
                )
            )
    problems += _own_outputs_read(config)
    if config.job_name in config.upstream:
        problems.append(("upstream", f"{config.job_name!r} cannot be its own upstream"))
    repeated = sorted({p for p in config.upstream if config.upstream.count(p) > 1})
    if repeated:
        problems.append(("upstream", f"{', '.join(map(repr, repeated))} listed more than once"))
    return problems


def _structure(raw, cls, source: str, path: str):
    try:
        return converter.structure(raw, cls)
    except (ClassValidationError, IterableValidationError) as err:
        _raise_problems(source, _problems(err, path))
    except _KeyProblem as err:
        _raise_problems(source, [(_join(path, err.key), str(err))])
    except (TypeError, ValueError) as err:
        _raise_problems(source, [(path, str(err))])


def parse_job_config(
    text: str,
    *,
    source: str = "<job.yaml>",
    env: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
    params_class: type | None = None,
) -> JobConfig:
    """Parses job.yaml text. With `env`, substitutes `${VAR}`; without, checks templates only."""
    raw = _load_yaml(text, source)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, found {_describe(raw)}")
    for override in overrides:
        try:
            apply_override(raw, override)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
    if overrides:  # a problem from here on may be an override's: name them with the file
        source = f"{source} with --set {' '.join(overrides)}"
    version = raw.get("version")
    if isinstance(version, float):  # YAML read 1.10 as 1.1: say so rather than guess
        raise ConfigError(
            f"{source}: version: YAML reads {version!r} as a number; quote it, "
            f'e.g. version: "{version}"'
        )
    if isinstance(version, int) and not isinstance(version, bool):
        raw["version"] = str(version)
    malformed = malformed_placeholders(raw)
    if malformed:
        _raise_problems(source, malformed)
    if env is not None:
        missing: list = []
        raw = substitute(raw, env, "", missing)
        if missing:
            _raise_problems(source, missing)
    token = _TEMPLATE_MODE.set(env is None)
    try:
        config = _structure(raw, JobConfig, source, "")
        if params_class is not None:
            params = _structure(
                {} if config.params is None else config.params, params_class, source, "params"
            )
            config = attrs.evolve(config, params=params)
    finally:
        _TEMPLATE_MODE.reset(token)
    problems = _check_semantics(config, templated=env is None)
    if problems:
        _raise_problems(source, problems)
    return config


def load_job_config(
    path: str | os.PathLike,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
    params_class: type | None = None,
) -> JobConfig:
    """Loads a job.yaml file; see `parse_job_config`. Errors start with the file's path."""
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the job config: {err.strerror}") from None
    return parse_job_config(
        text, source=str(path), env=env, overrides=overrides, params_class=params_class
    )
