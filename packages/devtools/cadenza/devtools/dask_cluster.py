"""A real dask.distributed cluster on 127.0.0.1: a scheduler and N single-threaded
workers, each its own process, for the `dask` profile's tests and benchmarks.

    with DaskCluster(pathlib.Path(tmp), workers=2) as address:
        run_batch(config, logic, profile="dask")   # profiles.dask.scheduler = address

Each process logs to `<state_dir>/logs/` (`scheduler.log`, `worker-N.log`). A process
that exits while the cluster starts fails the start at once, with its log's end; a
scheduler port picked here and taken by another process before the scheduler binds it
is picked again (up to PORT_ATTEMPTS), as for the emulators.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

from cadenza.devtools.emulators import PORT_ATTEMPTS, free_port, log_tail

READY_TIMEOUT_S = 60.0


def _errors(log: pathlib.Path) -> str:
    """The exceptions a process's log ends its tracebacks with ("OSError: ..."), or
    "no error logged"."""
    lines = log_tail(log, 1000).splitlines()
    found = [line for line in lines if re.match(r"[\w.]+(Error|Exception): ", line)]
    return "; ".join(dict.fromkeys(found)) or "no error logged"


class DaskClusterError(RuntimeError):
    """The cluster did not come up: a process exited, or it was not ready in time."""


class DaskCluster:
    """`with DaskCluster(state_dir, workers=2) as address:` (tcp://127.0.0.1:PORT).

    `port`: the scheduler's port; by default a free one is picked."""

    def __init__(self, state_dir: pathlib.Path, workers: int = 2, port: int | None = None):
        self.state_dir = pathlib.Path(state_dir)
        self.workers = workers
        self.port = port or free_port()
        self._port_picked = not port
        self._processes: dict[str, subprocess.Popen] = {}

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def log_path(self, process: str) -> pathlib.Path:
        """The log of `scheduler` or `worker-N`."""
        return self.state_dir / "logs" / f"{process}.log"

    def _start(self, name: str, module: str, *args: str) -> None:
        python = [sys.executable, "-S"] if sys.flags.no_site else [sys.executable]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.log_path(name).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(name), "ab") as log:
            self._processes[name] = subprocess.Popen(
                [*python, "-m", module, *args, "--no-dashboard"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self) -> str:
        """Starts the scheduler and the workers; returns the scheduler's address once
        every worker has joined. Raises DaskClusterError naming what failed."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self._start_processes()
            try:
                self._wait_until_ready()
                return self.address
            except DaskClusterError as err:
                self.stop()
                taken = "address already in use" in str(err).lower()
                if not (taken and self._port_picked and attempt < PORT_ATTEMPTS):
                    raise
                self.port = free_port()
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _start_processes(self) -> None:
        self._start(
            "scheduler",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        )
        for i in range(self.workers):
            self._start(
                f"worker-{i}",
                "distributed.cli.dask_worker",
                self.address,
                "--nthreads",
                "1",
                "--local-directory",
                str(self.state_dir / f"worker-{i}"),
            )

    def _wait_until_ready(self) -> None:
        from distributed import Client

        deadline = time.monotonic() + READY_TIMEOUT_S
        joined = 0
        while True:
            for name, process in self._processes.items():
                if process.poll() is not None:
                    log = self.log_path(name)
                    raise DaskClusterError(
                        f"dask {name} exited with status {process.returncode} while the "
                        f"cluster started (scheduler port {self.port}): {_errors(log)}; "
                        f"its log ({log}) ends:\n{log_tail(log)}"
                    )
            # asked only once the scheduler says it listens: before that, the port may
            # be another process's, which a client would wait on for ever
            listening = "Scheduler at:" in log_tail(self.log_path("scheduler"), 200)
            try:
                if not listening:
                    raise ConnectionRefusedError
                with Client(self.address, timeout=5) as client:
                    joined = len(client.scheduler_info()["workers"])
                    if joined == self.workers:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise DaskClusterError(
                    f"the dask cluster at {self.address} had {joined} of {self.workers} "
                    f"workers after {READY_TIMEOUT_S:.0f} s; the scheduler's log "
                    f"({self.log_path('scheduler')}) ends:\n{log_tail(self.log_path('scheduler'))}"
                )
            time.sleep(0.3)

    def stop(self) -> None:
        """Stops every process of the cluster (SIGTERM, then SIGKILL after 30 s)."""
        processes, self._processes = list(self._processes.values()), {}
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
