"""`bazel run //tools:new_job -- NAME [--upstream PARENT]`."""

import sys

from cadenza.devtools.new_job import main

if __name__ == "__main__":
    sys.exit(main())
