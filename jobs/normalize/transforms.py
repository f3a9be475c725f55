"""The normaliser's own units: decode an upload with all its channels; encode canonical FLAC.

`decode_upload` decodes what soundfile reads through `cadenza.audio.decode` (WAV, FLAC,
Ogg Vorbis/Opus, MP3) and hands any other file (M4A/AAC, ...) to the ffmpeg binary,
which decodes it to 32-bit float WAV on a pipe. `canonical_flac` resamples, scales
down if the peak would exceed the ceiling (never clips) and encodes 16-bit FLAC.

>>> t = np.arange(22050) / 22050
>>> hot = Decoded(np.stack([1.5 * np.sin(2 * np.pi * 441 * t)] * 2, axis=1), 22050, "WAV", "FLOAT")
>>> flac, canonical = canonical_flac(hot, sample_rate=44100, max_peak_dbfs=-1.0)
>>> canonical["sample_rate"], canonical["channels"], canonical["duration_s"]
(44100, 2, 1.0)
>>> canonical["peak_dbfs"], canonical["gain_db"]
(-1.0, -4.52)
"""

from __future__ import annotations

import functools
import io
import pathlib
import re
import subprocess

import attrs
import numpy as np
import soundfile
import soxr

from cadenza.audio.decode import decode_audio
from cadenza.audio.errors import AudioDecodeError
from cadenza.core import CadenzaError

#: FLAC holds at most 8 channels
MAX_CHANNELS = 8
_FULL_SCALE = 32768  # 16-bit samples are read back as value / 32768
_FFMPEG_STREAM = re.compile(r"Stream #\d+:\d+\S*: Audio: (\w+)")
_FFMPEG_INPUT = re.compile(r"Input #0, (.+?), from ")
_FFMPEG_PREFIX = re.compile(r"^\[[^\]]+ @ 0x[0-9a-f]+\] ")
_FFMPEG_REFUSED = re.compile(r"^\[(\w+) @ 0x[0-9a-f]+\] Format not on whitelist", re.MULTILINE)
#: demuxers ffmpeg may not use on an upload: playlists and scripts that open other files
#: named inside it (hls, concat...), and network or device sources
NEVER_DEMUX = frozenset([
    "hls", "dash", "concat", "imf", "image2", "image2pipe", "webm_dash_manifest", "sbg",
    "ffmetadata", "sdp", "rtp", "rtsp", "sap", "lavfi", "alsa", "oss", "pulse", "jack",
    "openal", "fbdev", "kmsgrab", "x11grab", "video4linux2", "v4l2", "iec61883",
    "libdc1394", "libcdio",
])  # fmt: skip


class NormalizeError(CadenzaError, ValueError):
    """An upload could not be normalised; the message names the file and the reason."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"cannot normalize {name}: {reason}")
        self.name = name
        self.reason = reason


@attrs.frozen(eq=False)
class Decoded:
    """All channels of a decoded upload, float32 `(frames, channels)` at its own rate.

    `format` and `codec` are the decoder's names: soundfile's ("MP3", "MPEG_LAYER_III")
    or ffmpeg's ("mov,mp4,m4a,3gp,3g2,mj2", "aac"); `decoder` says which one it was.
    """

    frames: np.ndarray
    sample_rate: int
    format: str
    codec: str
    decoder: str = "soundfile"

    @property
    def channels(self) -> int:
        return self.frames.shape[1]

    @property
    def duration_s(self) -> float:
        return self.frames.shape[0] / self.sample_rate


def decode_upload(
    path: pathlib.Path, name: str, *, ffmpeg: str, timeout_s: float = 600.0
) -> Decoded:
    """Decodes the file at `path` (called `name` in errors) with soundfile, else ffmpeg.

    A file soundfile recognises but cannot decode (truncated, corrupt) raises soundfile's
    `AudioDecodeError`: ffmpeg would decode what is left and hide the damage. A file
    soundfile does not recognise goes to `ffmpeg`; if that is missing or fails,
    `NormalizeError` gives both reasons.
    """
    data = path.read_bytes()
    try:
        return _decode_bytes(data, name)
    except AudioDecodeError as refused:
        if not data or _soundfile_recognises(data):
            raise
        return _decode_with_ffmpeg(path, name, ffmpeg, timeout_s, refused.reason)


def _decode_bytes(data: bytes, name: str) -> Decoded:
    """soundfile's decode, checked by `decode_audio` (empty, corrupt, truncated files raise).

    `decode_audio` returns mono; a multichannel file is read again with its channels.
    """
    audio = decode_audio(data, None, name=name)
    if audio.source_channels == 1:
        frames = audio.samples[:, np.newaxis]
    else:
        frames, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    codec = soundfile.info(io.BytesIO(data)).subtype
    return Decoded(frames, audio.source_sample_rate, audio.source_format, codec)


def _soundfile_recognises(data: bytes) -> bool:
    try:
        soundfile.info(io.BytesIO(data))
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return False
    return True


@functools.cache
def accepted_formats(ffmpeg: str) -> str:
    """The demuxers of this ffmpeg that normalize lets it use (all but NEVER_DEMUX), as
    its `-format_whitelist` takes them."""
    listing = subprocess.run(
        [ffmpeg, "-hide_banner", "-demuxers"], capture_output=True, check=True, timeout=30
    ).stdout.decode()
    names = [line.split()[1] for line in listing.split("--", 1)[-1].splitlines() if line.strip()]
    return ",".join(n for n in names if not NEVER_DEMUX & set(n.split(",")))


def _decode_with_ffmpeg(
    path: pathlib.Path, name: str, ffmpeg: str, timeout_s: float, refusal: str
) -> Decoded:
    unread = f"soundfile does not read it ({refusal})"
    try:
        command = [
            ffmpeg, "-nostdin", "-hide_banner", "-nostats",
            # the upload alone: nothing named inside it is opened (no playlists, scripts,
            # devices or network sources)
            "-protocol_whitelist", "file", "-format_whitelist", accepted_formats(ffmpeg),
            "-i", f"file:{path}",  # `file:` so that a name with a colon is not a protocol
            "-map", "0:a:0", "-map_metadata", "-1",
            "-c:a", "pcm_f32le", "-f", "wav", "pipe:1",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        raise NormalizeError(
            name, f"{unread} and ffmpeg is not installed at {ffmpeg} (Debian package `ffmpeg`)"
        ) from None
    except PermissionError:
        raise NormalizeError(name, f"{unread} and {ffmpeg} is not executable") from None
    except subprocess.TimeoutExpired:
        raise NormalizeError(
            name, f"{unread} and ffmpeg did not finish in {timeout_s:g} s"
        ) from None
    log = done.stderr.decode("utf-8", "replace").replace(f"file:{path}", name)
    refused = _FFMPEG_REFUSED.search(log)
    if refused:
        raise NormalizeError(
            name,
            f"{unread}, and ffmpeg reads it as {refused.group(1)}, which normalize does not "
            "accept (it names other files, devices or network sources, never opened)",
        )
    if done.returncode != 0:
        raise NormalizeError(
            name, f"{unread} and ffmpeg failed (exit {done.returncode}): {_last_lines(log)}"
        )
    try:
        decoded = _decode_bytes(done.stdout, name)
    except AudioDecodeError as error:
        raise NormalizeError(name, f"ffmpeg decoded no usable audio: {error.reason}") from None
    container, codec = _FFMPEG_INPUT.search(log), _FFMPEG_STREAM.search(log)
    return attrs.evolve(
        decoded,
        format=container.group(1) if container else "unknown",
        codec=codec.group(1) if codec else "unknown",
        decoder="ffmpeg",
    )


def _last_lines(log: str, n: int = 2) -> str:
    lines = [_FFMPEG_PREFIX.sub("", line).strip() for line in log.splitlines()]
    lines = list(dict.fromkeys(line for line in lines if line))
    return "; ".join(lines[-n:]) or "no message"


def canonical_flac(
    decoded: Decoded, *, sample_rate: int = 44100, max_peak_dbfs: float = -1.0
) -> tuple[bytes, dict]:
    """16-bit FLAC at `sample_rate` with the source's channels, and its properties.

    The audio is resampled (soxr, high quality), then scaled down as a whole if its
    sample peak would exceed `max_peak_dbfs` (never up, never clipped), then rounded to
    16 bits (no dither).
    """
    if decoded.channels > MAX_CHANNELS:
        raise ValueError(f"FLAC holds at most {MAX_CHANNELS} channels; found {decoded.channels}")
    x = decoded.frames
    if decoded.sample_rate != sample_rate:
        x = soxr.resample(x, decoded.sample_rate, sample_rate, quality="HQ")
    x = np.asarray(x, dtype=np.float64)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    ceiling = min(10.0 ** (max_peak_dbfs / 20.0), (_FULL_SCALE - 1) / _FULL_SCALE)
    gain = ceiling / peak if peak > ceiling else 1.0
    pcm = np.rint(x * (gain * _FULL_SCALE)).clip(-_FULL_SCALE, _FULL_SCALE - 1).astype(np.int16)
    buffer = io.BytesIO()
    soundfile.write(buffer, pcm, sample_rate, format="FLAC", subtype="PCM_16")
    flac = buffer.getvalue()
    written_peak = int(np.max(np.abs(pcm.astype(np.int32)))) if pcm.size else 0
    return flac, {
        "format": "FLAC",
        "subtype": "PCM_16",
        "sample_rate": sample_rate,
        "channels": pcm.shape[1],
        "frames": pcm.shape[0],
        "duration_s": round(pcm.shape[0] / sample_rate, 3),
        "peak_dbfs": _dbfs(written_peak / _FULL_SCALE),
        "gain_db": round(20.0 * float(np.log10(gain)), 2),
        "bytes": len(flac),
    }


def peak_dbfs(frames: np.ndarray) -> float | None:
    """The sample peak in dBFS, rounded to 0.01 dB (None for digital silence)."""
    return _dbfs(float(np.max(np.abs(frames))) if frames.size else 0.0)


def _dbfs(peak: float) -> float | None:
    return round(20.0 * float(np.log10(peak)), 2) if peak > 0 else None
