"""deploy --profile local against the real emulators: the detached stack, the wiring,
a background job that processes an upload, `job stop`, and a stack restart."""

import io
import json
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest
from google.cloud import pubsub_v1, storage
from rich.console import Console

from cadenza.core import ConfigError, load_job_config, parse_job_config, plan_wiring
from cadenza.core.dag import Dag
from cadenza.devtools import jobctl
from cadenza.devtools.emulators import apply_env, restore_env
from cadenza.devtools.local_deploy import check_job_flags, deploy_local, unread_parent_outputs
from cadenza.devtools.localjobs import LocalJobs
from cadenza.devtools.localstack import LocalStack, pid_alive
from cadenza.devtools.wiring_apply import (
    CREATED,
    EXISTS,
    apply_plan,
    job_plan,
    local_plan,
    plan_rows,
)
from cadenza_fixtures import wait_for

JOB = """\
job_name: tinyjob
events:
  accept: [gcs_notification]
  inputs: [{type: gcs_notification, bucket: uploads, prefix: new/}]
data:
  inputs: [{name: audio, location: "gs://uploads"}]
  outputs: [{name: report, location: "gs://uploads/out", suffix: .json}]
"""

PIPELINE = """\
import pathlib
import sys

from cadenza.runtime import JobLogic, Result
from cadenza.runtime.cli import run_job_cli


class Size(JobLogic):
    def process(self, ctx):
        return Result(outputs={"report": {"bytes": len(ctx.inputs["audio"].read_bytes())}})


def main(argv=None):
    return run_job_cli(Size(), pathlib.Path(__file__).with_name("job.yaml"), argv)


if __name__ == "__main__":
    sys.exit(main())
"""


SLOW = """\
import os
import pathlib
import time

from cadenza.runtime import JobLogic, Result


class Size(JobLogic):
    def process(self, ctx):
        pathlib.Path(os.environ["SLOW_MARKER"]).write_text(ctx.message.element)
        time.sleep(4)
        return Result(outputs={"report": {"bytes": len(ctx.inputs["audio"].read_bytes())}})
"""


def make_job(tmp_path, monkeypatch, logic=""):
    package = tmp_path / "code" / "tinyjob"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "job.yaml").write_text(JOB)
    pipeline = PIPELINE
    if logic:
        pipeline = pipeline.replace("from cadenza.runtime import JobLogic, Result\n", "")
        pipeline = pipeline.replace(
            pipeline[pipeline.index("class Size") : pipeline.index("def main")], ""
        )
        pipeline = logic + "\n\n" + pipeline
    (package / "pipeline.py").write_text(pipeline)
    monkeypatch.syspath_prepend(str(tmp_path / "code"))  # the job process gets sys.path
    return load_job_config(package / "job.yaml", env={})


def console():
    return Console(file=io.StringIO(), width=200)


def deploy_tinyjob(config, stack, jobs, out, cwd) -> int:
    """`deploy_local` of the test job on its own DAG, into `stack` and `jobs`."""
    return deploy_local(
        config,
        Dag.build([config]),
        module="tinyjob.pipeline",
        job="tinyjob",
        console=out,
        stack_root=stack.root,
        jobs_root=jobs.root,
        cwd=cwd,
    )


def test_local_deploy_streams_an_upload_and_stop_drains(tmp_path, monkeypatch):
    config = make_job(tmp_path, monkeypatch)
    dag = Dag.build([config])
    stack = LocalStack(tmp_path / "stack")
    jobs = LocalJobs(tmp_path / "jobs")
    out = console()
    try:
        dry = deploy_local(
            config,
            dag,
            module="tinyjob.pipeline",
            job="tinyjob",
            console=out,
            dry_run=True,
            stack_root=stack.root,
            jobs_root=jobs.root,
        )
        assert dry == 0 and stack.status() is None and not (tmp_path / "stack").exists()
        code = deploy_tinyjob(config, stack, jobs, out, tmp_path)
        text = out.file.getvalue()
        assert code == 0, text
        assert "local stack started" in text and "(re)applied" in text and "recreated" in text
        assert "cadenza-tinyjob-uploads-uploads" in text and CREATED in text
        state = stack.status()
        assert state is not None
        assert stack.ensure() == (state, False)  # reused, not restarted

        previous = apply_env(state.env)
        try:
            bucket = storage.Client().bucket("uploads")  # deploy created it
            bucket.blob("other/skip.txt").upload_from_string(b"no")
            bucket.blob("new/a.txt").upload_from_string(b"hello")
            wait_for(
                lambda: bucket.blob("out/new/a.txt.json").exists(), "the job's output", timeout_s=60
            )
            assert bucket.blob("out/new/a.txt.json").download_as_bytes() != b""
            assert not bucket.blob("out/other/skip.txt.json").exists()
            plan = local_plan(job_plan(plan_wiring(dag), config), state.uploads_topic)
            again = apply_plan(plan, state.project)
            assert {r.status for r in again} == {EXISTS}, again
            assert {r.name for r in again} == {r.name for r in plan_rows(plan)}
        finally:
            restore_env(previous)

        again = console()
        kwargs = dict(
            module="tinyjob.pipeline",
            job="tinyjob",
            stack_root=stack.root,
            jobs_root=jobs.root,
            cwd=tmp_path,
        )
        assert deploy_local(config, dag, console=again, **kwargs) == 1
        assert "running already" in again.file.getvalue()
        first = jobs.state("tinyjob").pid
        assert deploy_local(config, dag, console=again, restart=True, **kwargs) == 0
        assert not pid_alive(first) and jobs.state("tinyjob").running
        # a child deployed with its input elsewhere than tinyjob writes is warned
        assert jobs.state("tinyjob").outputs == ["gs://uploads/out"]
        for where, warned in [("gs://uploads/out", False), ("elsewhere/out", True)]:
            child = parse_job_config(
                f"job_name: child\nupstream: [tinyjob]\n"
                f"data: {{inputs: [{{name: report, location: '{where}', suffix: .json}}]}}",
                env={},
            )
            warnings = unread_parent_outputs(child, jobs, tmp_path)
            assert bool(warnings) == warned
        (warning,) = warnings
        assert warning.startswith(
            f"child reads its data inputs from {tmp_path}/elsewhere/out, but the deployed "
            "tinyjob writes to gs://uploads/out: each of its events would be dead-lettered"
        )

        pid = jobs.state("tinyjob").pid
        roots = ["--jobs-root", str(jobs.root), "--stack-root", str(stack.root)]
        assert jobctl.main([*roots, "stack", "stop"]) == 1  # refused: tinyjob runs on it
        assert stack.status() is not None
        assert jobctl.main([*roots, "status"]) == 0
        assert jobctl.main([*roots, "logs", "tinyjob", "-n", "5"]) == 0
        assert jobctl.main(["--jobs-root", str(jobs.root), "stop", "tinyjob"]) == 0
        assert not pid_alive(pid)
        log = jobs.log_path("tinyjob").read_text()
        assert "tinyjob: stopped; " in log and "publish 1" in log, log
        # uploads outside new/ (other/skip.txt, the job's own outputs under out/):
        # acknowledged and counted as finished, not processed
        assert re.search(r"finished [1-9]", log), log

        # Uploaded while the job is stopped: its notification waits in the subscription,
        # and survives a restart of the stack.
        previous = apply_env(state.env)
        try:
            blob = storage.Client().bucket("uploads").blob("new/b.txt")
            blob.upload_from_string(b"later")
            blob.reload()
            # fake-gcs-server publishes its notification on its own time (before or after
            # the stop below); this copy of it is surely waiting when the stack stops
            _notify(state.project, state.uploads_topic, blob)
        finally:
            restore_env(previous)
        pids = dict(state.pids)
        assert stack.stop() and stack.status() is None
        saved = stack.saved  # ours, and fake-gcs-server's if it came before the stop
        assert saved >= 1 and list(stack.pending_path.iterdir())
        assert not any(pid_alive(p) for p in pids.values())
        restarted, started = stack.ensure()  # objects kept; the wiring and message restored
        assert started and restarted.pids != pids and stack.restored == saved
        assert not list(stack.pending_path.iterdir())
        previous = apply_env(restarted.env)
        try:
            bucket = storage.Client().bucket("uploads")
            assert bucket.blob("new/a.txt").exists()
            rows = apply_plan(plan, restarted.project)
            assert {r.name: r.status for r in rows}["cadenza-tinyjob-uploads-uploads"] == EXISTS
            assert not bucket.blob("out/new/b.txt.json").exists()
            assert deploy_local(config, dag, console=console(), **kwargs) == 0
            wait_for(lambda: bucket.blob("out/new/b.txt.json").exists(), "b after the restart", 60)
        finally:
            restore_env(previous)
    finally:
        for name in jobs.names():
            jobs.stop(name, timeout_s=10)
        stack.stop()
    assert stack.status() is None


def _notify(project: str, topic: str, blob) -> None:
    """Publishes the upload notification of `blob`, as the storage server does, and waits
    until Pub/Sub has it."""
    import json

    from google.cloud import pubsub_v1

    resource = {"kind": "storage#object", "bucket": blob.bucket.name, "name": blob.name}
    resource["generation"] = str(blob.generation)
    attributes = {
        "eventType": "OBJECT_FINALIZE",
        "payloadFormat": "JSON_API_V1",
        "bucketId": blob.bucket.name,
        "objectId": blob.name,
        "objectGeneration": str(blob.generation),
    }
    publisher = pubsub_v1.PublisherClient()
    data = json.dumps(resource).encode()
    publisher.publish(f"projects/{project}/topics/{topic}", data, **attributes).result(30)


def test_a_deploy_that_starts_the_stack_says_how_many_messages_it_restored(tmp_path, monkeypatch):
    config = make_job(tmp_path, monkeypatch)
    stack = LocalStack(tmp_path / "stack")
    jobs = LocalJobs(tmp_path / "jobs")
    stack.record_wiring(["side"], [("side-watch", "side", 30)])  # another job's, say
    try:
        state, _ = stack.ensure()
        previous = apply_env(state.env)
        try:
            publisher = pubsub_v1.PublisherClient()
            topic = publisher.topic_path(state.project, "side")
            for data in (b"one", b"two"):
                publisher.publish(topic, data).result(timeout=30)
        finally:
            restore_env(previous)
        assert stack.stop() and stack.saved == 2
        out = console()
        code = deploy_tinyjob(config, stack, jobs, out, tmp_path)
        text = " ".join(out.file.getvalue().split())
        assert code == 0, text
        assert "the 2 message(s) waiting in them at the last `stack stop` were restored" in text
        assert "only a stack that is killed, not stopped, loses its waiting messages" in text
        assert "are lost" not in text
    finally:
        for name in jobs.names():
            jobs.stop(name, timeout_s=10)
        stack.stop()


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_batch_job_is_not_started_in_the_background(tmp_path, dry_run):
    """Refused, and a dry run says so too (it had said it would run it)."""
    config = load_job_config(
        _write(
            tmp_path / "job.yaml",
            "job_name: batchy\nevents: {inputs: [{type: listing, location: /tmp}]}\n",
        ),
        env={},
    )
    out = console()
    code = _deploy(config, tmp_path, out, module="x", job="batchy", dry_run=dry_run)
    printed = " ".join(out.file.getvalue().split())
    assert code == 2 and "deploy: batchy has no streaming event input" in printed
    assert "would start" not in printed
    assert not (tmp_path / "stack").exists()


def _write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_stop_while_a_message_is_in_work_finishes_it_or_gives_it_back(tmp_path, monkeypatch):
    config = make_job(tmp_path, monkeypatch, logic=SLOW)
    marker = tmp_path / "started"
    monkeypatch.setenv("SLOW_MARKER", str(marker))
    stack = LocalStack(tmp_path / "stack")
    jobs = LocalJobs(tmp_path / "jobs")
    out = console()
    try:
        code = deploy_tinyjob(config, stack, jobs, out, tmp_path)
        assert code == 0, out.file.getvalue()
        state = stack.status()
        previous = apply_env(state.env)
        try:
            bucket = storage.Client().bucket("uploads")  # deploy created it
            bucket.blob("new/slow.txt").upload_from_string(b"slow")
            wait_for(marker.exists, "the job to start work on the upload", timeout_s=60)
            assert "drained" in jobs.stop("tinyjob", timeout_s=60)
            written = bucket.blob("out/new/slow.txt.json").exists()
            subscriber = pubsub_v1.SubscriberClient()
            path = subscriber.subscription_path(state.project, "cadenza-tinyjob-uploads-uploads")
            response = subscriber.pull(
                request={"subscription": path, "max_messages": 10}, timeout=10
            )
            back = [m.message.attributes.get("objectId") for m in response.received_messages]
            subscriber.close()
        finally:
            restore_env(previous)
        log = jobs.log_path("tinyjob").read_text()
        # never acknowledged unfinished: acked only with its outputs written, else given
        # back (seen here: the logic finished and wrote, the message was given back
        # unsettled; its redelivery finds the outputs and only publishes the event)
        assert written or "new/slow.txt" in back, (written, back, log)
        assert "tinyjob: stopped; " in log, log
        print(f"in-flight message at stop: written={written}, redelivered={back}; {log}")
    finally:
        for name in jobs.names():
            jobs.stop(name, timeout_s=10)
        stack.stop()


def _deploy(config, tmp_path, out, *, module="tinyjob.pipeline", job="tinyjob", **kwargs) -> int:
    """`deploy_local` of `config` on its own DAG, with its stack and jobs in tmp_path."""
    return deploy_local(
        config,
        Dag.build([config]),
        module=module,
        job=job,
        console=out,
        stack_root=tmp_path / "stack",
        jobs_root=tmp_path / "jobs",
        cwd=tmp_path,
        **kwargs,
    )


def test_a_bad_flag_is_refused_before_a_running_job_is_stopped(tmp_path, monkeypatch):
    config = make_job(tmp_path, monkeypatch)
    jobs = LocalJobs(tmp_path / "jobs")
    stack = LocalStack(tmp_path / "stack")
    # a stand-in for the running job: a process with the job's module on its command line
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "tinyjob.pipeline"]
    )
    try:
        jobs.folder("tinyjob").mkdir(parents=True)
        state = dict(job="tinyjob", pid=process.pid, module="tinyjob.pipeline", command=[])
        state |= dict(cwd=str(tmp_path), log=str(jobs.log_path("tinyjob")), started_at=0.0)
        (jobs.folder("tinyjob") / "job.json").write_text(json.dumps(state))
        # until the child has exec'd, /proc/<pid>/cmdline is still this process's
        wait_for(lambda: jobs.state("tinyjob").running, "the stand-in job to start", timeout_s=30)
        out = console()
        code = _deploy(config, tmp_path, out, restart=True, extra_args=["--bogus_flag=1"])
        said = " ".join(out.file.getvalue().split())
        assert code == 2, said
        assert (
            "deploy: tinyjob: the command line: --bogus_flag is not an option of the job or of Beam"
        ) in said
        assert said.endswith("nothing was stopped or started")
        assert process.poll() is None and jobs.state("tinyjob").running  # left running
        assert stack.status() is None and not stack.root.exists()  # nothing started
    finally:
        process.kill()
        process.wait()
        stack.stop()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--bogus_flag=1"], "--bogus_flag is not an option of the job or of Beam"),
        (["--max_messages=2"], "(did you mean --max-messages?)"),
        (["--max-messages=0"], "argument --max-messages: expected 1 or more, got 0"),
        (["--batch"], "argument --batch: not allowed with argument --stream"),
        (["--direct_num_workers=x"], "--direct_num_workers"),
        (["positional"], "'positional' is not an option (options start with --)"),
        (["-h"], "--help prints the job's help and exits"),
    ],
)
def test_a_dry_run_refuses_the_flags_the_job_would(tmp_path, monkeypatch, flags, message):
    config = make_job(tmp_path, monkeypatch)
    out = console()
    code = _deploy(config, tmp_path, out, dry_run=True, extra_args=flags)
    said = " ".join(out.file.getvalue().split())
    assert code == 2, said
    assert said.startswith("deploy: tinyjob: the command line: ") and message in said
    assert said.endswith("nothing was changed (dry run)")
    assert not (tmp_path / "stack").exists() and not (tmp_path / "jobs").exists()


def test_the_flags_of_the_job_and_of_beam_pass(tmp_path, monkeypatch):
    config = make_job(tmp_path, monkeypatch)
    out = console()
    flags = ["--max-messages=3", "--runs", "r", "--direct_num_workers=2", "--fail-on-dead-letters"]
    assert _deploy(config, tmp_path, out, dry_run=True, extra_args=flags) == 0
    assert "--max-messages=3 --runs r --direct_num_workers=2" in out.file.getvalue()
    check_job_flags(config, ["--stream", "--set", "params.x=1", *flags])


def test_a_bad_option_of_the_local_profile_is_refused_too(tmp_path, monkeypatch):
    config = make_job(tmp_path, monkeypatch)
    config = load_job_config(
        tmp_path / "code" / "tinyjob" / "job.yaml",
        env={},
        overrides=["profiles.local={runner: local, options: {direct_num_worker: 2}}"],
    )
    with pytest.raises(ConfigError) as err:
        check_job_flags(config, ["--stream"])
    assert str(err.value).startswith("tinyjob: profiles.local.options: --direct_num_worker is not")
