"""MPEG frame counting, and VBR MP3s without a length header decoded whole."""

import io
import subprocess

import numpy as np
import pytest
import soundfile

from cadenza.audio.containers import mp3_stated_frames
from cadenza.audio.decode import decode_audio
from cadenza.audio.mpeg_frames import count_frames, read_header, with_stated_length

RATE = 22050


def mp3(samples, rate=RATE) -> bytes:
    """libsndfile's MP3: variable bitrate, a Xing header and LAME tag in its first frame."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="MP3", subtype="MPEG_LAYER_III")
    return buffer.getvalue()


def constant_bitrate_mp3(samples) -> bytes:
    """64 kbit/s in every frame, no Xing header (libsndfile's encoder writes VBR)."""
    encode = ["ffmpeg", "-v", "error", "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", "-"]
    encode += ["-c:a", "libmp3lame", "-b:a", "64k", "-write_xing", "0", "-f", "mp3", "-"]
    return subprocess.run(encode, input=samples.tobytes(), capture_output=True, check=True).stdout


def quiet_then_loud(rate=RATE, channels=1) -> np.ndarray:
    """2 s of a soft tone (few bits per frame), then 4 s of loud noise (many)."""
    soft = 0.05 * np.sin(2 * np.pi * 440 * np.arange(2 * rate) / rate)
    loud = np.random.default_rng(1).uniform(-0.8, 0.8, 4 * rate)
    mono = np.concatenate([soft, loud]).astype(np.float32)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


def without_length_header(data: bytes) -> bytes:
    """The MP3 as an encoder that writes no Xing header leaves it: without the frame
    that holds the header."""
    assert mp3_stated_frames(data) is not None
    return data[read_header(data, 0).length :]


@pytest.mark.parametrize(("rate", "channels"), [(22050, 1), (44100, 2), (8000, 1)])
def test_a_vbr_mp3_without_a_length_header_decodes_whole(rate, channels):
    data = without_length_header(mp3(quiet_then_loud(rate, channels), rate))
    assert mp3_stated_frames(data) is None and count_frames(data).variable_bitrate
    # libsndfile alone stops at its estimate from the first (quiet, small) frame
    guessed, _ = soundfile.read(io.BytesIO(data))
    assert len(guessed) < 0.75 * 6 * rate
    audio = decode_audio(data, None, name="vbr.mp3")
    # all 6 s, give or take the header's frame and the decoder's delay (< 3 frames)
    assert abs(audio.duration_s - 6.0) < 3 * count_frames(data).frame_samples / rate
    # and it is the audio: the loud part where it was
    loud = np.abs(audio.samples[int(2.5 * rate) : int(5.5 * rate)]).mean()
    soft = np.abs(audio.samples[int(0.2 * rate) : int(1.8 * rate)]).mean()
    assert loud > 10 * soft


def test_counting_follows_the_headers_to_the_end_of_the_stream():
    data = mp3(quiet_then_loud())
    counted = count_frames(data)
    stated = mp3_stated_frames(data)
    assert counted.frame_samples == 576  # MPEG-2 Layer III at 22.05 kHz
    # the stated count is net of the encoder's delay and padding and of the header frame
    assert 0 <= counted.frames * 576 - stated.frames <= 4 * 576
    tagged = data + b"TAG" + bytes(125)  # an ID3v1 tag ends the stream
    assert count_frames(tagged) == counted
    assert count_frames(b"RIFF" + bytes(40)) is None and count_frames(b"") is None


def test_files_that_need_no_stated_length_are_left_as_they_are():
    vbr = mp3(quiet_then_loud())
    cbr = constant_bitrate_mp3(quiet_then_loud())
    assert not count_frames(cbr).variable_bitrate  # its size tells its length
    wav = io.BytesIO()
    soundfile.write(wav, quiet_then_loud(), RATE, format="WAV")
    for data in (vbr, cbr, wav.getvalue(), b"\xff\xfb" + bytes(10)):
        assert with_stated_length(data) is data


def test_the_stated_length_frame_belongs_to_the_stream():
    data = without_length_header(mp3(quiet_then_loud(44100, 2), 44100))
    stated = with_stated_length(data)
    first, added = read_header(data, 0), read_header(stated, 0)
    assert added.same_stream(first) and added.mono == first.mono and not added.protected
    assert mp3_stated_frames(stated).frames == count_frames(data).frames * 1152
