"""Audio fingerprinting, Cadenza side by side with audfprint2, on one corpus in one run.

`./dev bench` runs it at full size (CADENZA_BENCH_SIZE=full): about 7 hours of
reference music from Debian packages, 1,440 indexed queries (2, 5 and 10 s under seven
conditions, 60 each) and 300 not-indexed ones. `./dev bench --smoke` (CI) runs a tiny
version on MIDI renders only, to check that the harness works end to end for both
systems. The corpus and queries are cached outside the repository (corpus.py); both
indexes are rebuilt every run, since their build is measured.

Next to the `--benchmark-json` file it writes `<name>.report.md` (the side-by-side
table) and `<name>.report.json` (every number), and prints the table.
`CADENZA_FINGERPRINT_SYSTEMS=audfprint2` runs a subset (comma-separated names), e.g. to
check the corpus while a system is unavailable; by default both run.
"""

from __future__ import annotations

import os
import pathlib
import tempfile

import pytest

from tests.bench.fingerprint import report
from tests.bench.fingerprint.corpus import build_corpus
from tests.bench.fingerprint.queries import PLANS, Query, cells, make_queries
from tests.bench.fingerprint.systems import Audfprint2, Cadenza
from tests.bench.fingerprint.truth import Judge

SIZE = os.environ.get("CADENZA_BENCH_SIZE", "full")
SYSTEMS = [
    name.strip()
    for name in os.environ.get("CADENZA_FINGERPRINT_SYSTEMS", "cadenza,audfprint2").split(",")
]


def _say(request: pytest.FixtureRequest, message: str) -> None:
    """Progress on the terminal, past pytest's output capture."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"fingerprint_bench: {message}", flush=True)


@pytest.fixture(scope="module")
def corpus(request):
    if SIZE not in PLANS:
        raise ValueError(f"CADENZA_BENCH_SIZE: expected one of {sorted(PLANS)}, got {SIZE!r}")
    _say(request, f"corpus {SIZE} (built once, then cached)")
    return build_corpus(SIZE)


@pytest.fixture(scope="module")
def query_set(corpus) -> list[Query]:
    return make_queries(corpus, PLANS[SIZE])


@pytest.fixture(scope="module")
def systems(request, corpus, query_set):
    """Each system with its index built over the references: {name: (system, BuildStats)}.

    The indexes go to a temporary folder of the system's own (not pytest's basetemp: under
    `bazel run`, Bazel's TEST_TMPDIR may not exist)."""
    longest = max(track.duration_s for track in corpus.references)
    makers = {
        "cadenza": lambda folder: Cadenza(folder),
        "audfprint2": lambda folder: Audfprint2(folder, longest_track_s=longest),
    }
    unknown = set(SYSTEMS) - set(makers)
    if unknown:
        raise ValueError(f"CADENZA_FINGERPRINT_SYSTEMS: unknown {sorted(unknown)}")
    references = {track.track_id: track.path for track in corpus.references}
    built = {}
    scratch = tempfile.TemporaryDirectory(prefix="fingerprint-bench-")
    for name in SYSTEMS:
        system = makers[name](pathlib.Path(scratch.name) / name)
        _say(request, f"{name}: indexing {len(references)} tracks")
        stats = system.build(references)
        system.query(query_set[0].path)  # warm-up, untimed
        built[name] = (system, stats)
    yield built
    for system, _ in built.values():
        system.close()
    scratch.cleanup()


@pytest.fixture(scope="module")
def evaluation(request, corpus, query_set, systems) -> dict:
    """Every query through every system, judged and summarized; the report is written."""
    judge = Judge(corpus)
    entries = {}
    for name, (system, stats) in systems.items():
        _say(request, f"{name}: {len(query_set)} queries")
        results = [system.query(query.path) for query in query_set]
        judgements = [judge.judge(q, r) for q, r in zip(query_set, results, strict=True)]
        entries[name] = {
            "notes": system.notes,
            "build": stats,
            "cells": report.summarize(query_set, results, judgements),
            "notable": report.notable(query_set, results, judgements),
        }
    evaluation = report.evaluation_json(corpus.describe(), entries)
    target = request.config.getoption("benchmark_json", None)
    folder = pathlib.Path(target).parent if target else pathlib.Path(tempfile.mkdtemp())
    stem = pathlib.Path(target).stem if target else "fingerprint_bench"
    report.write(evaluation, folder / f"{stem}.report.json", folder / f"{stem}.report.md")
    _say(request, f"report written to {folder / stem}.report.md and .report.json")
    return evaluation


def test_every_system_answers_every_cell(evaluation, query_set, capsys):
    """The harness ran end to end: each system has a result for every query of every cell."""
    expected = {cell: sum(1 for q in query_set if q.cell == cell) for cell in cells(query_set)}
    for name in SYSTEMS:
        rows = evaluation["systems"][name]["cells"]
        got = {(row["length_s"], row["condition"]): row["queries"] for row in rows}
        assert got == expected, name
        assert all(row["latency_p95_ms"] > 0 for row in rows), name
    with capsys.disabled():
        from rich.console import Console

        console = Console()
        for table in report.rich_tables(evaluation):
            console.print(table)


@pytest.mark.parametrize("name", SYSTEMS)
def test_query_5s_clean(benchmark, name, systems, query_set, evaluation):
    """Latency of one 5 s clean query (decode + fingerprint + match), per system."""
    system, _ = systems[name]
    paths = [q.path for q in query_set if q.cell == (5.0, "clean")]
    entry = evaluation["systems"][name]
    benchmark.extra_info.update(
        {
            "build": entry["build"],
            "false_positive_rate": entry["false_positive_rate"],
            "hit_rate": {
                f"{r['length_s']:g}s {r['condition']}": r["hit_rate"]
                for r in entry["cells"]
                if r["hit_rate"] is not None
            },
        }
    )
    turn = iter(range(10**9))
    result = benchmark.pedantic(
        lambda: system.query(paths[next(turn) % len(paths)]),
        rounds=max(len(paths), 5),
        iterations=1,
    )
    assert result.latency_s > 0
