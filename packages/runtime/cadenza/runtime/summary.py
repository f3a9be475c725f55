"""The table printed at the end of a batch run, read from the per-element records."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cadenza.runtime.batch import BatchRun


def print_summary(run: BatchRun, console: Console | None = None) -> None:
    console = console or Console()
    counts = run.counts()
    # paths and headings on lines of their own, never wrapped: they are copied and grepped
    console.print(
        f"[bold]{escape(f'{run.job}: {run.elements} element(s), run {run.run_id}')}[/bold]",
        soft_wrap=True,
    )
    table = Table()
    table.add_column("outcome")
    table.add_column("elements", justify="right")
    for outcome, n in counts.items():
        style = "red" if outcome.startswith("dead_letter") else None
        table.add_row(outcome, str(n), style=style)
    console.print(table)
    unrecorded = run.elements - sum(counts.values())
    if unrecorded > 0:  # storage events other than uploads end without a record
        console.print(
            f"{unrecorded} event(s) without an outcome: storage notifications that are not "
            "uploads (deletes, metadata changes) are ignored, and a message given twice "
            "is recorded once"
        )
    counted = {k: v for k, v in (run.counters or {}).items() if v}
    if counted:  # the runner's counters: what happened on the way
        console.print(escape("counters: " + ", ".join(f"{k} {v}" for k, v in counted.items())))
    dead = [r for r in run.outcomes() if r["outcome"].startswith("dead_letter")]
    for record in dead[:20]:
        text = escape(f"{record['element']}: {record['reason']}")  # user text, not markup
        console.print(f"[red]dead letter[/red] {text}")
    if len(dead) > 20:
        console.print(escape(f"... and {len(dead) - 20} more in {run.dead_letter_folder}"))
    console.print(escape(f"records: {run.folder}"), soft_wrap=True)
