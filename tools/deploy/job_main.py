"""`bazel run //tools:job -- status|stop|logs [JOB]` and `... stack status|stop`: the jobs
that `bazel run //jobs/<job>:deploy` started in the background (see cadenza.devtools.jobctl)."""

import sys

from cadenza.devtools.jobctl import main

if __name__ == "__main__":
    sys.exit(main())
