"""OCI layouts written here are ones skopeo reads and copies without changing a digest,
and images assembled from the same inputs anywhere are the same image."""

import json
import pathlib
import re
import subprocess

import pytest

from tools.image.assemble import BuiltLayer, ImageSettings, assemble, git_revision
from tools.image.base import BASES, IMPORTED
from tools.image.layer import collect, write_layer
from tools.image.layout import Image, LayoutError, write_single_layer_image


def tiny_base(root: pathlib.Path) -> Image:
    """A one-layer base image (an /etc/os-release), written the way base.py writes bases."""
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("ID=tiny\n")
    layer = write_layer(collect([(str(root / "etc"), "etc")]), root / "base.tar")
    config = {"config": {"Env": ["PATH=/usr/bin", "LANG=C"]}}
    write_single_layer_image(root / "layout", root / "base.tar", config, "tiny", "tiny")
    image = Image.read(root / "layout")
    assert image.manifest["layers"][0]["digest"] == layer.digest
    return image


def job_image(tmp: pathlib.Path, name: str) -> Image:
    """A base and one job layer assembled under tmp/name (every input made there too)."""
    work = tmp / name
    base = tiny_base(work / "base")
    (work / "src").mkdir()
    (work / "src" / "main.py").write_text("print('hello')\n")
    info = write_layer(collect([(str(work / "src"), "opt/app")]), work / "job.tar")
    settings = ImageSettings(
        ref_name="cadenza/x:latest",
        entrypoint=["/usr/bin/python3", "-m", "x"],
        cmd=["run"],
        env={"PYTHONPATH": "/opt/app", "LANG": "C.UTF-8"},
        working_dir="/data",
        labels={"dev.cadenza.job": "x"},
    )
    assemble(base, [BuiltLayer(work / "job.tar", info.digest, "job: x")], settings, work / "image")
    return Image.read(work / "image")


def test_assembling_in_two_places_gives_one_image(tmp_path):
    first = job_image(tmp_path, "one")
    second = job_image(tmp_path / "elsewhere" / "deeper", "two")
    assert first.manifest_digest == second.manifest_digest
    config = first.config["config"]
    assert config["Env"] == ["PATH=/usr/bin", "LANG=C.UTF-8", "PYTHONPATH=/opt/app"]
    assert config["Entrypoint"] == ["/usr/bin/python3", "-m", "x"]
    assert config["Labels"]["dev.cadenza.base.digest"].startswith("sha256:")
    assert first.config["rootfs"]["diff_ids"] == [
        layer["digest"] for layer in first.manifest["layers"]
    ]
    assert "created" not in first.config


def test_skopeo_reads_the_layout_and_copies_it_digest_for_digest(tmp_path):
    image = job_image(tmp_path, "img")
    shown = json.loads(
        subprocess.run(
            ["skopeo", "inspect", f"oci:{image.layout}"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert shown["Digest"] == image.manifest_digest
    assert shown["Labels"]["dev.cadenza.job"] == "x"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-oci-accept-uncompressed-layers",
            f"oci:{image.layout}",
            f"oci:{tmp_path / 'copy'}:x",
        ],
        check=True,
    )
    copied = json.loads((tmp_path / "copy" / "index.json").read_text())["manifests"][0]["digest"]
    assert copied == image.manifest_digest


def test_a_tampered_blob_or_a_missing_layout_is_reported(tmp_path):
    image = job_image(tmp_path, "img")
    config_blob = (
        image.layout / "blobs" / "sha256" / image.manifest["config"]["digest"].split(":")[1]
    )
    config_blob.chmod(0o644)
    config_blob.write_bytes(config_blob.read_bytes().replace(b"/data", b"/tmp!"))
    with pytest.raises(LayoutError, match="does not match its digest"):
        Image.read(image.layout)
    with pytest.raises(LayoutError, match="not an OCI image layout"):
        Image.read(tmp_path / "nothing-here")


def test_git_revision_comes_from_the_stable_status():
    status = "BUILD_EMBED_LABEL \nBUILD_HOST box\nSTABLE_GIT_REVISION abc123-dirty\n"
    assert git_revision(status) == "abc123-dirty"
    assert git_revision("BUILD_HOST box\n") == "unknown"


def test_the_workspace_declares_exactly_the_bases_base_py_builds():
    from cadenza_fixtures import runfiles_root

    workspace = (runfiles_root() / "WORKSPACE").read_text()
    block = re.search(
        r"image_bases\(\s*name = \"image_bases\",\s*names = \[(.*?)\]", workspace, re.S
    )
    assert block, "WORKSPACE has no image_bases(...) call"
    assert re.findall(r'"([^"]+)"', block.group(1)) == [*BASES, *IMPORTED]


def skopeo(*args: str, tmpdir) -> str:
    # --tmpdir: skopeo unpacks archives there (else in /var/tmp, read-only in the sandbox)
    command = ["skopeo", "--tmpdir", str(tmpdir), *args]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, f"skopeo {' '.join(args)}: {result.stderr}"
    return result.stdout


def test_the_archive_is_both_an_oci_and_a_docker_archive_of_the_same_image(tmp_path):
    from tools.image.layout import write_archive

    image = job_image(tmp_path, "img")
    archive = tmp_path / "image.tar"
    write_archive(image.layout, archive, "cadenza/x:latest")
    as_oci = skopeo("inspect", "--raw", f"oci-archive:{archive}", tmpdir=tmp_path)
    assert json.loads(as_oci) == image.manifest
    config = json.loads(skopeo("inspect", "--config", f"docker-archive:{archive}", tmpdir=tmp_path))
    assert config["config"]["Labels"]["dev.cadenza.job"] == "x"
    import tarfile

    with tarfile.open(archive) as tar:
        (entry,) = json.loads(tar.extractfile("manifest.json").read())
    assert entry["RepoTags"] == ["cadenza/x:latest"]
    assert entry["Config"] == "blobs/sha256/" + image.manifest["config"]["digest"].split(":")[1]
