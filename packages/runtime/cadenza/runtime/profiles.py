"""Runner profiles: the job config's `profiles` section as Beam pipeline options.

- `local`: Beam's embedded FnApiRunner (named outright: `DirectRunner` would first try
  to download the Prism runner, which fails offline).
- `dask`: Beam's DaskRunner on the `dask.distributed` scheduler at `scheduler`, one
  element per partition (`--dask_partition_size=1`) unless the options say otherwise:
  a media element is heavy work, and the runner's default of 128 elements per
  partition put a whole small batch on one worker.
- `dataflow`: Google Cloud Dataflow in `project`/`region`, staging to `temp_location`,
  workers running `sdk_container_image` when given.

A profile's `options` become `--key=value` flags; `extra_args` (the command line) win.

Streaming jobs (a Pub/Sub or upload-notification event input) run on the `local`
profile only, on Beam's bundle-based DirectRunner with `--streaming` (the FnApiRunner
does not stream); see cadenza.runtime.streaming.
"""

from __future__ import annotations

from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from cadenza.core import ConfigError, JobConfig

LOCAL_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
DATAFLOW_RUNNER = "DataflowRunner"
STREAMING_LOCAL_RUNNER = "apache_beam.runners.direct.direct_runner.BundleBasedDirectRunner"


def _flag(key: str, value) -> str:
    if value is True:
        return f"--{key}"
    return f"--{key}={value}"


def profile_args(config: JobConfig, profile_name: str) -> list[str]:
    """The Beam command-line flags for one of the job's profiles."""
    profile = config.profile(profile_name)
    if profile.runner == "local":
        args = [f"--runner={LOCAL_RUNNER}"]
    elif profile.runner == "dask":
        args = [f"--runner={DASK_RUNNER}", f"--dask_client_address={profile.scheduler}"]
        if not {"dask_npartitions", "dask_partition_size"} & set(profile.options):
            args.append("--dask_partition_size=1")
    else:
        args = [
            f"--runner={DATAFLOW_RUNNER}",
            f"--project={profile.project}",
            f"--region={profile.region}",
            f"--temp_location={profile.temp_location}",
            f"--job_name=cadenza-{config.job_name}",
        ]
        if profile.sdk_container_image:
            args.append(f"--sdk_container_image={profile.sdk_container_image}")
    return args + _option_flags(profile.options)


def _option_flags(options: dict) -> list[str]:
    return [_flag(key, value) for key, value in sorted(options.items()) if value is not False]


def streaming_profile_args(config: JobConfig, profile_name: str) -> list[str]:
    """The Beam flags for running the job's streaming form on one of its profiles."""
    profile = config.profile(profile_name)
    if profile.runner != "local":
        raise ConfigError(
            f"{config.job_name}: profiles.{profile_name}: streaming runs on the local runner "
            f"only; the {profile.runner} runner is not supported for streaming event inputs"
        )
    return [f"--runner={STREAMING_LOCAL_RUNNER}", "--streaming", *_option_flags(profile.options)]


def pipeline_options(
    config: JobConfig, profile_name: str, extra_args: Sequence[str] = ()
) -> PipelineOptions:
    return PipelineOptions([*profile_args(config, profile_name), *extra_args])
