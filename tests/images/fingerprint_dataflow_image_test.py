"""The Dataflow path, offline: the fingerprint job's Dataflow image is built on Beam's SDK
image imported by digest, keeps that image's entry point, is pushed to a real registry,
and `deploy --profile dataflow --dry-run` puts exactly the pushed image in the workers'
pool of the Dataflow job request.

Beam's real SDK image cannot be pulled here, so a small stand-in plays it: an image with
Beam's entry point (/opt/apache/beam/boot), pushed to the local registry and imported
from there by digest, the way the real one is imported from Docker Hub."""

import json
import pathlib
import shutil
import subprocess

import pytest

from cadenza.core import parse_job_config
from cadenza.devtools.dataflow_deploy import DeployError, write_dataflow_request
from cadenza.devtools.image_registry import ImageRegistry
from cadenza.runtime import JobLogic, Result
from tests.images.nested_build import build_in_another_clone, remove_output_root
from tools.image import base, push
from tools.image.layer import collect, write_layer
from tools.image.layout import Image, write_single_layer_image

BEAM_BOOT = ["/opt/apache/beam/boot"]


def stand_in_beam_image(work: pathlib.Path) -> pathlib.Path:
    """A one-layer image with Beam's entry point and a boot script, as an OCI layout."""
    (work / "boot").mkdir(parents=True)
    (work / "boot" / "boot").write_text("#!/bin/sh\necho 'stand-in for the Beam boot program'\n")
    write_layer(collect([(str(work / "boot"), "opt/apache/beam")]), work / "layer.tar")
    config = {
        "config": {
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
            "Entrypoint": BEAM_BOOT,
            "WorkingDir": "/",
        }
    }
    created_by = "stand-in for apache/beam_python3.11_sdk"
    write_single_layer_image(work / "layout", work / "layer.tar", config, created_by, "stand-in")
    return work / "layout"


class Noop(JobLogic):
    def process(self, ctx):
        return Result(outputs={"report": {"id": ctx.message.element}})


def dataflow_config(tmp_path: pathlib.Path, sdk_base_image: str):
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "in" / "track.flac").write_bytes(b"x")
    return parse_job_config(
        f"""
job_name: fingerprint
events:
  inputs: [{{type: listing, location: {tmp_path / "in"}}}]
data:
  inputs: [{{name: audio, location: "gs://cadenza-test-data/in"}}]
  outputs: [{{name: report, location: "gs://cadenza-test-data/out", suffix: .json}}]
profiles:
  dataflow:
    runner: dataflow
    project: cadenza-test
    region: europe-west1
    temp_location: gs://cadenza-test-temp/tmp
    sdk_base_image: {sdk_base_image}
""",
        env={},
    )


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    """The stand-in base imported by digest, the Dataflow image built on it by a second
    Bazel, and pushed: (registry, base digest, built image, push record folder)."""
    scratch = tmp_path_factory.mktemp("dataflow")
    with ImageRegistry(scratch / "registry", port=None) as registry:
        stand_in = stand_in_beam_image(scratch / "stand-in")
        beam_repo = f"{registry.host}/apache/beam_python3.11_sdk"
        subprocess.run(
            ["skopeo", "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
             f"oci:{stand_in}", f"docker://{beam_repo}:stand-in"],
            check=True,
        )  # fmt: skip
        digest = Image.read(stand_in).manifest_digest
        bases = scratch / "bases"
        base.import_base("beam-sdk", f"docker://{beam_repo}@{digest}", bases, insecure=True)
        try:
            clone = build_in_another_clone(scratch, "//jobs/fingerprint:image_dataflow", bases)
            layout = scratch / "image_dataflow.oci"
            shutil.copytree(
                clone / "bazel-bin" / "jobs" / "fingerprint" / "image_dataflow.oci", layout
            )
        finally:
            remove_output_root(scratch)
        workspace = scratch / "workspace"
        with pytest.MonkeyPatch.context() as env:
            env.setenv("BUILD_WORKING_DIRECTORY", str(workspace))
            arguments = ["--name", "fingerprint-dataflow", "--layout", str(layout)]
            assert push.main([*arguments, "--registry", f"{registry.host}/jobs"]) == 0
        yield registry, digest, Image.read(layout), workspace / ".cadenza" / "images"


def test_the_dataflow_image_keeps_beams_entry_point_and_adds_the_jobs_layers(pushed):
    _registry, digest, image, _images = pushed
    config = image.config["config"]
    assert config["Entrypoint"] == BEAM_BOOT
    assert config["Labels"]["dev.cadenza.base.digest"] == digest
    assert config["Labels"]["dev.cadenza.base.name"] == "beam-sdk"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PYTHONPATH"].startswith("/opt/cadenza/site:")
    assert env["CADENZA_JOB_MODULE"] == "jobs.fingerprint.pipeline"
    comments = [h["created_by"] for h in image.config["history"]]
    assert comments[0] == "stand-in for apache/beam_python3.11_sdk"
    assert comments[1:] == [
        "third-party: //third_party/images:beam_librosa",
        "cadenza packages: audio, core, runtime",
        "job: fingerprint",
    ]


def test_the_dry_run_request_runs_the_pushed_image(pushed, tmp_path):
    registry, digest, image, images = pushed
    record = json.loads((images / "fingerprint-dataflow.json").read_text())
    assert (
        record["reference"] == f"{registry.host}/jobs/fingerprint-dataflow@{image.manifest_digest}"
    )
    config = dataflow_config(tmp_path, f"apache/beam_python3.11_sdk@{digest}")
    request = write_dataflow_request(config, Noop(), tmp_path / "request.json", images_dir=images)
    (pool,) = request["environment"]["workerPools"]
    assert {c["containerImage"] for c in pool["sdkHarnessContainerImages"]} == {record["reference"]}
    assert (
        request["environment"]["sdkPipelineOptions"]["options"]["sdk_container_image"]
        == record["reference"]
    )


def test_an_image_built_on_another_base_or_no_base_digest_stops_the_deploy(pushed, tmp_path):
    _registry, _digest, _image, images = pushed
    other = "apache/beam_python3.11_sdk@sha256:" + "0" * 64
    with pytest.raises(DeployError, match=r"is built on sha256:.*rebuild and push it"):
        write_dataflow_request(
            dataflow_config(tmp_path, other), Noop(), tmp_path / "r.json", images_dir=images
        )
    no_base = parse_job_config(
        f"""
job_name: fingerprint
events:
  inputs: [{{type: listing, location: {tmp_path}}}]
profiles:
  dataflow: {{runner: dataflow, project: p, region: r, temp_location: "gs://tmp-bkt/tmp"}}
""",
        env={},
    )
    with pytest.raises(
        DeployError, match=r"sdk_base_image is not set.*apache/beam_python3\.11_sdk"
    ):
        write_dataflow_request(no_base, Noop(), tmp_path / "r.json", images_dir=images)
    assert not (tmp_path / "r.json").exists()
