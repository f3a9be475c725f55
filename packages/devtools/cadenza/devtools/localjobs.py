"""Jobs running in the background on the local stack: start, status, stop, logs.

    jobs = LocalJobs(working_directory() / ".cadenza/jobs")
    job = jobs.start("normalize", "jobs.normalize.pipeline", stack_env, overrides=[...])
    jobs.status()             # every job started here, running or not
    jobs.stop("normalize")    # SIGTERM, then wait: the runtime drains (see below)

Each job has `<root>/<job>/`: `job.log` (its output), `job.json` (pid, command, when).
The job runs `python -m <module> --profile local ...` (the job's own command line,
`cadenza.runtime.cli.run_job_cli`) in its own session, so it outlives the deploy.

Stopping: SIGTERM makes the runtime's streaming loop stop pulling, let the step in
work finish, and give every message it has not settled back to Pub/Sub (a nack; see
cadenza.runtime.streaming.run.StreamingRun.stop): a message is acknowledged only after
its outputs are written and its event published, so nothing in flight is lost. If the
job has not ended after the timeout it is killed (SIGKILL): unacknowledged messages
are then redelivered after their ack deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

import attrs

from cadenza.devtools.localstack import pid_alive, reap, working_directory

DEFAULT_ROOT = pathlib.Path(".cadenza/jobs")
READY_MARK = ": streaming from "
STOP_TIMEOUT_S = 60.0


class JobError(RuntimeError):
    """A job could not be started, found or stopped."""


@attrs.frozen(kw_only=True)
class JobState:
    job: str
    pid: int
    module: str
    command: list[str]
    cwd: str
    log: str
    started_at: float
    # where its data outputs go, as it resolved them (absolute when local): its
    # children's deploys check that they read there
    outputs: list[str] = attrs.field(factory=list)

    @property
    def running(self) -> bool:
        return pid_alive(self.pid) and _cmdline_has(self.pid, self.module)


def _cmdline_has(pid: int, module: str) -> bool:
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return module.encode() in cmdline


def default_root() -> pathlib.Path:
    return working_directory() / DEFAULT_ROOT


class LocalJobs:
    """The background jobs recorded under `root` (default `.cadenza/jobs`)."""

    def __init__(self, root: pathlib.Path | None = None):
        self.root = pathlib.Path(root or default_root()).resolve()

    def folder(self, job: str) -> pathlib.Path:
        return self.root / job

    def log_path(self, job: str) -> pathlib.Path:
        return self.folder(job) / "job.log"

    def state(self, job: str) -> JobState | None:
        try:
            return JobState(**json.loads((self.folder(job) / "job.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/job.json"))

    def start(
        self,
        job: str,
        module: str,
        env: Mapping[str, str],
        *,
        args: Sequence[str] = (),
        cwd: pathlib.Path | None = None,
        ready_timeout_s: float = 180.0,
        outputs: Sequence[str] = (),
    ) -> JobState:
        """Starts the job in the background and waits until it streams (its log says so).

        Raises JobError when it runs already, or exits or stays silent while starting
        (with the end of its log)."""
        before = self.state(job)
        if before is not None and before.running:
            raise JobError(f"{job} is running already (pid {before.pid}); stop it first")
        folder = self.folder(job)
        folder.mkdir(parents=True, exist_ok=True)
        log = self.log_path(job)
        # the same interpreter and flags (Bazel's runs with -S: no system site-packages)
        flags = ["-S"] if sys.flags.no_site else []
        command = [sys.executable, *flags, "-m", module, "--profile", "local", *args]
        cwd = pathlib.Path(cwd or working_directory())
        child_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        child_env["BUILD_WORKING_DIRECTORY"] = str(cwd)  # where the runtime resolves paths
        child_env.setdefault("PYTHONUNBUFFERED", "1")
        offset = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as out:
            out.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {job}\n".encode())
            out.flush()
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives deploy; stop() signals it by its pid
            )
        state = JobState(
            job=job,
            pid=process.pid,
            module=module,
            command=command,
            cwd=str(cwd),
            log=str(log),
            started_at=time.time(),
            outputs=list(outputs),
        )
        (folder / "job.json").write_text(json.dumps(attrs.asdict(state), indent=2) + "\n")
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if READY_MARK in _read_from(log, offset):
                return state
            if process.poll() is not None:
                raise JobError(
                    f"{job} exited with status {process.returncode} while starting; "
                    f"{log} ends:\n{tail(log, 30)}"
                )
            time.sleep(0.2)
        self.stop(job)
        raise JobError(
            f"{job} did not start streaming within {ready_timeout_s:.0f} s (stopped it); "
            f"{log} ends:\n{tail(log, 30)}"
        )

    def stop(self, job: str, timeout_s: float = STOP_TIMEOUT_S) -> str:
        """SIGTERM, wait up to `timeout_s` for the drain, then SIGKILL. What happened."""
        state = self.state(job)
        if state is None:
            raise JobError(f"no job {job!r} under {self.root} (known: {self.names() or 'none'})")
        if not state.running:
            reap(state.pid)
            return f"{job} is not running"
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            reap(state.pid)
            if not pid_alive(state.pid):
                _kill_group(state.pid)  # anything it started and left behind
                return f"{job} stopped (drained)"
            time.sleep(0.2)
        _kill_group(state.pid)
        reap(state.pid)
        return (
            f"{job} did not stop within {timeout_s:.0f} s and was killed: messages it "
            "had not settled are redelivered after their ack deadline"
        )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _read_from(path: pathlib.Path, offset: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def tail(path: pathlib.Path | str, lines: int = 40) -> str:
    """The last `lines` lines of a log file."""
    try:
        text = pathlib.Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


__all__ = ["DEFAULT_ROOT", "JobError", "JobState", "LocalJobs", "tail"]
