"""Pub/Sub resource names: short names in job configs, full paths for the clients.

A short name is completed with the project (`projects/<project>/topics/<name>`); a
full path is taken as it is. The project is the profile's `project`, else
$GOOGLE_CLOUD_PROJECT.
"""

from __future__ import annotations

import os

from cadenza.core import ConfigError, JobConfig


class NoProjectError(ConfigError):
    """A Pub/Sub name needs a project and none is configured."""


def project_for(config: JobConfig, profile_name: str) -> str:
    """The Pub/Sub project: the profile's `project`, else $GOOGLE_CLOUD_PROJECT."""
    profile = config.profiles.get(profile_name)
    project = (profile.project if profile else None) or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        raise NoProjectError(
            f"{config.job_name}: no Pub/Sub project: set profiles.{profile_name}.project "
            "or GOOGLE_CLOUD_PROJECT"
        )
    return project


def full_path(kind: str, name: str, project: str) -> str:
    """`projects/<project>/<kind>/<name>` for a short name; a full path as it is.

    >>> full_path("topics", "done", "p"), full_path("topics", "projects/q/topics/t", "p")
    ('projects/p/topics/done', 'projects/q/topics/t')
    """
    return name if name.startswith("projects/") else f"projects/{project}/{kind}/{name}"
