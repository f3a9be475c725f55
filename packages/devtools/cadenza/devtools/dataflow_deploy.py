"""`deploy --profile dataflow`: the job's batch form on Google Cloud Dataflow.

    request = write_dataflow_request(config, logic, pathlib.Path("request.json"))
    code = deploy_dataflow(config, logic, profile="dataflow", console=console)

- Submitting needs Google credentials (GOOGLE_APPLICATION_CREDENTIALS, or gcloud's
  application-default credentials); without them it stops, with a message, before
  anything is created or staged. The profile must name `sdk_container_image` (the
  job's image): the workers run it.
- The dry run submits nothing and needs no credentials: Beam's DataflowRunner with
  `--template_location=<local file>` writes the complete Dataflow job request (job
  type, worker pools with the SDK container image, pipeline options) to that file.
  It stages to `temp_location`'s bucket, which is served meanwhile by a throwaway
  fake-gcs-server (STORAGE_EMULATOR_HOST) with fake credentials (ENVIRONMENT.md).
- Streaming jobs: the runtime streams on the local runner only (its ack-after-output
  Pub/Sub read is a DirectRunner evaluator), so they are refused here.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from collections.abc import Mapping, Sequence

from cadenza.core import ConfigError, JobConfig
from cadenza.devtools.emulators import (
    FAKE_CREDENTIALS,
    StorageEmulator,
    apply_env,
    restore_env,
    write_fake_credentials,
)
from cadenza.runtime.streaming import is_streaming


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


def dataflow_profile(config: JobConfig, profile: str):
    """The profile, checked: a dataflow runner with an SDK container image."""
    chosen = config.profile(profile)
    if chosen.runner != "dataflow":
        raise DeployError(
            f"{config.job_name}: profiles.{profile}.runner is {chosen.runner!r}, not 'dataflow'"
        )
    if not chosen.sdk_container_image:
        raise DeployError(
            f"{config.job_name}: profiles.{profile}.sdk_container_image is not set: Dataflow "
            "workers run the job's container image; build and push it, then name it there"
        )
    if is_streaming(config):
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
) -> dict:
    """Writes the Dataflow job request for the job's batch form to `output`, submitting
    nothing (see the module docstring); returns it."""
    from google.cloud import storage

    from cadenza.runtime.batch import run_batch

    chosen = dataflow_profile(config, profile)
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
                    extra_args=[f"--template_location={output}", *extra_args],
                )
            finally:
                restore_env(previous)
    if not output.exists():
        raise DeployError(f"Beam wrote no Dataflow job request to {output}")
    return json.loads(output.read_text())


def submit(config: JobConfig, logic, *, profile: str = "dataflow", extra_args=()) -> None:
    """Submits the job's batch form to Dataflow (needs credentials) and waits for it."""
    from cadenza.runtime.batch import run_batch

    dataflow_profile(config, profile)
    credentials = find_credentials()
    if credentials is None:
        raise DeployError(
            "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service "
            "account key, or run `gcloud auth application-default login` (looked at "
            f"{adc_path(os.environ)}); nothing was created or staged"
        )
    run_batch(config, logic, profile=profile, extra_args=list(extra_args))


__all__ = [
    "DeployError",
    "adc_path",
    "dataflow_profile",
    "find_credentials",
    "submit",
    "write_dataflow_request",
]
