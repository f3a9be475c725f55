"""deploy --profile dataflow: the dry run's job request, and the checks made before it."""

import json

import attrs
import pytest

from cadenza.core import ConfigError, parse_job_config
from cadenza.devtools.dataflow_deploy import (
    DeployError,
    container_images,
    dataflow_profile,
    find_credentials,
    job_graph,
    pipeline_path,
    submit,
    worker_image,
    write_dataflow_request,
)
from cadenza.devtools.emulators import write_fake_credentials
from cadenza.runtime import JobLogic, Result

IMAGE = "europe-docker.pkg.dev/cadenza-test/jobs/tiny:1"
BEAM_SDK = "apache/beam_python3.11_sdk@sha256:" + "ab" * 32


class Tiny(JobLogic):
    def process(self, ctx):
        return Result(outputs={"report": {"id": ctx.message.element}})


def tiny_config(tmp_path, *, image=IMAGE, streaming=False):
    events = (
        "{type: gcs_notification, bucket: uploads, prefix: new/}"
        if streaming
        else f"{{type: listing, location: {tmp_path / 'in'}}}"
    )
    image_line = f"\n    sdk_container_image: {image}" if image else ""
    return parse_job_config(
        f"""
job_name: tiny
events:
  inputs: [{events}]
data:
  inputs: [{{name: audio, location: "gs://cadenza-test-data/in"}}]
  outputs: [{{name: report, location: "gs://cadenza-test-data/out", suffix: .json}}]
profiles:
  local: {{runner: local}}
  dataflow:
    runner: dataflow
    project: cadenza-test
    region: europe-west1
    temp_location: gs://cadenza-test-temp/tmp
    sdk_base_image: {BEAM_SDK}{image_line}
    options: {{max_num_workers: 3}}
""",
        env={},
    )


def test_the_dry_run_writes_the_complete_dataflow_request(tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("a", "b"):
        (tmp_path / "in" / f"{name}.wav").write_bytes(b"x")
    output = tmp_path / "request.json"
    request = write_dataflow_request(tiny_config(tmp_path), Tiny(), output)
    assert json.loads(output.read_text()) == request
    assert request["type"] == "JOB_TYPE_BATCH"
    assert request["name"] == "cadenza-tiny"
    (pool,) = request["environment"]["workerPools"]
    images = {c["containerImage"] for c in pool["sdkHarnessContainerImages"]}
    assert images == {IMAGE}
    options = request["environment"]["sdkPipelineOptions"]["options"]
    assert options["project"] == "cadenza-test"
    assert options["region"] == "europe-west1"
    assert options["temp_location"].startswith("gs://cadenza-test-temp/tmp")
    assert options["sdk_container_image"] == IMAGE
    assert options["max_num_workers"] == 3
    assert options["job_name"] == "cadenza-tiny"
    # The job graph Beam staged for Dataflow: the lifecycle's steps in order, on the image.
    graph = job_graph(pipeline_path(output))
    steps = [n.split("/")[1] for n in graph if n.startswith("Lifecycle/") and n.count("/") == 1]
    assert steps[:7] == [
        "Decode",
        "Recipients",
        "Ping",
        "SkipExisting",
        "RequireInputs",
        "Logic",
        "Write",
    ]
    assert "Record" in graph  # outcomes, children's events and dead letters
    assert container_images(pipeline_path(output)) == {IMAGE}


def test_without_an_image_or_a_pushed_one_it_names_both_ways_to_give_one(tmp_path):
    with pytest.raises(
        DeployError,
        match=r"profiles\.dataflow\.sdk_container_image is not set and nothing was pushed.*"
        r"bazel run //jobs/tiny:image_dataflow_push",
    ):
        worker_image(tiny_config(tmp_path, image=None), "dataflow", tmp_path / "images")


def test_the_image_pushed_under_the_jobs_folder_name_is_found(tmp_path):
    config = attrs.evolve(tiny_config(tmp_path, image=None), job_name="tiny-job")
    with pytest.raises(DeployError, match=r"no tiny_job-dataflow\.json .* //jobs/tiny_job:"):
        worker_image(config, "dataflow", tmp_path / "images")
    (tmp_path / "images").mkdir()
    pushed = {
        "reference": "registry/tiny_job-dataflow@sha256:1",
        "base_digest": "sha256:" + "ab" * 32,
    }
    (tmp_path / "images" / "tiny_job-dataflow.json").write_text(json.dumps(pushed))
    assert worker_image(config, "dataflow", tmp_path / "images") == pushed["reference"]


def test_a_base_image_not_pinned_by_digest_is_a_config_error(tmp_path):
    with pytest.raises(
        ConfigError, match=r"profiles\.dataflow\.sdk_base_image.*pin the image by digest"
    ):
        parse_job_config(
            "job_name: tiny\nprofiles:\n  dataflow: {runner: dataflow, project: p, region: r,"
            " temp_location: gs://tmp-bkt/x, sdk_base_image: apache/beam_python3.11_sdk:2.77.0}\n",
            env={},
        )


def test_streaming_jobs_are_refused_with_the_reason(tmp_path):
    with pytest.raises(DeployError, match="streams on the local runner only"):
        dataflow_profile(tiny_config(tmp_path, streaming=True), "dataflow")


def test_without_credentials_it_stops_before_creating_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv(
        "GOOGLE_APPLICATION_CREDENTIALS", str(write_fake_credentials(tmp_path / "fake.json"))
    )
    assert find_credentials() is None
    with pytest.raises(DeployError, match=r"no Google credentials.*nothing was created"):
        submit(tiny_config(tmp_path), Tiny())
    real = tmp_path / "gcloud" / "application_default_credentials.json"
    real.parent.mkdir()
    real.write_text(json.dumps({"type": "authorized_user", "client_id": "x.apps"}))
    assert find_credentials() == real
