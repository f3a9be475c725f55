"""The fingerprint job end to end: real files, the runtime's lifecycle, the local runner."""

import io
import json

import numpy as np
import soundfile as sf

from cadenza.audio.fingerprint import FingerprintIndex
from cadenza.audio.fingerprint.synthetic import melody
from cadenza.runtime.storage import read_provenance
from jobs.fingerprint import pipeline

RATE = 22050


def reports(out):
    return {
        p.name.removesuffix(".json"): json.loads(p.read_text())
        for p in out.glob("*.json")
        if not p.name.endswith(".provenance.json")
    }


def test_job_catalogs_tracks_finds_reuploads_and_dead_letters_bad_files(
    tmp_path, monkeypatch, capsys
):
    inputs, out, index = tmp_path / "in", tmp_path / "out", tmp_path / "index"
    inputs.mkdir()
    song = melody(60, seed=11, sample_rate=RATE)
    # What normalize writes: <upload name>.flac
    sf.write(inputs / "a-original.flac.flac", np.stack([song, song], axis=1), RATE)
    sf.write(inputs / "b-other.wav.flac", melody(45, seed=12, sample_rate=RATE), RATE)
    sf.write(inputs / "c-reupload.mp3.flac", song[25 * RATE : 50 * RATE], RATE)
    (inputs / "d-broken.ogg.flac").write_bytes(b"fLaC" + bytes(100))
    monkeypatch.setenv("NORMALIZE_OUTPUT", str(inputs))
    monkeypatch.setenv("FINGERPRINT_OUTPUT", str(out))
    monkeypatch.setenv("FINGERPRINT_INDEX", str(index))

    assert pipeline.main(["--runs", str(tmp_path / "runs")]) == 0

    found = reports(out)
    assert set(found) == {"a-original.flac", "b-other.wav", "c-reupload.mp3"}
    original = found["a-original.flac"]
    assert (original["sample_rate"], original["channels"], original["format"]) == (RATE, 2, "FLAC")
    assert abs(original["duration_s"] - 60) < 0.01 and original["hashes"] > 1000
    assert found["b-other.wav"]["matches"] == []
    (match,) = found["c-reupload.mp3"]["matches"]
    assert match["track"] == "a-original.flac" and abs(match["offset_s"] - 25) <= 0.1
    artifact = np.load(io.BytesIO((out / "a-original.flac.landmarks.npz").read_bytes()))
    assert len(artifact["hashes"]) == original["hashes"] == len(artifact["frames"])
    provenance = read_provenance(str(out / "a-original.flac.json"))
    assert provenance["job"] == "fingerprint"
    (dead,) = [json.loads(p.read_text()) for p in (out / "dead_letter").iterdir()]
    assert dead["element"] == "d-broken.ogg" and dead["stage"] == "logic"
    assert "AudioDecodeError: cannot decode audio from d-broken.ogg" in dead["reason"]
    assert "(104 bytes, starting b'fLaC" in dead["reason"]
    catalog = FingerprintIndex.open(index)
    assert sorted(t.track_id for t in catalog.store.tracks()) == [
        "a-original.flac", "b-other.wav", "c-reupload.mp3"
    ]  # fmt: skip
    printed = capsys.readouterr().out
    assert "a-original.flac at +25.0 s" in printed and "dead_letter:logic" in printed


def test_a_second_run_skips_tracks_already_reported(tmp_path, monkeypatch, capsys):
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "x.wav.flac", melody(15, seed=3, sample_rate=RATE), RATE)
    monkeypatch.setenv("NORMALIZE_OUTPUT", str(tmp_path / "in"))
    for name, value in [("OUTPUT", "out"), ("INDEX", "index")]:
        monkeypatch.setenv(f"FINGERPRINT_{name}", str(tmp_path / value))
    pipeline.main(["--runs", str(tmp_path / "runs")])
    capsys.readouterr()
    pipeline.main(["--runs", str(tmp_path / "runs")])
    assert "skipped-output-exists" in capsys.readouterr().out
