"""The three jobs of the DAG deployed on a fresh local stack, for tests and benchmarks.

`deployed_dag(tmp_path)` deploys normalize, fingerprint and features with `deploy
--profile local`'s own code path (background streaming processes on the real Pub/Sub
emulator and fake-gcs-server), and stops them and the stack afterwards. `Events` reads
every output event through subscriptions of its own; `send` is `cadenza job send`.
"""

import contextlib
import io
import os
import uuid

import attrs
import soundfile
from google.cloud import pubsub_v1, storage
from rich.console import Console

from cadenza.audio.fingerprint.synthetic import SAMPLE_RATE, melody
from cadenza.core import decode, load_job_config
from cadenza.core.dag import Dag
from cadenza.devtools import jobctl
from cadenza.devtools.emulators import apply_env, restore_env
from cadenza.devtools.local_deploy import deploy_local
from cadenza.devtools.localjobs import LocalJobs, tail
from cadenza.devtools.localstack import LocalStack
from cadenza_fixtures import runfiles_root

JOBS = ("normalize", "fingerprint", "features")
UPLOADS, DATA = "cadenza-uploads", "cadenza-data"


def mp3(seconds: float, seed: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, melody(seconds=seconds, seed=seed), SAMPLE_RATE, format="MP3")
    return buffer.getvalue()


class Events:
    """Every output event of the three jobs, through the test's own subscriptions."""

    def __init__(self, project: str):
        self._subscriber = pubsub_v1.SubscriberClient()
        self._subscriptions = {}
        suffix = uuid.uuid4().hex[:8]
        for job in JOBS:
            name = f"projects/{project}/subscriptions/test-{job}-{suffix}"
            topic = f"projects/{project}/topics/cadenza-{job}-out"
            self._subscriber.create_subscription(name=name, topic=topic)
            self._subscriptions[job] = name
        self.seen: dict[str, list] = {job: [] for job in JOBS}

    def pull(self) -> None:
        for job, name in self._subscriptions.items():
            response = self._subscriber.pull(
                subscription=name, max_messages=50, return_immediately=True, timeout=10
            )
            if response.received_messages:
                self._subscriber.acknowledge(
                    subscription=name, ack_ids=[m.ack_id for m in response.received_messages]
                )
            self.seen[job] += [decode(m.message.data) for m in response.received_messages]

    def path(self, job: str, element: str):
        """For wait_for: the audit path of `job`'s event for `element`, once it came."""
        self.pull()
        for message in self.seen[job]:
            if message.element == element:
                return [(e.job, e.outcome.value) for e in message.audit_log]
        return None

    def at(self, job: str, element: str) -> float | None:
        """When `job` finished `element` (its audit entry in its event), as a Unix time."""
        self.pull()
        for message in self.seen[job]:
            if message.element == element:
                entries = [e for e in message.audit_log if e.job == job]
                return entries[-1].at.timestamp() if entries else None
        return None

    def paths(self, job: str, element: str) -> list:
        self.pull()
        return [
            [(e.job, e.outcome.value) for e in m.audit_log]
            for m in self.seen[job]
            if m.element == element
        ]

    def close(self) -> None:
        for name in self._subscriptions.values():
            self._subscriber.delete_subscription(subscription=name)
        self._subscriber.close()


def send(stack_root, *args) -> None:
    """`cadenza job send ARGS` on the stack at `stack_root`."""
    if jobctl.main(["--stack-root", str(stack_root), "send", *args]) != 0:
        raise RuntimeError(f"job send {' '.join(args)} failed")


def logs_of(jobs: LocalJobs):
    """For wait_for: the end of every job's log."""
    return lambda: "\n".join(f"--- {job} ---\n{tail(jobs.log_path(job), 30)}" for job in JOBS)


@attrs.frozen
class DeployedDag:
    client: storage.Client
    jobs: LocalJobs
    out: object  # pathlib.Path: the local outputs (fingerprint, index, features)
    stack_root: object
    events: Events


@contextlib.contextmanager
def deployed_dag(tmp_path):
    """The three jobs deployed on a fresh local stack (see the module docstring)."""
    out = tmp_path / "out"
    env = {
        "NORMALIZE_INPUT": f"gs://{UPLOADS}",
        "NORMALIZE_OUTPUT": f"gs://{DATA}/normalize",
        "FINGERPRINT_OUTPUT": str(out / "fingerprint"),
        "FINGERPRINT_INDEX": str(out / "index"),
        "FEATURES_OUTPUT": str(out / "features"),
    }
    saved_env = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    configs = {
        job: load_job_config(runfiles_root() / "jobs" / job / "job.yaml", env=env) for job in JOBS
    }
    dag = Dag.build(list(configs.values()))
    stack, jobs = LocalStack(tmp_path / "stack"), LocalJobs(tmp_path / "jobs")
    console = Console(file=io.StringIO(), width=200)
    try:
        stack_state, _ = stack.ensure()
        previous = apply_env(stack_state.env)
        client = storage.Client(project=stack_state.project)
        for job in JOBS:
            code = deploy_local(
                configs[job],
                dag,
                module=f"jobs.{job}.pipeline",
                job=job,
                console=console,
                stack_root=stack.root,
                jobs_root=jobs.root,
                cwd=tmp_path,
            )
            if code != 0:
                raise RuntimeError(f"deploying {job} failed:\n{console.file.getvalue()}")
        events = Events(stack_state.project)
        yield DeployedDag(client, jobs, out, stack.root, events)
    finally:
        if "events" in locals():
            events.close()
        for job in JOBS:
            if jobs.state(job) is not None:
                jobs.stop(job)
        stack.stop()
        if "previous" in locals():
            restore_env(previous)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
