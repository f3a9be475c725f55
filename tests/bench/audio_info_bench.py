"""audio_info reads headers only: how much that saves over decoding the whole file.

Side by side in one run, on real music rendered from MIDI (fluidsynth), as FLAC:
`describe_audio` (header probe) against a full decode with soundfile. Size comes from
CADENZA_BENCH_SIZE: `full` renders a whole track, `smoke` (CI) the first 20 seconds.
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


def test_header_probe(benchmark, flac_bytes):
    info = benchmark(describe_audio, "track.flac", flac_bytes)
    assert info["duration_s"] > 10


def test_full_decode(benchmark, flac_bytes):
    audio, rate = benchmark(lambda: sf.read(io.BytesIO(flac_bytes), dtype="float32"))
    assert len(audio) / rate > 10
