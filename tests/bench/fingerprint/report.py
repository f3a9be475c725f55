"""Summaries and the side-by-side table: rich in the terminal, Markdown and JSON on disk.

`summarize` turns one system's judged answers into per-cell numbers; `evaluation_json`
gathers every system with the corpus and build figures; `markdown` and `rich_tables`
render the same rows. Targets (from the issue) are checked for the first system, the
one under test; the last one is the baseline it must match or beat.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence

import numpy as np

from tests.bench.fingerprint.queries import NOT_INDEXED, Query, cells
from tests.bench.fingerprint.systems import BuildStats, QueryResult
from tests.bench.fingerprint.truth import FALSE_POSITIVE, HIT, WRONG, Judgement

# Minimum hit rates per (query length, condition); every cell must also be >= baseline's.
HIT_TARGETS = {
    (2.0, "clean"): 0.90,
    (5.0, "clean"): 0.99,
    (10.0, "clean"): 0.99,
    (5.0, "mp3_64k"): 0.99,
    (5.0, "noise_10db"): 0.90,
    (5.0, "noise_0db"): 0.50,
    (10.0, "noise_0db"): 0.70,
    (5.0, "speed_+2%"): 0.80,
    (5.0, "speed_-2%"): 0.80,
    (5.0, "phone"): 0.80,
}
MAX_FALSE_POSITIVE_RATE = 0.005
MAX_P95_5S_MS = 100.0
MAX_MB_PER_HOUR = 2.0


def summarize(
    queries: Sequence[Query], results: Sequence[QueryResult], judgements: Sequence[Judgement]
) -> list[dict]:
    """Per cell: queries, hits (and how many by the repeat rule), misses, wrong answers,
    false positives, and latency p50/p95 in milliseconds."""
    rows = []
    for cell in cells(queries):
        chosen = [i for i, q in enumerate(queries) if q.cell == cell]
        outcomes = [judgements[i].outcome for i in chosen]
        latencies = np.array([results[i].latency_s for i in chosen]) * 1000
        count = len(chosen)
        hits = outcomes.count(HIT)
        false_positives = outcomes.count(FALSE_POSITIVE)
        rows.append(
            {
                "length_s": cell[0],
                "condition": cell[1],
                "queries": count,
                "hits": hits,
                "hit_rate": hits / count if cell[1] != NOT_INDEXED else None,
                "hits_by_repeat": sum(
                    1
                    for i in chosen
                    if judgements[i].outcome == HIT and judgements[i].repeat_r is not None
                ),
                "wrong": outcomes.count(WRONG),
                "false_positives": false_positives,
                "false_positive_rate": false_positives / count if cell[1] == NOT_INDEXED else None,
                "latency_p50_ms": float(np.percentile(latencies, 50)),
                "latency_p95_ms": float(np.percentile(latencies, 95)),
            }
        )
    return rows


def notable(
    queries: Sequence[Query], results: Sequence[QueryResult], judgements: Sequence[Judgement]
) -> list[dict]:
    """The answers worth auditing: wrong ones, false positives and hits by the repeat rule."""
    rows = []
    for query, result, judgement in zip(queries, results, judgements, strict=True):
        if judgement.outcome in (WRONG, FALSE_POSITIVE) or judgement.repeat_r is not None:
            rows.append(
                {
                    "query": query.query_id,
                    "track": query.track_id,
                    "offset_s": round(query.offset_s, 3),
                    "answer": result.track,
                    "answer_offset_s": None
                    if result.offset_s is None
                    else round(result.offset_s, 3),
                    "score": result.score,
                    "outcome": judgement.outcome,
                    "repeat_r": None
                    if judgement.repeat_r is None
                    else round(judgement.repeat_r, 3),
                }
            )
    return rows


def evaluation_json(
    corpus: dict,
    systems: dict[str, dict],
) -> dict:
    """`systems`: {name: {"notes", "build": BuildStats, "cells": summarize(), "notable"}}."""
    return {
        "corpus": corpus,
        "systems": {
            name: {
                "notes": entry["notes"],
                "build": _build_json(entry["build"]),
                "cells": entry["cells"],
                "false_positive_rate": _overall_fp(entry["cells"]),
                "notable_answers": entry["notable"],
            }
            for name, entry in systems.items()
        },
    }


def _build_json(stats: BuildStats) -> dict:
    return {
        "seconds_cpu": stats.seconds_cpu,
        "seconds_wall": stats.seconds_wall,
        "audio_seconds": stats.audio_seconds,
        "tracks": stats.tracks,
        "index_bytes": stats.index_bytes,
        "realtime_per_core": stats.realtime_per_core,
        "mb_per_hour": stats.mb_per_hour,
    }


def _overall_fp(rows: list[dict]) -> dict:
    negatives = [r for r in rows if r["condition"] == NOT_INDEXED]
    count = sum(r["queries"] for r in negatives)
    positives = sum(r["false_positives"] for r in negatives)
    return {"queries": count, "false_positives": positives, "rate": positives / max(count, 1)}


def table_rows(evaluation: dict) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """(system names, per-cell rows, index rows): the cells of both tables as text."""
    names = list(evaluation["systems"])
    systems = [evaluation["systems"][n] for n in names]
    subject, baseline = systems[0], systems[-1]
    compare = len(systems) > 1
    cell_rows = []
    for position, row in enumerate(subject["cells"]):
        cell = (row["length_s"], row["condition"])
        label = f"{row['length_s']:g} s {row['condition'].replace('_', ' ')}"
        values = [s["cells"][position] for s in systems]
        if row["condition"] == NOT_INDEXED:
            target = "(false positives)"
            shown = [f"{v['false_positive_rate']:.1%} FP ({v['false_positives']})" for v in values]
        else:
            floor = HIT_TARGETS.get(cell)
            parts = [f">= {floor:.0%}"] if floor is not None else []
            if compare:
                parts.append(f">= {names[-1]}")
            ok = (floor is None or row["hit_rate"] >= floor) and (
                not compare or row["hit_rate"] >= baseline["cells"][position]["hit_rate"]
            )
            target = " and ".join(parts) + (f" {_mark(ok)}" if parts else "")
            shown = [_hits(v) for v in values]
        latency = [f"{v['latency_p50_ms']:.0f} / {v['latency_p95_ms']:.0f}" for v in values]
        cell_rows.append([label, str(row["queries"]), target, *shown, *latency])
    fp = [s["false_positive_rate"] for s in systems]
    cell_rows.append(
        [
            "all not indexed",
            str(fp[0]["queries"]),
            f"<= {MAX_FALSE_POSITIVE_RATE:.1%} {_mark(fp[0]['rate'] <= MAX_FALSE_POSITIVE_RATE)}",
            *[f"{f['rate']:.2%} FP ({f['false_positives']})" for f in fp],
            *["" for _ in fp],
        ]
    )
    builds = [s["build"] for s in systems]
    p95 = [
        next(
            r["latency_p95_ms"]
            for r in s["cells"]
            if r["length_s"] == 5.0 and r["condition"] == "clean"
        )
        for s in systems
    ]
    speed_ok = not compare or builds[0]["realtime_per_core"] >= builds[-1]["realtime_per_core"]
    index_rows = [
        [
            "index build, x realtime per core",
            f">= {names[-1]} {_mark(speed_ok)}" if compare else "",
            *[f"{b['realtime_per_core']:.0f}x" for b in builds],
        ],
        [
            "index build, CPU s (wall s)",
            "",
            *[f"{b['seconds_cpu']:.0f} ({b['seconds_wall']:.0f})" for b in builds],
        ],
        [
            "index size, MB per hour of audio",
            f"<= {MAX_MB_PER_HOUR:g} {_mark(builds[0]['mb_per_hour'] <= MAX_MB_PER_HOUR)}",
            *[f"{b['mb_per_hour']:.2f} ({b['index_bytes'] / 1e6:.1f} MB)" for b in builds],
        ],
        [
            "5 s clean query latency p95, ms",
            f"<= {MAX_P95_5S_MS:.0f} {_mark(p95[0] <= MAX_P95_5S_MS)}",
            *[f"{v:.0f}" for v in p95],
        ],
    ]
    return names, cell_rows, index_rows


def _hits(row: dict) -> str:
    text = f"{row['hit_rate']:.1%}"
    extras = []
    if row["wrong"]:
        extras.append(f"{row['wrong']} wrong")
    if row["hits_by_repeat"]:
        extras.append(f"{row['hits_by_repeat']} by repeat")
    return text + (f" ({', '.join(extras)})" if extras else "")


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def markdown(evaluation: dict) -> str:
    names, cell_rows, index_rows = table_rows(evaluation)
    corpus = evaluation["corpus"]
    refs, held = corpus["references"], corpus["held_out"]
    lines = [
        f"Corpus `{corpus['size']}` ({corpus['digest']}): {refs['tracks']} reference tracks, "
        f"{refs['hours']:.2f} h ("
        + ", ".join(
            f"{source} {v['tracks']} / {v['hours']:.2f} h" for source, v in refs["sources"].items()
        )
        + f"); never indexed: {held['tracks']} tracks, {held['hours']:.2f} h.",
        "",
        "| query | n | target | "
        + " | ".join(f"{n} hit rate" for n in names)
        + " | "
        + " | ".join(f"{n} p50 / p95 ms" for n in names)
        + " |",
        "|" + " --- |" * (3 + 2 * len(names)),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in cell_rows]
    lines += [
        "",
        "| index | target | " + " | ".join(names) + " |",
        "|" + " --- |" * (2 + len(names)),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in index_rows]
    lines += [""] + [f"- {n}: {evaluation['systems'][n]['notes']}" for n in names]
    return "\n".join(lines) + "\n"


def rich_tables(evaluation: dict) -> list:
    from rich.table import Table

    names, cell_rows, index_rows = table_rows(evaluation)
    cells_table = Table(title="Fingerprinting: hit rate and latency per cell")
    for column in ["query", "n", "target"] + [f"{n} hits" for n in names]:
        cells_table.add_column(column, justify="left" if column == "query" else "right")
    for name in names:
        cells_table.add_column(f"{name} p50/p95 ms", justify="right")
    for row in cell_rows:
        cells_table.add_row(*row)
    index_table = Table(title="Fingerprinting: index")
    for column in ["index", "target", *names]:
        index_table.add_column(column, justify="left" if column == "index" else "right")
    for row in index_rows:
        index_table.add_row(*row)
    return [cells_table, index_table]


def write(evaluation: dict, json_path: pathlib.Path, markdown_path: pathlib.Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(evaluation, indent=1, sort_keys=True) + "\n")
    markdown_path.write_text(markdown(evaluation))
