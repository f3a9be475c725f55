"""The embedded default store: immutable segments of memory-mapped sorted arrays.

    index/
      manifest.json          the committed state: tracks and segment names (atomic replace)
      seg-000003-1a2b.hash   uint32 hashes, sorted
      seg-000003-1a2b.value  uint32 values, in the same order
      lock                   writers take an exclusive flock on it

Adding a batch writes a new segment's two files and fsyncs them, then replaces the
manifest (write a temporary file, fsync, rename, fsync the folder). A crash before the
rename leaves the old manifest, which never names the unfinished segment (it is removed
on the next write); after the rename, everything reported as added is on disk. Lookups
binary-search every segment (`numpy.searchsorted` over memory maps, so opening an index
reads nothing but the manifest); when segments pile up they are merged into one.

Why this store (tests/bench/fingerprint_store_bench.py, results committed): for this
workload (fixed-width integer pairs, bulk appends, thousands of lookups per query) it
was measured side by side with SQLite (clustered WITHOUT ROWID table) and LMDB
(dupsort) on a 3-hour index of 578k entries: a 5 s query's lookups took 0.19 ms against
1.7 ms (LMDB) and 3.6 ms (SQLite), the index took 8.0 bytes per entry against 9.5 and
13.2, and the bulk add 0.31 s against 0.48 s and 1.75 s. Sorted arrays answer all of a
query's keys in one vectorised call, where the others pay per key.
"""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import secrets

import numpy as np

from cadenza.audio.fingerprint.store import AddReport, FingerprintStore, PendingTrack, TrackRecord

MANIFEST = "manifest.json"
FORMAT = "cadenza-fingerprint-segments/1"
MAX_SEGMENTS = 8  # merge all segments into one beyond this many
_MAX_VALUE = 2**32 - 1
#: what a manifest must hold besides its format, and of which type
_MANIFEST_KEYS = {"generation": int, "next_frame": int, "segments": list, "tracks": list}


def _own_file(name: str) -> bool:
    """A name an index folder holds before its first manifest: its lock, segments and
    temporary manifests (a writer that stopped before committing)."""
    return name == "lock" or name.startswith(("seg-", f".{MANIFEST}."))


class IndexFormatError(ValueError):
    """The folder holds something that is not a fingerprint index of this format."""


class SegmentStore(FingerprintStore):
    """Sorted, memory-mapped segments under one folder (created if missing)."""

    def __init__(self, directory: str | os.PathLike, *, create: bool = True):
        if "://" in os.fspath(directory):
            raise ValueError(
                f"{os.fspath(directory)!r}: a fingerprint index is a local folder; "
                "remote paths (gs://, s3://, ...) are not supported"
            )
        self.directory = pathlib.Path(directory)
        if not self.directory.exists():
            if not create:
                raise FileNotFoundError(f"no fingerprint index at {self.directory}")
            self.directory.mkdir(parents=True)
        elif not self.directory.is_dir():
            raise IndexFormatError(f"{self.directory} is a file, not an index folder")
        elif not (self.directory / MANIFEST).exists():
            others = sorted(p.name for p in self.directory.iterdir() if not _own_file(p.name))
            if not create or others:  # never write an index into a folder of other files
                found = f"; it holds {', '.join(others[:3])}{'...' if len(others) > 3 else ''}"
                raise IndexFormatError(
                    f"{self.directory} is not a fingerprint index: it has no {MANIFEST}"
                    + (found if others else "")
                )
        self._stamp: tuple[int, int] | None = None
        self._manifest: dict = _empty_manifest()
        self._segments: list[tuple[np.ndarray, np.ndarray]] = []
        self._track_records: tuple[TrackRecord, ...] = ()
        self._starts = np.zeros(0, np.int64)
        self.refresh()

    # -- reading -----------------------------------------------------------------------

    def refresh(self) -> None:
        path = self.directory / MANIFEST
        try:
            stat = path.stat()
        except FileNotFoundError:
            return
        stamp = (stat.st_mtime_ns, stat.st_ino)
        if stamp == self._stamp:
            return
        try:
            self._load(_read_manifest(path))
        except FileNotFoundError:  # a writer merged segments meanwhile: read its manifest
            self._load(_read_manifest(path))
        self._stamp = stamp

    def _load(self, manifest: dict) -> None:
        self._manifest = manifest
        self._segments = [self._open_segment(name) for name in manifest["segments"]]
        try:
            self._track_records = tuple(TrackRecord(**record) for record in manifest["tracks"])
        except TypeError as error:
            path = self.directory / MANIFEST
            raise IndexFormatError(f"{path}: a record in 'tracks' is malformed ({error})") from None
        self._starts = np.array([t.start_frame for t in self._track_records], np.int64)

    def _open_segment(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        hashes = _map(self.directory / f"{name}.hash")
        values = _map(self.directory / f"{name}.value")
        if len(hashes) != len(values):
            raise IndexFormatError(
                f"segment {name} in {self.directory} is damaged (lengths differ)"
            )
        return hashes, values

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Search with sorted, distinct keys (cache-friendly), then map back to `hashes`.
        keys, inverse = np.unique(hashes, return_inverse=True)
        key_positions, values = self._lookup_sorted(keys)
        if len(key_positions) == 0:
            return key_positions, values
        # each hit of key k pairs with every position of `hashes` that holds k
        order = np.argsort(inverse, kind="stable")
        per_key = np.bincount(inverse, minlength=len(keys))
        starts = np.concatenate([[0], np.cumsum(per_key)])
        pair_counts = per_key[key_positions]
        hit_index = np.repeat(np.arange(len(key_positions)), pair_counts)
        key_of_hit = key_positions[hit_index]
        rank = np.arange(len(hit_index)) - np.repeat(
            np.cumsum(pair_counts) - pair_counts, pair_counts
        )
        query_positions = order[starts[key_of_hit] + rank]
        return query_positions, values[hit_index]

    def _lookup_sorted(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        positions, values = [], []
        for stored_hashes, stored_values in self._segments:
            low = np.searchsorted(stored_hashes, keys, side="left")
            high = np.searchsorted(stored_hashes, keys, side="right")
            counts = high - low
            total = int(counts.sum())
            if total == 0:
                continue
            query_index = np.repeat(np.arange(len(keys)), counts)
            first = np.repeat(low - (np.cumsum(counts) - counts), counts)
            positions.append(query_index)
            values.append(stored_values[first + np.arange(total)])
        if not positions:
            return np.zeros(0, np.int64), np.zeros(0, np.uint32)
        return np.concatenate(positions), np.concatenate(values)

    def tracks(self) -> tuple[TrackRecord, ...]:
        return self._track_records

    def track_starts(self) -> np.ndarray:
        """Start frames of the tracks in timeline order (for `numpy.searchsorted`)."""
        return self._starts

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())

    def close(self) -> None:
        self._segments = []

    # -- writing -----------------------------------------------------------------------

    def add_tracks(self, tracks: list[PendingTrack]) -> AddReport:
        with _locked(self.directory / "lock"):
            path = self.directory / MANIFEST
            manifest = _read_manifest(path) if path.exists() else _empty_manifest()
            present = {t["track_id"] for t in manifest["tracks"]}
            added, skipped, hashes, values = [], [], [], []
            next_frame = manifest["next_frame"]
            for track in tracks:
                if track.track_id in present:
                    skipped.append(track.track_id)
                    continue
                present.add(track.track_id)
                if next_frame + track.n_frames + 1 > _MAX_VALUE:
                    raise OverflowError(
                        f"{self.directory}: the index's timeline is full (2^32 frames); "
                        "start another index"
                    )
                added.append(
                    TrackRecord(
                        track_id=track.track_id,
                        start_frame=next_frame,
                        n_frames=int(track.n_frames),
                        n_hashes=len(track.hashes),
                        duration_s=float(track.duration_s),
                    )
                )
                hashes.append(np.asarray(track.hashes, np.uint32))
                values.append((np.asarray(track.frames, np.int64) + next_frame).astype(np.uint32))
                next_frame += int(track.n_frames) + 1
            if added or not path.exists():  # a new index is one, even before its first track
                segments = list(manifest["segments"])
                if any(len(h) for h in hashes):
                    segments.append(self._write_segment(manifest, hashes, values))
                manifest = {
                    **manifest,
                    "generation": manifest["generation"] + bool(added),
                    "next_frame": next_frame,
                    "segments": segments,
                    "tracks": manifest["tracks"] + [_record_json(r) for r in added],
                }
                if len(segments) > MAX_SEGMENTS:
                    manifest = self._merged(manifest)
                self._commit(manifest)
            self._remove_unreferenced(manifest)
        self.refresh()
        return AddReport(added=tuple(added), already_present=tuple(skipped))

    def _write_segment(self, manifest: dict, hashes: list, values: list) -> str:
        all_hashes = np.concatenate(hashes)
        all_values = np.concatenate(values)
        order = np.argsort(all_hashes, kind="stable")
        name = f"seg-{manifest['generation'] + 1:06d}-{secrets.token_hex(3)}"
        _write_durably(self.directory / f"{name}.hash", all_hashes[order])
        _write_durably(self.directory / f"{name}.value", all_values[order])
        return name

    def _merged(self, manifest: dict) -> dict:
        parts = [self._open_segment(name) for name in manifest["segments"]]
        hashes = [h for h, _ in parts]
        values = [v for _, v in parts]
        name = self._write_segment(manifest, hashes, values)
        return {**manifest, "segments": [name]}

    def _commit(self, manifest: dict) -> None:
        path = self.directory / MANIFEST
        temporary = self.directory / f".{MANIFEST}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        _fsync_directory(self.directory)

    def _remove_unreferenced(self, manifest: dict) -> None:
        keep = set(manifest["segments"])
        for path in self.directory.glob("seg-*"):
            if path.stem not in keep:
                path.unlink(missing_ok=True)
        for path in self.directory.glob(f".{MANIFEST}.*.tmp"):
            path.unlink(missing_ok=True)


def _empty_manifest() -> dict:
    return {"format": FORMAT, "generation": 0, "next_frame": 0, "segments": [], "tracks": []}


def _read_manifest(path: pathlib.Path) -> dict:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise IndexFormatError(f"{path} is not a fingerprint index manifest: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise IndexFormatError(f"{path}: expected format {FORMAT!r}, found {found!r}")
    for key, kind in _MANIFEST_KEYS.items():
        if not isinstance(manifest.get(key), kind):
            found = type(manifest[key]).__name__ if key in manifest else "nothing"
            raise IndexFormatError(
                f"{path}: expected {key!r} to be {kind.__name__}, found {found} (damaged index)"
            )
    return manifest


def _record_json(record: TrackRecord) -> dict:
    return {
        "track_id": record.track_id,
        "start_frame": record.start_frame,
        "n_frames": record.n_frames,
        "n_hashes": record.n_hashes,
        "duration_s": record.duration_s,
    }


def _map(path: pathlib.Path) -> np.ndarray:
    size = path.stat().st_size
    if size % 4:
        raise IndexFormatError(
            f"{path} is damaged: {size} bytes is not a whole number of uint32 entries"
        )
    if size == 0:
        return np.zeros(0, np.uint32)
    return np.memmap(path, dtype=np.uint32, mode="r")


def _write_durably(path: pathlib.Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        handle.write(np.ascontiguousarray(array, dtype="<u4").tobytes())
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_directory(directory: pathlib.Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class _locked:
    def __init__(self, path: pathlib.Path):
        self.path = path

    def __enter__(self):
        self.handle = open(self.path, "a+")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
