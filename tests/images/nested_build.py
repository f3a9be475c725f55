"""Building image targets with a second Bazel, in another clone and another output root,
from inside a test (which runs outside the sandbox: tags = ["local"]).

The second Bazel reuses the first build's fetched @pypi (the locked wheels, installed)
through --override_repository, so it needs no network and takes seconds, not minutes.
"""

import os
import pathlib
import shutil
import subprocess

from cadenza_fixtures import runfiles_root


def source_workspace() -> pathlib.Path:
    return (runfiles_root() / "WORKSPACE").resolve().parent


def bases_root() -> pathlib.Path:
    """The cached image bases the first build used (the @image_bases repository's source)."""
    index = runfiles_root().parent / "image_bases" / "bases" / "python" / "index.json"
    return index.resolve().parents[1]


def fetched_pypi() -> pathlib.Path:
    return (runfiles_root().parent / "pypi" / "lock_problems.txt").resolve().parent


def git(*args: str, cwd: pathlib.Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def clone_with_working_tree(source: pathlib.Path, target: pathlib.Path) -> None:
    """A git clone of `source` with its uncommitted changes applied, so both trees build
    the same files and report the same revision (dirty or not)."""
    git("clone", "--quiet", "--no-hardlinks", str(source), str(target), cwd=source.parent)
    changed = git("diff", "--name-only", "HEAD", cwd=source).split()
    untracked = git("ls-files", "--others", "--exclude-standard", cwd=source).split()
    for name in changed + untracked:
        if (source / name).exists():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)
        else:
            (target / name).unlink(missing_ok=True)


def build_in_another_clone(scratch: pathlib.Path, target: str, bases: pathlib.Path) -> pathlib.Path:
    """Clone the workspace into `scratch`, build `target` there with a second Bazel whose
    image bases are `bases`; returns the clone (its bazel-bin holds the outputs).
    Call `remove_output_root(scratch)` when done."""
    clone = scratch / "another-clone"
    clone_with_working_tree(source_workspace(), clone)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch / "home"),
        "CADENZA_IMAGE_BASES": str(bases),
        "LANG": "C.UTF-8",
    }
    command = [
        "bazel",
        f"--output_user_root={scratch / 'bazel-root'}",
        "--batch",
        "build",
        "--noshow_progress",
        f"--override_repository=pypi={fetched_pypi()}",
        target,
    ]
    result = subprocess.run(
        command, cwd=clone, env=env, capture_output=True, text=True, timeout=1500
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr[-4000:]}"
    return clone


def remove_output_root(scratch: pathlib.Path) -> None:
    subprocess.run(["chmod", "-R", "u+w", str(scratch)], check=False)
    shutil.rmtree(scratch / "bazel-root", ignore_errors=True)
