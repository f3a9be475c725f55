"""The generated `:deploy` entry point, end to end on a small job in tmp: the local dry
run, the Dataflow dry run's request file, the stop without credentials, the DAG read
with the deploy's environment and --set, and unknown options refused."""

import json

import pytest

from cadenza.core import load_job_config
from cadenza.core.dag import Dag
from cadenza.devtools import registry
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


# the same job streaming from uploads (what a local deploy runs)
STREAMING_JOB = JOB.replace(
    "inputs: [{type: listing, location: in}]",
    "inputs: [{type: gcs_notification, bucket: cadenza-test-data, prefix: in/}]",
)


@pytest.fixture
def job_args(tmp_path, monkeypatch):
    return write_job(tmp_path, monkeypatch, JOB)


@pytest.fixture
def streaming_job_args(tmp_path, monkeypatch):
    return write_job(tmp_path, monkeypatch, STREAMING_JOB)


def write_job(tmp_path, monkeypatch, text: str) -> list[str]:
    """The tiny job in tmp_path, and the deploy's arguments for it."""
    package = tmp_path / "code" / "tinyjob"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "pipeline.py").write_text(PIPELINE)
    config = package / "job.yaml"
    config.write_text(text)
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


def test_local_dry_run_prints_the_plan_and_starts_nothing(streaming_job_args, tmp_path, capsys):
    assert main([*streaming_job_args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "cadenza-tinyjob-out" in out and "dry run: nothing created" in out
    assert not (tmp_path / ".cadenza").exists()


def test_a_local_dry_run_of_a_batch_job_refuses_as_the_deploy_would(job_args, tmp_path, capsys):
    assert main([*job_args, "--dry-run"]) == 2
    assert "no streaming event input" in capsys.readouterr().out
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


PARENT = """\
job_name: parent
events:
  inputs: [{type: gcs_notification, bucket: "${UPLOADS:-ups}", prefix: new/}]
data:
  inputs: [{name: audio, location: "${PARENT_INPUT:-in}"}]
  outputs: [{name: audio, location: "${PARENT_OUTPUT:-out/parent}", suffix: .flac}]
"""

CHILD = """\
job_name: child
upstream: [parent]
data:
  inputs: [{name: audio, location: "${PARENT_OUTPUT:-out/parent}", suffix: .flac}]
  outputs: [{name: report, location: out/child, suffix: .json}]
"""


@pytest.fixture
def parent_args(job_args, tmp_path):
    """Deploy arguments for `parent`, whose child reads its outputs; the registry is
    written by cadenza.devtools.registry, as //jobs:registry writes it."""
    configs = []
    for name, text in {"parent": PARENT, "child": CHILD}.items():
        configs.append(tmp_path / "code" / "tinyjob" / f"{name}.yaml")
        configs[-1].write_text(text)
    registry_path = tmp_path / "dag-registry.json"
    assert registry.main(["--output", str(registry_path), *map(str, configs)]) == 0
    return ["--job=parent", f"--config={configs[0]}", "--module=tinyjob.pipeline",
            f"--registry={registry_path}"]  # fmt: skip


def test_locations_moved_by_the_environment_move_for_every_job(parent_args, monkeypatch, capsys):
    monkeypatch.setenv("PARENT_INPUT", "gs://ups")
    monkeypatch.setenv("PARENT_OUTPUT", "gs://data/parent")
    assert main([*parent_args, "--dry-run"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "dry run: nothing created" in out and "note:" not in out


def test_an_environment_that_breaks_the_dag_is_refused(parent_args, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "code" / "tinyjob"
    (folder / "child.yaml").write_text(CHILD.replace("PARENT_OUTPUT", "CHILD_INPUT"))
    configs = [str(folder / "parent.yaml"), str(folder / "child.yaml")]
    assert registry.main(["--output", str(tmp_path / "dag-registry.json"), *configs]) == 0
    monkeypatch.setenv("PARENT_OUTPUT", "gs://data/parent")
    assert main([*parent_args, "--dry-run"]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "with this environment: child: data.inputs (out/parent/*.flac) read none" in out


def test_locations_moved_by_set_deploy_with_a_note(parent_args, tmp_path, capsys):
    moved = [
        "--set", "data.inputs[0].location=gs://ups",
        "--set", "data.outputs[0].location=gs://data/parent",
    ]  # fmt: skip
    assert main([*parent_args, *moved, "--dry-run"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "note: --set moves parent's data" in out and "dry run: nothing created" in out
    assert not (tmp_path / ".cadenza").exists()
    assert main([*parent_args, "--set", "upstream=[nobody]", "--dry-run"]) == 2
    assert "no job named 'nobody'" in capsys.readouterr().out


@pytest.mark.parametrize("typo", ["--dryrun", "--dry_run", "--profil=local"])
def test_an_unknown_option_is_refused_and_nothing_is_deployed(job_args, tmp_path, typo, capsys):
    assert main([*job_args, typo]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"unknown option {typo}" in out and "nothing was deployed" in out
    assert "did you mean --" in out
    assert not (tmp_path / ".cadenza").exists()


def test_flags_after_a_double_dash_go_to_the_job(streaming_job_args, capsys):
    assert main([*streaming_job_args, "--dry-run", "--", "--direct_num_workers=2"]) == 0
    assert "--direct_num_workers=2" in capsys.readouterr().out.replace("\n", "")
