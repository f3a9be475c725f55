"""`bazel run //tools/lint -- [--fix] FILE...`: lint files of the source tree.

Paths are relative to the workspace root (pre-commit passes them so); with no files,
every tracked file is linted. Used by the pre-commit hooks in .pre-commit-config.yaml.
"""

import os
import pathlib
import subprocess
import sys

from lint import lint, parse_args


def main() -> int:
    here = pathlib.Path.cwd()
    args = parse_args([*sys.argv[1:]])
    tools = {name: str(here / getattr(args, name)) for name in ("ruff", "buildifier", "config")}
    os.chdir(os.environ.get("BUILD_WORKSPACE_DIRECTORY", "."))
    files = (
        args.files
        or subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    )
    return 1 if lint(files, fix=args.fix, **tools) else 0


if __name__ == "__main__":
    sys.exit(main())
