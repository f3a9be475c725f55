"""The audio-info job's own unit: describe one audio file from its bytes."""

from __future__ import annotations

import io
import re

import soundfile as sf


class AudioInfoError(ValueError):
    """An input could not be read as audio; the message names the file and the reason."""


def describe_audio(name: str, data: bytes) -> dict:
    """Format, sample rate, channels and duration of an audio file, read from its header.

    >>> import numpy as np, soundfile as sf, io
    >>> buf = io.BytesIO(); sf.write(buf, np.zeros(8000, "float32"), 16000, format="WAV")
    >>> info = describe_audio("half-second.wav", buf.getvalue())
    >>> info["sample_rate"], info["channels"], info["duration_s"]
    (16000, 1, 0.5)
    """
    if not data:
        raise AudioInfoError(f"{name}: empty file (0 bytes)")
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        received = f"{len(data)} bytes, starts with {data[:8]!r}"
        reason = re.sub(r"^Error opening <[^>]*>: ", "", str(err))
        raise AudioInfoError(f"{name}: not a readable audio file ({received}): {reason}") from None
    if info.samplerate <= 0 or info.frames <= 0:
        raise AudioInfoError(f"{name}: no audio frames in a {info.format} file")
    return {
        "file": name,
        "format": info.format,
        "subtype": info.subtype,
        "sample_rate": info.samplerate,
        "channels": info.channels,
        "frames": info.frames,
        "duration_s": round(info.frames / info.samplerate, 3),
        "bytes": len(data),
    }
