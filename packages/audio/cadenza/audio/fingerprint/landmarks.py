"""Landmarks: the spectral peaks of a track, paired into 32-bit hashes.

A landmark is a pair of spectral peaks close in time: (anchor frequency, frequency
step, time step) is its hash and the anchor's frame is its time. Peaks are local maxima
of the log-magnitude spectrogram over a time-frequency neighbourhood, thinned to a
target density. References are stored sparsely (each anchor paired with its nearest
few peaks in the target zone); queries are analysed densely (more peaks, every pair in
the zone), so that most reference pairs are found again in a noisy query.
"""

from __future__ import annotations

import attrs
import numpy as np
from scipy import ndimage

#: audio is analysed at 8 kHz: the band the phone network keeps (300-3400 Hz) holds
#: most of what the peaks need, and it is cheap.
SAMPLE_RATE = 8000
N_FFT = 512
HOP = 128
FRAME_S = HOP / SAMPLE_RATE  # 16 ms
MIN_BIN = 10  # ~156 Hz
MAX_BIN = 245  # ~3828 Hz
MAX_DT = 63  # frames (~1 s): 6 bits
MAX_DF = 63  # bins, either way: 7 bits
_WINDOW = np.hanning(N_FFT + 1)[:-1].astype(np.float32)


@attrs.frozen
class Density:
    """How many peaks per second to keep, and how many partners each anchor gets."""

    peaks_per_s: float
    fan_out: int | None  # None: every peak in the target zone (queries)
    neighbourhood: tuple[int, int] = (15, 9)  # (bins, frames) of the local-maximum test


REFERENCE = Density(peaks_per_s=16.0, fan_out=4)
QUERY = Density(peaks_per_s=64.0, fan_out=None)


def spectrogram(samples: np.ndarray) -> np.ndarray:
    """Log-magnitude STFT (bins x frames, float32) of mono samples at SAMPLE_RATE."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) < N_FFT:
        samples = np.pad(samples, (0, N_FFT - len(samples)))
    frames = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[::HOP]
    magnitude = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)).T
    return np.log(magnitude + 1e-6, dtype=np.float32)


def landmarks(samples: np.ndarray, density: Density) -> tuple[np.ndarray, np.ndarray]:
    """(hashes uint32, anchor frames int32) of mono samples at SAMPLE_RATE."""
    frames, bins = find_peaks(spectrogram(samples), density)
    return pair_peaks(frames, bins, density.fan_out)


def find_peaks(log_spec: np.ndarray, density: Density) -> tuple[np.ndarray, np.ndarray]:
    """(frames, bins) of the strongest local maxima, about `peaks_per_s` of them per second."""
    band = log_spec[MIN_BIN : MAX_BIN + 1]
    # Contrast against the local average, so loud passages do not take every peak.
    background = ndimage.uniform_filter1d(band, size=31, axis=0, mode="nearest")
    contrast = band - background
    df, dt = density.neighbourhood
    is_max = band == ndimage.maximum_filter(band, size=(df, dt), mode="nearest")
    is_max &= contrast > 0.5
    bins, frames = np.nonzero(is_max)
    if len(frames) == 0:
        return frames, bins
    # Rank by loudness plus contrast: loud peaks survive added noise, contrast keeps
    # quiet but distinct ones (measured: 0 dB SNR hit rate 48% -> 72-80%).
    strength = band[bins, frames] + contrast[bins, frames]
    # Keep the strongest peaks of each one-second slice, so density is even over time.
    per_slice = max(1, round(density.peaks_per_s))
    slice_frames = round(1.0 / FRAME_S)
    slices = frames // slice_frames
    order = np.lexsort((-strength, slices))
    slices_sorted = slices[order]
    starts = np.searchsorted(slices_sorted, slices_sorted, side="left")
    rank = np.arange(len(order)) - starts
    keep = order[rank < per_slice]
    keep = keep[np.lexsort((bins[keep], frames[keep]))]
    return frames[keep].astype(np.int32), (bins[keep] + MIN_BIN).astype(np.int32)


def pair_peaks(
    frames: np.ndarray, bins: np.ndarray, fan_out: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """(hashes uint32, anchor frames int32) of the peak pairs in each anchor's target zone."""
    hashes, times = [], []
    n = len(frames)
    partners = np.zeros(n, np.int32)
    for step in range(1, n):
        if step > 4 * MAX_DT:  # no zone holds more peaks than that many frames can
            break
        dt = frames[step:] - frames[:-step]
        df = bins[step:] - bins[:-step]
        if not np.any(dt <= MAX_DT):
            break
        ok = (dt > 0) & (dt <= MAX_DT) & (np.abs(df) <= MAX_DF)
        if fan_out is not None:
            ok &= partners[: n - step] < fan_out
        index = np.nonzero(ok)[0]
        if len(index) == 0:
            continue
        partners[index] += 1
        hashes.append(_hash(bins[index], df[index], dt[index]))
        times.append(frames[index])
    if not hashes:
        return np.zeros(0, np.uint32), np.zeros(0, np.int32)
    return np.concatenate(hashes), np.concatenate(times)


def _hash(anchor_bin: np.ndarray, df: np.ndarray, dt: np.ndarray) -> np.ndarray:
    return (
        (anchor_bin.astype(np.uint32) << 14)
        | ((df + MAX_DF + 1).astype(np.uint32) << 6)
        | dt.astype(np.uint32)
    )
