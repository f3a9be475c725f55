"""normalize: the DAG's first job, turning every upload into one canonical audio file.

    bazel run //jobs/normalize                 # .cadenza/uploads -> .cadenza/out/normalize
    NORMALIZE_INPUT=DIR NORMALIZE_OUTPUT=OUT bazel run //jobs/normalize

The runtime lists the upload folder, runs `Normalize` on each file through the message
lifecycle, writes `<file>.flac` and `<file>.json` with provenance, dead-letters files
that cannot be decoded (with the reason), and prints a summary; then this shows what
the job wrote: each file's source and canonical properties.
"""

from __future__ import annotations

import pathlib
import sys

from rich.markup import escape
from rich.table import Table

from cadenza.runtime.cli import run_job_cli
from cadenza.runtime.outputs import json_outputs
from jobs.normalize.logic import Normalize

CONFIG = pathlib.Path(__file__).with_name("job.yaml")


def show(run, console) -> None:
    """A table of the normalised files: what came in, what was written."""
    location = next(d.location for d in run.config.data.outputs if d.name == "report")
    rows = json_outputs(location, required_key="canonical", sort_by="file")
    table = Table(title=f"normalize: {len(rows)} canonical file(s)")
    for column in ("file", "source", "rate", "channels", "duration (s)", "gain (dB)", "peak"):
        table.add_column(column, justify="left" if column in ("file", "source") else "right")
    for row in rows:
        source, canonical = row["source"], row["canonical"]
        peak = canonical["peak_dbfs"]
        table.add_row(
            escape(row["file"]),
            f"{source['codec']} ({source['decoder']})",
            f"{source['sample_rate']:,d} -> {canonical['sample_rate']:,d}",
            f"{source['channels']}",
            f"{canonical['duration_s']:.2f}",
            f"{canonical['gain_db']:+.2f}",
            "silent" if peak is None else f"{peak:.2f} dBFS",
        )
    console.print(table)
    console.print(f"canonical FLAC and reports: {escape(location)}/", soft_wrap=True)


def main(argv=None) -> int:
    return run_job_cli(Normalize(), CONFIG, argv, after=show)


if __name__ == "__main__":
    sys.exit(main())
