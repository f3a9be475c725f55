"""The long-lived local stack: the Pub/Sub emulator and fake-gcs-server, detached.

    stack = LocalStack(pathlib.Path(".cadenza/stack"))
    state, started = stack.ensure()    # reuse the running stack, or start it detached
    child_env = {**os.environ, **state.env}
    ...
    stack.stop()                       # from any process: the pids are in stack.json

The servers run in their own sessions, so they outlive the command that started them
(`bazel run //jobs/<job>:deploy` exits; the stack stays). `<root>/stack.json` records
their pids, ports and the environment clients need; a stack counts as running only
when both pids are alive and both ports answer.

fake-gcs-server publishes every bucket's OBJECT_FINALIZE events to one topic,
`UPLOADS_TOPIC` (notifications cannot be configured per bucket locally). Its objects
are kept under `<root>/gcs/`, so a restart loses none. The Pub/Sub emulator keeps
topics, subscriptions and unacknowledged messages in memory only, so the stack keeps
them itself: the topics and subscriptions deploys created are recorded
(`pubsub-wiring.json`) and recreated when it starts, and `stop()` saves the messages
still waiting in those subscriptions (`pending/`), which the next start publishes again
(cadenza.devtools.pending). A stack that is killed instead of stopped loses those.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import signal
import time
import urllib.error
import urllib.request

import attrs

from cadenza.devtools.emulators import DEFAULT_PROJECT, EmulatorError, Emulators, free_port
from cadenza.devtools.pending import restore_pending, save_pending
from cadenza.devtools.wiring_apply import pubsub_path

DEFAULT_ROOT = pathlib.Path(".cadenza/stack")
UPLOADS_TOPIC = "cadenza-uploads"
STATE_FILE = "stack.json"


def working_directory() -> pathlib.Path:
    """Where the user ran the command: `bazel run` sets BUILD_WORKING_DIRECTORY."""
    return pathlib.Path(os.environ.get("BUILD_WORKING_DIRECTORY") or os.getcwd())


def default_root() -> pathlib.Path:
    return working_directory() / DEFAULT_ROOT


@attrs.frozen(kw_only=True)
class StackState:
    """What `stack.json` holds about a started stack."""

    root: str
    project: str
    uploads_topic: str
    pids: dict[str, int]
    ports: dict[str, int]
    env: dict[str, str]
    started_at: float

    @property
    def pubsub_host(self) -> str:
        return f"127.0.0.1:{self.ports['pubsub']}"

    @property
    def storage_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['storage']}"


def pid_alive(pid: int) -> bool:
    """True when `pid` runs (a zombie, dead but not yet reaped, is not running)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def reap(pid: int) -> None:
    """Collects `pid`'s exit status if it is this process's child (else nothing)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop_process_group(pid: int, timeout_s: float = 10.0) -> bool:
    """SIGTERM to the group `pid` leads, SIGKILL after `timeout_s`; True if it ended."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            reap(pid)
            return True
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            reap(pid)
            if not pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)  # children that outlived their leader
                return True
            time.sleep(0.1)
    return not pid_alive(pid)


class LocalStack:
    """The local stack under `root` (default: `.cadenza/stack` where bazel was run)."""

    def __init__(
        self,
        root: pathlib.Path | None = None,
        *,
        project: str = DEFAULT_PROJECT,
        uploads_topic: str = UPLOADS_TOPIC,
    ):
        self.root = pathlib.Path(root or default_root()).resolve()
        self.project, self.uploads_topic = project, uploads_topic
        self.saved = self.restored = 0  # messages kept by the last stop / start here

    @property
    def state_path(self) -> pathlib.Path:
        return self.root / STATE_FILE

    @contextlib.contextmanager
    def _locked(self):
        """One command at a time starts or stops this stack."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "stack.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read_state(self) -> StackState | None:
        """The recorded state, whether or not the servers still run."""
        try:
            return StackState(**json.loads(self.state_path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def status(self) -> StackState | None:
        """The state when both servers run and answer; None otherwise."""
        state = self.read_state()
        if state is None or not all(pid_alive(pid) for pid in state.pids.values()):
            return None
        pubsub = f"http://{state.pubsub_host}/v1/projects/{state.project}/topics"
        if not (_answers(pubsub) and _answers(f"{state.storage_url}/storage/v1/b")):
            return None
        return state

    def ensure(self) -> tuple[StackState, bool]:
        """The running stack, started (detached) when it is not; (state, started now)."""
        with self._locked():
            state = self.status()
            if state is not None:
                return state, False
            self._stop_recorded()  # a half-dead stack: end what is left of it
            return self._start(), True

    @property
    def wiring_path(self) -> pathlib.Path:
        """The topics and subscriptions deploys created, recreated when the stack starts
        (the Pub/Sub emulator keeps them in memory only)."""
        return self.root / "pubsub-wiring.json"

    def record_wiring(self, topics, subscriptions) -> None:
        """Adds topics (names) and subscriptions ((name, topic, ack deadline s)) to the
        record that a restart recreates."""
        with self._locked():
            known = self._read_wiring()
            known["topics"] = sorted(set(known["topics"]) | set(topics))
            by_name = {s[0]: list(s) for s in known["subscriptions"]}
            by_name.update({s[0]: list(s) for s in subscriptions})
            known["subscriptions"] = sorted(by_name.values())
            tmp = self.wiring_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(known, indent=2) + "\n")
            tmp.replace(self.wiring_path)

    def _read_wiring(self) -> dict:
        try:
            return json.loads(self.wiring_path.read_text())
        except FileNotFoundError:
            return {"topics": [], "subscriptions": []}

    def _restore_wiring(self, env) -> int:
        """Recreates the recorded topics and subscriptions; returns how many it made."""
        from google.api_core.exceptions import AlreadyExists
        from google.cloud import pubsub_v1

        from cadenza.devtools.emulators import apply_env, restore_env

        known = self._read_wiring()
        if not known["topics"] and not known["subscriptions"]:
            return 0
        previous = apply_env(env)
        made = 0
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        try:
            for topic in known["topics"]:
                try:
                    publisher.create_topic(name=pubsub_path("topics", topic, self.project))
                    made += 1
                except AlreadyExists:
                    pass
            for name, topic, ack_deadline_s in known["subscriptions"]:
                request = {
                    "name": pubsub_path("subscriptions", name, self.project),
                    "topic": pubsub_path("topics", topic, self.project),
                    "ack_deadline_seconds": ack_deadline_s,
                }
                try:
                    subscriber.create_subscription(request=request)
                    made += 1
                except AlreadyExists:
                    pass
        finally:
            subscriber.close()
            restore_env(previous)
        return made

    def _start(self) -> StackState:
        previous = self.read_state()
        ports = dict(previous.ports) if previous else {}
        emulators = Emulators(
            self.root,
            project=self.project,
            uploads_topic=self.uploads_topic,
            pubsub_port=_port_or_free(ports.get("pubsub")),
            storage_port=_port_or_free(ports.get("storage")),
        )
        emulators.start()  # each server in its own session: they outlive this process
        try:
            return self._restore_and_record(emulators)
        except Exception as err:
            emulators.stop()  # nothing records them yet: no other command could stop them
            raise EmulatorError(
                f"restoring the wiring and messages recorded in {self.root} "
                f"({self.wiring_path.name}, {self.pending_path.name}/) failed, so its servers "
                f"were stopped again: {type(err).__name__}: {err}"
            ) from err
        except BaseException:
            emulators.stop()
            raise

    def _restore_and_record(self, emulators: Emulators) -> StackState:
        """Recreates the recorded wiring, publishes the saved messages again and writes
        `stack.json` for the started `emulators`."""
        self._restore_wiring(emulators.env())
        self.restored = self._with_env(
            emulators.env(), lambda: restore_pending(self.project, self.pending_path)
        )
        state = StackState(
            root=str(self.root),
            project=self.project,
            uploads_topic=self.uploads_topic,
            pids={"pubsub": emulators.pubsub.pid, "storage": emulators.storage.pid},
            ports={"pubsub": emulators.pubsub.port, "storage": emulators.storage.port},
            env=emulators.env(),
            started_at=time.time(),
        )
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(attrs.asdict(state), indent=2, sort_keys=True) + "\n")
        tmp.replace(self.state_path)
        return state

    @property
    def pending_path(self) -> pathlib.Path:
        """Messages that were waiting in the recorded subscriptions when the stack stopped."""
        return self.root / "pending"

    def stop(self) -> bool:
        """Saves the waiting messages, then stops both servers (by the recorded pids);
        True if a stack was recorded. `saved` says how many messages were kept."""
        with self._locked():
            self.saved = 0
            state = self.status()
            if state is not None:
                subscriptions = [(s[0], s[1]) for s in self._read_wiring()["subscriptions"]]
                self.saved = self._with_env(
                    state.env,
                    lambda: save_pending(self.project, subscriptions, self.pending_path),
                )
            return self._stop_recorded()

    @staticmethod
    def _with_env(env, call):
        from cadenza.devtools.emulators import apply_env, restore_env

        previous = apply_env(env)
        try:
            return call()
        finally:
            restore_env(previous)

    def _stop_recorded(self) -> bool:
        state = self.read_state()
        if state is None:
            return False
        for name in ("storage", "pubsub"):
            pid = state.pids.get(name)
            if pid and pid_alive(pid) and _is_server(pid, state.ports.get(name)):
                stop_process_group(pid)
        self.state_path.unlink(missing_ok=True)
        (self.root / "env.json").unlink(missing_ok=True)
        return True


def _port_or_free(port: int | None) -> int:
    """The stack's previous port when it is free again (stable env), else a new one."""
    import socket

    if port:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
                return port
            except OSError:
                pass
    return free_port()


def _is_server(pid: int, port: int | None) -> bool:
    """Guards against a reused pid: the process's command line names the port."""
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return port is None or str(port).encode() in cmdline


__all__ = [
    "DEFAULT_ROOT",
    "UPLOADS_TOPIC",
    "EmulatorError",
    "LocalStack",
    "StackState",
    "default_root",
    "pid_alive",
    "stop_process_group",
    "working_directory",
]
