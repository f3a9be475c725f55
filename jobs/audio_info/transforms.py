"""The audio-info job's own unit: describe one audio file from its bytes."""

from __future__ import annotations

from cadenza.audio.decode import decode_audio


def describe_audio(name: str, data: bytes) -> dict:
    """Format, sample rate, channels and decoded duration of an audio file.

    The file is decoded whole, as every job decodes it (`decode_audio`, at its own rate):
    what the other jobs refuse (empty, corrupt, truncated, NaN samples) raises the same
    `AudioDecodeError` naming the file, and the length is what decodes, not what the
    header claims.

    >>> import numpy as np, soundfile as sf, io
    >>> buf = io.BytesIO(); sf.write(buf, np.zeros(8000, "float32"), 16000, format="WAV")
    >>> info = describe_audio("half-second.wav", buf.getvalue())
    >>> info["sample_rate"], info["channels"], info["frames"], info["duration_s"]
    (16000, 1, 8000, 0.5)
    >>> from cadenza.audio import AudioDecodeError
    >>> try:
    ...     describe_audio("half.wav", buf.getvalue()[:8000])
    ... except AudioDecodeError as error:
    ...     print(error.source, "-", error.reason)
    half.wav - truncated: the WAV data chunk lacks 8044 of its declared bytes
    """
    audio = decode_audio(data, None, name=name)  # None: the source's rate, no resampling
    return {
        "file": name,
        "format": audio.source_format,
        "subtype": audio.source_subtype,
        "sample_rate": audio.source_sample_rate,
        "channels": audio.source_channels,
        "frames": len(audio.samples),
        "duration_s": round(audio.duration_s, 3),
        "bytes": len(data),
    }
