"""What audio_info's check costs: it decodes each file whole (so that it refuses what
the other jobs refuse: truncated, corrupt, NaN samples) instead of trusting the header.

Side by side in one run, on real music rendered from MIDI (fluidsynth), as FLAC:
`describe_audio` (a whole decode at the file's own rate, with its checks) against
soundfile's plain read of the same file, and against reading the header alone (what
audio_info did before it checked). Size comes from CADENZA_BENCH_SIZE: `full` renders a
whole track, `smoke` (CI) the first 20 seconds.
"""

import io
import os
import pathlib

import pytest
import soundfile as sf

from cadenza.devtools.samples import MIDI_DIR, render_midi
from jobs.audio_info.transforms import describe_audio

SMOKE = os.environ.get("CADENZA_BENCH_SIZE", "full") != "full"


@pytest.fixture(scope="module")
def flac_bytes(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("bench")
    wav = folder / "track.wav"
    render_midi(pathlib.Path(MIDI_DIR) / "city_blues_redfarn.mid", wav)
    audio, rate = sf.read(wav, dtype="float32")
    if SMOKE:
        audio = audio[: 20 * rate]
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="FLAC")
    return buf.getvalue()


def test_describe_audio(benchmark, flac_bytes):
    info = benchmark(describe_audio, "track.flac", flac_bytes)
    assert info["duration_s"] > 10


def test_plain_decode(benchmark, flac_bytes):
    audio, rate = benchmark(lambda: sf.read(io.BytesIO(flac_bytes), dtype="float32"))
    assert len(audio) / rate > 10


def test_header_only(benchmark, flac_bytes):
    info = benchmark(lambda: sf.info(io.BytesIO(flac_bytes)))
    assert info.duration > 10
