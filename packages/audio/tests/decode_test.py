"""decode_audio on files the tests write: every format round-trips a tone, bad input is
refused with an AudioDecodeError that names the source and the reason."""

import io

import numpy as np
import pytest
import soundfile

from cadenza.audio import AudioDecodeError, decode_audio

SECONDS = 2.0

FORMATS = [  # (format, subtype, the rate the encoder takes)
    ("WAV", "PCM_16", 44100),
    ("FLAC", "PCM_16", 44100),
    ("OGG", "VORBIS", 44100),
    ("OGG", "OPUS", 48000),  # Opus runs at 48 kHz
    ("MP3", "MPEG_LAYER_III", 44100),
]


def tone(hz, rate, seconds=SECONDS, amplitude=0.5):
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * hz * t)


def encode(samples, rate, fmt="WAV", subtype="PCM_16") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def peak_hz(samples, rate) -> float:
    """The strongest frequency, to 0.1 Hz (windowed, zero-padded FFT)."""
    n = 16 * len(samples)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)), n))
    return float(np.fft.rfftfreq(n, 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize(("fmt", "subtype", "rate"), FORMATS, ids=[f[1] for f in FORMATS])
def test_each_format_round_trips_a_tone_at_its_pitch_and_duration(fmt, subtype, rate):
    data = encode(tone(440.0, rate), rate, fmt, subtype)
    audio = decode_audio(data, 22050, name=f"tone.{fmt.lower()}")
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.sample_rate == 22050 and audio.source_sample_rate == rate
    assert audio.source_format == fmt
    assert peak_hz(audio.samples, 22050) == pytest.approx(440.0, abs=0.5)
    # Lossless formats keep every frame; lossy codecs may pad or trim a few ms.
    lossless = fmt in ("WAV", "FLAC")
    assert audio.duration_s == pytest.approx(SECONDS, abs=1e-9 if lossless else 0.03)
    middle = audio.samples[len(audio.samples) // 4 : -len(audio.samples) // 4]
    rms = np.sqrt(np.mean(middle.astype(np.float64) ** 2))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.01 if lossless else 0.1)


def test_resampling_keeps_pitch_and_duration_both_ways():
    data = encode(tone(1000.0, 16000), 16000)
    for rate in (8000, 44100):
        audio = decode_audio(data, rate)
        assert audio.sample_rate == rate and len(audio.samples) == round(SECONDS * rate)
        assert peak_hz(audio.samples, rate) == pytest.approx(1000.0, abs=0.5)
    native = decode_audio(data, None)
    assert native.sample_rate == 16000 and len(native.samples) == 32000


def test_stereo_becomes_the_mean_of_its_channels():
    left, right = tone(440.0, 22050), tone(660.0, 22050, amplitude=0.25)
    audio = decode_audio(encode(np.stack([left, right], axis=1), 22050, "FLAC"), 22050)
    assert audio.source_channels == 2
    np.testing.assert_allclose(audio.samples, (left + right) / 2, atol=1e-4)


def test_a_local_path_and_bytes_decode_the_same(tmp_path):
    data = encode(tone(440.0, 22050), 22050, "FLAC")
    path = tmp_path / "tone.flac"
    path.write_bytes(data)
    from_path = decode_audio(path, 22050)
    from_string = decode_audio(str(path), 22050)
    from_bytes = decode_audio(data, 22050)
    np.testing.assert_array_equal(from_path.samples, from_bytes.samples)
    np.testing.assert_array_equal(from_string.samples, from_bytes.samples)


def wav_bytes():
    return encode(tone(440.0, 22050), 22050)


def flac_bytes():
    return encode(tone(440.0, 22050), 22050, "FLAC")


BAD_BYTES = {
    "empty": (lambda: b"", "empty"),
    "text": (lambda: b"just some words, not audio\n" * 20, "Format not recognised"),
    "random bytes": (
        lambda: np.random.default_rng(3).integers(0, 256, 4000, np.uint8).tobytes(),
        "Format not recognised",
    ),
    "wav cut in half": (lambda: wav_bytes()[: len(wav_bytes()) // 2], "truncated"),
    "flac cut in half": (lambda: flac_bytes()[: len(flac_bytes()) // 2], "lost sync"),
    "wav header only": (lambda: wav_bytes()[:44], "no audio frames"),
    "corrupt flac frames": (
        lambda: flac_bytes()[:200] + bytes(len(flac_bytes()) - 200),
        "flac",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_BYTES))
def test_bad_bytes_raise_naming_the_source_and_the_reason(case):
    make, reason = BAD_BYTES[case]
    with pytest.raises(AudioDecodeError) as raised:
        decode_audio(make(), 22050, name=f"inputs/{case}.bin")
    error = raised.value
    assert error.source == f"inputs/{case}.bin"
    assert reason.lower() in error.reason.lower()
    assert str(error).startswith(f"cannot decode audio from inputs/{case}.bin: ")
    assert isinstance(error, ValueError)


def test_bad_paths_raise_naming_the_path_and_the_reason(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not audio at all\n" * 10)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    cases = {
        tmp_path / "missing.wav": "no such file",
        tmp_path: "is a directory",
        text: "Format not recognised",
        empty: "empty",
    }
    for path, reason in cases.items():
        with pytest.raises(AudioDecodeError, match=reason) as raised:
            decode_audio(path)
        assert raised.value.source == str(path)
        assert str(path) in str(raised.value)


def test_a_header_claiming_a_huge_length_is_refused_without_allocating_it():
    data = bytearray(encode(tone(440.0, 8000, seconds=1.0), 8000, "FLAC", "PCM_16"))
    data[8 + 13] = (data[8 + 13] & 0xF0) | 0x8  # STREAMINFO total samples: 2^35 + 8000
    assert soundfile.info(io.BytesIO(bytes(data))).frames > 2**35
    with pytest.raises(AudioDecodeError) as raised:
        decode_audio(bytes(data), 22050, name="bomb.flac")
    assert raised.value.source == "bomb.flac"
    assert f"declares {2**35 + 8000} frames" in raised.value.reason


def test_audio_longer_than_one_read_block_decodes_whole():
    rate, channels = 8000, 8  # 8 x 300,000 samples: more than one 2^21-sample block
    samples = np.stack([tone(440.0, rate, seconds=37.5)] * channels, axis=1)
    audio = decode_audio(encode(samples, rate), None, name="long.wav")
    assert len(audio.samples) == 300_000 and audio.source_channels == channels
    np.testing.assert_allclose(audio.samples, samples[:, 0], atol=1e-4)


@pytest.mark.parametrize("fmt", ["AIFF", "W64", "RF64", "WAV", "CAF"])
def test_a_container_cut_short_is_refused_as_truncated(fmt):
    data = encode(tone(440.0, 22050), 22050, fmt)
    assert decode_audio(data, None).duration_s == SECONDS
    # libsndfile opens most halves (the check names the format) but calls a CAF malformed
    with pytest.raises(AudioDecodeError, match=f"truncated: (the {fmt}|its) data chunk lacks"):
        decode_audio(data[: len(data) // 2], None, name=f"half.{fmt.lower()}")
    with pytest.raises(AudioDecodeError, match=f"truncated: the {fmt} data chunk lacks 100 "):
        decode_audio(data[:-100], None, name=f"short.{fmt.lower()}")  # a few frames short


@pytest.mark.parametrize(("rate", "channels"), [(44100, 2), (22050, 1), (8000, 2)])
def test_an_mp3_cut_short_of_its_xing_frame_count_is_refused_as_truncated(rate, channels):
    samples = np.stack([tone(440.0, rate, seconds=3.0)] * channels, axis=1)
    data = encode(samples, rate, "MP3", "MPEG_LAYER_III")
    assert b"Xing" in data[:200] or b"Info" in data[:200]  # libsndfile's LAME writes one
    assert len(decode_audio(data, None).samples) == 3 * rate  # its count is exact
    for cut in (len(data) // 2, len(data) - 1500):
        with pytest.raises(AudioDecodeError, match=r"truncated: its MP3 header states") as raised:
            decode_audio(data[:cut], None, name="cut.mp3")
        assert f"states {3 * rate} frames, decoded " in raised.value.reason


def test_an_mp3_without_a_frame_count_cut_short_is_left_as_shorter_audio():
    data = encode(tone(440.0, 22050, seconds=3.0), 22050, "MP3", "MPEG_LAYER_III")
    plain = data.replace(b"Xing", b"Nope", 1)  # no header: the length is only an estimate
    whole = decode_audio(plain, None, name="plain.mp3")
    half = decode_audio(plain[: len(plain) // 2], None, name="half.mp3")
    assert 0 < len(half.samples) < len(whole.samples)
