"""Writing data outputs atomically, with their provenance, on any Beam filesystem.

Every write is a whole-object replacement that readers see complete or not at all:

- Local paths: the content goes to a hidden temporary file in the same folder, is
  flushed to disk, then renamed over the target (`os.replace`), or, when the target
  must not be replaced, hard-linked to it (`os.link` fails if it exists).
- `gs://`: one upload with the google-cloud-storage client and a generation
  precondition: `if_generation_match=0` (the object must not exist) or the generation
  being replaced. Cloud Storage makes the object visible only when the upload is
  complete, and no temporary object is ever created (it would fire an upload event).
- Other Beam filesystems: one `FileSystems.create`.

`write_atomically(path, data, overwrite=False)` is create-only: if the object exists
it is left alone and False is returned. That is what makes a retried or redelivered
message write each output exactly once.

Provenance goes to a sidecar `<output>.provenance.json`, written after the output.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import uuid

from apache_beam.io.filesystems import FileSystems

PROVENANCE_SUFFIX = ".provenance.json"


class OutputConflict(RuntimeError):
    """An object changed while it was being replaced (another writer got there first)."""


def is_local(path: str) -> bool:
    return "://" not in path


def split_gcs_path(path: str) -> tuple[str, str]:
    """("bucket", "object/name") of a gs:// path."""
    if not path.startswith("gs://") or "/" not in path[5:]:
        raise ValueError(f"{path!r}: expected gs://BUCKET/OBJECT")
    bucket, name = path[5:].split("/", 1)
    if not bucket or not name:
        raise ValueError(f"{path!r}: expected gs://BUCKET/OBJECT")
    return bucket, name


_clients = threading.local()


def gcs_client():
    """This thread's google-cloud-storage client (STORAGE_EMULATOR_HOST is honoured)."""
    client = getattr(_clients, "client", None)
    if client is None:
        from google.cloud import storage

        client = _clients.client = storage.Client()
    return client


def write_atomically(
    path: str, data: bytes, *, overwrite: bool = True, durable: bool = True
) -> bool:
    """Writes `data` to `path` so that no reader ever sees a partial file.

    Returns True when written; with `overwrite=False`, an existing object is left as
    it is and False is returned. On local paths the data reaches the disk before the
    rename (fsync) unless `durable=False`, for records that can be rebuilt.
    """
    if is_local(path):
        return _write_local(path, data, overwrite, durable)
    if path.startswith("gs://"):
        return _write_gcs(path, data, overwrite)
    if not overwrite and FileSystems.exists(path):
        return False
    with FileSystems.create(path, mime_type="application/octet-stream") as handle:
        handle.write(data)
    return True


_known_folders: set[str] = set()  # folders made or seen by this process


def _open_temporary(target: str) -> tuple[str, object]:
    """A new hidden temporary file beside `target` (its folder made if missing)."""
    folder = os.path.dirname(target) or "."
    temporary = f"{folder}/.{os.path.basename(target)}.{uuid.uuid4().hex}.tmp"
    if folder not in _known_folders:
        os.makedirs(folder, exist_ok=True)
        _known_folders.add(folder)
    try:
        return temporary, open(temporary, "xb")
    except FileNotFoundError:  # the folder went away since: make it again
        os.makedirs(folder, exist_ok=True)
        return temporary, open(temporary, "xb")


def _write_local(target: str, data: bytes, overwrite: bool, durable: bool = True) -> bool:
    temporary, handle = _open_temporary(target)
    linked = False
    try:
        with handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if overwrite:
            os.replace(temporary, target)
            linked = True  # the temporary name is gone
            return True
        try:
            os.link(temporary, target)
        except FileExistsError:
            if os.path.isdir(target):
                raise IsADirectoryError(f"{target} is a folder, not a file") from None
            return False
        return True
    finally:
        if not linked:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def _write_gcs(path: str, data: bytes, overwrite: bool) -> bool:
    from google.api_core.exceptions import PreconditionFailed

    bucket_name, name = split_gcs_path(path)
    bucket = gcs_client().bucket(bucket_name)
    generation = 0
    if overwrite:
        existing = bucket.get_blob(name)
        generation = existing.generation if existing is not None else 0
    try:
        bucket.blob(name).upload_from_string(
            data, content_type="application/octet-stream", if_generation_match=generation
        )
    except PreconditionFailed:
        if not overwrite:
            return False
        raise OutputConflict(
            f"{path} changed while being replaced (expected generation {generation})"
        ) from None
    return True


def provenance_path(path: str) -> str:
    return path + PROVENANCE_SUFFIX


def provenance_bytes(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True).encode()


def write_provenance(path: str, record: dict, *, overwrite: bool = True) -> bool:
    return write_atomically(provenance_path(path), provenance_bytes(record), overwrite=overwrite)


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
