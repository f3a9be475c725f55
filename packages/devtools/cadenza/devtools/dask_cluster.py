"""A real dask.distributed cluster on 127.0.0.1: a scheduler and N single-threaded
workers, each its own process, for the `dask` profile's tests and benchmarks.

    with DaskCluster(pathlib.Path(tmp), workers=2) as address:
        run_batch(config, logic, profile="dask")   # profiles.dask.scheduler = address
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time

from cadenza.devtools.emulators import free_port

READY_TIMEOUT_S = 60.0


class DaskCluster:
    """`with DaskCluster(state_dir, workers=2) as address:` (tcp://127.0.0.1:PORT)."""

    def __init__(self, state_dir: pathlib.Path, workers: int = 2):
        self.state_dir = pathlib.Path(state_dir)
        self.workers = workers
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self._processes: list[subprocess.Popen] = []

    def _start(self, module: str, *args: str) -> None:
        python = [sys.executable, "-S"] if sys.flags.no_site else [sys.executable]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._processes.append(
            subprocess.Popen(
                [*python, "-m", module, *args, "--no-dashboard"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )

    def start(self) -> str:
        """Starts the scheduler and the workers; returns the scheduler's address."""
        from distributed import Client

        self._start(
            "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(self.port)
        )
        for i in range(self.workers):
            folder = self.state_dir / f"worker-{i}"
            self._start(
                "distributed.cli.dask_worker",
                self.address,
                "--nthreads",
                "1",
                "--local-directory",
                str(folder),
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with Client(self.address, timeout=5) as client:
                    if len(client.scheduler_info()["workers"]) == self.workers:
                        return self.address
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the dask cluster ({self.workers} workers) did not come up "
                    f"in {READY_TIMEOUT_S:.0f} s"
                )
            time.sleep(0.3)

    def stop(self) -> None:
        for process in self._processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self._processes = []

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
