"""MPEG audio frames: headers, counting a stream's frames, stating its length.

libsndfile (through mpg123) takes an MP3's length from its Xing/Info or VBRI header,
and without one estimates it from the first frame's bitrate and the file size; it then
stops decoding at that estimate. A variable-bitrate MP3 without such a header (some
encoders and stream rippers write none) would silently lose everything past the
estimate. `with_stated_length` counts the frames actually present and puts a Xing
frame stating that count in front of them, so the decoder reads them all.

>>> import io, numpy as np, soundfile
>>> buffer = io.BytesIO()
>>> soundfile.write(buffer, np.zeros(8000), 8000, format="MP3")
>>> counted = count_frames(buffer.getvalue())   # 8000 samples, and a Xing header's frame
>>> counted.frames, counted.frame_samples
(17, 576)
"""

from __future__ import annotations

import attrs

# kbit/s by bitrate index (0 is "free format", 15 is reserved)
_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Hz by version bits (0: MPEG-2.5, 2: MPEG-2, 3: MPEG-1) and rate index
_RATES = {0: (11025, 12000, 8000), 2: (22050, 24000, 16000), 3: (44100, 48000, 32000)}
_XING_FRAMES_FLAG = 1


@attrs.frozen
class FrameHeader:
    """One MPEG audio frame header (4 bytes)."""

    version_bits: int  # 0: MPEG-2.5, 2: MPEG-2, 3: MPEG-1
    layer: int
    bitrate_index: int
    sample_rate: int
    padding: bool
    mono: bool
    protected: bool  # a 16-bit CRC follows the header

    @property
    def mpeg1(self) -> bool:
        return self.version_bits == 3

    @property
    def samples(self) -> int:
        """Samples per channel in the frame."""
        if self.layer == 1:
            return 384
        return 1152 if self.mpeg1 or self.layer == 2 else 576

    @property
    def side_info(self) -> int:
        """Bytes of Layer III side information after the header (and CRC)."""
        return (17 if self.mono else 32) if self.mpeg1 else (9 if self.mono else 17)

    @property
    def length(self) -> int:
        """The frame's size in bytes, header included; 0 for free-format bitrates."""
        return _frame_length(self, self.bitrate_index, self.padding)

    def same_stream(self, other: FrameHeader) -> bool:
        return (self.version_bits, self.layer, self.sample_rate) == (
            other.version_bits,
            other.layer,
            other.sample_rate,
        )


def _frame_length(header: FrameHeader, bitrate_index: int, padding: bool) -> int:
    bitrate = _BITRATES[header.mpeg1, header.layer][bitrate_index] * 1000
    if header.layer == 1:
        return (12 * bitrate // header.sample_rate + padding) * 4
    per_sample = 144 if header.mpeg1 or header.layer == 2 else 72
    return per_sample * bitrate // header.sample_rate + padding


def read_header(data: bytes, position: int) -> FrameHeader | None:
    """The frame header at `position`, or None if the bytes there are not a valid one."""
    head = data[position : position + 4]
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    version, layer_bits = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    if version == 1 or layer_bits == 0 or bitrate == 15 or rate == 3:  # reserved values
        return None
    return FrameHeader(
        version_bits=version,
        layer=4 - layer_bits,
        bitrate_index=bitrate,
        sample_rate=_RATES[version][rate],
        padding=bool(head[2] & 2),
        mono=head[3] >> 6 == 3,
        protected=not head[1] & 1,
    )


def skip_id3v2(data: bytes) -> int:
    """Where the audio starts after any ID3v2 tags (their sizes are 4 x 7-bit bytes)."""
    position = 0
    while data[position : position + 3] == b"ID3" and position + 10 <= len(data):
        size = 0
        for byte in data[position + 6 : position + 10]:
            size = size << 7 | (byte & 0x7F)
        footer = 10 if data[position + 5] & 0x10 else 0
        position += 10 + size + footer
    while position < len(data) and data[position] == 0:  # padding after the tag
        position += 1
    return position


@attrs.frozen
class FrameCount:
    """The frames of an MPEG stream, counted header by header."""

    frames: int
    frame_samples: int  # samples per channel in one frame
    variable_bitrate: bool


def count_frames(data: bytes) -> FrameCount | None:
    """The frames of the MPEG stream that starts after any ID3v2 tag, counted up to the
    first bytes that do not continue it (the end, an ID3v1 or APE tag, damage); None if
    no stream starts there or its bitrate is free-format (frame sizes unknown)."""
    position = skip_id3v2(data)
    first = read_header(data, position)
    if first is None:
        return None
    # the stream's frames share the first's version, layer and rate bits; their sizes
    # follow from bitrate index and padding (a table: this runs once per frame)
    version_layer, rate_bits = data[position + 1] & 0xFE, data[position + 2] & 0x0C
    sizes = {bits: _frame_length(first, bits >> 4, bool(bits & 2)) for bits in range(16, 240, 2)}
    frames, bitrates, end = 0, set(), len(data) - 3
    while position < end and data[position] == 0xFF:
        if data[position + 1] & 0xFE != version_layer:
            break
        bits = data[position + 2]
        if bits & 0x0C != rate_bits or bits >> 4 in (0, 15):  # another stream, free format
            break
        length = sizes[bits & 0xF2]
        if position + length > len(data):
            break
        frames += 1
        bitrates.add(bits >> 4)
        position += length
    return FrameCount(frames, first.samples, len(bitrates) > 1) if frames else None


def with_stated_length(data: bytes) -> bytes:
    """`data` with a Xing frame stating its frame count in front of its first frame,
    when it is a variable-bitrate Layer III stream without a Xing/Info or VBRI header
    (whose length libsndfile would estimate from the first frame); else `data`."""
    start = skip_id3v2(data)
    first = read_header(data, start)
    if first is None or first.layer != 3 or length_tag(data, start, first):
        return data
    counted = count_frames(data)
    if counted is None or not counted.variable_bitrate:
        return data
    return data[:start] + _xing_frame(first, counted.frames) + data[start:]


def length_tag(data: bytes, position: int, header: FrameHeader) -> tuple[bytes, int] | None:
    """(b"Xing", b"Info" or b"VBRI", where it starts) of the length header in the frame
    at `position`, or None: a Xing/Info tag follows the side information (and the CRC, in
    a protected frame, though some encoders leave that out); VBRI is 32 bytes on."""
    side_info = header.side_info
    for offset in (4 + side_info, 6 + side_info) if header.protected else (4 + side_info,):
        tag = position + offset
        if data[tag : tag + 4] in (b"Xing", b"Info"):
            return data[tag : tag + 4], tag
    tag = position + 36
    if data[tag : tag + 4] == b"VBRI":
        return b"VBRI", tag
    return None


def _xing_frame(like: FrameHeader, frames: int) -> bytes:
    """A silent frame of `like`'s stream whose Xing tag states `frames` frames."""
    tag = 4 + like.side_info
    needed = tag + 12  # "Xing", flags, frame count
    index = next(
        (i for i in range(1, 15) if _frame_length(like, i, False) >= needed), 14
    )  # the lowest bitrate whose frame holds the tag
    header = bytes(
        [
            0xFF,
            0xE0 | like.version_bits << 3 | (4 - like.layer) << 1 | 1,  # no CRC
            index << 4 | _rate_index(like) << 2,
            (3 if like.mono else 0) << 6,
        ]
    )
    frame = bytearray(_frame_length(like, index, False))
    frame[:4] = header
    frame[tag : tag + 12] = (
        b"Xing" + _XING_FRAMES_FLAG.to_bytes(4, "big") + frames.to_bytes(4, "big")
    )
    return bytes(frame)


def _rate_index(header: FrameHeader) -> int:
    return _RATES[header.version_bits].index(header.sample_rate)
