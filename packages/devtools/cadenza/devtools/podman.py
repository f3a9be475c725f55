"""Running job images in real containers with podman, in a private store.

    with Podman(pathlib.Path(tmp)) as podman:
        image = podman.load(pathlib.Path("bazel-bin/jobs/fingerprint/image.tar"))
        podman.run(image, ["self-check"])

The store (`--root`/`--runroot`) lives under the given folder, so tests neither see nor
leave images in the machine's own store. The runtime is runc: crun refuses these
machines' hybrid cgroup setup. `--ulimit` flags keep podman within the limits the
machines allow (ENVIRONMENT.md); containers get no network unless asked.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import tempfile

ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


class PodmanError(RuntimeError):
    """podman is missing, or a podman command failed (its output is in the message)."""


class Podman:
    """podman with its own image store under `state_dir`."""

    def __init__(self, state_dir: pathlib.Path):
        self.state_dir = pathlib.Path(state_dir)
        # podman refuses a runroot path longer than 50 characters: a short one in /tmp.
        self.runroot = pathlib.Path(tempfile.mkdtemp(prefix="cadenza-podman-", dir="/tmp"))
        for tool in ("podman", "runc"):
            if shutil.which(tool) is None:
                raise PodmanError(
                    f"{tool} is not installed: apt-get install {tool} (./dev setup does)"
                )

    def _base(self) -> list[str]:
        return [
            "podman",
            "--root", str(self.state_dir / "storage"),
            "--runroot", str(self.runroot),
            "--runtime", "runc",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
        ]  # fmt: skip

    def command(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        """`podman ARGS` on the private store; raises PodmanError on failure when `check`."""
        result = subprocess.run(
            self._base() + list(args), capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise PodmanError(
                f"podman {' '.join(args[:3])} failed ({result.returncode}):\n"
                + result.stderr.strip()
            )
        return result

    def load(self, archive: pathlib.Path) -> str:
        """Load an oci-archive or docker-archive; returns the loaded image's name."""
        output = self.command("load", "--input", str(archive)).stdout
        names = re.findall(r"Loaded image(?:\(s\))?: (\S+)", output)
        if not names:
            raise PodmanError(f"podman load of {archive} named no image:\n{output}")
        return names[-1]

    def image_id(self, image: str) -> str:
        return self.command("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()

    def run(
        self,
        image: str,
        args: list[str],
        volumes: dict[pathlib.Path, str] | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess:
        """`podman run --rm` with no network; returns the result (not checked)."""
        flags = ["run", "--rm", "--network", "none", *ULIMITS]
        for host, container in (volumes or {}).items():
            flags += ["--volume", f"{host}:{container}"]
        for key, value in (env or {}).items():
            flags += ["--env", f"{key}={value}"]
        return self.command(*flags, image, *args, check=False, timeout=timeout)

    def close(self) -> None:
        """Remove every image and container of the private store, then the store."""
        self.command("rm", "--all", "--force", check=False)
        self.command("rmi", "--all", "--force", check=False)
        self.command("system", "reset", "--force", check=False)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        shutil.rmtree(self.runroot, ignore_errors=True)

    def __enter__(self) -> Podman:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
