"""The DAG a deploy checks its job in: every job read the way this deploy reads its own.

The registry holds the configs with their `${VAR:-default}` defaults, and their
templates; a deploy reads its job with the real environment and its `--set` overrides.
`deploy_dag` reads every other job from its template with the same environment, so a
location an environment variable moves moves for parents and children alike, and the
whole DAG is checked again (names, upstreams, cycles, data links, Pub/Sub names).

`--set` overrides change the deployed job only, while its parents and children run
with settings of their own: the data links they break cannot be checked here, and come
back as notes; everything else must still hold.

    found = deploy_dag("registry.json", config, env=os.environ, overrides=["x.y=1"])
    found.dag, found.notes
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence

import attrs

from cadenza.core import Dag, DagError, JobConfig, parse_job_config
from cadenza.core.wiring_names import check_wiring_names
from cadenza.devtools.registry import read_registry, read_templates


@attrs.frozen
class DeployDag:
    """The DAG with the deployed job's config, and what could not be checked."""

    dag: Dag
    notes: tuple[str, ...] = ()


def deploy_dag(
    registry: str | pathlib.Path,
    config: JobConfig,
    *,
    env: Mapping[str, str],
    overrides: Sequence[str] = (),
) -> DeployDag:
    """The registry's DAG as this deploy sees it (see the module docstring); raises
    ConfigError or DagError."""
    templates = read_templates(registry)
    name = config.job_name

    def read(job: str, committed: JobConfig) -> JobConfig:
        if job not in templates:  # a registry written without templates
            return committed
        return parse_job_config(templates[job], source=f"{job} (registry)", env=env)

    others = [read(job, c) for job, c in read_registry(registry).jobs.items() if job != name]
    try:
        return DeployDag(_build([*others, config]))
    except DagError as error:
        if not overrides:
            raise DagError(f"with this environment: {error}") from None
        problem = error
    plain = read(name, config)  # the job as the environment alone makes it
    try:
        _build([*others, plain])
        structure = _build([*others, attrs.evolve(config, data=plain.data)])
    except DagError:
        raise DagError(f"with this environment and --set: {problem}") from None
    note = f"--set moves {name}'s data, so its links to other jobs are not checked: {problem}"
    return DeployDag(Dag({**structure.jobs, name: config}), notes=(note,))


def _build(configs: list[JobConfig]) -> Dag:
    dag = Dag.build(configs)
    check_wiring_names(dag)
    return dag


__all__ = ["DeployDag", "deploy_dag"]
