"""The fingerprint job's image goes to a real registry (Debian's docker-registry on
127.0.0.1) with `:image_push`, and comes back with the same digest."""

import json
import pathlib
import subprocess

import pytest

from cadenza.devtools.image_registry import ImageRegistry
from cadenza_fixtures import runfiles_root
from tools.image import push
from tools.image.layout import Image

LAYOUT = runfiles_root() / "jobs" / "fingerprint" / "image.oci"


def push_to(registry: str, *extra: str) -> int:
    """`bazel run //jobs/fingerprint:image_push -- --registry REGISTRY EXTRA...`, in process."""
    return push.main(
        ["--name", "fingerprint", "--layout", str(LAYOUT), "--registry", registry, *extra]
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with ImageRegistry(tmp_path_factory.mktemp("registry"), port=None) as registry:
        yield registry


def test_push_then_pull_back_keeps_the_digest(registry, tmp_path, monkeypatch, capsys):
    built = Image.read(LAYOUT)
    monkeypatch.setenv("BUILD_WORKING_DIRECTORY", str(tmp_path / "workspace"))
    status = push_to(f"{registry.host}/cadenza", "--tag", "t1")
    assert status == 0, capsys.readouterr().err
    reference = capsys.readouterr().out.strip()
    assert reference == f"{registry.host}/cadenza/fingerprint@{built.manifest_digest}"
    recorded = json.loads(
        (tmp_path / "workspace" / ".cadenza" / "images" / "fingerprint.json").read_text()
    )
    assert recorded == {
        "name": "fingerprint",
        "reference": reference,
        "tag": "t1",
        "base_name": "python",
        "base_digest": built.config["config"]["Labels"]["dev.cadenza.base.digest"],
    }

    pulled = tmp_path / "pulled"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-oci-accept-uncompressed-layers",
            "--src-tls-verify=false",
            f"docker://{registry.host}/cadenza/fingerprint:t1",
            f"oci:{pulled}:t1",
        ],
        check=True,
    )
    back = Image.read(pulled)
    assert back.manifest_digest == built.manifest_digest
    assert back.config == built.config
    raw = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{reference}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(raw.stdout)["Labels"]["dev.cadenza.job"] == "fingerprint"


def test_the_default_tag_is_the_images_git_revision(registry, capsys, monkeypatch):
    monkeypatch.delenv("BUILD_WORKING_DIRECTORY", raising=False)
    built = Image.read(LAYOUT)
    revision = built.config["config"]["Labels"]["dev.cadenza.git.revision"]
    tag = push.default_tag(built)
    assert tag.startswith(revision[:12])
    assert push_to(f"{registry.host}/cadenza") == 0
    assert f"fingerprint:{tag}" in capsys.readouterr().err


def test_a_registry_that_is_not_there_is_a_clear_error(tmp_path, capsys):
    from cadenza_fixtures import pick_free_port

    status = push_to(f"127.0.0.1:{pick_free_port()}/x")
    assert status == 1
    error = capsys.readouterr().err
    assert "image_push fingerprint: skopeo could not push to 127.0.0.1:" in error
    assert "connection refused" in error.lower()


def test_a_bad_tag_is_refused_before_anything_is_sent(registry):
    with pytest.raises(push.PushError, match="not a valid image tag"):
        push.push(pathlib.Path(LAYOUT), registry.host, "fingerprint", "bad tag!", insecure=False)
