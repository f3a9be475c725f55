"""PNG spectrograms: the bytes are a valid PNG (read by our own reader and by Pillow) and
they show what is in the sound where it should be."""

import io
import struct
import zlib

import numpy as np
import PIL.Image
import pytest

from cadenza.audio.plot import colormap, encode_png, spectrogram_png

RATE = 22050


def read_png(data: bytes) -> np.ndarray:
    """A strict little PNG reader for what encode_png promises: 8-bit RGB, not interlaced.

    Checks the signature, every chunk's CRC, the chunk order, and undoes the scanline
    filters; returns the pixels as (height, width, 3) uint8.
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        position += 12 + length
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    assert (depth, colour, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (1 + 3 * width)
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + 3 * width)
    pixels = np.zeros((height, 3 * width), np.uint8)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        above = pixels[y - 1].astype(np.int32) if y else np.zeros(3 * width, np.int32)
        if kind == 0:
            pixels[y] = line
        elif kind == 2:  # "up"
            pixels[y] = (line + above) % 256
        else:
            raise AssertionError(f"scanline {y}: filter type {kind} not expected")
    return pixels.reshape(height, width, 3)


def tone(hz, seconds=2.0, amplitude=0.5):
    t = np.arange(round(seconds * RATE)) / RATE
    return amplitude * np.sin(2 * np.pi * hz * t)


def luminance(rgb):
    return rgb.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])


def test_encode_png_round_trips_every_pixel():
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    data = encode_png(image)
    np.testing.assert_array_equal(read_png(data), image)
    with PIL.Image.open(io.BytesIO(data)) as decoded:  # an independent decoder agrees
        assert decoded.format == "PNG" and decoded.mode == "RGB" and decoded.size == (7, 5)
        np.testing.assert_array_equal(np.asarray(decoded), image)


def test_encode_png_refuses_what_it_cannot_encode():
    with pytest.raises(ValueError, match=r"uint8 array of shape \(height, width, 3\)"):
        encode_png(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="got float64"):
        encode_png(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="at least one pixel"):
        encode_png(np.zeros((0, 4, 3), np.uint8))


def test_colormap_gets_lighter_from_0_to_1_and_clips():
    colours = colormap(np.linspace(0.0, 1.0, 256))
    assert np.all(np.diff(luminance(colormap(np.linspace(0.0, 1.0, 64)))) > 0)
    assert np.all(np.diff(luminance(colours)) > -0.5)  # up to rounding to 8 bits
    assert luminance(colours[-1]) - luminance(colours[0]) > 150
    np.testing.assert_array_equal(colormap(np.array([-3.0, 7.0])), colours[[0, -1]])


def test_a_tones_row_is_the_brightest_and_has_the_right_size():
    n_fft, hop = 1024, 256
    noise = np.random.default_rng(1).normal(0, 0.001, 2 * RATE)
    data = spectrogram_png(tone(440) + noise, RATE, n_fft=n_fft, hop_length=hop)
    pixels = read_png(data)
    assert pixels.shape == (n_fft // 2 + 1, 1 + 2 * RATE // hop, 3)
    rows = luminance(pixels).mean(axis=1)
    # Row 0 is the top (Nyquist); the bottom row is 0 Hz.
    row_440 = n_fft // 2 - round(440 * n_fft / RATE)
    assert abs(int(rows.argmax()) - row_440) <= 1
    assert rows[row_440] > np.median(rows) + 100


def test_low_frequencies_are_at_the_bottom():
    low = read_png(spectrogram_png(tone(300), RATE, n_fft=512, hop_length=512))
    high = read_png(spectrogram_png(tone(6000), RATE, n_fft=512, hop_length=512))
    low_row = luminance(low).mean(axis=1).argmax()
    high_row = luminance(high).mean(axis=1).argmax()
    assert low_row > 240 > high_row  # 257 rows: the 300 Hz row near the bottom


def test_silence_is_all_dark():
    pixels = read_png(spectrogram_png(np.zeros(RATE), RATE, n_fft=256, hop_length=256))
    assert np.all(pixels == colormap(np.array(0.0)))


def test_top_db_must_be_positive():
    with pytest.raises(ValueError, match="top_db: expected a positive dynamic range"):
        spectrogram_png(tone(440), RATE, top_db=0.0)
