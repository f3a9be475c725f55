"""The base command's own checks, before it runs debootstrap or skopeo."""

import pytest

from tools.image import base


@pytest.fixture
def bases(tmp_path, monkeypatch):
    monkeypatch.setenv("CADENZA_IMAGE_BASES", str(tmp_path / "bases"))
    return tmp_path / "bases"


def test_list_says_which_bases_are_not_built(bases, capsys):
    assert base.main(["--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{name}: not built ({bases / name})" for name in base.BASES]


def test_unknown_bases_and_imports_without_a_digest_are_refused(bases, capsys):
    with pytest.raises(SystemExit):
        base.main(["debian-sid"])
    assert (
        "unknown base(s) debian-sid; the bases are python, python-ffmpeg, beam-sdk"
        in capsys.readouterr().err
    )
    with pytest.raises(SystemExit):
        base.main(["beam-sdk"])
    assert "with --from NAME@sha256:" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="is not pinned by digest"):
        base.main(["beam-sdk", "--from", "docker://apache/beam_python3.11_sdk:2.77.0"])
    assert not bases.exists() or not any(bases.iterdir())


def test_a_missing_base_names_the_command_that_makes_it(tmp_path):
    built = base.missing_message("python", tmp_path / "python")
    assert f"{tmp_path / 'python'} has no OCI layout" in built
    assert "bazel run //tools/image:base" in built
    imported = base.missing_message("beam-sdk", tmp_path / "beam-sdk")
    assert "-- beam-sdk --from docker://NAME@sha256:" in imported
