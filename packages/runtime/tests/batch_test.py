"""Batch runs on the local runner and on a real dask.distributed cluster."""

import json
import os
import signal
import subprocess
import time

import pytest
from jobs_for_tests import Describe, make_config, put_input

from cadenza.core import Message
from cadenza.runtime.batch import batch_ids, run_batch
from cadenza.runtime.profiles import profile_args
from cadenza_fixtures import python_command, subprocess_env


def test_batch_inputs_from_a_file_and_a_listing(tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("a1\n# comment\n\nb2\na1\n")
    (tmp_path / "listing").mkdir()
    for name in ("c3.flac", "d4.flac", "skip.txt"):
        (tmp_path / "listing" / name).write_text("x")
    config = make_config(
        tmp_path,
        "events:\n  inputs:\n"
        f"    - {{type: file, path: {ids}}}\n"
        f"    - {{type: listing, location: {tmp_path}/listing, suffix: .flac}}",
    )
    assert batch_ids(config) == ["a1", "b2", "c3", "d4"]


def test_local_batch_run_records_every_outcome(tmp_path):
    config = make_config(tmp_path, f"dead_letter: {{location: {tmp_path}/dead}}")
    for element in ("t1", "t2"):
        put_input(tmp_path, element)
    put_input(tmp_path, "bad", "fail")
    run = run_batch(
        config,
        Describe(),
        elements=["t1", "t2", "bad", "missing", Message.new("p", ping=True)],
        runs_root=str(tmp_path / "runs"),
    )
    assert run.counts() == {
        "dead_letter:inputs": 1,
        "dead_letter:logic": 1,
        "ping": 1,
        "processed": 2,
    }
    dead = [json.loads(p.read_text()) for p in (tmp_path / "dead" / "dead_letter").iterdir()]
    assert sorted(d["element"] for d in dead) == ["bad", "missing"]
    assert len(list((tmp_path / "runs" / "describe" / run.run_id / "events").iterdir())) == 3


def test_profiles_become_pipeline_flags(tmp_path):
    config = make_config(
        tmp_path,
        """profiles:
  local: {runner: local, options: {direct_num_workers: 2, save_main_session: false}}
  dask: {runner: dask, scheduler: "tcp://127.0.0.1:1"}
  dataflow:
    runner: dataflow
    project: p
    region: r
    temp_location: gs://b/t
    sdk_container_image: img@sha256:1""",
    )
    assert profile_args(config, "local")[1:] == ["--direct_num_workers=2"]
    assert "--dask_client_address=tcp://127.0.0.1:1" in profile_args(config, "dask")
    assert "--sdk_container_image=img@sha256:1" in profile_args(config, "dataflow")


@pytest.fixture
def dask_cluster(free_port, tmp_path):
    """A real dask.distributed scheduler and two workers on 127.0.0.1."""
    address = f"tcp://127.0.0.1:{free_port}"
    env = subprocess_env()
    scheduler = subprocess.Popen(
        [
            *python_command(),
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port),
            "--no-dashboard",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    workers = [
        subprocess.Popen(
            [
                *python_command(),
                "-m",
                "distributed.cli.dask_worker",
                address,
                "--nthreads",
                "1",
                "--no-dashboard",
                "--local-directory",
                str(tmp_path / f"w{i}"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for i in range(2)
    ]
    from distributed import Client

    deadline = time.monotonic() + 60
    while True:
        try:
            with Client(address, timeout=5) as client:
                if len(client.scheduler_info()["workers"]) == 2:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the dask cluster did not come up within 60 s")
        time.sleep(0.5)
    yield address
    for process in [*workers, scheduler]:
        os.killpg(process.pid, signal.SIGTERM)
    for process in [*workers, scheduler]:
        process.wait(timeout=30)


def test_local_and_dask_give_identical_outputs(tmp_path, dask_cluster):
    outputs = {}
    for profile in ("local", "dask"):
        root = tmp_path / profile
        config = make_config(
            root,
            "profiles:\n  local: {runner: local}\n"
            f'  dask: {{runner: dask, scheduler: "{dask_cluster}"}}',
        )
        elements = [f"t{i:02d}" for i in range(30)]
        for element in elements:
            put_input(root, element, "fail" if element == "t07" else f"content of {element}")
        run = run_batch(
            config, Describe(), profile=profile, elements=elements, runs_root=str(root / "runs")
        )
        assert run.counts() == {"dead_letter:logic": 1, "processed": 29}, profile
        outputs[profile] = {
            p.name: p.read_bytes()
            for p in sorted((root / "out").iterdir())
            if not p.name.endswith(".provenance.json")
        }
    assert len(outputs["local"]) == 58
    assert outputs["local"] == outputs["dask"]
