"""The sample set renders real music and speech, in the promised formats."""

import numpy as np
import soundfile as sf

from cadenza.devtools import samples
from cadenza.devtools.samples import make_samples


def test_sample_set_is_real_audio_in_every_format(tmp_path):
    files = make_samples(tmp_path)
    by_ext = {}
    for path in files:
        by_ext.setdefault(path.suffix, []).append(path)
    assert {".wav", ".flac", ".ogg", ".mp3"} <= set(by_ext)
    for path in files:
        if path.name == "not_audio.wav":
            continue
        audio, rate = sf.read(path, dtype="float32")
        assert rate in (16000, 22050), path
        assert len(audio) / rate > 2.0, f"{path.name} is too short"
        assert np.sqrt(np.mean(audio**2)) > 0.005, f"{path.name} is silent"


def test_second_run_keeps_existing_files(tmp_path):
    first = make_samples(tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in first}
    second = make_samples(tmp_path)
    assert second == first
    assert {p: p.stat().st_mtime_ns for p in second} == stamps


def test_a_relative_output_is_where_bazel_was_run(tmp_path, monkeypatch, capsys):
    """`bazel run` starts make_samples in its runfiles tree; BUILD_WORKING_DIRECTORY is
    the user's directory."""
    user, runfiles = tmp_path / "user", tmp_path / "runfiles"
    user.mkdir()
    runfiles.mkdir()
    monkeypatch.chdir(runfiles)
    monkeypatch.setenv("BUILD_WORKING_DIRECTORY", str(user))
    assert samples.main(["--output", "samples"]) == 0
    assert (user / "samples" / "a440.wav").is_file() and list(runfiles.iterdir()) == []
    assert str(user / "samples" / "a440.wav") in capsys.readouterr().out
