"""`bazel run //tools/lint:pre-commit -- ARGS`: pre-commit from the lock, in the source tree."""

import os
import sys

from pre_commit.main import main

if __name__ == "__main__":
    os.chdir(os.environ.get("BUILD_WORKSPACE_DIRECTORY", "."))
    sys.exit(main(sys.argv[1:]))
