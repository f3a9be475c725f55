"""Frames: values per analysis frame, with their time axis (and frequency axis, if any)."""

from __future__ import annotations

import attrs
import numpy as np


@attrs.frozen(eq=False)
class Frames:
    """`values[..., t]` describes the frame centred at `times_s[t]`.

    `frequencies_hz[k]` is the frequency of row `k` when the rows are frequencies
    (STFT bins, mel bands); it is None for other rows (MFCCs, pitch classes) and for
    one-dimensional values (onset strength, frame-wise RMS).
    """

    values: np.ndarray
    times_s: np.ndarray
    frequencies_hz: np.ndarray | None = None


def frame_times(n_frames: int, sample_rate: int, hop_length: int) -> np.ndarray:
    """Centre times in seconds of `n_frames` centred frames `hop_length` samples apart.

    >>> frame_times(3, 1000, 500)
    array([0. , 0.5, 1. ])
    """
    return np.arange(n_frames) * (hop_length / sample_rate)
