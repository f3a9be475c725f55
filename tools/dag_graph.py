"""`bazel run //tools:dag_graph [-- --format dot|svg|png --output FILE] [--job NAME]`."""

import sys

from cadenza.devtools.graph import main

if __name__ == "__main__":
    sys.exit(main())
