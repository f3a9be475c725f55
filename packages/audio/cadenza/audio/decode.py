"""Decode audio (WAV, FLAC, Ogg Vorbis/Opus, MP3) to mono float32 at a chosen rate.

>>> import io, numpy as np, soundfile
>>> buffer = io.BytesIO()
>>> soundfile.write(buffer, np.zeros((44100, 2), "float32"), 44100, format="WAV")
>>> audio = decode_audio(buffer.getvalue(), sample_rate=8000, name="silence.wav")
>>> audio.samples.dtype, audio.samples.shape, audio.sample_rate
(dtype('float32'), (8000,), 8000)
"""

from __future__ import annotations

import io
import os
import pathlib

import attrs
import numpy as np
import soundfile
import soxr

from cadenza.audio.containers import missing_bytes, mp3_stated_frames
from cadenza.audio.errors import AudioDecodeError
from cadenza.audio.mpeg_frames import with_stated_length

Source = bytes | str | os.PathLike

# Container formats whose header states the exact number of frames.
_EXACT_LENGTH_FORMATS = frozenset({"WAV", "WAVEX", "AIFF", "FLAC", "W64", "RF64"})
#: MPEG frames an MP3 may decode short of its Xing/VBRI header's count (encoders differ
#: on whether it counts the header's own frame, and on the delay and padding they state)
_MP3_SLACK_FRAMES = 3
#: samples (frames x channels) decoded per read: memory follows the audio actually
#: present, never a header's claim (a FLAC can declare 2^36 frames in 3 kB)
_BLOCK_SAMPLES = 1 << 21


@attrs.frozen(eq=False)
class Audio:
    """Mono float32 samples in [-1, 1] at `sample_rate`, with the source's own properties."""

    samples: np.ndarray
    sample_rate: int
    source_sample_rate: int
    source_channels: int
    source_format: str
    #: libsndfile's name for the source's encoding: PCM_16, FLOAT, VORBIS, MPEG_LAYER_III...
    source_subtype: str = ""

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def read_source(source: Source, name: str | None = None) -> tuple[bytes, str]:
    """The bytes of `source` (bytes, a local path, or any Beam filesystem path) and its name."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), name or f"<{len(source)} bytes>"
    path = os.fspath(source)
    label = name or path
    try:
        if "://" in path:
            from apache_beam.io.filesystems import FileSystems  # only for remote paths: slow import

            with FileSystems.open(path) as handle:
                return handle.read(), label
        return pathlib.Path(path).read_bytes(), label
    except FileNotFoundError:
        raise AudioDecodeError(label, "no such file") from None
    except IsADirectoryError:
        raise AudioDecodeError(label, "is a directory, not a file") from None
    except OSError as error:
        raise AudioDecodeError(label, f"cannot read it ({error})") from None


def decode_audio(
    source: Source, sample_rate: int | None = 22050, *, name: str | None = None
) -> Audio:
    """Decode `source` to mono float32, resampled to `sample_rate` (None keeps the source's).

    Raises `AudioDecodeError` naming the source (`name`, or the path) and the reason for
    empty, non-audio, corrupt or truncated input (a container holding less than its
    header declares; an MP3 decoding well short of its Xing/VBRI header's frame count).
    A variable-bitrate MP3 without such a header decodes whole (see `mpeg_frames`).
    """
    data, label = read_source(source, name)
    if not data:
        raise AudioDecodeError(label, "it is empty (0 bytes)")
    try:
        # a VBR MP3 without a length header gets one: libsndfile would stop at its guess
        with soundfile.SoundFile(io.BytesIO(with_stated_length(data))) as handle:
            source_rate, channels, fmt = handle.samplerate, handle.channels, handle.format
            subtype = handle.subtype
            declared = handle.frames
            frames = _read_blocks(handle, label, declared)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        missing = missing_bytes(data)  # libsndfile calls some cut files just "malformed"
        if missing:
            reason = f"truncated: its data chunk lacks {missing} of its declared bytes"
            raise AudioDecodeError(label, f"{reason} ({_reason(error, data)})") from None
        raise AudioDecodeError(label, _reason(error, data)) from None
    except (MemoryError, OverflowError) as error:
        reason = f"too large to decode in memory ({type(error).__name__}: {error})"
        raise AudioDecodeError(label, reason) from None
    if frames.shape[0] == 0:
        raise AudioDecodeError(label, f"{fmt} header but no audio frames (truncated?)")
    if fmt in _EXACT_LENGTH_FORMATS and frames.shape[0] < declared:
        raise AudioDecodeError(
            label, f"truncated: {fmt} header declares {declared} frames, found {frames.shape[0]}"
        )
    missing = missing_bytes(data)
    if missing:
        raise AudioDecodeError(
            label, f"truncated: the {fmt} data chunk lacks {missing} of its declared bytes"
        )
    if fmt == "MP3":
        _check_mp3_length(data, label, frames.shape[0])
    mono = _mix_down(frames) if channels > 1 else frames[:, 0]
    if not np.isfinite(mono).all():
        raise AudioDecodeError(label, "decoded samples contain NaN or infinity (corrupt data)")
    target = sample_rate or source_rate
    if target != source_rate:
        mono = soxr.resample(mono, source_rate, target, quality="HQ")
    return Audio(
        samples=np.ascontiguousarray(mono, dtype=np.float32),
        sample_rate=int(target),
        source_sample_rate=int(source_rate),
        source_channels=int(channels),
        source_format=fmt,
        source_subtype=subtype,
    )


def _mix_down(frames: np.ndarray) -> np.ndarray:
    """The channels' mean, one channel added at a time: numpy's mean along the short
    axis of (frames, channels) took as long as decoding the file."""
    mono = frames[:, 0].copy()
    for channel in range(1, frames.shape[1]):
        mono += frames[:, channel]
    mono /= frames.shape[1]
    return mono


def _read_blocks(handle: soundfile.SoundFile, label: str, declared: int) -> np.ndarray:
    """Every frame of `handle` as float32 (frames, channels), read a block at a time."""
    block = max(1, _BLOCK_SAMPLES // handle.channels)
    blocks, total = [], 0
    while True:
        try:
            part = handle.read(block, dtype="float32", always_2d=True)
        except soundfile.LibsndfileError as error:
            if total == 0 and declared <= block:
                raise
            reason = (
                f"corrupt: {handle.format} header declares {declared} frames, "
                f"decoding failed after {total} frames ({error})"
            )
            raise AudioDecodeError(label, reason) from None
        if len(part) == 0:
            break
        blocks.append(part)
        total += len(part)
        if len(part) < block:
            break
    if len(blocks) == 1:
        return blocks[0]
    return np.concatenate(blocks) if blocks else np.zeros((0, handle.channels), np.float32)


def _check_mp3_length(data: bytes, label: str, decoded: int) -> None:
    """Refuse an MP3 that decodes well short of the frame count its header states.

    Without a Xing/Info or VBRI header the length is only an estimate: nothing to check.
    """
    stated = mp3_stated_frames(data)
    if stated and decoded < stated.frames - _MP3_SLACK_FRAMES * stated.frame_samples:
        raise AudioDecodeError(
            label,
            f"truncated: its MP3 header states {stated.frames} frames, decoded {decoded}",
        )


def _reason(error: Exception, data: bytes) -> str:
    text = str(error).strip() or type(error).__name__
    text = text.split(":", 1)[-1].strip() if "Error opening" in text else text
    head = data[:8]
    return f"{text} ({len(data)} bytes, starting {head!r})"
