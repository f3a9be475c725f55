"""A config loaded without an environment keeps its `${VAR}` templates (what the DAG
registry checks); a run needs them filled. `require_filled` refuses a config that still
holds one, naming where.

>>> from cadenza.core import parse_job_config
>>> text = "job_name: demo\\ndata: {inputs: [{name: a, location: '${WORK}/in'}]}"
>>> unfilled_templates(parse_job_config(text))
[('data.inputs[0].location', '${WORK}/in')]
>>> unfilled_templates(parse_job_config(text, env={"WORK": "/tmp/w"}))
[]
"""

from __future__ import annotations

import attrs

from cadenza.core import ConfigError, JobConfig
from cadenza.core.config import PLACEHOLDER


def unfilled_templates(config: JobConfig) -> list[tuple[str, str]]:
    """(dotted key, value) of every text in the config that still holds a `${VAR}`."""
    found: list[tuple[str, str]] = []
    _walk(config, "", found)
    return found


def _walk(value, path: str, found: list) -> None:
    if isinstance(value, str):
        if PLACEHOLDER.search(value):
            found.append((path, value))
    elif attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            _walk(getattr(value, field.name), f"{path}.{field.name}".lstrip("."), found)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{path}.{key}".lstrip("."), found)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", found)


def require_filled(config: JobConfig) -> None:
    """Raises ConfigError when the config still holds `${VAR}` templates."""
    unfilled = unfilled_templates(config)
    if unfilled:
        shown = ", ".join(f"{key}: {value!r}" for key, value in unfilled[:3])
        more = f" and {len(unfilled) - 3} more" if len(unfilled) > 3 else ""
        raise ConfigError(
            f"{config.job_name}: the config still holds ${{VAR}} templates ({shown}{more}): "
            "load it with an environment, e.g. load_job_config(path, env=os.environ)"
        )
