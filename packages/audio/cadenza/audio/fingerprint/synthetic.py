"""Synthetic music for examples and tests: random melodies of decaying harmonic notes."""

from __future__ import annotations

import numpy as np

from cadenza.audio.fingerprint.landmarks import SAMPLE_RATE


def melody(seconds: float, seed: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """`seconds` of a reproducible random melody (float32, mono), different for each seed."""
    rng = np.random.default_rng(seed)
    total = int(seconds * sample_rate)
    out = np.zeros(total + sample_rate, np.float32)
    position = 0
    while position < total:
        length = int(rng.uniform(0.12, 0.5) * sample_rate)
        pitch = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        t = np.arange(length) / sample_rate
        note = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 5) if pitch * k < 3800)
        out[position : position + length] += (note * np.exp(-4 * t)).astype(np.float32) * 0.3
        position += int(length * rng.uniform(0.5, 1.0))
    return out[:total]
