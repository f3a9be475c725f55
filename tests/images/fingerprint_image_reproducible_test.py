"""Reproducible images: a second build of //jobs/fingerprint:image, by another Bazel with
another output folder in another clone of the same commit, gives the same layer and
manifest digests as the image this test was given.

The second build runs Bazel itself (so this test runs outside the sandbox). It reuses the
first build's fetched @pypi (the locked wheels, installed) through --override_repository,
and the same cached base: what it checks is that nothing of where or when the build ran
reaches the image."""

import shutil

import pytest

from cadenza_fixtures import runfiles_root
from tests.images.nested_build import (
    bases_root,
    build_in_another_clone,
    git,
    remove_output_root,
    source_workspace,
)
from tools.image.layout import Image

TARGET = "//jobs/fingerprint:image"


@pytest.fixture(scope="module")
def second_build(tmp_path_factory) -> Image:
    scratch = tmp_path_factory.mktemp("second-build")
    try:
        clone = build_in_another_clone(scratch, TARGET, bases_root())
        layout = (clone / "bazel-bin" / "jobs" / "fingerprint" / "image.oci").resolve()
        assert str(layout).startswith(str(scratch / "bazel-root"))
        copy = scratch / "image.oci"
        shutil.copytree(layout, copy)
        yield Image.read(copy)
    finally:
        remove_output_root(scratch)


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
