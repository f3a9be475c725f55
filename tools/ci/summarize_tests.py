"""Prints `N passed, N failed` for one `bazel test` run, counted in test cases.

    bazel test //... --build_event_json_file=bep.json
    python3 tools/ci/summarize_tests.py bep.json

The run's Build Event Protocol file says which test targets ran (or came from the
cache) and their status; each target's JUnit report (pytest writes one; Bazel writes
one for tests that do not) gives its cases. A target that did not run (it failed to
build, or the run stopped), or failed without a failing case in its report, counts as
one failed case; a skipped case counts as failed (CONTRIBUTING.md). Exits non-zero
when anything failed or when no test ran.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET


def expected_targets() -> set[str]:
    query = "tests(//...) except attr(tags, manual, //...)"
    out = subprocess.run(
        ["bazel", "query", "--noshow_progress", query], capture_output=True, text=True, check=True
    ).stdout
    return {line for line in out.splitlines() if line.startswith("//")}


def statuses(bep: pathlib.Path) -> dict[str, str]:
    """{test label: overall status} from a BEP JSON file."""
    found = {}
    for line in bep.read_text().splitlines():
        event = json.loads(line)
        summary = event.get("id", {}).get("testSummary")
        if summary and "testSummary" in event:
            found[summary["label"]] = event["testSummary"].get("overallStatus", "NO_STATUS")
    return found


def count_cases(report: pathlib.Path) -> tuple[int, int]:
    passed = failed = 0
    for case in ET.parse(report).getroot().iter("testcase"):
        bad = any(case.find(tag) is not None for tag in ("failure", "error", "skipped"))
        failed, passed = (failed + 1, passed) if bad else (failed, passed + 1)
    return passed, failed


def main() -> int:
    bep = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bep.json")
    status = statuses(bep)
    passed = failed = 0
    for label in sorted(expected_targets() | set(status)):
        if label not in status:
            print(f"{label}: did not run (build failure or interrupted run)", file=sys.stderr)
            failed += 1
            continue
        package, name = label.removeprefix("//").split(":")
        report = pathlib.Path("bazel-testlogs", package, name, "test.xml")
        if report.exists():
            p, f = count_cases(report)
        else:
            p, f = int(status[label] == "PASSED"), 0
        if status[label] != "PASSED" and f == 0:
            print(f"{label}: {status[label]} without a failing case in its report", file=sys.stderr)
            f = 1
        passed, failed = passed + p, failed + f
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
