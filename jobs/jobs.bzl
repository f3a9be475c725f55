"""Every job in the monorepo: the DAG registry (//jobs:registry) is built from this list.

Bazel 4 cannot discover macro calls across packages, so the list lives here, kept up to
date by `bazel run //tools:new_job -- NAME`; //jobs:jobs_list_test fails when it differs
from the job folders on disk, and `cadenza_job` refuses a job that is not listed.
"""

JOBS = [
    "audio_info",
    "features",
    "fingerprint",
    "normalize",
]
