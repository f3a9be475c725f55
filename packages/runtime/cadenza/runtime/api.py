"""The job API: what a job author writes, and what the runtime hands it per element.

A job's logic is a `JobLogic` subclass. `setup()` runs once per worker (load a model,
open an index); `process(ctx)` runs once per message and returns a `Result`:

    class Describe(JobLogic):
        def process(self, ctx: ElementContext) -> Result:
            data = ctx.inputs["audio"].read_bytes()
            ctx.metrics.counter("bytes").inc(len(data))
            return Result(outputs={"report": {"bytes": len(data)}})

The runtime fetches inputs (as bytes, a stream, or a local file), writes the outputs
(bytes as they are, dicts and lists as JSON, a `pathlib.Path` by copying the file),
records provenance, publishes the message to the job's children and dead-letters
failures. The job never writes storage code.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import os
import pathlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

import attrs
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.metrics import Metrics

from cadenza.core import DataLocation, JobConfig, Message
from cadenza.runtime import storage

OutputContent = bytes | dict | list | pathlib.Path


@attrs.frozen(kw_only=True)
class Result:
    """What the logic produced: content per named data output, and an optional new payload.

    Every data output the config declares must be present, unless `partial=True`.
    """

    outputs: Mapping[str, OutputContent] = attrs.field(factory=dict)
    payload: bytes | None = None
    partial: bool = False


@attrs.frozen
class InputHandle:
    """One data input of one element: its path, and ways to read it."""

    name: str
    path: str
    # the digest of what the logic read in full, for the outputs' provenance
    _read: dict = attrs.field(factory=dict, init=False, eq=False, repr=False)

    def exists(self) -> bool:
        return storage.exists(self.path)

    def read_bytes(self) -> bytes:
        data = storage.read_bytes(self.path)
        self._keep_digest("sha256:" + hashlib.sha256(data).hexdigest())
        return data

    @property
    def read_digest(self) -> str | None:
        """sha256 of the input as stored, when the logic read it all as stored
        (`read_bytes()`, an `open()` stream read front to back without seeking, or
        `local_path()`'s copy of a remote file; for a compressed input only the copy,
        the others reading it decompressed); None otherwise. The provenance records the
        input's digest, and the input is not fetched a second time for it."""
        return self._read.get("digest")

    def _keep_digest(self, digest: str, as_stored: bool = False) -> None:
        if as_stored or not self._compressed():
            self._read["digest"] = digest

    def _compressed(self) -> bool:
        return storage.detect_compression(self.path) != CompressionTypes.UNCOMPRESSED

    def open(self) -> BinaryIO:
        """A binary stream; close it (or use `with`)."""
        return _DigestingReader(storage.open_for_reading(self.path), self._keep_digest)

    @contextlib.contextmanager
    def local_path(self) -> Iterator[pathlib.Path]:
        """A local file path for libraries that need one (copied from remote storage):
        the file as stored, compressed suffixes (.gz) included, as a local input's own
        path gives it."""
        if "://" not in self.path:
            yield pathlib.Path(self.path)
            return
        suffix = os.path.splitext(self.path)[1]
        with tempfile.TemporaryDirectory(prefix="cadenza-input-") as scratch:
            local = pathlib.Path(scratch) / f"{self.name}{suffix}"
            # copied as stored, compressed or not, and digested on the way
            keep = functools.partial(self._keep_digest, as_stored=True)
            source = _DigestingReader(storage.open_raw(self.path), keep)
            with source as src, open(local, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            yield local


class _DigestingReader(io.BufferedIOBase):
    """A read-only stream that hashes what passes through it. Read front to back to its
    end without seeking, it hands `sha256:<hex>` of the whole content to `on_digest`;
    after a seek elsewhere, or once its descriptor is taken, it only passes reads
    through."""

    def __init__(self, stream: BinaryIO, on_digest: Callable[[str], None]):
        self._stream, self._on_digest = stream, on_digest
        self._sha = hashlib.sha256()  # None once done, or after a seek elsewhere

    def read(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        # read() without a size: Beam's decompressing streams read nothing for read(-1)
        data = self._stream.read() if size < 0 else self._stream.read(size)
        if self._sha is not None:
            self._sha.update(data)
            if size < 0 or (size > 0 and not data):  # read to the end
                self._on_digest("sha256:" + self._sha.hexdigest())
                self._sha = None
        return data

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readline(self, size: int | None = -1) -> bytes:
        """A line from the stream's own readline (iterating lines is not byte by byte)."""
        size = -1 if size is None else size
        data = self._stream.readline() if size < 0 else self._stream.readline(size)
        if self._sha is not None:
            self._sha.update(data)
            if not data:  # the end
                self._on_digest("sha256:" + self._sha.hexdigest())
                self._sha = None
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        before = self._stream.tell() if self._sha is not None else None
        position = self._stream.seek(offset, whence)
        if position != before:
            self._sha = None
        return position

    def tell(self) -> int:
        return self._stream.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._stream.seekable()

    def fileno(self) -> int:
        """The file's descriptor (local files): reads through it are not hashed, so the
        digest is left to the writer."""
        descriptor = self._stream.fileno()
        self._sha = None
        return descriptor

    @property
    def name(self):
        return self._stream.name

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


class JobMetrics:
    """Beam metrics in the job's namespace: `ctx.metrics.counter("hashes").inc(n)`,
    `ctx.metrics.distribution("ms").update(v)`.

    `deferred=True` (logic run on a thread of its own, for its timeout: Beam keeps
    metrics per thread) records the updates, and `apply()`, on the step's thread, makes
    them; the updates of a call abandoned at its timeout are never applied."""

    def __init__(self, job: str, *, deferred: bool = False):
        self._namespace = f"cadenza.{job}"
        self._updates: list | None = [] if deferred else None

    def counter(self, name: str):
        if self._updates is None:
            return Metrics.counter(self._namespace, name)
        return _DeferredMetric(self._updates, Metrics.counter(self._namespace, name))

    def distribution(self, name: str):
        if self._updates is None:
            return Metrics.distribution(self._namespace, name)
        return _DeferredMetric(self._updates, Metrics.distribution(self._namespace, name))

    def apply(self) -> None:
        """Makes the recorded updates (deferred metrics) on this thread."""
        updates, self._updates = self._updates or [], []
        for method, args in updates:
            method(*args)


class _DeferredMetric:
    """A counter or distribution whose updates wait in a list for `JobMetrics.apply`."""

    def __init__(self, updates: list, metric):
        self._updates, self._metric = updates, metric

    def inc(self, n: int = 1) -> None:
        self._updates.append((self._metric.inc, (n,)))

    def dec(self, n: int = 1) -> None:
        self._updates.append((self._metric.dec, (n,)))

    def update(self, value) -> None:
        self._updates.append((self._metric.update, (value,)))


class ElementLogger(logging.LoggerAdapter):
    """A logger whose every record carries the job, the element and the trace id."""

    def process(self, msg, kwargs):
        extra = dict(self.extra)
        extra.update(kwargs.get("extra", {}))
        kwargs["extra"] = extra
        return f"[{extra['job']} {extra['element']} trace={extra['trace_id']}] {msg}", kwargs

    def log(self, level, msg, *args, **kwargs):
        # the prefix may hold '%' (an element "50% mix"): format the message with its
        # args before the prefix joins it
        if args and self.isEnabledFor(level):
            one_mapping = len(args) == 1 and isinstance(args[0], Mapping) and args[0]
            # a bad call stays as it is: logging reports it as it would without the prefix
            with contextlib.suppress(TypeError, ValueError, KeyError):
                msg, args = str(msg) % (args[0] if one_mapping else args), ()
        super().log(level, msg, *args, **kwargs)


@attrs.frozen(kw_only=True)
class ElementContext:
    """Everything the logic gets for one message."""

    element: str
    payload: bytes | None
    message: Message
    inputs: Mapping[str, InputHandle]
    outputs: Mapping[str, str]  # name -> the path the runtime will write
    params: Any
    log: ElementLogger
    metrics: JobMetrics
    config: JobConfig


class JobLogic:
    """Base class of a job's logic. Override `process`; `setup` is optional."""

    #: exception types worth retrying (besides ConnectionError and TimeoutError)
    transient_errors: tuple[type[BaseException], ...] = ()

    def setup(self, config: JobConfig) -> None:
        """Runs once per worker before any element: open models, indexes, clients."""

    def process(self, ctx: ElementContext) -> Result:
        raise NotImplementedError(f"{type(self).__name__} must implement process(ctx)")

    def teardown(self) -> None:
        """Runs when the worker stops."""


def resolve_inputs(locations: tuple[DataLocation, ...], element: str) -> dict[str, InputHandle]:
    return {loc.name: InputHandle(loc.name, loc.path_for(element)) for loc in locations}


def resolve_outputs(locations: tuple[DataLocation, ...], element: str) -> dict[str, str]:
    return {loc.name: loc.path_for(element) for loc in locations}
