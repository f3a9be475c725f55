"""Runner profiles: the job config's `profiles` section as Beam pipeline options.

- `local`: Beam's embedded FnApiRunner (named outright: `DirectRunner` would first try
  to download the Prism runner, which fails offline), as `local_runner.LocalRunner`,
  whose `--direct_running_mode=multi_processing` workers start as this interpreter did.
- `dask`: Beam's DaskRunner on the `dask.distributed` scheduler at `scheduler`, one
  element per partition (`--dask_partition_size=1`) unless the options say otherwise:
  a media element is heavy work, and the runner's default of 128 elements per
  partition put a whole small batch on one worker.
- `dataflow`: Google Cloud Dataflow in `project`/`region`, staging to `temp_location`,
  workers running `sdk_container_image` when given.

A profile's `options` become `--key=value` flags; `extra_args` (the command line) win.
Every flag must be one Beam knows: Beam itself only logs "Discarding unparseable args"
and runs without a mistyped option, so a typo (`--direct_num_worker=2`) is refused
here, with Beam's closest option named.

Streaming jobs (a Pub/Sub or upload-notification event input) run on the `local`
profile only, on Beam's bundle-based DirectRunner with `--streaming` (the FnApiRunner
does not stream); see cadenza.runtime.streaming.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from cadenza.core import ConfigError, JobConfig

LOCAL_RUNNER = "cadenza.runtime.local_runner.LocalRunner"
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
DATAFLOW_RUNNER = "DataflowRunner"
STREAMING_LOCAL_RUNNER = "apache_beam.runners.direct.direct_runner.BundleBasedDirectRunner"


# the modules that define a runner's own options (Beam registers an options class when
# its module is imported)
RUNNER_OPTIONS_MODULES = {"dask": "apache_beam.runners.dask.dask_runner"}


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
    """Beam's options for a batch run on the profile, `extra_args` last (see
    `checked_options`)."""
    return checked_options(config, profile_name, profile_args(config, profile_name), extra_args)


def checked_options(
    config: JobConfig, profile_name: str, profile_flags: Sequence[str], extra_args: Sequence[str]
) -> PipelineOptions:
    """PipelineOptions from a profile's flags and the command line's; a flag Beam does
    not know, or a value it cannot parse, is a ConfigError naming where it came from."""
    check_flags(config, profile_name, f"profiles.{profile_name}.options", profile_flags)
    check_flags(config, profile_name, "the command line", extra_args)
    return PipelineOptions([*profile_flags, *extra_args])


def check_flags(
    config: JobConfig,
    profile_name: str,
    where: str,
    flags: Sequence[str],
    own_flags: Sequence[str] = (),
) -> None:
    """Refuses (ConfigError) a flag that is not one of Beam's options for the profile's
    runner, naming the closest of those and of `own_flags` (a command's own options).
    On Dataflow, Beam hands options it does not know to the service and the workers:
    only their values are checked there."""
    runner = config.profile(profile_name).runner
    for name, module in RUNNER_OPTIONS_MODULES.items():
        if runner == name or any(name in flag.lower() for flag in flags):  # --runner=Dask...
            importlib.import_module(module)
    parser = _beam_parser()

    def refuse(message: str):
        raise ConfigError(f"{config.job_name}: {where}: {message}")

    parser.error = refuse  # a value Beam cannot parse (argparse would exit)
    _, unknown = parser.parse_known_args(list(flags))
    if not unknown or runner == "dataflow":
        return
    known = [flag for action in parser._actions for flag in action.option_strings]
    problems = []
    for arg in unknown:
        if not arg.startswith("--"):
            problems.append(f"{arg!r} is not an option (options start with --)")
            continue
        name = arg.split("=", 1)[0]
        close = difflib.get_close_matches(name, [*own_flags, *known], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{name} is not an option of the job or of Beam{hint}")
    refuse("; ".join(problems))


def _beam_parser() -> argparse.ArgumentParser:
    """The parser Beam reads its options with, every registered options class's flags."""
    parsers = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=parsers.append)
    return parsers[0]


def image_digest(options: PipelineOptions) -> str | None:
    """The digest of the workers' image: `--sdk_container_image` when pinned by digest
    (NAME@sha256:...), as Dataflow deploys run it; else None."""
    from apache_beam.options.pipeline_options import WorkerOptions

    image = options.view_as(WorkerOptions).sdk_container_image or ""
    _, at, digest = image.partition("@")
    return digest if at and digest.startswith("sha256:") else None
