"""Reading back what a job wrote: for the tables jobs print after a run, and for tests."""

from __future__ import annotations

import json

from apache_beam.io.filesystems import FileSystems

from cadenza.runtime.storage import PROVENANCE_SUFFIX


def json_outputs(location: str, *, required_key: str, sort_by: str) -> list[dict]:
    """The JSON documents directly under `location` (any Beam path) that hold `required_key`,
    sorted by `sort_by`; provenance sidecars, and other JSON files sharing the folder, are
    left out."""
    (matched,) = FileSystems.match([f"{location.rstrip('/')}/*.json"])
    found = []
    for meta in matched.metadata_list:
        if meta.path.endswith(PROVENANCE_SUFFIX):
            continue
        with FileSystems.open(meta.path) as handle:
            document = json.loads(handle.read())
        if isinstance(document, dict) and required_key in document:
            found.append(document)
    return sorted(found, key=lambda d: str(d[sort_by]))
