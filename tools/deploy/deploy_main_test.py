"""The generated `:deploy` entry point, end to end on a small job in tmp: the local dry
run, the Dataflow dry run's request file, and the stop without credentials."""

import json

import pytest

from cadenza.core import load_job_config
from cadenza.core.dag import Dag
from tools.deploy import verify_main
from tools.deploy.deploy_main import main

JOB = (
    """\
job_name: tinyjob
events:
  inputs: [{type: listing, location: in}]
data:
  inputs: [{name: audio, location: "gs://cadenza-test-data/in"}]
  outputs: [{name: report, location: "gs://cadenza-test-data/out", suffix: .json}]
profiles:
  local: {runner: local}
  dataflow:
    runner: dataflow
    project: cadenza-test
    region: europe-west1
    temp_location: gs://cadenza-test-temp/tmp
    sdk_container_image: europe-docker.pkg.dev/cadenza-test/jobs/tinyjob:1
    sdk_base_image: apache/beam_python3.11_sdk@sha256:"""
    + "0" * 64
    + "\n"
)

PIPELINE = """\
from cadenza.runtime import JobLogic, Result


class Tiny(JobLogic):
    def process(self, ctx):
        return Result(outputs={"report": {"id": ctx.message.element}})
"""


@pytest.fixture
def job_args(tmp_path, monkeypatch):
    package = tmp_path / "code" / "tinyjob"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "pipeline.py").write_text(PIPELINE)
    config = package / "job.yaml"
    config.write_text(JOB)
    registry = tmp_path / "registry.json"
    registry.write_text(Dag.build([load_job_config(config, env={})]).to_json())
    (tmp_path / "in").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    monkeypatch.setenv("BUILD_WORKING_DIRECTORY", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return [
        "--job=tinyjob",
        f"--config={config}",
        "--module=tinyjob.pipeline",
        f"--registry={registry}",
    ]


def test_local_dry_run_prints_the_plan_and_starts_nothing(job_args, tmp_path, capsys):
    assert main([*job_args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "cadenza-tinyjob-out" in out and "no streaming event input" in out
    assert not (tmp_path / ".cadenza").exists()


def test_dataflow_dry_run_writes_the_request_where_it_says(job_args, tmp_path, capsys):
    assert main([*job_args, "--profile", "dataflow", "--dry-run"]) == 0
    path = tmp_path / ".cadenza" / "deploy" / "tinyjob" / "dataflow-request.json"
    assert str(path) in capsys.readouterr().out.replace("\n", "")
    request = json.loads(path.read_text())
    assert request["type"] == "JOB_TYPE_BATCH"
    (pool,) = request["environment"]["workerPools"]
    assert {c["containerImage"] for c in pool["sdkHarnessContainerImages"]} == {
        "europe-docker.pkg.dev/cadenza-test/jobs/tinyjob:1"
    }


def test_dataflow_without_credentials_stops_with_a_message(job_args, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    assert main([*job_args, "--profile", "dataflow"]) == 2
    assert "no Google credentials" in capsys.readouterr().out


def test_verify_prints_the_jobs_wiring(job_args, capsys):
    assert verify_main.main(job_args) == 0
    out = capsys.readouterr().out
    assert "ok tinyjob" in out and "cadenza-tinyjob-out" in out
