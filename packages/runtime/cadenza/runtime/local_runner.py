"""The local profile's runner: Beam's FnApiRunner, whose worker processes
(`--direct_running_mode=multi_processing`) run as this interpreter does.

Bazel runs Python with `-S` (tools/python/python3): no site directories, so Debian's
dist-packages cannot stand in for a dependency. Beam starts its workers as
`sys.executable -m ...`, without the flag; there Debian's pyOpenSSL, found beside the
pinned cryptography, fails to import and the worker dies (the run then waits for it
forever). This runner starts them with `-S` when this process has it.
"""

from __future__ import annotations

import sys

from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.transforms.environments import SubprocessSDKEnvironment

MULTI_PROCESSING = "multi_processing"
# a running mode Beam does not know: it then keeps the worker environment set here
_OWN_WORKERS = "multi_processing (cadenza)"


def worker_command() -> str:
    """The command Beam runs for each worker process: this interpreter, with its -S."""
    no_site = " -S" if sys.flags.no_site else ""
    return f"{sys.executable}{no_site} -m apache_beam.runners.worker.sdk_worker_main"


class LocalRunner(FnApiRunner):
    """FnApiRunner whose multi-processing workers start as this interpreter did."""

    def run_pipeline(self, pipeline, options):
        direct = options.view_as(DirectOptions)
        if direct.direct_running_mode != MULTI_PROCESSING or not sys.flags.no_site:
            return super().run_pipeline(pipeline, options)
        self._default_environment = SubprocessSDKEnvironment.from_command_string(worker_command())
        direct.direct_running_mode = _OWN_WORKERS
        try:
            return super().run_pipeline(pipeline, options)
        finally:
            direct.direct_running_mode = MULTI_PROCESSING
