"""Loudness: RMS level in dBFS and integrated loudness in LUFS (ITU-R BS.1770-4).

Levels follow the plain definition 20·log10(RMS): a full-scale square wave is 0 dBFS
and a full-scale sine -3.01 dBFS. Digital silence is -inf.

>>> import numpy as np
>>> t = np.arange(48000 * 5) / 48000
>>> tone = np.sin(2 * np.pi * 997 * t)           # 0 dBFS peak, one channel
>>> round(rms_dbfs(tone), 2), round(integrated_loudness(tone, 48000), 2)
(-3.01, -3.01)
"""

from __future__ import annotations

import attrs
import numpy as np
import soxr
from scipy import signal

from cadenza.audio.frames import Frames, frame_times

# BS.1770-4's K-weighting as analog prototypes (centre/corner frequency in Hz, gain in
# dB, quality factor), the parameters from which its 48 kHz biquad table was derived
# (the values libebur128 and pyloudnorm use); mapped to any rate by the bilinear
# transform, pre-warped at the prototype's frequency.
_SHELF_HZ, _SHELF_GAIN_DB, _SHELF_Q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
_SHELF_VB_EXPONENT = 0.4996667741545416  # band gain Vb = Vh ** exponent
_HIGHPASS_HZ, _HIGHPASS_Q = 38.13547087602444, 0.5003270373238773

_BLOCK_S = 0.400  # gating block length
_STEP_S = 0.100  # 75 % overlap
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
_OFFSET_DB = -0.691  # makes a 997 Hz sine read its RMS level
#: integrated_loudness upsamples audio below this rate: the ~1.7 kHz shelf needs a
#: Nyquist frequency well above it (below 3.4 kHz its bilinear design is undefined)
MIN_FILTER_RATE = 8000


@attrs.frozen
class LoudnessMeasurement:
    """A signal's integrated loudness (LUFS), RMS level (dBFS) and sample peak (dBFS)."""

    integrated_lufs: float
    rms_dbfs: float
    peak_dbfs: float


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """BS.1770-4's K-weighting filter at `sample_rate`, as second-order sections.

    Stage 1 is the high-shelf "pre-filter" (+4 dB above ~1.7 kHz, the head's effect),
    stage 2 the RLB high-pass (~38 Hz); rates up to 3364 Hz, where the shelf is at or
    above Nyquist, are refused. At 48 kHz this reproduces the standard's table:

    >>> np.round(k_weighting_sos(48000), 8)
    array([[ 1.53512486, -2.69169619,  1.19839281,  1.        , -1.69065929,
             0.73248077],
           [ 1.        , -2.        ,  1.        ,  1.        , -1.99004745,
             0.99007225]])
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate: expected a positive rate in Hz, got {sample_rate!r}")
    if sample_rate <= 2 * _SHELF_HZ:
        raise ValueError(
            f"sample_rate: the K-weighting shelf at {_SHELF_HZ:.0f} Hz needs a rate above "
            f"{2 * _SHELF_HZ:.0f} Hz, got {sample_rate!r} (integrated_loudness upsamples)"
        )
    k = np.tan(np.pi * _SHELF_HZ / sample_rate)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_VB_EXPONENT
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ]
    k = np.tan(np.pi * _HIGHPASS_HZ / sample_rate)
    a0 = 1.0 + k / _HIGHPASS_Q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HIGHPASS_Q + k * k) / a0]
    return np.array([shelf, highpass])


def integrated_loudness(
    samples: np.ndarray, sample_rate: int, *, channel_weights: tuple[float, ...] | None = None
) -> float:
    """Integrated loudness in LUFS per ITU-R BS.1770-4 (gated, 400 ms blocks).

    `samples` is mono `(n,)` or `(n, channels)`; `channel_weights` are the standard's
    G_i (1.0 for left, right and centre, 1.41 for the surround channels; default all
    1.0). Blocks overlap by 75 %; blocks below -70 LUFS, then blocks more than 10 LU
    below the loudness of those left, are ignored. -inf when no block passes the gates
    (silence, or less than 400 ms of audio). Audio below `MIN_FILTER_RATE` is measured
    upsampled to that rate, where the K-weighting filter is defined.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, np.newaxis]
    if x.ndim != 2:
        raise ValueError(f"samples: expected shape (n,) or (n, channels), got {x.shape}")
    if 0 < sample_rate < MIN_FILTER_RATE and len(x):
        x = soxr.resample(x, sample_rate, MIN_FILTER_RATE, quality="HQ").reshape(-1, x.shape[1])
        sample_rate = MIN_FILTER_RATE
    weights = np.ones(x.shape[1]) if channel_weights is None else np.asarray(channel_weights)
    if weights.shape != (x.shape[1],):
        raise ValueError(
            f"channel_weights: expected {x.shape[1]} weights, one per channel, got {weights}"
        )
    block, step = round(_BLOCK_S * sample_rate), round(_STEP_S * sample_rate)
    if x.shape[0] < block:
        return float("-inf")
    weighted = signal.sosfilt(k_weighting_sos(sample_rate), x, axis=0)
    energy = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(weighted**2, axis=0)])
    starts = np.arange(0, x.shape[0] - block + 1, step)
    mean_square = (energy[starts + block] - energy[starts]) / block  # (blocks, channels)
    block_lufs = _lufs(mean_square @ weights)
    gated = block_lufs > _ABSOLUTE_GATE_LUFS
    if not gated.any():
        return float("-inf")
    relative_gate = _lufs(mean_square[gated].mean(axis=0) @ weights) + _RELATIVE_GATE_LU
    gated &= block_lufs > relative_gate
    return float(_lufs(mean_square[gated].mean(axis=0) @ weights))


def rms_dbfs(samples: np.ndarray) -> float:
    """The RMS level of all of `samples` in dBFS (-inf for digital silence or no samples)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return float("-inf")
    return float(_db(np.mean(x**2)))


def frame_rms_dbfs(
    samples: np.ndarray, sample_rate: int, *, frame_length: int = 2048, hop_length: int = 512
) -> Frames:
    """RMS level in dBFS of centred frames of mono `samples`, `hop_length` apart."""
    x = np.asarray(samples, dtype=np.float64)
    padded = np.pad(x, frame_length // 2)  # centred frames, zero-padded at the ends
    if len(padded) < frame_length:
        padded = np.pad(padded, (0, frame_length - len(padded)))
    energy = np.concatenate([[0.0], np.cumsum(padded**2)])
    starts = np.arange(0, len(x) + 1, hop_length)
    starts = starts[starts + frame_length <= len(padded)]
    levels = _db((energy[starts + frame_length] - energy[starts]) / frame_length)
    return Frames(values=levels, times_s=frame_times(len(starts), sample_rate, hop_length))


def measure_loudness(samples: np.ndarray, sample_rate: int) -> LoudnessMeasurement:
    """Integrated loudness, RMS level and sample peak of a mono or multichannel signal."""
    x = np.asarray(samples, dtype=np.float64)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return LoudnessMeasurement(
        integrated_lufs=integrated_loudness(x, sample_rate),
        rms_dbfs=rms_dbfs(x),
        peak_dbfs=float(_db(peak**2)),
    )


def _db(power):
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.maximum(power, 0.0))


def _lufs(weighted_mean_square):
    return _OFFSET_DB + _db(weighted_mean_square)
