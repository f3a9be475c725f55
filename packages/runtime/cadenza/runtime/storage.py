"""Writing data outputs atomically, with their provenance, on any Beam filesystem.

Local paths: the content goes to a hidden temporary file in the same folder, is
flushed to disk, then renamed over the target, so a reader sees the old file or the
new one, never half of one. Other filesystems (gs://): one upload through Beam's
FileSystems, which Cloud Storage makes visible only when complete; no temporary
objects are created (they would fire upload events).

Provenance goes to a sidecar `<output>.provenance.json`, written after the output.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import uuid

from apache_beam.io.filesystems import FileSystems

PROVENANCE_SUFFIX = ".provenance.json"


def is_local(path: str) -> bool:
    return "://" not in path


def write_atomically(path: str, data: bytes) -> None:
    """Writes `data` to `path` so that no reader ever sees a partial file."""
    if is_local(path):
        target = pathlib.Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return
    with FileSystems.create(path, mime_type="application/octet-stream") as handle:
        handle.write(data)


def provenance_path(path: str) -> str:
    return path + PROVENANCE_SUFFIX


def write_provenance(path: str, record: dict) -> None:
    write_atomically(provenance_path(path), json.dumps(record, sort_keys=True).encode())


def read_provenance(path: str) -> dict | None:
    """The provenance recorded for the output at `path`, or None if there is none."""
    sidecar = provenance_path(path)
    if not FileSystems.exists(sidecar):
        return None
    with FileSystems.open(sidecar) as handle:
        try:
            return json.loads(handle.read())
        except ValueError:
            return None


def digest(path: str) -> str:
    """sha256 of a file on any Beam filesystem, read in 1 MiB chunks."""
    sha = hashlib.sha256()
    with FileSystems.open(path) as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()
