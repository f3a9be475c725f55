"""A job's image: a base image's layers, then the job's own layers, and one config.

The config keeps the base's environment and adds the job's; it names the entry point,
and carries labels saying what was built (job, git revision, config digest, base
digest). It has no creation time, so building the same inputs twice gives the same
manifest digest.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

from tools.image.layout import (
    CONFIG_TYPE,
    LAYER_TYPE,
    MANIFEST_TYPE,
    Image,
    LayoutWriter,
    canonical_json,
)

LABEL_PREFIX = "dev.cadenza."


@dataclass(frozen=True)
class BuiltLayer:
    """A layer tar built earlier (tools/image/layer.py) and what it holds."""

    tar: pathlib.Path
    digest: str
    comment: str


@dataclass(frozen=True)
class ImageSettings:
    """What the job's image runs and says about itself."""

    ref_name: str
    entrypoint: list[str] | None  # None: keep the base's (Beam's boot program on Dataflow)
    cmd: list[str] | None
    env: dict[str, str]
    working_dir: str
    labels: dict[str, str]


def git_revision(stable_status: str) -> str:
    """STABLE_GIT_REVISION from Bazel's stable-status.txt ("unknown" when absent)."""
    for line in stable_status.splitlines():
        key, _, value = line.partition(" ")
        if key == "STABLE_GIT_REVISION" and value.strip():
            return value.strip()
    return "unknown"


def _merged_env(base_env: list[str], env: dict[str, str]) -> list[str]:
    merged = dict(item.split("=", 1) for item in base_env)
    merged.update(env)
    return [f"{key}={value}" for key, value in merged.items()]


def assemble(
    base: Image, layers: list[BuiltLayer], settings: ImageSettings, out: pathlib.Path
) -> str:
    """Write the image to the layout folder `out`; returns the manifest digest."""
    writer = LayoutWriter(out)
    descriptors = []
    for layer, path in zip(base.manifest["layers"], base.layer_paths(), strict=True):
        descriptors.append(writer.add_file(path, layer["mediaType"], layer["digest"]))
    for layer in layers:
        descriptors.append(writer.add_file(layer.tar, LAYER_TYPE, layer.digest))

    base_config = base.config.get("config", {})
    labels = dict(base_config.get("Labels") or {})
    labels.update(settings.labels)
    labels[LABEL_PREFIX + "base.digest"] = base.manifest_digest
    config = {
        "architecture": base.config.get("architecture", "amd64"),
        "os": base.config.get("os", "linux"),
        "config": {
            "Env": _merged_env(base_config.get("Env", []), settings.env),
            "Entrypoint": base_config.get("Entrypoint")
            if settings.entrypoint is None
            else settings.entrypoint,
            "Cmd": base_config.get("Cmd") if settings.cmd is None else settings.cmd,
            "WorkingDir": settings.working_dir or base_config.get("WorkingDir", ""),
            "Labels": labels,
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": list(base.config["rootfs"]["diff_ids"])
            + [layer.digest for layer in layers],
        },
        "history": list(base.config.get("history", []))
        + [{"created_by": layer.comment} for layer in layers],
    }
    config_descriptor = writer.add_bytes(canonical_json(config), CONFIG_TYPE)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config_descriptor,
        "layers": descriptors,
        "annotations": {
            "org.opencontainers.image.revision": labels.get(LABEL_PREFIX + "git.revision", "")
        },
    }
    return writer.finish(manifest, settings.ref_name)


def read_settings(path: pathlib.Path) -> ImageSettings:
    return ImageSettings(**json.loads(pathlib.Path(path).read_text()))
