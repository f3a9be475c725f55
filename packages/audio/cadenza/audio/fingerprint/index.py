"""`FingerprintIndex`: add tracks, identify excerpts, over a `FingerprintStore`.

>>> import tempfile, numpy as np
>>> from cadenza.audio.fingerprint import FingerprintIndex, FINGERPRINT_SAMPLE_RATE
>>> from cadenza.audio.fingerprint.synthetic import melody
>>> song = melody(seconds=30, seed=1)
>>> with tempfile.TemporaryDirectory() as folder:
...     index = FingerprintIndex.open(folder)
...     _ = index.add("song", song)
...     _ = index.commit()
...     excerpt = song[10 * FINGERPRINT_SAMPLE_RATE : 15 * FINGERPRINT_SAMPLE_RATE]
...     match = index.identify(excerpt)
>>> match.track, round(match.offset_s, 1), match.confidence > 0.5
('song', 10.0, True)
"""

from __future__ import annotations

import os

import attrs
import numpy as np
import soxr

from cadenza.audio.decode import Audio
from cadenza.audio.fingerprint import landmarks, matching
from cadenza.audio.fingerprint.segment_store import SegmentStore
from cadenza.audio.fingerprint.store import AddReport, FingerprintStore, PendingTrack, TrackRecord

#: Speed changes tried when the excerpt does not match as it is: a query played 2%
#: fast is resampled back by each factor in turn (pitch and tempo move together).
SPEED_FACTORS = (1.005, 0.995, 1.01, 0.99, 1.015, 0.985, 1.02, 0.98)
#: stop trying speed factors once a match is at least this confident
_SURE = 0.9


@attrs.frozen
class Match:
    """The answer for one excerpt; `track` and `offset_s` are None when nothing matched."""

    track: str | None
    offset_s: float | None
    score: float
    confidence: float
    speed: float = 1.0  # the speed factor the excerpt matched at

    def to_json(self) -> dict:
        return {
            "match": self.track,
            "offset_s": None if self.offset_s is None else round(self.offset_s, 3),
            "score": self.score,
            "confidence": round(self.confidence, 4),
        }


class FingerprintIndex:
    """A catalog of fingerprinted tracks. `add()` buffers; `commit()` makes it durable."""

    def __init__(self, store: FingerprintStore):
        self.store = store
        self._pending: list[PendingTrack] = []

    @classmethod
    def open(cls, directory: str | os.PathLike, *, create: bool = True) -> FingerprintIndex:
        """The index in local folder `directory` (the embedded `SegmentStore`), created if
        missing; with `create=False` the folder must hold an index already."""
        return cls(SegmentStore(directory, create=create))

    def add(self, track_id: str, audio: Audio | np.ndarray) -> int:
        """Fingerprints a track and buffers it; returns its number of hashes."""
        samples = _samples(audio)
        hashes, frames = landmarks.landmarks(samples, landmarks.REFERENCE)
        self._pending.append(
            PendingTrack(
                track_id=track_id,
                hashes=hashes,
                frames=frames,
                n_frames=len(samples) // landmarks.HOP + 1,
                duration_s=len(samples) / landmarks.SAMPLE_RATE,
            )
        )
        return len(hashes)

    def commit(self) -> AddReport:
        """Adds every buffered track durably (tracks already present are skipped)."""
        pending, self._pending = self._pending, []
        return self.store.add_tracks(pending)

    def __contains__(self, track_id: str) -> bool:
        return self.track(track_id) is not None

    def track(self, track_id: str) -> TrackRecord | None:
        """The stored record of `track_id` (as committed by any process), or None."""
        self.store.refresh()
        return next((t for t in self.store.tracks() if t.track_id == track_id), None)

    def identify(self, audio: Audio | np.ndarray, *, speeds: bool = True) -> Match:
        """The stored track and offset this excerpt comes from, or a Match with track None.

        Tries the excerpt as it is, then (if `speeds`) as if sped up or slowed down by
        each of `SPEED_FACTORS`.
        """
        self.store.refresh()
        frames, bins = landmarks.find_peaks(landmarks.spectrogram(_samples(audio)), landmarks.QUERY)
        best = self._identify_peaks(frames, bins, 1.0)
        if speeds and best.confidence < _SURE:
            for factor in SPEED_FACTORS:
                # Undo a speed change on the peaks themselves: a track played `factor`
                # times slower has its peaks `factor` times later and lower.
                scaled_frames = np.round(frames * factor).astype(np.int32)
                scaled_bins = np.round(bins / factor).astype(np.int32)
                order = np.argsort(scaled_frames, kind="stable")
                candidate = self._identify_peaks(scaled_frames[order], scaled_bins[order], factor)
                if (candidate.confidence, candidate.score) > (best.confidence, best.score):
                    best = candidate
                if best.confidence >= _SURE:
                    break
        return best

    def identify_all(self, audio: Audio | np.ndarray) -> list[Match]:
        """Every stored track this excerpt comes from, best first: several when the store
        holds identical copies of it (where `identify` finds none), else at most one."""
        self.store.refresh()
        frames, bins = landmarks.find_peaks(landmarks.spectrogram(_samples(audio)), landmarks.QUERY)
        hashes, anchor_frames = landmarks.pair_peaks(frames, bins, landmarks.QUERY.fan_out)
        positions, values = self.store.lookup(hashes)
        tracks = self.store.tracks()
        starts = np.array([t.start_frame for t in tracks], np.int64)
        found = []
        for votes in matching.vote_all(anchor_frames, positions, values, starts):
            sure = matching.confidence(votes.score, votes.runner_up)
            if sure > 0.0:
                offset_s = votes.offset_frames * landmarks.FRAME_S
                found.append(
                    Match(tracks[votes.track].track_id, offset_s, float(votes.score), sure, 1.0)
                )
        return found

    def _identify_peaks(self, frames: np.ndarray, bins: np.ndarray, speed: float) -> Match:
        hashes, anchor_frames = landmarks.pair_peaks(frames, bins, landmarks.QUERY.fan_out)
        positions, values = self.store.lookup(hashes)
        starts = np.array([t.start_frame for t in self.store.tracks()], np.int64)
        votes = matching.vote(anchor_frames, positions, values, starts)
        sure = matching.confidence(votes.score, votes.runner_up)
        if votes.track is None or sure == 0.0:
            return Match(None, None, float(votes.score), 0.0, speed)
        return Match(
            track=self.store.tracks()[votes.track].track_id,
            offset_s=votes.offset_frames * landmarks.FRAME_S,
            score=float(votes.score),
            confidence=sure,
            speed=speed,
        )

    def size_bytes(self) -> int:
        return self.store.size_bytes()

    def close(self) -> None:
        self.store.close()


def _samples(audio: Audio | np.ndarray) -> np.ndarray:
    if isinstance(audio, Audio):
        if audio.sample_rate != landmarks.SAMPLE_RATE:
            return soxr.resample(audio.samples, audio.sample_rate, landmarks.SAMPLE_RATE)
        return audio.samples
    return np.asarray(audio, dtype=np.float32)
