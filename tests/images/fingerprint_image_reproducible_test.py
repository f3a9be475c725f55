"""Reproducible images: a second build of //jobs/fingerprint:image, by another Bazel with
another output folder in another clone of the same commit, gives the same layer and
manifest digests as the image this test was given.

The second build runs Bazel itself (so this test runs outside the sandbox). It reuses the
first build's fetched @pypi (the locked wheels, installed) through --override_repository,
and the same cached base: what it checks is that nothing of where or when the build ran
reaches the image."""

import os
import pathlib
import shutil
import subprocess

import pytest

from cadenza_fixtures import runfiles_root
from tools.image.layout import Image

TARGET = "//jobs/fingerprint:image"


def source_workspace() -> pathlib.Path:
    return (runfiles_root() / "WORKSPACE").resolve().parent


def fetched_pypi() -> pathlib.Path:
    return (runfiles_root().parent / "pypi" / "lock_problems.txt").resolve().parent


def bases_root() -> pathlib.Path:
    return (
        (runfiles_root().parent / "image_bases" / "bases" / "python" / "index.json")
        .resolve()
        .parents[1]
    )


def git(*args: str, cwd: pathlib.Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def clone_with_working_tree(source: pathlib.Path, target: pathlib.Path) -> None:
    """A git clone of `source` with its uncommitted changes applied, so both trees build
    the same files and report the same revision (dirty or not)."""
    git("clone", "--quiet", "--no-hardlinks", str(source), str(target), cwd=source.parent)
    changed = git("diff", "--name-only", "HEAD", cwd=source).split()
    untracked = git("ls-files", "--others", "--exclude-standard", cwd=source).split()
    for name in changed + untracked:
        if (source / name).exists():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)
        else:
            (target / name).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def second_build(tmp_path_factory) -> Image:
    scratch = tmp_path_factory.mktemp("second-build")
    clone = scratch / "another-clone"
    clone_with_working_tree(source_workspace(), clone)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch / "home"),
        "CADENZA_IMAGE_BASES": str(bases_root()),
        "LANG": "C.UTF-8",
    }
    command = [
        "bazel",
        f"--output_user_root={scratch / 'bazel-root'}",
        "--batch",
        "build",
        "--noshow_progress",
        f"--override_repository=pypi={fetched_pypi()}",
        TARGET,
    ]
    try:
        result = subprocess.run(
            command, cwd=clone, env=env, capture_output=True, text=True, timeout=1500
        )
        assert result.returncode == 0, result.stderr[-4000:]
        layout = (clone / "bazel-bin" / "jobs" / "fingerprint" / "image.oci").resolve()
        assert str(layout).startswith(str(scratch / "bazel-root"))
        copy = scratch / "image.oci"
        shutil.copytree(layout, copy)
        yield Image.read(copy)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(scratch)], check=False)
        shutil.rmtree(scratch / "bazel-root", ignore_errors=True)


def test_a_second_build_elsewhere_gives_the_same_digests(second_build):
    first = Image.read(runfiles_root() / "jobs" / "fingerprint" / "image.oci")
    assert [layer["digest"] for layer in second_build.manifest["layers"]] == [
        layer["digest"] for layer in first.manifest["layers"]
    ]
    assert second_build.config == first.config
    assert second_build.manifest_digest == first.manifest_digest


def test_the_labels_say_what_was_built(second_build):
    labels = second_build.config["config"]["Labels"]
    revision = git("rev-parse", "HEAD", cwd=source_workspace()).strip()
    assert labels["dev.cadenza.git.revision"].split("-")[0] == revision
    assert labels["dev.cadenza.job"] == "fingerprint"
    assert labels["dev.cadenza.config.digest"].startswith("sha256:")
    assert labels["dev.cadenza.base.digest"] == Image.read(bases_root() / "python").manifest_digest
