"""How many bytes of its audio data a container declares but lacks (a truncated file).

libsndfile clamps a file's frame count to the bytes present, so a WAV, RF64, W64, AIFF
or CAF file cut short decodes silently as shorter audio; these read the data chunk's
declared size from the header instead.

>>> import io, numpy as np, soundfile
>>> buffer = io.BytesIO()
>>> soundfile.write(buffer, np.zeros(1000), 8000, format="AIFF", subtype="PCM_16")
>>> data = buffer.getvalue()
>>> missing_bytes(data), missing_bytes(data[:-500])
(0, 500)
"""

from __future__ import annotations

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


def _le(data: bytes, position: int, width: int) -> int:
    return int.from_bytes(data[position : position + width], "little")
