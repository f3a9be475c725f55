"""Spectrogram pictures as PNG bytes, without matplotlib (numpy and zlib only).

>>> import numpy as np
>>> png = spectrogram_png(np.zeros(22050, "float32"), 22050, n_fft=256, hop_length=256)
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from cadenza.audio.spectral import FLOOR_DB, spectrogram

# Viridis at 0, 1/9, ..., 1: a perceptually uniform ramp, dark blue to yellow, whose
# lightness rises steadily (readable in grey and by most colour-blind readers).
_VIRIDIS = np.array(
    [
        (0x44, 0x01, 0x54),
        (0x48, 0x28, 0x78),
        (0x3E, 0x4A, 0x89),
        (0x31, 0x68, 0x8E),
        (0x26, 0x82, 0x8E),
        (0x1F, 0x9E, 0x89),
        (0x35, 0xB7, 0x79),
        (0x6D, 0xCD, 0x59),
        (0xB4, 0xDE, 0x2C),
        (0xFD, 0xE7, 0x25),
    ],
    dtype=np.float64,
)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def colormap(values: np.ndarray) -> np.ndarray:
    """8-bit RGB colours (shape `values.shape + (3,)`) for values in [0, 1] (clipped).

    >>> colormap(np.array([0.0, 1.0])).tolist()
    [[68, 1, 84], [253, 231, 37]]
    """
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0)
    anchors = np.linspace(0.0, 1.0, len(_VIRIDIS))
    channels = [np.interp(v, anchors, _VIRIDIS[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def encode_png(rgb: np.ndarray) -> bytes:
    """A PNG file (8-bit RGB, no interlace) of an image of shape (height, width, 3)."""
    image = np.asarray(rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"rgb: expected a uint8 array of shape (height, width, 3), "
            f"got {image.dtype} {image.shape}"
        )
    height, width = image.shape[:2]
    if not height or not width:
        raise ValueError(f"rgb: a PNG needs at least one pixel, got shape {image.shape}")
    # Each scanline starts with its filter type: 0 (none); zlib does the compression.
    scanlines = np.concatenate(
        [np.zeros((height, 1), np.uint8), image.reshape(height, width * 3)], axis=1
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"".join(
        [
            _PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6)),
            _chunk(b"IEND", b""),
        ]
    )


def spectrogram_png(
    samples: np.ndarray,
    sample_rate: int,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    top_db: float = 80.0,
) -> bytes:
    """A PNG of the dB spectrogram: one column per frame, one row per frequency bin.

    Low frequencies are at the bottom; the loudest cell is yellow, `top_db` below it
    and quieter dark blue (digital silence is all dark blue). The image is
    `n_fft // 2 + 1` pixels high.
    """
    if top_db <= 0:
        raise ValueError(f"top_db: expected a positive dynamic range in dB, got {top_db!r}")
    db = spectrogram(samples, sample_rate, n_fft=n_fft, hop_length=hop_length, top_db=top_db).values
    if db.max() <= FLOOR_DB:  # digital silence: all dark, not all at the maximum
        return encode_png(colormap(np.zeros(db.shape)))
    scaled = (db - (db.max() - top_db)) / top_db
    return encode_png(colormap(scaled[::-1]))  # row 0 is the top: the highest frequency


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
