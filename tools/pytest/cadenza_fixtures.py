"""Cadenza's shared pytest fixtures and rules, loaded into every test by pytest_main.

Fixtures:
    free_port     a TCP port on 127.0.0.1 that nothing listens on (never a fixed port).
    repo_root     the source tree's root as seen by the test (its runfiles).

Rules:
    A skipped test fails the run: a test that cannot run here is a failing test.
"""

from __future__ import annotations

import os
import pathlib
import socket

import pytest


def pick_free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    return pick_free_port()


def runfiles_root() -> pathlib.Path:
    """The main repository's runfiles directory under Bazel, else the source tree."""
    base = os.environ.get("TEST_SRCDIR")
    if base:
        return pathlib.Path(base) / os.environ.get("TEST_WORKSPACE", "cadenza")
    return pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def repo_root() -> pathlib.Path:
    return runfiles_root()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and exitstatus == 0:
        reporter.write_line(
            f"{skipped} test(s) skipped: Cadenza counts a skip as a failure.", red=True
        )
        session.exitstatus = 1


def locked_versions(lock_text: str) -> dict[str, str]:
    """{normalized name: version} of every pin in a requirements lock."""
    import re

    pins = re.findall(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s\\;]+)", lock_text, re.MULTILINE)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins}


def check_distribution(package_dir: pathlib.Path, module) -> None:
    """Asserts a Cadenza package's pyproject.toml agrees with its code and the lock.

    The version in pyproject is the module's `__version__`; every third-party
    dependency is locked at a version its specifier allows; every Cadenza dependency
    is a sibling package at exactly its version.
    """
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((package_dir / "pyproject.toml").read_text())["project"]
    assert project["name"] == f"cadenza-{package_dir.name}"
    assert project["version"] == module.__version__, (
        f"{package_dir}/pyproject.toml says {project['version']}, "
        f"{module.__name__}.__version__ says {module.__version__}"
    )
    locked = locked_versions((runfiles_root() / "requirements_lock.txt").read_text())
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = req.name.lower()
        if name.startswith("cadenza-"):
            sibling = package_dir.parent / name.removeprefix("cadenza-") / "pyproject.toml"
            version = tomllib.loads(sibling.read_text())["project"]["version"]
        else:
            assert name in locked, f"{spec!r} is not in requirements_lock.txt"
            version = locked[name]
        assert req.specifier.contains(version, prereleases=True), (
            f"{package_dir.name}: {spec!r} does not allow the locked {name}=={version}"
        )


def _configure_hypothesis() -> None:
    """Hypothesis, when a test uses it: no example database in the read-only runfiles,
    no per-example deadline on a loaded 2-core machine, failures printed reproducibly."""
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:
        return
    settings.register_profile(
        "cadenza",
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile("cadenza")


_configure_hypothesis()


def python_command() -> list[str]:
    """How to start another Python like this one: under Bazel, without site directories
    (-S), so the child sees the same packages as the test and nothing of Debian's."""
    import sys

    return [sys.executable, "-S"] if sys.flags.no_site else [sys.executable]


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test's environment plus its sys.path as PYTHONPATH, for child Pythons."""
    import sys

    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), **extra}
