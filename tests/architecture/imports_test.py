"""The import rules of ARCHITECTURE.md, checked on the code's own import statements.

tools/ -> devtools -> runtime -> core;  audio -> core;  jobs -> runtime, audio, core
core imports neither Beam nor another Cadenza package; no library imports devtools;
a job never imports another job.
"""

import ast
import pathlib

import pytest

FORBIDDEN = {
    "core": {"cadenza.runtime", "cadenza.audio", "cadenza.devtools", "apache_beam", "jobs"},
    "runtime": {"cadenza.audio", "cadenza.devtools", "jobs"},
    "audio": {"cadenza.runtime", "cadenza.devtools", "jobs"},
    "devtools": {"jobs"},
}


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def violates(module: str, banned: set[str]) -> bool:
    return any(module == b or module.startswith(b + ".") for b in banned)


def package_files(repo_root, name):
    files = sorted((repo_root / "packages" / name / "cadenza" / name).rglob("*.py"))
    assert files, f"no sources found for cadenza.{name}"
    return files


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_it_may(repo_root, package):
    for path in package_files(repo_root, package):
        bad = {m for m in imported_modules(path) if violates(m, FORBIDDEN[package])}
        assert not bad, f"{path.relative_to(repo_root)} imports {sorted(bad)}: not allowed"


def test_jobs_import_no_devtools_and_no_other_job(repo_root):
    jobs = sorted(p for p in (repo_root / "jobs").iterdir() if p.is_dir())
    assert jobs, "no job sources found"
    for job in jobs:
        banned = {"cadenza.devtools"} | {f"jobs.{j.name}" for j in jobs if j != job}
        for path in job.rglob("*.py"):
            bad = {m for m in imported_modules(path) if violates(m, banned)}
            assert not bad, f"{path.relative_to(repo_root)} imports {sorted(bad)}: not allowed"


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import apache_beam as beam\nfrom cadenza.devtools import samples\n")
    modules = imported_modules(bad)
    assert violates("apache_beam", FORBIDDEN["core"])
    assert {m for m in modules if violates(m, FORBIDDEN["audio"])} == {"cadenza.devtools"}
