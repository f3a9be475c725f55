"""Scoring one answer against the truth.

An indexed query's answer is a **hit** when it names the right track and its offset is
within `TOLERANCE_S` (0.1 s) of the truth, or when the audio at the claimed offset repeats
the audio at the true offset near-identically (looped game music makes offsets
ambiguous). For a speed-changed query the truth is an interval, not a point: played at
speed s, query time q lines up with track time `offset + s*q`, so any offset between
`offset` and `offset + (s-1)*length` aligns some instant of the query exactly.

The repeat rule compares the track with itself: the log-power spectrogram
(`N_FFT`-point frames every `HOP` samples at `ANALYSIS_RATE`, clipped at 80 dB below
the excerpt's peak, each frequency bin's mean removed) of the excerpt at the true offset
against the one at the claimed offset, by normalised correlation (Pearson's r over all
bins and frames), taking the best alignment (to 16 samples) within the tolerance.
r >= `REPEAT_MIN_R` counts as a repeat. Calibrated on this corpus: the same audio found
through the search (108 excerpts, offset by up to 0.09 s) scores at least 0.998;
distinct passages of one track (200 random 2 and 5 s pairs over 30 tracks) score at
most 0.61; a MIDI phrase restated over a different accompaniment scored 0.83 and is not
a repeat.

A not-indexed query's answer is a **false positive** when it names any track.
"""

from __future__ import annotations

import collections

import attrs
import numpy as np
import soxr

from tests.bench.fingerprint.corpus import Corpus
from tests.bench.fingerprint.queries import Query, decode_mono
from tests.bench.fingerprint.systems import QueryResult

TOLERANCE_S = 0.1
REPEAT_MIN_R = 0.9
ANALYSIS_RATE = 11025
N_FFT = 1024
HOP = 128
PHASES = 8
_CACHE_TRACKS = 3

HIT, MISS, WRONG, FALSE_POSITIVE, REJECTED = "hit", "miss", "wrong", "false_positive", "rejected"


@attrs.frozen
class Judgement:
    outcome: str  # HIT, MISS, WRONG (indexed queries); FALSE_POSITIVE, REJECTED (not indexed)
    offset_error_s: float | None = None  # distance from the true offset (interval)
    repeat_r: float | None = None  # the repeat rule's correlation, when it was asked


class Judge:
    """Scores answers for the queries of one corpus; decodes reference tracks on demand."""

    def __init__(self, corpus: Corpus) -> None:
        self._corpus = corpus
        self._tracks: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()

    def judge(self, query: Query, result: QueryResult) -> Judgement:
        if not query.indexed:
            return Judgement(FALSE_POSITIVE if result.track is not None else REJECTED)
        if result.track is None:
            return Judgement(MISS)
        if result.track != query.track_id or result.offset_s is None:
            return Judgement(WRONG)
        drift = (query.speed - 1.0) * query.duration_s
        low, high = sorted((query.offset_s, query.offset_s + drift))
        error = max(low - result.offset_s, result.offset_s - high, 0.0)
        if error <= TOLERANCE_S:
            return Judgement(HIT, error)
        r = self.repeat_r(
            query.track_id,
            query.offset_s,
            result.offset_s,
            length_s=query.duration_s * query.speed,
            search_s=TOLERANCE_S + abs(drift),
        )
        return Judgement(HIT if r >= REPEAT_MIN_R else WRONG, error, r)

    def repeat_r(
        self, track_id: str, true_s: float, claimed_s: float, *, length_s: float, search_s: float
    ) -> float:
        """Best normalised correlation between the track's excerpts at the two offsets."""
        samples = self._samples(track_id)
        length = int(length_s * ANALYSIS_RATE)
        start = int(true_s * ANALYSIS_RATE)
        truth = log_spectrogram(samples[start : start + length])
        frames = truth.shape[1]
        if frames < 2:
            return 0.0
        centred = truth - truth.mean(axis=1, keepdims=True)
        norm = float(np.sqrt(np.sum(centred**2)))
        search = int(search_s * ANALYSIS_RATE)
        first = max(int(claimed_s * ANALYSIS_RATE) - search, 0)
        last = int(claimed_s * ANALYSIS_RATE) + search + length
        best = -1.0
        # Every HOP // PHASES samples: the excerpts line up to within 1.5 ms.
        for phase in range(0, HOP, HOP // PHASES):
            region = log_spectrogram(samples[first + phase : last])
            for shift in range(region.shape[1] - frames + 1):
                window = region[:, shift : shift + frames]
                other = window - window.mean(axis=1, keepdims=True)
                denominator = norm * float(np.sqrt(np.sum(other**2)))
                if denominator > 0:
                    best = max(best, float(np.sum(centred * other)) / denominator)
        return max(best, 0.0)

    def _samples(self, track_id: str) -> np.ndarray:
        if track_id not in self._tracks:
            samples, rate = decode_mono(self._corpus.track(track_id).path)
            self._tracks[track_id] = soxr.resample(samples, rate, ANALYSIS_RATE)
            while len(self._tracks) > _CACHE_TRACKS:
                self._tracks.popitem(last=False)
        self._tracks.move_to_end(track_id)
        return self._tracks[track_id]


def log_spectrogram(samples: np.ndarray) -> np.ndarray:
    """Log power (dB, floored 80 dB below the peak), frequency bins x frames."""
    if len(samples) < N_FFT:
        return np.zeros((N_FFT // 2 + 1, 0))
    count = 1 + (len(samples) - N_FFT) // HOP
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]
    frames = samples[index] * np.hanning(N_FFT)[None, :]
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    decibels = 10 * np.log10(power + 1e-20)
    return np.maximum(decibels, decibels.max() - 80.0).T
