"""What a container's header declares, to tell a truncated file from shorter audio.

libsndfile clamps a file's frame count to the bytes present, so a WAV, RF64, W64, AIFF
or CAF file cut short decodes silently as shorter audio; `missing_bytes` reads the data
chunk's declared size from the header instead. An MP3 cut short decodes as shorter
audio too: `mp3_stated_frames` reads the frame count its Xing/Info or VBRI header states.

>>> import io, numpy as np, soundfile
>>> buffer = io.BytesIO()
>>> soundfile.write(buffer, np.zeros(1000), 8000, format="AIFF", subtype="PCM_16")
>>> data = buffer.getvalue()
>>> missing_bytes(data), missing_bytes(data[:-500])
(0, 500)
>>> buffer = io.BytesIO()
>>> soundfile.write(buffer, np.zeros(8000), 8000, format="MP3")
>>> mp3_stated_frames(buffer.getvalue())     # Xing header and LAME tag: exact
Mp3Length(frames=8000, frame_samples=576)
>>> mp3_stated_frames(b"ID3" + bytes(20)) is None  # no header: the length is an estimate
True
"""

from __future__ import annotations

import attrs

from cadenza.audio.mpeg_frames import length_tag, read_header, skip_id3v2

_W64_DATA = b"data\xf3\xac\xd3\x11\x8c\xd1\x00\xc0\x4f\x8e\xdb\x8a"
_STREAMED = 0xFFFFFFFF  # a RIFF size that means "unknown": streamed, or see ds64


def missing_bytes(data: bytes) -> int:
    """Bytes the audio data chunk declares beyond the end of `data` (0 if none, or unknown)."""
    head = data[:4]
    if head in (b"RIFF", b"RF64", b"BW64") and data[8:12] == b"WAVE":
        return _missing_riff(data)
    if head == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
        return _missing_aiff(data)
    if head == b"riff" and data[24:28] == b"wave":
        return _missing_w64(data)
    if head == b"caff":
        return _missing_caf(data)
    return 0


def _missing_riff(data: bytes) -> int:
    position, data_size = 12, None  # RF64 states the data size in its ds64 chunk
    while position + 8 <= len(data):
        chunk, size = data[position : position + 4], _le(data, position + 4, 4)
        if chunk == b"ds64" and position + 24 <= len(data):
            data_size = _le(data, position + 16, 8)
        if chunk == b"data":
            if size == _STREAMED:
                size = data_size
            if size is None or size == _STREAMED:  # streamed: length unknown
                return 0
            return max(0, position + 8 + size - len(data))
        position += 8 + size + (size & 1)
    return 0


def _missing_aiff(data: bytes) -> int:
    position = 12
    while position + 8 <= len(data):
        chunk, size = (
            data[position : position + 4],
            int.from_bytes(data[position + 4 : position + 8]),
        )
        if chunk == b"SSND":
            return max(0, position + 8 + size - len(data))
        position += 8 + size + (size & 1)
    return 0


def _missing_w64(data: bytes) -> int:
    position = 40  # riff GUID, 8-byte size, wave GUID; chunk sizes include their header
    while position + 24 <= len(data):
        chunk, size = data[position : position + 16], _le(data, position + 16, 8)
        if chunk == _W64_DATA:
            return max(0, position + size - len(data))
        if size < 24:  # damaged: cannot step over it
            return 0
        position += size + (-size % 8)
    return 0


def _missing_caf(data: bytes) -> int:
    position = 8  # "caff", version, flags; then chunks: type, big-endian int64 size
    while position + 12 <= len(data):
        chunk = data[position : position + 4]
        size = int.from_bytes(data[position + 4 : position + 12], signed=True)
        if chunk == b"data":
            if size < 0:  # -1: the data runs to the end of the file (still being written)
                return 0
            return max(0, position + 12 + size - len(data))
        if size < 0:
            return 0
        position += 12 + size
    return 0


@attrs.frozen
class Mp3Length:
    """The audio frames an MP3's header states, net of the encoder delay and padding its
    LAME tag states; `frame_samples` is the samples per channel in one MPEG frame."""

    frames: int
    frame_samples: int


def mp3_stated_frames(data: bytes) -> Mp3Length | None:
    """The length the Xing/Info or VBRI header of an MPEG audio file states; None without
    one (then only an estimate from the file size is known)."""
    position = skip_id3v2(data)
    header = read_header(data, position)
    if header is None:
        return None
    found = length_tag(data, position, header)
    if found is None:
        return None
    kind, tag = found
    if kind != b"VBRI":
        return _xing_length(data, tag, header.samples)
    if tag + 18 > len(data):
        return None
    frames = int.from_bytes(data[tag + 14 : tag + 18])
    return Mp3Length(frames * header.samples, header.samples) if frames else None


def _xing_length(data: bytes, tag: int, frame_samples: int) -> Mp3Length | None:
    """The length a Xing/Info tag at `tag` states: its frame count (if flagged), less the
    delay and padding of a LAME tag after its optional fields."""
    flags = int.from_bytes(data[tag + 4 : tag + 8])
    if not flags & 1 or tag + 12 > len(data):  # no frame count stated
        return None
    frames = int.from_bytes(data[tag + 8 : tag + 12]) * frame_samples
    lame = tag + 8 + 4 * bin(flags & 0b1011).count("1") + (100 if flags & 4 else 0)
    if data[lame : lame + 4] in (b"LAME", b"Lavc", b"Lavf", b"L3.9") and lame + 24 <= len(data):
        delay_padding = int.from_bytes(data[lame + 21 : lame + 24])  # 12 bits each
        frames -= (delay_padding >> 12) + (delay_padding & 0xFFF)
    return Mp3Length(frames, frame_samples) if frames > 0 else None


def _le(data: bytes, position: int, width: int) -> int:
    return int.from_bytes(data[position : position + width], "little")
