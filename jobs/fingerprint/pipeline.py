"""fingerprint: the catalog's fingerprinting job, through the Cadenza runtime.

    bazel run //jobs/fingerprint        # .cadenza/out/normalize/*.flac -> .cadenza/out/fingerprint
    NORMALIZE_OUTPUT=DIR FINGERPRINT_OUTPUT=OUT FINGERPRINT_INDEX=IDX bazel run //jobs/fingerprint

It reads what its parent in the DAG, normalize, writes. The runtime lists that folder,
runs `Fingerprint` on each track through the message lifecycle, writes each report and
landmark artifact with provenance, dead-letters tracks that cannot be decoded (with the
reason), and prints a summary; then this shows what the job found: each track's hashes
and the catalog tracks it matches.
"""

from __future__ import annotations

import pathlib
import sys

from rich.markup import escape
from rich.table import Table

from cadenza.runtime.cli import run_job_cli
from cadenza.runtime.outputs import json_outputs
from jobs.fingerprint.logic import Fingerprint

CONFIG = pathlib.Path(__file__).with_name("job.yaml")


def show(run, console) -> None:
    """A table of the run's tracks and the catalog matches each one has."""
    location = next(d.location for d in run.config.data.outputs if d.name == "report")
    rows = json_outputs(location, required_key="track", sort_by="track")
    table = Table(title=f"fingerprint: {len(rows)} tracks in the catalog report")
    for column in ("track", "duration (s)", "hashes", "matches in the catalog"):
        table.add_column(column, justify="left" if column[0] in "tm" else "right", overflow="fold")
    for row in rows:
        matches = ", ".join(
            f"{m['track']} at {m['offset_s']:+.1f} s (score {m['score']:.0f})"
            for m in row["matches"]
        )
        table.add_row(
            escape(row["track"]),
            f"{row['duration_s']:.1f}",
            f"{row['hashes']:,d}",
            escape(matches) or "-",
        )
    console.print(table)
    index = escape(str(run.config.params.index))
    console.print(f"reports and landmarks: {escape(location)}/", soft_wrap=True)
    console.print(f"catalog index: {index}", soft_wrap=True)


def main(argv=None) -> int:
    return run_job_cli(Fingerprint(), CONFIG, argv, after=show)


if __name__ == "__main__":
    sys.exit(main())
