"""The features job's own units: the key from a mean chroma, the spectrogram's hop, and
whether a mono mix has anything to find a key or a tempo in.

`estimate_key` is the Krumhansl-Schmuckler method: correlate the mean chroma with the
Krumhansl-Kessler major and minor key profiles in all 12 rotations; the best of the
24 is the key.

>>> c_major_scale = [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]
>>> key = estimate_key(c_major_scale)
>>> key.name, round(key.correlation, 2), [name for name, _ in key.candidates]
('C major', 0.76, ['C major', 'A minor', 'G major'])
>>> estimate_key(np.roll(MINOR_PROFILE, 9)).name      # the A minor profile itself
'A minor'
>>> estimate_key(np.zeros(12)) is None                 # silence has no key
True
"""

from __future__ import annotations

import attrs
import numpy as np

from cadenza.audio import PITCH_CLASSES, rms_dbfs

# Krumhansl & Kessler (1982): how well each pitch class fits a key, C major and C minor.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_CANDIDATES = 3
#: quieter than this (RMS, dBFS) a mono mix has no key or tempo: BS.1770's absolute gate
#: is -70 LUFS, and what is left below it is dither, hiss or channels that cancel
MIN_RMS_DBFS = -70.0
#: shorter than this a mono mix has no key or tempo: two beats at 120 BPM, a few dozen
#: chroma frames
MIN_DURATION_S = 1.0


@attrs.frozen
class KeyEstimate:
    """The best-fitting key of a mean chroma.

    `correlation` is the Pearson correlation of the chroma with that key's profile (1 is
    a perfect fit); `confidence` is how far it beats the runner-up key (0: a tie);
    `candidates` are the best three keys and their correlations, best first.
    """

    tonic: str
    mode: str
    correlation: float
    confidence: float
    candidates: tuple[tuple[str, float], ...]

    @property
    def name(self) -> str:
        return f"{self.tonic} {self.mode}"


def estimate_key(mean_chroma) -> KeyEstimate | None:
    """The key of a 12-value chroma in `PITCH_CLASSES` order; None if it is flat (silence)."""
    values = np.asarray(mean_chroma, dtype=np.float64)
    if values.shape != (12,):
        raise ValueError(f"mean_chroma: expected 12 values (C to B), got shape {values.shape}")
    if not np.isfinite(values).all() or np.ptp(values) <= 1e-9:
        return None
    scores = sorted(
        (
            (float(np.corrcoef(values, np.roll(profile, tonic))[0, 1]), PITCH_CLASSES[tonic], mode)
            for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE))
            for tonic in range(12)
        ),
        reverse=True,
    )
    (best, tonic, mode), (runner_up, _, _) = scores[0], scores[1]
    return KeyEstimate(
        tonic=tonic,
        mode=mode,
        correlation=best,
        confidence=max(0.0, best - runner_up),
        candidates=tuple((f"{t} {m}", r) for r, t, m in scores[:_CANDIDATES]),
    )


def spectrogram_hop(n_samples: int, hop_length: int, max_width: int) -> int:
    """The hop giving at most `max_width` spectrogram columns: `hop_length`, or longer.

    Centred frames give `1 + n_samples // hop` columns.

    >>> spectrogram_hop(22050, 512, 4000), spectrogram_hop(22050 * 600, 512, 4000)
    (512, 3308)
    """
    return max(hop_length, n_samples // max_width + 1)


def has_content(samples: np.ndarray, sample_rate: int) -> bool:
    """Whether a mono mix is long and loud enough to have a key and a tempo: at least
    `MIN_DURATION_S` long and `MIN_RMS_DBFS` loud (RMS over the whole mix).

    >>> t = np.arange(22050) / 22050
    >>> tone = 0.1 * np.sin(2 * np.pi * 440 * t)
    >>> has_content(tone, 22050), has_content(tone[:11025], 22050)     # 1 s, then 0.5 s
    (True, False)
    >>> has_content(tone * 1e-4, 22050), has_content(np.zeros(22050), 22050)  # -103 dBFS
    (False, False)
    """
    if len(samples) < MIN_DURATION_S * sample_rate:
        return False
    return rms_dbfs(samples) >= MIN_RMS_DBFS
