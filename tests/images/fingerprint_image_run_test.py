"""The fingerprint job's image runs in a real container (podman): it fingerprints a track
from a mounted folder, dead-letters a broken one, and its self-check names what is inside."""

import json
import pathlib
import tarfile

import apache_beam
import pytest
import soundfile

from cadenza.audio.fingerprint.synthetic import SAMPLE_RATE, melody
from cadenza.devtools.podman import Podman
from cadenza.runtime.storage import read_provenance
from tools.image.layout import Image


@pytest.fixture(scope="module")
def image_dir() -> pathlib.Path:
    from cadenza_fixtures import runfiles_root

    return runfiles_root() / "jobs" / "fingerprint"


@pytest.fixture(scope="module")
def podman(tmp_path_factory, image_dir):
    with Podman(tmp_path_factory.mktemp("podman")) as podman:
        podman.loaded = podman.load(image_dir / "image.tar")
        yield podman


def test_self_check_names_the_jobs_packages_and_beam_and_nothing_else(podman):
    result = podman.run(podman.loaded, ["self-check"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "job fingerprint (jobs.fingerprint.pipeline)"
    assert lines[1].startswith("python 3.11.")
    packages = dict(line.split(" ", 1) for line in lines[2:])
    assert packages == {
        "cadenza.audio": "0.1.0",
        "cadenza.core": "0.1.0",
        "cadenza.runtime": "0.1.0",
        "apache_beam": apache_beam.__version__,
    }


def test_the_job_fingerprints_a_mounted_track_and_dead_letters_a_broken_one(podman, tmp_path):
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    soundfile.write(inbox / "song.flac", melody(seconds=20, seed=11), SAMPLE_RATE)
    (inbox / "broken.flac").write_bytes(b"fLaC but not really audio" * 10)
    result = podman.run(
        podman.loaded,
        ["run"],
        volumes={inbox: "/data/in:ro", outbox: "/data/out"},
        env={
            "NORMALIZE_OUTPUT": "/data/in",
            "FINGERPRINT_OUTPUT": "/data/out",
            "FINGERPRINT_INDEX": "/data/out/index",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((outbox / "song.json").read_text())
    assert report["track"] == "song"
    assert report["duration_s"] == pytest.approx(20.0, abs=0.1)
    assert report["hashes"] > 200
    provenance = read_provenance(str(outbox / "song.json"))
    assert provenance["job"] == "fingerprint"
    assert (outbox / "song.landmarks.npz").stat().st_size > 0
    assert (outbox / "index" / "manifest.json").exists()
    dead = [json.loads(p.read_text()) for p in (outbox / "dead_letter").glob("*.json")]
    assert [(d["element"], d["job"]) for d in dead] == [("broken", "fingerprint")]
    assert "AudioDecodeError: cannot decode audio from broken" in dead[0]["reason"]


def test_layers_hold_only_what_the_job_runs(image_dir):
    image = Image.read(image_dir / "image.oci")
    _base, third_party, cadenza, job = image.layer_paths()
    with tarfile.open(third_party) as tar:
        top = {name.split("/")[3] for name in tar.getnames() if name.count("/") >= 3}
    assert {"apache_beam", "numpy", "librosa", "soundfile.py"} <= top
    assert not {"pytest", "_pytest", "ruff", "hypothesis", "pytest_benchmark", "pre_commit"} & top
    with tarfile.open(cadenza) as tar:
        packages = {name.split("/")[3] for name in tar.getnames() if name.count("/") >= 3}
    assert packages == {"audio", "core", "runtime"}  # not devtools: jobs do not import it
    with tarfile.open(job) as tar:
        files = sorted(n for n in tar.getnames() if n.endswith((".py", ".yaml")))
    assert "opt/cadenza/jobs/fingerprint/job.yaml" in files
    assert not [f for f in files if f.endswith("_test.py")]
