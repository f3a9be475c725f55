"""Which embedded store holds the fingerprint index: sorted arrays, SQLite or LMDB.

Side by side in one run, on the same entries: the landmark hashes of synthetic music
(`cadenza.audio.fingerprint.synthetic`), `full` = 3 hours of audio (the size of the
fingerprint benchmark's index), `smoke` = 10 minutes. Each store gets the same bulk
add and answers the same query: the ~10,000 hashes of a 5 s excerpt, returning every
(query position, value) pair. `extra_info` records each store's add time, bytes per
entry, and hit count (which must agree across stores).

The stores other than `SegmentStore` are minimal but fair adapters: SQLite with a
clustered `WITHOUT ROWID` primary key (hash, value) and one `IN (...)` query per 500
keys; LMDB with sorted duplicate values per key (`dupsort`, `dupfixed`), bulk-loaded
with `putmulti` in key order and read with one cursor.
"""

import os
import sqlite3
import time

import lmdb
import numpy as np
import pytest

from cadenza.audio.fingerprint import SegmentStore
from cadenza.audio.fingerprint.landmarks import QUERY, REFERENCE, SAMPLE_RATE, landmarks
from cadenza.audio.fingerprint.store import PendingTrack
from cadenza.audio.fingerprint.synthetic import melody

SMOKE = os.environ.get("CADENZA_BENCH_SIZE", "full") != "full"
TRACK_S = 300
TRACKS = 2 if SMOKE else 36  # x 5 min: 10 min or 3 h


@pytest.fixture(scope="module")
def corpus():
    tracks = []
    for seed in range(TRACKS):
        samples = melody(TRACK_S, seed)
        hashes, frames = landmarks(samples, REFERENCE)
        tracks.append(PendingTrack(f"t{seed}", hashes, frames, len(samples) // 128 + 1, TRACK_S))
    query_audio = melody(TRACK_S, 0)[60 * SAMPLE_RATE : 65 * SAMPLE_RATE]
    query, _ = landmarks(query_audio, QUERY)
    return tracks, query


class SqliteStore:
    def __init__(self, folder):
        self.path = folder / "index.sqlite"
        self.db = sqlite3.connect(self.path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS hashes (hash INTEGER, value INTEGER,"
            " PRIMARY KEY (hash, value)) WITHOUT ROWID"
        )

    def add(self, hashes, values):
        with self.db:
            rows = zip(hashes.tolist(), values.tolist(), strict=True)
            self.db.executemany("INSERT OR IGNORE INTO hashes VALUES (?, ?)", rows)

    def lookup(self, hashes):
        keys = np.unique(hashes)
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500].tolist()
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT hash, value FROM hashes WHERE hash IN ({marks})"
            for key, value in self.db.execute(sql, chunk):
                found.setdefault(key, []).append(value)
        return _pairs(hashes, found)

    def size(self):
        return self.path.stat().st_size


class LmdbStore:
    def __init__(self, folder):
        self.folder = folder / "lmdb"
        self.env = lmdb.open(str(self.folder), map_size=1 << 32, max_dbs=1)
        self.db = self.env.open_db(b"h", dupsort=True, dupfixed=True, integerkey=True)

    def add(self, hashes, values):
        order = np.lexsort((values, hashes))
        items = [
            (int(h).to_bytes(4, "little"), int(v).to_bytes(4, "big"))
            for h, v in zip(hashes[order], values[order], strict=True)
        ]
        with self.env.begin(write=True, db=self.db) as txn:
            txn.cursor().putmulti(items, dupdata=True)

    def lookup(self, hashes):
        found = {}
        with self.env.begin(db=self.db) as txn:
            cursor = txn.cursor()
            for key in np.unique(hashes).tolist():
                if cursor.set_key(key.to_bytes(4, "little")):
                    found[key] = [int.from_bytes(v, "big") for v in cursor.iternext_dup()]
        return _pairs(hashes, found)

    def size(self):
        return sum(p.stat().st_size for p in self.folder.iterdir())


def _pairs(hashes, found):
    return sum(len(found.get(h, ())) for h in hashes.tolist())


class Segments:
    def __init__(self, folder):
        self.store = SegmentStore(folder / "segments")

    def add_tracks(self, tracks):
        self.store.add_tracks(tracks)

    def lookup(self, hashes):
        positions, _ = self.store.lookup(hashes)
        return len(positions)

    def size(self):
        return self.store.size_bytes()


def _flat(tracks):
    hashes, values, start = [], [], 0
    for track in tracks:
        hashes.append(track.hashes)
        values.append((track.frames + start).astype(np.uint32))
        start += track.n_frames + 1
    return np.concatenate(hashes), np.concatenate(values)


@pytest.fixture(scope="module", params=["segments", "sqlite", "lmdb"])
def store(request, corpus, tmp_path_factory):
    tracks, _ = corpus
    folder = tmp_path_factory.mktemp(request.param)
    started = time.perf_counter()
    if request.param == "segments":
        built = Segments(folder)
        built.add_tracks(tracks)
    else:
        built = SqliteStore(folder) if request.param == "sqlite" else LmdbStore(folder)
        built.add(*_flat(tracks))
    entries = sum(len(t.hashes) for t in tracks)
    return request.param, built, time.perf_counter() - started, entries


def test_lookup_5s_query(benchmark, store, corpus):
    name, built, add_s, entries = store
    _, query = corpus
    hits = benchmark(built.lookup, query)
    audio_h = TRACKS * TRACK_S / 3600
    benchmark.extra_info.update(
        store=name,
        entries=entries,
        add_s=round(add_s, 3),
        bytes_per_entry=round(built.size() / entries, 2),
        mb_per_hour=round(built.size() / 1e6 / audio_h, 3),
        query_hashes=len(query),
        hits=hits,
    )
    assert hits > len(query) * 0.5  # the excerpt is in the index: most hashes hit
