"""Running the README's command blocks as written, in a clone of this workspace with a
second Bazel (from a test tagged "local": it runs outside the sandbox).

The second Bazel has its own output root and reuses the first build's fetched @pypi and
@buildifier through --override_repository, in the clone's user.bazelrc (which the
workspace's .bazelrc imports): no network, and builds of seconds.
"""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import shutil
import subprocess
import time

from cadenza_fixtures import runfiles_root
from tests.images.nested_build import (
    bases_root,
    clone_with_working_tree,
    fetched_pypi,
    source_workspace,
)


def readme_block(heading: str, number: int = 1) -> list[str]:
    """The commands of the `number`th sh block under the README's `## heading`, without
    comments (whole-line or trailing)."""
    text = (source_workspace() / "README.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n")[number].split("```", 1)[0]
    lines = (line.split(" #", 1)[0].strip() for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def fetched_buildifier() -> pathlib.Path:
    """The first build's @buildifier (its runfile links to <repository>/bin/buildifier)."""
    link = runfiles_root().parent / "buildifier" / "bin" / "buildifier"
    return pathlib.Path(os.readlink(link)).parents[1]


class NestedWorkspace:
    """A clone of this workspace (uncommitted changes included) and its own Bazel.
    `run(command)` runs one shell command there; `export A=B` lines set the variables of
    the commands after them, as in one shell. Placeholders (words such as OUT) become
    the paths given in `placeholders`."""

    def __init__(self, scratch: pathlib.Path, placeholders: dict[str, pathlib.Path] | None = None):
        self.scratch, self.clone = scratch, scratch / "clone"
        self.placeholders = dict(placeholders or {})
        self._exports: dict[str, str] = {}
        clone_with_working_tree(source_workspace(), self.clone)
        (self.clone / "user.bazelrc").write_text(
            f"startup --output_user_root={scratch / 'bazel-root'}\n"
            # a server left behind by an interrupted test goes away on its own
            "startup --max_idle_secs=60\n"
            f"common --override_repository=pypi={fetched_pypi()}\n"
            f"common --override_repository=buildifier={fetched_buildifier()}\n"
            "common --noshow_progress\n"
        )

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.scratch / "home"),
            "CADENZA_IMAGE_BASES": str(bases_root()),
            "LANG": "C.UTF-8",
            **self._exports,
        }

    def _bash(self, command: str, timeout: float) -> subprocess.CompletedProcess:
        for placeholder, path in self.placeholders.items():
            command = re.sub(rf"\b{placeholder}\b", str(path), command)
        return subprocess.run(
            ["bash", "-c", command],
            cwd=self.clone,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run(self, command: str, *, check: bool = True, timeout: float = 1200) -> str:
        """Runs `command` in the clone; its stdout. Fails naming it unless it exits 0."""
        if command.startswith("export "):
            self._exports.update(word.split("=", 1) for word in shlex.split(command)[1:])
            return ""
        result = self._bash(command, timeout)
        failed = f"{command}\nfailed ({result.returncode}):\n{result.stderr[-4000:]}"
        assert result.returncode == 0 or not check, failed
        return result.stdout

    def fails(self, command: str, timeout: float = 1200) -> str:
        """Runs `command`, which must fail; what it printed on stderr."""
        result = self._bash(command, timeout)
        assert result.returncode != 0, f"{command} succeeded:\n{result.stdout[-4000:]}"
        return result.stderr

    def run_until(self, command: str, done, timeout: float = 240) -> str:
        """Runs `command` until `done(stdout)` holds (work in the background takes time)."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.run(command)
            if done(out):
                return out
            assert time.monotonic() < deadline, f"{command}: not done after {timeout} s:\n{out}"
            time.sleep(2)

    def cleanup(self, command: str) -> None:
        """Runs a clean-up command; a failure is printed, and the clean-up goes on."""
        try:
            self.run(command, check=False, timeout=300)
        except Exception as err:
            print(f"clean-up {command!r} failed: {err}")

    def close(self) -> None:
        """Stops its Bazel server and removes everything."""
        try:
            subprocess.run(
                ["bazel", "shutdown"],
                cwd=self.clone,
                env=self.env(),
                capture_output=True,
                timeout=120,
            )
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(self.scratch)], check=False)
            shutil.rmtree(self.scratch, ignore_errors=True)
