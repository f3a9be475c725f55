"""Writing data outputs atomically, with their provenance, on any Beam filesystem.

Every write is a whole-object replacement that readers see complete or not at all:

- Local paths: see cadenza.runtime.local_files. The file is written where no reader
  can see it (an unnamed file, or a hidden temporary one), flushed to disk, then given
  its name: linked (create-only: fails if the name exists) or renamed over the target.
- `gs://`: one upload with the google-cloud-storage client and a generation
  precondition: `if_generation_match=0` (the object must not exist) or the generation
  being replaced. Cloud Storage makes the object visible only when the upload is
  complete, and no temporary object is ever created (it would fire an upload event).
- Other Beam filesystems: one `FileSystems.create`.

`write_atomically(path, data, overwrite=False)` is create-only: if the object exists
it is left alone and False is returned. That is what makes a retried or redelivered
message write each output exactly once.

Provenance (`provenance=` a dict) is written with the object, in the same atomic step,
under the key `cadenza-provenance`: as the object's metadata on `gs://`, as the
extended attribute `user.cadenza-provenance` on local files (`getfattr -d FILE` shows
it; copy with `cp --preserve=xattr` or `rsync -X` to keep it). Where neither exists (a
filesystem without user xattrs, other Beam filesystems) it goes to a sidecar
`<output>.provenance.json`, written before the output gets its name, so that an output
never exists without its provenance: a crash in between leaves a sidecar without its
output, which the next write of that output replaces. `read_provenance` reads either.

`gs://` requests go through this thread's client (cadenza.runtime.gcs_clients).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import pathlib
import shutil

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from cadenza.runtime import local_files
from cadenza.runtime.gcs_clients import bucket_handle, gcs_client
from cadenza.runtime.sorted_json import dumps_sorted

PROVENANCE_KEY = "cadenza-provenance"  # object metadata key; local xattr user.<key>
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


def write_atomically(
    path: str,
    data: bytes | pathlib.Path,
    *,
    overwrite: bool = True,
    durable: bool = True,
    provenance: dict | None = None,
) -> bool:
    """Writes `data` (bytes, or a local file whose content is copied, never held whole
    in memory) to `path` so that no reader ever sees a partial file.

    Returns True when written; with `overwrite=False`, an existing object is left as
    it is and False is returned. On local paths the data reaches the disk before the
    file gets its name (fsync) unless `durable=False`, for records that can be rebuilt.
    `provenance` is recorded with the object (see the module docstring).
    """
    if is_local(path):
        return _write_local(path, data, overwrite, durable, provenance)
    if path.startswith("gs://"):
        return _write_gcs(path, data, overwrite, provenance)
    if not overwrite and FileSystems.exists(path):
        _keep_sidecar(path, provenance)
        return False
    sidecar = _SidecarFirst(path, provenance, overwrite)
    sidecar.write()
    with FileSystems.create(path, mime_type="application/octet-stream") as handle:
        if isinstance(data, pathlib.Path):
            with open(data, "rb") as source:
                shutil.copyfileobj(source, handle, local_files.COPY_CHUNK)
        else:
            handle.write(data)
    sidecar.settle()
    return True


def _write_local(target, data, overwrite, durable, provenance) -> bool:
    record = provenance_bytes(provenance) if provenance is not None else None
    attributes = {PROVENANCE_KEY: record} if record is not None else None
    sidecar = _SidecarFirst(target, provenance, overwrite, durable)
    written, recorded = local_files.create_file(
        target, data, attributes, overwrite=overwrite, durable=durable, unrecorded=sidecar.write
    )
    if not written:
        _keep_sidecar(target, provenance)
    elif not recorded:  # no xattrs here, or a record over their size limit
        sidecar.settle()
    return written


class _SidecarFirst:
    """A provenance record that cannot go with its output goes to the sidecar before the
    output gets its name, so an output never exists without its provenance (a crash in
    between leaves a sidecar without output, which the next write replaces)."""

    def __init__(self, path: str, record: dict | None, overwrite: bool, durable: bool = True):
        self._path, self._record = path, record
        self._overwrite, self._durable = overwrite, durable
        self._written = False

    def write(self) -> None:
        if self._record is not None and not self._written:
            self._written = _write_sidecar(
                self._path, self._record, overwrite=self._overwrite, durable=self._durable
            )

    def settle(self) -> None:
        """After the output got its name: a sidecar left by an earlier attempt (create-
        only kept it) is replaced by this one."""
        if self._record is not None and not self._written:
            _write_sidecar(self._path, self._record, overwrite=True, durable=self._durable)


GCS_METADATA_LIMIT = 7 * 1024  # Cloud Storage allows 8 KiB of custom metadata in all
UPLOAD_CHUNK = 8 << 20  # a file output's upload, a chunk in memory at a time (x 256 KiB)


def _write_gcs(path: str, data, overwrite: bool, provenance: dict | None) -> bool:
    from google.api_core.exceptions import PreconditionFailed

    bucket_name, name = split_gcs_path(path)
    bucket = bucket_handle(bucket_name)
    generation = 0
    if overwrite:
        existing = bucket.get_blob(name)
        generation = existing.generation if existing is not None else 0
    blob = bucket.blob(name)
    record = provenance_bytes(provenance).decode() if provenance is not None else None
    with_it = record is not None and len(record) <= GCS_METADATA_LIMIT
    sidecar = _SidecarFirst(path, None if with_it else provenance, overwrite)
    if with_it:
        blob.metadata = {PROVENANCE_KEY: record}
    sidecar.write()
    upload = blob.upload_from_string
    if isinstance(data, pathlib.Path):  # a file: one request, or chunks when it is large
        upload = blob.upload_from_filename
        if data.stat().st_size > UPLOAD_CHUNK:  # one resumable upload
            blob.chunk_size = UPLOAD_CHUNK
    try:
        upload(data, content_type="application/octet-stream", if_generation_match=generation)
    except PreconditionFailed:
        if not overwrite:
            _keep_sidecar(path, provenance)
            return False
        raise OutputConflict(
            f"{path} changed while being replaced (expected generation {generation})"
        ) from None
    sidecar.settle()
    return True


def provenance_path(path: str) -> str:
    """The sidecar of `path`: where its provenance goes when it cannot go with it."""
    return path + PROVENANCE_SUFFIX


def provenance_bytes(record: dict) -> bytes:
    return dumps_sorted(record).encode()


def _write_sidecar(path: str, record: dict, *, overwrite: bool, durable: bool = True) -> bool:
    return write_atomically(
        provenance_path(path), provenance_bytes(record), overwrite=overwrite, durable=durable
    )


def _keep_sidecar(path: str, record: dict | None) -> None:
    """For an output kept as it was: its sidecar, if it has none (a crash between the
    output and its sidecar)."""
    if record is not None and read_provenance(path) is None:
        _write_sidecar(path, record, overwrite=False)


def write_provenance(path: str, record: dict) -> None:
    """Records `record` as the provenance of the existing output at `path`."""
    if is_local(path):
        folder = os.path.dirname(path) or "."
        if local_files.set_attributes(path, {PROVENANCE_KEY: provenance_bytes(record)}, folder):
            return
    elif path.startswith("gs://"):
        bucket_name, name = split_gcs_path(path)
        blob = bucket_handle(bucket_name).get_blob(name)
        if blob is None:
            raise FileNotFoundError(f"{path}: no such object")
        blob.metadata = {**(blob.metadata or {}), PROVENANCE_KEY: provenance_bytes(record).decode()}
        blob.patch()
        return
    _write_sidecar(path, record, overwrite=True)


def _parse(raw, path: str) -> dict | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def read_provenance(path: str) -> dict | None:
    """The provenance recorded for the output at `path` (with it, or in its sidecar),
    or None if there is none."""
    if is_local(path):
        raw = local_files.read_attribute(path, PROVENANCE_KEY)
        if raw is not None:
            return _parse(raw, path)
    elif path.startswith("gs://"):
        bucket_name, name = split_gcs_path(path)
        blob = bucket_handle(bucket_name).get_blob(name)
        raw = (blob.metadata or {}).get(PROVENANCE_KEY) if blob is not None else None
        if raw is not None:
            return _parse(raw, path)
    sidecar = provenance_path(path)
    if not FileSystems.exists(sidecar):
        return None
    with FileSystems.open(sidecar) as handle:
        return _parse(handle.read(), sidecar)


def exists(path: str) -> bool:
    """Whether the file or object exists (local paths and `gs://` answered directly: Beam's
    GCS check spent a bucket lookup more here)."""
    if is_local(path):
        return os.path.exists(path)
    if path.startswith("gs://"):
        return _gcs_blob(path).exists()
    return FileSystems.exists(path)


def list_folder(folder: str, max_names: int | None = None) -> frozenset[str] | None:
    """The names of what is directly in `folder` (a path without its trailing slash, as
    `path.rsplit("/", 1)[0]` gives it; "." is the working directory): files and
    subfolders locally, objects on `gs://`. A missing folder lists as empty. With
    `max_names`, a folder holding more than that returns None, having read no more.

    Names only: local folders are read with one `scandir`, `gs://` folders are listed
    with a delimiter and only the names requested; other filesystems go through Beam's
    FileSystems.match.
    """
    limit = None if max_names is None else max_names + 1
    if is_local(folder):
        try:
            with os.scandir(folder + "/") as entries:  # "" + "/": the root
                names = frozenset(entry.name for entry in itertools.islice(entries, limit))
        except FileNotFoundError:
            return frozenset()
    elif folder.startswith("gs://"):
        bucket_name, _, prefix = folder[5:].partition("/")
        prefix = f"{prefix}/" if prefix else ""
        blobs = gcs_client().list_blobs(
            bucket_name,
            prefix=prefix,
            delimiter="/",
            max_results=limit,
            fields="items(name),nextPageToken",
        )
        names = frozenset(blob.name[len(prefix) :] for blob in blobs)
    else:
        (result,) = FileSystems.match([f"{folder}/*"], limits=[limit] if limit else None)
        names = frozenset(m.path[len(folder) + 1 :] for m in result.metadata_list)
    return None if limit is not None and len(names) >= limit else names


def open_for_reading(path: str):
    """A binary stream of the file, decompressed as Beam's FileSystems would (by suffix).

    Uncompressed local files and `gs://` objects are opened directly (Beam's GCS open
    spent a bucket lookup more here).
    """
    if detect_compression(path) == CompressionTypes.UNCOMPRESSED:
        if is_local(path):
            return open(path, "rb")  # what FileSystems opens it as, without its lookups
        if path.startswith("gs://"):
            return _open_gcs(path)
    return FileSystems.open(path)


def open_raw(path: str):
    """A binary stream of the file as stored, never decompressed (whatever its suffix)."""
    if is_local(path):
        return open(path, "rb")
    if path.startswith("gs://"):
        return _open_gcs(path)
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_bytes(path: str) -> bytes:
    """The whole file (decompressed by suffix, like `open_for_reading`); one request on
    `gs://`."""
    if path.startswith("gs://") and detect_compression(path) == CompressionTypes.UNCOMPRESSED:
        with _missing_as_file_not_found(path):
            # raw: the object's bytes as stored, as Beam reads them (no transcoding)
            return _gcs_blob(path).download_as_bytes(raw_download=True)
    with open_for_reading(path) as handle:
        return handle.read()


def _gcs_blob(path: str):
    bucket_name, name = split_gcs_path(path)
    return bucket_handle(bucket_name).blob(name)


def _open_gcs(path: str):
    """A seekable binary stream of a `gs://` object, read in ranges: one metadata request
    (which finds a missing object now, and gives seeks from the end its size), then the
    ranges read."""
    blob = _gcs_blob(path)
    with _missing_as_file_not_found(path):
        blob.reload()
    return blob.open("rb", raw_download=True)


@contextlib.contextmanager
def _missing_as_file_not_found(path: str):
    from google.api_core.exceptions import NotFound

    try:
        yield
    except NotFound as err:
        raise FileNotFoundError(f"{path}: not found ({err.message})") from None


# the suffixes Beam's CompressionTypes.detect_compression_type knows (each one dot)
COMPRESSED_SUFFIXES = (".bz2", ".deflate", ".gz", ".zst", ".zstd", ".xz", ".lzma")
_COMPRESSION_BY_SUFFIX = {
    suffix: CompressionTypes.detect_compression_type(suffix) for suffix in COMPRESSED_SUFFIXES
}


def detect_compression(path: str) -> str:
    """The compression Beam reads `path` with, by its suffix: Beam's answer, without the
    table Beam builds on every call (every input read asks)."""
    suffix = path[path.rfind(".") :].lower() if "." in path else ""
    return _COMPRESSION_BY_SUFFIX.get(suffix, CompressionTypes.UNCOMPRESSED)


def digest(path: str) -> str:
    """sha256 of a file as stored (never decompressed) on any Beam filesystem, read in
    1 MiB chunks."""
    sha = hashlib.sha256()
    with open_raw(path) as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()
