"""Rhythm: tempo and beat times (librosa's dynamic-programming beat tracker)."""

from __future__ import annotations

import attrs
import librosa
import numpy as np

_MIN_STEADY_INTERVALS = 4
_STEADY_TOLERANCE = 0.1


@attrs.frozen(eq=False)
class TempoEstimate:
    """The global tempo in beats per minute and the beat times in seconds.

    `bpm` is 0.0 and `beat_times_s` empty when no beat is found (e.g. silence).
    """

    bpm: float
    beat_times_s: np.ndarray


def estimate_tempo(
    samples: np.ndarray,
    sample_rate: int,
    *,
    hop_length: int = 512,
    start_bpm: float = 120.0,
) -> TempoEstimate:
    """Tempo and beats of mono `samples`; `start_bpm` is the prior the tracker favours.

    Beat times are quantised to frames of `hop_length` samples (23 ms at 22.05 kHz).
    When the beats are steady (every interval within 10 % of the median), `bpm` is
    their mean rate, as precise as the span of beats allows; otherwise it is librosa's
    global estimate, quantised to whole-frame periods (steps of ~5 BPM near 120 BPM).
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"samples: expected mono samples of shape (n,), got shape {x.shape}")
    bpm, beats = librosa.beat.beat_track(
        y=x, sr=sample_rate, hop_length=hop_length, start_bpm=start_bpm, units="time"
    )
    beats = np.asarray(beats, dtype=np.float64)
    intervals = np.diff(beats)
    if len(intervals) >= _MIN_STEADY_INTERVALS:
        median = np.median(intervals)
        if np.all(np.abs(intervals - median) <= _STEADY_TOLERANCE * median):
            bpm = 60.0 * len(intervals) / (beats[-1] - beats[0])
    return TempoEstimate(bpm=float(np.atleast_1d(bpm)[0]), beat_times_s=beats)


def warm_up_tempo(sample_rate: int = 22050) -> TempoEstimate:
    """Runs the beat tracker once on 4 s of clicks at 120 BPM and returns its estimate.

    The tracker's first call in a process compiles librosa's numba code, which takes
    seconds; a job calls this in `setup()` so its first track does not wait for it.
    """
    clicks = np.zeros(4 * sample_rate, dtype=np.float32)
    for start in range(0, len(clicks), sample_rate // 2):
        clicks[start : start + 64] = 1.0
    return estimate_tempo(clicks, sample_rate)
