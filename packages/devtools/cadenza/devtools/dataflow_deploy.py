"""`deploy --profile dataflow`: the job's batch form on Google Cloud Dataflow.

    request = write_dataflow_request(config, logic, pathlib.Path("request.json"))
    code = deploy_dataflow(config, logic, profile="dataflow", console=console)

- Submitting needs Google credentials (GOOGLE_APPLICATION_CREDENTIALS, or gcloud's
  application-default credentials); without them it stops, with a message, before
  anything is created or staged.
- The workers run the job's Dataflow image: Beam's Python SDK image, pinned by digest
  in the profile's `sdk_base_image` (without it deploying stops and says how to find
  the digest), with the job's layers on top (`//jobs/<job>:image_dataflow`). The image
  is the profile's `sdk_container_image` if set, else the one
  `bazel run //jobs/<job>:image_dataflow_push` recorded in .cadenza/images/, which
  must be built on that same base digest.
- The dry run submits nothing and needs no credentials: Beam's DataflowRunner with
  `--template_location=<local file>` writes the complete Dataflow job request (job
  type, worker pools with the SDK container image, pipeline options) to that file,
  and the job graph Beam staged for it (a Beam Pipeline protobuf) beside it.
  It stages to `temp_location`'s bucket, which is served meanwhile by a throwaway
  fake-gcs-server (STORAGE_EMULATOR_HOST) with fake credentials (ENVIRONMENT.md).
- Before submitting, the job's part of the DAG's wiring is applied on Google Cloud
  (`apply_cloud_wiring`): its Pub/Sub topics and subscriptions, and the bucket
  notifications of the buckets it watches, through the Cloud Storage API
  (gcs_notifications.py); a conflict or a missing external subscription stops the
  deploy before anything is submitted.
- Jobs that only stream are refused: the runtime streams on the local runner only (its
  ack-after-output Pub/Sub read is a DirectRunner evaluator). A job with batch inputs
  too runs those here.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile
from collections.abc import Mapping, Sequence

from cadenza.core import ConfigError, JobConfig
from cadenza.core.event_kinds import has_batch_input, is_streaming
from cadenza.devtools.emulators import (
    FAKE_CREDENTIALS,
    StorageEmulator,
    apply_env,
    restore_env,
    write_fake_credentials,
)
from cadenza.devtools.job_names import folder_name


class DeployError(ConfigError):
    """The job cannot be deployed to Dataflow as configured or from this machine."""


def adc_path(env: Mapping[str, str]) -> pathlib.Path:
    """Where `gcloud auth application-default login` writes its credentials."""
    config_dir = env.get("CLOUDSDK_CONFIG") or str(pathlib.Path.home() / ".config" / "gcloud")
    return pathlib.Path(config_dir) / "application_default_credentials.json"


def find_credentials(env: Mapping[str, str] = os.environ) -> pathlib.Path | None:
    """The Google credentials file a submission would use, or None (fake ones count as
    none: they only satisfy emulators)."""
    candidates = [env.get("GOOGLE_APPLICATION_CREDENTIALS"), str(adc_path(env))]
    for candidate in filter(None, candidates):
        path = pathlib.Path(candidate)
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if info.get("client_id") == FAKE_CREDENTIALS["client_id"] == info.get("client_secret"):
            continue
        return path
    return None


def beam_sdk_image_name() -> str:
    """Beam's Python SDK image for this interpreter and the locked Beam, by tag."""
    import apache_beam

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"apache/beam_python{python}_sdk:{apache_beam.__version__}"


def _check_base(config: JobConfig, profile: str, base: str | None) -> str:
    if not base:
        name = beam_sdk_image_name()
        raise DeployError(
            f"{config.job_name}: profiles.{profile}.sdk_base_image is not set: the job's "
            f"Dataflow image is built on Beam's Python SDK image ({name}), pinned by "
            "digest. Look the digest up where the registry answers (skopeo inspect --format "
            f"'{{{{.Digest}}}}' docker://{name}) and set sdk_base_image: "
            f"{name.split(':')[0]}@sha256:..."
        )
    return base.split("@", 1)[1]


def pushed_image(job: str, images_dir: pathlib.Path) -> dict | None:
    """What `:image_dataflow_push` recorded for the job (named by its folder or its
    job_name), or None."""
    for name in dict.fromkeys([folder_name(job), job]):
        try:
            return json.loads((pathlib.Path(images_dir) / f"{name}-dataflow.json").read_text())
        except FileNotFoundError:
            continue
    return None


def worker_image(config: JobConfig, profile: str, images_dir: pathlib.Path) -> str:
    """The image Dataflow workers run (see the module docstring); raises DeployError."""
    chosen = config.profile(profile)
    base_digest = _check_base(config, profile, chosen.sdk_base_image)
    if chosen.sdk_container_image:
        return chosen.sdk_container_image
    pushed = pushed_image(config.job_name, images_dir)
    if pushed is None:
        folder = folder_name(config.job_name)
        raise DeployError(
            f"{config.job_name}: no Dataflow image: profiles.{profile}.sdk_container_image "
            f"is not set and nothing was pushed (no {folder}-dataflow.json in "
            f"{images_dir}). Build and push it: bazel run "
            f"//jobs/{folder}:image_dataflow_push -- --registry HOST/PATH"
        )
    if pushed.get("base_digest") != base_digest:
        raise DeployError(
            f"{config.job_name}: the pushed image {pushed['reference']} is built on "
            f"{pushed.get('base_digest')}, but profiles.{profile}.sdk_base_image is "
            f"{chosen.sdk_base_image}: rebuild and push it (:image_dataflow_push)"
        )
    return pushed["reference"]


def dataflow_profile(config: JobConfig, profile: str):
    """The profile, checked: a dataflow runner, a pinned Beam SDK base, a batch job."""
    chosen = config.profile(profile)
    if chosen.runner != "dataflow":
        raise DeployError(
            f"{config.job_name}: profiles.{profile}.runner is {chosen.runner!r}, not 'dataflow'"
        )
    _check_base(config, profile, chosen.sdk_base_image)
    if is_streaming(config) and not has_batch_input(config):
        raise DeployError(
            f"{config.job_name} streams (a pubsub or gcs_notification event input), and the "
            "runtime streams on the local runner only: Dataflow runs batch jobs here"
        )
    if not (chosen.temp_location or "").startswith("gs://"):
        raise DeployError(
            f"{config.job_name}: profiles.{profile}.temp_location must be a gs:// location, "
            f"found {chosen.temp_location!r}"
        )
    return chosen


def _bucket(location: str) -> str:
    return location[len("gs://") :].split("/", 1)[0]


def write_dataflow_request(
    config: JobConfig,
    logic,
    output: pathlib.Path,
    *,
    profile: str = "dataflow",
    extra_args: Sequence[str] = (),
    elements=None,
    images_dir: pathlib.Path = pathlib.Path(".cadenza/images"),
) -> dict:
    """Writes the Dataflow job request for the job's batch form to `output`, submitting
    nothing (see the module docstring); returns it."""
    from google.cloud import storage

    from cadenza.runtime.batch import run_batch

    chosen = dataflow_profile(config, profile)
    image = worker_image(config, profile, images_dir)
    output = pathlib.Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="cadenza-dataflow-dry-run-") as tmp:
        state = pathlib.Path(tmp)
        credentials = write_fake_credentials(state / "credentials.json")
        with StorageEmulator(state) as gcs:
            previous = apply_env({**gcs.env(), "GOOGLE_APPLICATION_CREDENTIALS": str(credentials)})
            try:
                client = storage.Client(project=chosen.project)
                client.create_bucket(_bucket(chosen.temp_location))
                run_batch(
                    config,
                    logic,
                    profile=profile,
                    runs_root=str(state / "runs"),
                    elements=elements,
                    extra_args=[
                        f"--template_location={output}",
                        f"--sdk_container_image={image}",
                        *extra_args,
                    ],
                )
                _keep_staged_pipeline(client, chosen.temp_location, pipeline_path(output))
            finally:
                restore_env(previous)
    if not output.exists():
        raise DeployError(f"Beam wrote no Dataflow job request to {output}")
    return json.loads(output.read_text())


def pipeline_path(request: pathlib.Path) -> pathlib.Path:
    """Where the dry run keeps the job graph Beam staged for Dataflow (a Beam
    `Pipeline` protobuf) beside the request: `request.json` -> `request.pipeline.pb`."""
    return pathlib.Path(request).with_suffix(".pipeline.pb")


def _keep_staged_pipeline(client, temp_location: str, target: pathlib.Path) -> None:
    prefix = temp_location[len("gs://") :].split("/", 1)[1] if "/" in temp_location[5:] else ""
    staged = [
        blob
        for blob in client.list_blobs(_bucket(temp_location), prefix=prefix or None)
        if blob.name.endswith("/pipeline.pb")
    ]
    if len(staged) != 1:
        raise DeployError(f"Beam staged {len(staged)} pipeline.pb files under {temp_location}")
    target.write_bytes(staged[0].download_as_bytes())


def _staged_pipeline(path: pathlib.Path):
    from apache_beam.portability.api import beam_runner_api_pb2

    return beam_runner_api_pb2.Pipeline.FromString(pathlib.Path(path).read_bytes())


def job_graph(path: pathlib.Path) -> list[str]:
    """The transforms of a staged Beam pipeline in the order they were applied, each
    composite before its parts."""
    pipeline = _staged_pipeline(path)
    transforms = pipeline.components.transforms
    names: list[str] = []

    def visit(transform_id: str) -> None:
        transform = transforms[transform_id]
        names.append(transform.unique_name)
        for child in transform.subtransforms:
            visit(child)

    for root in pipeline.root_transform_ids:
        visit(root)
    return names


def container_images(path: pathlib.Path) -> set[str]:
    """The SDK container images a staged Beam pipeline's environments name."""
    from apache_beam.portability.api import beam_runner_api_pb2

    pipeline = _staged_pipeline(path)
    images = set()
    for environment in pipeline.components.environments.values():
        if environment.urn == "beam:env:docker:v1":
            payload = beam_runner_api_pb2.DockerPayload.FromString(environment.payload)
            images.add(payload.container_image)
    return images


def submit(
    config: JobConfig,
    logic,
    *,
    profile: str = "dataflow",
    extra_args=(),
    images_dir: pathlib.Path = pathlib.Path(".cadenza/images"),
    wiring=None,
    console=None,
) -> None:
    """Submits the job's batch form to Dataflow (needs credentials) and waits for it,
    after applying `wiring` (the job's `job_plan`) on Google Cloud."""
    from cadenza.runtime.batch import run_batch

    dataflow_profile(config, profile)
    image = worker_image(config, profile, images_dir)
    credentials = find_credentials()
    if credentials is None:
        raise DeployError(
            "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service "
            "account key, or run `gcloud auth application-default login` (looked at "
            f"{adc_path(os.environ)}); nothing was created or staged"
        )
    if wiring is not None:
        from cadenza.devtools.wiring_apply import problems, wiring_table
        from cadenza.runtime.pubsub_names import project_for

        rows = apply_cloud_wiring(wiring, project_for(config, profile))
        if console is not None:
            console.print(wiring_table(rows, f"wiring for {config.job_name} on Google Cloud"))
        stopping = problems(rows)
        if stopping:
            names = ", ".join(f"{r.kind} {r.name} ({r.status})" for r in stopping)
            raise DeployError(f"{config.job_name}: not submitted: the wiring has problems: {names}")
    run_batch(
        config,
        logic,
        profile=profile,
        extra_args=[f"--sdk_container_image={image}", *extra_args],
    )


def apply_cloud_wiring(plan, project: str, storage_client=None) -> list:
    """`plan` on Google Cloud (the emulator when PUBSUB_EMULATOR_HOST is set): Pub/Sub
    topics and subscriptions, then bucket notifications; one row per resource."""
    from cadenza.devtools.gcs_notifications import apply_notifications
    from cadenza.devtools.wiring_apply import apply_plan

    rows = [r for r in apply_plan(plan, project, local=False) if r.kind != "notification"]
    return rows + apply_notifications(plan, project, storage_client)


__all__ = [
    "DeployError",
    "adc_path",
    "apply_cloud_wiring",
    "beam_sdk_image_name",
    "container_images",
    "dataflow_profile",
    "find_credentials",
    "job_graph",
    "pipeline_path",
    "pushed_image",
    "submit",
    "worker_image",
    "write_dataflow_request",
]
