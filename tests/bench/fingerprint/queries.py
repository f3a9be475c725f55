"""The benchmark's queries: excerpts of the corpus, cut with a fixed seed and degraded.

For each query length (2, 5, 10 s), `per_cell` excerpt positions are drawn: a reference
track uniformly at random, then a start sample uniformly at random within it, at the
track's own sample rate (so offsets are not aligned to any system's analysis frames;
starts that are multiples of 64 samples are redrawn, as are near-silent excerpts, RMS
below `SILENCE_DBFS`, which no system could identify). Each position is then rendered
under every condition, so the cells of one length share their excerpts:

- `clean`: the excerpt itself, mono, at the track's rate (WAV, 16 bit).
- `noise_10db`, `noise_0db`: white Gaussian noise added at that SNR (power over the
  excerpt).
- `mp3_64k`: MP3 at 64 kbit/s CBR (soundfile's LAME writer; the compression level
  giving 64 kbit/s is found per sample rate, and every file's bitrate is checked).
- `speed_+2%`, `speed_-2%`: played 2% faster/slower, tempo and pitch together (as sox
  `speed` does): `length * speed` of the track resampled to `length`.
- `phone`: band-pass 300-3400 Hz (4th-order Butterworth), resampled to 8 kHz, white
  noise at 15 dB SNR.

Not-indexed queries are clean excerpts of the held-out tracks, `not_indexed` per length.
Every query is written to a file (WAV, or MP3 for `mp3_64k`), so both systems decode the
same bytes. The set is cached beside the corpus, keyed by the corpus digest and the plan.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import pathlib
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Sequence

import attrs
import numpy as np
import scipy.signal
import soundfile as sf
import soxr

from tests.bench.fingerprint.corpus import Corpus, Track

FORMAT_VERSION = 1
SEED = 7211
DURATIONS = (2.0, 5.0, 10.0)
CONDITIONS = ("clean", "noise_10db", "noise_0db", "mp3_64k", "speed_+2%", "speed_-2%", "phone")
NOT_INDEXED = "not_indexed"
SPEEDS = {"speed_+2%": 1.02, "speed_-2%": 0.98}
NOISE_SNR_DB = {"noise_10db": 10.0, "noise_0db": 0.0}
MP3_KBPS = 64
PHONE_BAND_HZ = (300.0, 3400.0)
PHONE_RATE = 8000
PHONE_SNR_DB = 15.0
SILENCE_DBFS = -45.0
ALIGNMENT = 64  # start samples that are multiples of this are redrawn


@attrs.frozen
class QueryPlan:
    per_cell: int  # excerpts per query length, each rendered under every condition
    not_indexed: int  # not-indexed (held-out) excerpts per query length


PLANS = {"full": QueryPlan(per_cell=60, not_indexed=100), "smoke": QueryPlan(2, 2)}


@attrs.frozen
class Query:
    query_id: str  # "5s/noise_10db/017"
    path: pathlib.Path
    duration_s: float  # length of the query file
    condition: str  # one of CONDITIONS, or NOT_INDEXED
    track_id: str  # the track it was cut from (a held-out one for NOT_INDEXED)
    offset_s: float  # where the excerpt starts in that track
    speed: float  # 1.0, or the playback speed of a speed_* query
    indexed: bool

    @property
    def cell(self) -> tuple[float, str]:
        return (self.duration_s, self.condition)


def make_queries(corpus: Corpus, plan: QueryPlan) -> list[Query]:
    """The queries for `corpus` under `plan`, written to `corpus.root/../queries` once."""
    folder = corpus.root.parent / "queries"
    manifest = {
        "format": FORMAT_VERSION,
        "seed": SEED,
        "corpus": corpus.digest,
        "plan": attrs.asdict(plan),
        "durations": DURATIONS,
        "conditions": CONDITIONS,
    }
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    index = folder / "queries.json"
    if not (index.exists() and json.loads(index.read_text()).get("digest") == digest):
        staging = pathlib.Path(tempfile.mkdtemp(prefix="queries-", dir=corpus.root.parent))
        try:
            entries = _render_all(corpus, plan, staging)
            payload = {"digest": digest, "manifest": manifest, "queries": entries}
            (staging / "queries.json").write_text(json.dumps(payload, indent=1))
            if folder.exists():
                shutil.rmtree(folder)
            staging.rename(folder)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    stored = json.loads(index.read_text())["queries"]
    return [Query(**{**entry, "path": folder / entry["path"]}) for entry in stored]


@attrs.frozen
class _Slot:
    duration_s: float
    number: int
    track: Track
    indexed: bool


def _render_all(corpus: Corpus, plan: QueryPlan, staging: pathlib.Path) -> list[dict]:
    pick = np.random.default_rng(SEED)
    slots: list[_Slot] = []
    for duration in DURATIONS:
        for number in range(plan.per_cell):
            track = corpus.references[pick.integers(len(corpus.references))]
            slots.append(_Slot(duration, number, track, indexed=True))
        for number in range(plan.not_indexed):
            track = corpus.held_out[pick.integers(len(corpus.held_out))]
            slots.append(_Slot(duration, number, track, indexed=False))
    by_track: dict[str, list[_Slot]] = defaultdict(list)
    for slot in slots:
        by_track[slot.track.track_id].append(slot)
    entries = []
    for track_id in sorted(by_track):
        samples, rate = decode_mono(by_track[track_id][0].track.path)
        for slot in by_track[track_id]:
            entries += _render_slot(slot, samples, rate, staging)
    return sorted(entries, key=lambda e: e["query_id"])


def decode_mono(path: pathlib.Path) -> tuple[np.ndarray, int]:
    """A file's samples as mono float32 at its own rate."""
    frames, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(frames.mean(axis=1)), int(rate)


def _render_slot(slot: _Slot, samples: np.ndarray, rate: int, staging: pathlib.Path) -> list[dict]:
    rng = np.random.default_rng([SEED, int(slot.duration_s * 10), slot.number, int(slot.indexed)])
    span = math.ceil(slot.duration_s * max(SPEEDS.values()) * rate) + 1
    start = _draw_start(rng, samples, span, slot)
    excerpt = samples[start : start + span]
    length = round(slot.duration_s * rate)
    label = f"{slot.duration_s:g}s"
    conditions = CONDITIONS if slot.indexed else (NOT_INDEXED,)
    entries = []
    for condition in conditions:
        name = f"{label}/{condition}/{slot.number:03d}"
        speed = SPEEDS.get(condition, 1.0)
        if condition in SPEEDS:
            audio, out_rate = change_speed(excerpt[: round(length * speed)], rate, speed), rate
        else:
            audio, out_rate = excerpt[:length], rate
        if condition in NOISE_SNR_DB:
            audio = add_noise(audio, NOISE_SNR_DB[condition], rng)
        elif condition == "phone":
            audio, out_rate = phone_chain(audio, rate, rng)
        audio = _fit(audio, round(slot.duration_s * out_rate))
        if condition == "mp3_64k":
            data, suffix = encode_mp3(audio, out_rate), ".mp3"
        else:
            buffer = io.BytesIO()
            sf.write(buffer, audio, out_rate, format="WAV", subtype="PCM_16")
            data, suffix = buffer.getvalue(), ".wav"
        target = staging / f"{name}{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        entries.append(
            {
                "query_id": name,
                "path": str(target.relative_to(staging)),
                "duration_s": slot.duration_s,
                "condition": condition,
                "track_id": slot.track.track_id,
                "offset_s": start / rate,
                "speed": speed,
                "indexed": slot.indexed,
            }
        )
    return entries


def _draw_start(rng: np.random.Generator, samples: np.ndarray, span: int, slot: _Slot) -> int:
    last = len(samples) - span
    if last <= ALIGNMENT:
        raise ValueError(f"{slot.track.track_id}: too short for a {slot.duration_s:g} s query")
    for _ in range(1000):
        start = int(rng.integers(0, last))
        if start % ALIGNMENT == 0:
            continue
        power = float(np.mean(np.square(samples[start : start + span], dtype=np.float64)))
        if 10 * math.log10(power + 1e-20) >= SILENCE_DBFS:
            return start
    raise ValueError(f"{slot.track.track_id}: no audible {slot.duration_s:g} s excerpt found")


def _fit(audio: np.ndarray, length: int) -> np.ndarray:
    """`audio` cut or zero-padded to `length` samples, scaled down if it would clip."""
    audio = np.asarray(audio, dtype=np.float32)[:length]
    if len(audio) < length:
        audio = np.pad(audio, (0, length - len(audio)))
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    return audio * (0.99 / peak) if peak > 0.99 else audio


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """`audio` plus white Gaussian noise at `snr_db` below its mean power."""
    power = float(np.mean(np.square(audio, dtype=np.float64)))
    noise = rng.standard_normal(len(audio)) * math.sqrt(power / 10 ** (snr_db / 10))
    return (audio + noise).astype(np.float32)


def change_speed(audio: np.ndarray, rate: int, speed: float) -> np.ndarray:
    """`audio` played `speed` times as fast, tempo and pitch together (sox `speed`)."""
    return soxr.resample(audio, rate * speed, rate, quality="HQ").astype(np.float32)


def phone_chain(audio: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A telephone line: 300-3400 Hz band, 8 kHz sampling, noise at 15 dB SNR."""
    sos = scipy.signal.butter(4, PHONE_BAND_HZ, btype="bandpass", fs=rate, output="sos")
    band = scipy.signal.sosfilt(sos, audio).astype(np.float32)
    narrow = soxr.resample(band, rate, PHONE_RATE, quality="HQ").astype(np.float32)
    return add_noise(narrow, PHONE_SNR_DB, rng), PHONE_RATE


_MP3_LEVELS: dict[int, float] = {}


def encode_mp3(audio: np.ndarray, rate: int) -> bytes:
    """`audio` as a mono MP3 at MP3_KBPS kbit/s CBR; raises if the bitrate is off."""
    data = _mp3(audio, rate, mp3_level(rate))
    kbps = mp3_kbps(data)
    if abs(kbps - MP3_KBPS) > 0.5:
        raise RuntimeError(f"MP3 at {rate} Hz came out at {kbps:.1f} kbit/s, not {MP3_KBPS}")
    return data


def mp3_level(rate: int) -> float:
    """soundfile's MP3 compression level that gives MP3_KBPS kbit/s CBR at `rate`."""
    if rate not in _MP3_LEVELS:
        probe = np.random.default_rng(0).standard_normal(rate * 4).astype(np.float32) * 0.1
        levels = np.round(np.arange(0.0, 1.0, 0.01), 2)
        rates = [(abs(mp3_kbps(_mp3(probe, rate, lv)) - MP3_KBPS), lv) for lv in levels]
        _MP3_LEVELS[rate] = float(min(rates)[1])
    return _MP3_LEVELS[rate]


def mp3_kbps(data: bytes) -> float:
    """The mean bitrate of an MP3's audio frames, read from their headers (kbit/s)."""
    position, bits, seconds = _id3_bytes(data), 0.0, 0.0
    while position + 4 <= len(data) and data[position : position + 3] != b"TAG":
        header = int.from_bytes(data[position : position + 4], "big")
        if header >> 21 != 0x7FF:
            raise ValueError(f"MP3: no frame header at byte {position}")
        version = (header >> 19) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
        kbps = (_MPEG1_KBPS if version == 3 else _MPEG2_KBPS)[(header >> 12) & 15]
        rate = _RATES[version][(header >> 10) & 3]
        samples = 1152 if version == 3 else 576
        size = samples // 8 * kbps * 1000 // rate + ((header >> 9) & 1)
        bits += kbps * 1000 * samples / rate
        seconds += samples / rate
        position += size
    return bits / seconds / 1000


_MPEG1_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0)
_MPEG2_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0)
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _id3_bytes(data: bytes) -> int:
    if data[:3] != b"ID3":
        return 0
    size = data[6:10]
    return 10 + ((size[0] << 21) | (size[1] << 14) | (size[2] << 7) | size[3])


def _mp3(audio: np.ndarray, rate: int, level: float) -> bytes:
    buffer = io.BytesIO()
    sf.write(
        buffer,
        audio,
        rate,
        format="MP3",
        subtype="MPEG_LAYER_III",
        compression_level=level,
        bitrate_mode="CONSTANT",
    )
    return buffer.getvalue()


def cells(queries: Sequence[Query]) -> list[tuple[float, str]]:
    """Every (length, condition) cell present, in report order."""
    order = {c: i for i, c in enumerate((*CONDITIONS, NOT_INDEXED))}
    return sorted({q.cell for q in queries}, key=lambda c: (order[c[1]], c[0]))
