"""One adapter per fingerprinting system, all with the same two calls.

    stats = system.build({track_id: path, ...})   # -> BuildStats
    result = system.query(path)                   # -> QueryResult

`build` indexes the reference files, decoding included, and saves the index; its CPU
time is that of this process and its children (`time.process_time()` plus
`RUSAGE_CHILDREN`, so ffmpeg's decoding counts too), which makes "x realtime per core"
audio seconds over CPU seconds. The saved index is then reopened for the queries: the
load is not timed. `query` times decoding, fingerprinting and matching of one query
file (wall clock); the harness makes one untimed warm-up query first.

audfprint2 (PyPI) is driven through its Python API (`audfprint2.cli.setup_analyzer`,
`setup_matcher`, `core.hash_table.HashTable`, `Matcher.match_file`), with the defaults
of its command line (density 20 hashes/s, 5 peaks per frame, fanout 3, 11025 Hz,
hashbits 20, bucket size 100, 1 shift when indexing and 4 when matching, match window
2, at least 5 aligned hashes), except `maxtime`, raised to the next power of two above
the longest reference track (its default of 16384 frames wraps offsets after ~380 s).
Tracks are stored under their track ids with `HashTable.store`, as its `ingest` does
under file names. Its match is the top row of `match_file` (what its `-v` log prints as
"Matched ... as TRACK at OFFSET s"). The index is saved in its HDF format (gzip
compressed). It reads audio with ffmpeg when ffmpeg is installed (`./dev bench`
installs it); without ffmpeg (the CI smoke run) its `audio_read` is swapped for
soundfile + soxr, and the report says which reader was used.
"""

from __future__ import annotations

import contextlib
import math
import pathlib
import resource
import shutil
import time
from collections.abc import Iterator, Mapping
from typing import Protocol
from unittest import mock

import attrs
import numpy as np
import soxr

from tests.bench.fingerprint.queries import decode_mono


@attrs.frozen
class BuildStats:
    seconds_cpu: float  # this process and its children, decoding included
    seconds_wall: float
    audio_seconds: float  # total duration of the indexed tracks
    index_bytes: int
    tracks: int

    @property
    def realtime_per_core(self) -> float:
        return self.audio_seconds / self.seconds_cpu

    @property
    def mb_per_hour(self) -> float:
        return self.index_bytes / 1e6 / (self.audio_seconds / 3600)


@attrs.frozen
class QueryResult:
    track: str | None  # None: the system found no match
    offset_s: float | None  # where the query starts in `track`, by the system
    latency_s: float  # decoding + fingerprinting + matching, wall clock
    score: float = 0.0


class System(Protocol):
    name: str
    notes: str  # how it was run, for the report

    def build(self, references: Mapping[str, pathlib.Path]) -> BuildStats: ...

    def query(self, path: pathlib.Path) -> QueryResult: ...

    def close(self) -> None: ...


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its waited-for children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Audfprint2:
    """audfprint2 with its command line's defaults and `maxtime` above the longest track."""

    name = "audfprint2"

    def __init__(self, workdir: pathlib.Path, *, longest_track_s: float) -> None:
        from audfprint2 import cli

        self._workdir = workdir
        self._reader = "ffmpeg" if shutil.which("ffmpeg") else "soundfile+soxr"
        settings = {
            "density": 20.0,
            "pks_per_frame": 5,
            "fanout": 3,
            "freq_sd": 30.0,
            "shifts": 0,  # its default: 1 when indexing, 4 when matching
            "samplerate": 11025,
            "continue_on_error": False,
            "ffmpeg_path": None,
        }
        self._indexer = cli.setup_analyzer(is_match=False, **settings)
        self._matcher_analyzer = cli.setup_analyzer(is_match=True, **settings)
        self._matcher = cli.setup_matcher(
            match_win=2,
            search_depth=100,
            min_count=5,
            max_matches=1,
            exact_count=False,
            find_time_range=False,
            time_quantile=0.05,
            sortbytime=False,
            illustrate=False,
            illustrate_hpf=False,
        )
        hop_s = self._indexer.n_hop / self._indexer.target_sr
        self._maxtime = 1 << max(14, math.ceil(math.log2(longest_track_s / hop_s + 1)))
        self._table = None
        self.notes = (
            f"audfprint2 {_version('audfprint2')}: CLI defaults (density 20, hashbits 20, "
            f"bucketsize 100, shifts 1 index / 4 match, match window 2, min count 5), "
            f"maxtime {self._maxtime} frames ({self._maxtime * hop_s:.0f} s), HDF index, "
            f"audio read with {self._reader}"
        )

    def build(self, references: Mapping[str, pathlib.Path]) -> BuildStats:
        from audfprint2.core.hash_table import HashTable

        self._workdir.mkdir(parents=True, exist_ok=True)
        start_cpu, start_wall = cpu_seconds(), time.perf_counter()
        with self._reading():
            table = HashTable(hashbits=20, depth=100, maxtime=self._maxtime)
            table.params["samplerate"] = self._indexer.target_sr
            seconds = 0.0
            for track_id, path in references.items():
                hashes = self._indexer.wavfile2hashes(str(path))
                seconds += self._indexer.soundfiledur
                table.store(track_id, [(int(t), int(h)) for t, h in hashes.tolist()])
            saved = pathlib.Path(table.save(str(self._workdir / "index.hdf")))
            del table
        stats = BuildStats(
            seconds_cpu=cpu_seconds() - start_cpu,
            seconds_wall=time.perf_counter() - start_wall,
            audio_seconds=seconds,
            index_bytes=saved.stat().st_size,
            tracks=len(references),
        )
        self._table = HashTable(str(saved))
        return stats

    def query(self, path: pathlib.Path) -> QueryResult:
        start = time.perf_counter()
        with self._reading():
            rows, _, _ = self._matcher.match_file(self._matcher_analyzer, self._table, str(path))
        latency = time.perf_counter() - start
        if len(rows) == 0:
            return QueryResult(None, None, latency)
        track_id, aligned, frames = int(rows[0][0]), int(rows[0][1]), int(rows[0][2])
        hop_s = self._matcher_analyzer.n_hop / self._matcher_analyzer.target_sr
        return QueryResult(self._table.names[track_id], frames * hop_s, latency, float(aligned))

    def close(self) -> None:
        self._table = None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        if self._reader == "ffmpeg":
            yield
            return
        from audfprint2.utils import audio

        with mock.patch.object(audio, "audio_read", _soundfile_read):
            yield


def _soundfile_read(filename, sr=None, channels=None, ffmpeg_path=None):
    """audfprint2's `audio_read`, with soundfile + soxr instead of ffmpeg (mono only)."""
    samples, rate = decode_mono(pathlib.Path(filename))
    if sr and sr != rate:
        samples = soxr.resample(samples, rate, sr, quality="HQ")
    return np.ascontiguousarray(samples, dtype=np.float32), sr or rate


class Cadenza:
    """cadenza.audio.fingerprint's FingerprintIndex, decoding with `decode_audio`."""

    name = "cadenza"

    def __init__(self, workdir: pathlib.Path) -> None:
        from cadenza.audio import decode_audio
        from cadenza.audio.fingerprint import FINGERPRINT_SAMPLE_RATE, FingerprintIndex

        self._workdir = workdir
        self._decode = decode_audio
        self._rate = FINGERPRINT_SAMPLE_RATE
        self._open = FingerprintIndex.open
        self._index = None
        self.notes = (
            f"cadenza.audio {_version('cadenza-audio')}: FingerprintIndex defaults, "
            f"decode_audio at {self._rate} Hz"
        )

    def build(self, references: Mapping[str, pathlib.Path]) -> BuildStats:
        if self._workdir.exists():
            shutil.rmtree(self._workdir)
        start_cpu, start_wall = cpu_seconds(), time.perf_counter()
        index = self._open(self._workdir)
        seconds = 0.0
        for track_id, path in references.items():
            audio = self._decode(path, sample_rate=self._rate)
            seconds += audio.duration_s
            index.add(track_id, audio)
        index.commit()
        size = index.size_bytes()
        index.close()
        stats = BuildStats(
            seconds_cpu=cpu_seconds() - start_cpu,
            seconds_wall=time.perf_counter() - start_wall,
            audio_seconds=seconds,
            index_bytes=size,
            tracks=len(references),
        )
        self._index = self._open(self._workdir)
        return stats

    def query(self, path: pathlib.Path) -> QueryResult:
        start = time.perf_counter()
        audio = self._decode(path, sample_rate=self._rate)
        match = self._index.identify(audio)
        latency = time.perf_counter() - start
        return QueryResult(match.track, match.offset_s, latency, float(match.score))

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "(source tree)"
