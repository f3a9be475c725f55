"""Cadenza's shared pytest fixtures and rules, loaded into every test by pytest_main.

Fixtures:
    free_port     a TCP port on 127.0.0.1 that nothing listens on (never a fixed port).
    repo_root     the source tree's root as seen by the test (its runfiles).
    emulators     (session) real Pub/Sub and Cloud Storage emulators, with this process's
                  environment pointing at them; uploads to any bucket publish
                  notifications to `emulators.uploads_topic`. Needs //packages/devtools.
    pubsub        fresh topics and subscriptions for one test (unique names, short ack
                  deadlines), deleted after it.
    gcs_bucket    a fresh bucket on the storage emulator; its name.

Rules:
    A skipped test fails the run: a test that cannot run here is a failing test.
"""

from __future__ import annotations

import os
import pathlib
import socket
import time

import pytest


def pick_free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, what: str, timeout_s: float = 180.0, explain=None):
    """Polls `check` until it returns something true, and returns that. After `timeout_s`
    fails naming `what`, with `explain()` (a log's end, say) when given. A wait for
    something to happen, not a timing check."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain else ""
            raise AssertionError(f"gave up waiting for {what} after {timeout_s:.0f} s{detail}")
        time.sleep(0.2)


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


@pytest.fixture(scope="session")
def emulators(tmp_path_factory):
    from cadenza.devtools.emulators import Emulators, apply_env, restore_env

    stack = Emulators(tmp_path_factory.mktemp("emulators"), uploads_topic="cadenza-test-uploads")
    stack.start()
    previous = apply_env(stack.env())
    try:
        yield stack
    finally:
        restore_env(previous)
        stack.stop()


class PubSubForTests:
    """Topics and subscriptions with names unique to one test, on the emulator."""

    def __init__(self, project: str):
        import uuid

        from google.cloud import pubsub_v1

        self.project, self.suffix = project, uuid.uuid4().hex[:8]
        self.publisher, self.subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        self._topics, self._subscriptions = [], []

    def unique(self, name: str) -> str:
        return f"{name}-{self.suffix}"

    def topic(self, name: str) -> str:
        """Creates the topic `name` (give a `unique()` name); returns its path."""
        path = self.publisher.topic_path(self.project, name)
        self.publisher.create_topic(name=path)
        self._topics.append(path)
        return path

    def delete_topic(self, path: str) -> None:
        """Deletes a topic made by `topic()` (a topic that goes away under a job)."""
        self.publisher.delete_topic(topic=path)
        self._topics.remove(path)

    def subscription(self, name: str, topic: str, ack_deadline_s: int = 10) -> str:
        path = self.subscriber.subscription_path(self.project, name)
        self.subscriber.create_subscription(
            name=path, topic=topic, ack_deadline_seconds=ack_deadline_s
        )
        self._subscriptions.append(path)
        return path

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        return self.publisher.publish(topic, data, **attributes).result(timeout=30)

    def pull(self, subscription: str, max_messages: int = 100, ack: bool = True) -> list:
        """One pull (waits up to a few seconds for a message); acks what it got."""
        from google.api_core.exceptions import DeadlineExceeded

        try:
            response = self.subscriber.pull(
                subscription=subscription, max_messages=max_messages, timeout=5
            )
        except DeadlineExceeded:
            return []
        received = list(response.received_messages)
        if ack and received:
            self.subscriber.acknowledge(
                subscription=subscription, ack_ids=[r.ack_id for r in received]
            )
        return [r.message for r in received] if ack else received

    def drain(self, subscription: str) -> list:
        """Everything the subscription still has, until a pull comes back empty."""
        messages = []
        while batch := self.pull(subscription):
            messages += batch
        return messages

    def cleanup(self) -> None:
        for path in self._subscriptions:
            self.subscriber.delete_subscription(subscription=path)
        for path in self._topics:
            self.publisher.delete_topic(topic=path)
        self.subscriber.close()


@pytest.fixture
def pubsub(emulators):
    helper = PubSubForTests(emulators.project)
    yield helper
    helper.cleanup()


@pytest.fixture
def gcs_bucket(emulators) -> str:
    import uuid

    from google.cloud import storage

    name = f"test-{uuid.uuid4().hex[:12]}"
    storage.Client().create_bucket(name)
    return name
