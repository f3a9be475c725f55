"""Batch runs on the local runner and on a real dask.distributed cluster."""

import base64
import contextlib
import hashlib
import json
import os
import pathlib
import re
import threading

import attrs
import pytest
from jobs_for_tests import Describe, make_config, put_input

from cadenza.core import ConfigError, Message, decode
from cadenza.devtools.dask_cluster import DaskCluster
from cadenza.runtime.batch import batch_ids, run_batch
from cadenza.runtime.cli import run_job_cli
from cadenza.runtime.lifecycle.decoding import message_for_id
from cadenza.runtime.profiles import pipeline_options, profile_args
from cadenza.runtime.storage import read_provenance


def test_batch_inputs_from_a_file_and_a_listing(tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("a1\n# comment\n\nb2\na1\n")
    (tmp_path / "listing").mkdir()
    for name in ("c3.flac", "d4.flac", "skip.txt"):
        (tmp_path / "listing" / name).write_text("x")
    (tmp_path / "listing" / "album.flac").mkdir()  # a folder is not an element
    config = make_config(
        tmp_path,
        "events:\n  inputs:\n"
        f"    - {{type: file, path: {ids}}}\n"
        f"    - {{type: listing, location: {tmp_path}/listing, suffix: .flac}}",
    )
    assert batch_ids(config) == ["a1", "b2", "c3", "d4"]


def test_batch_inputs_as_written_and_without_sidecars(tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_bytes("\ufeffa1\n  # indented comment\n b2 \n".encode())  # a BOM first
    listing = tmp_path / "take[1]"  # glob characters in the folder: taken as written
    listing.mkdir()
    for name in ("c3.json", "c3.json.provenance.json", "d4.json"):
        (listing / name).write_text("{}")
    config = make_config(
        tmp_path,
        "events:\n  inputs:\n"
        f"    - {{type: file, path: {ids}}}\n"
        f"    - {{type: listing, location: '{listing}', suffix: .json}}",
    )
    assert batch_ids(config) == ["a1", "b2", "c3", "d4"]


def test_a_listing_location_that_is_not_a_local_folder_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "song.flac").write_text("x")
    for location, what in [("missing", "no such folder"), ("song.flac", "is a file, not a folder")]:
        config = make_config(
            tmp_path,
            f"events:\n  inputs:\n    - {{type: listing, location: {tmp_path}/{location}}}",
        )
        with pytest.raises(ConfigError, match=f"^{tmp_path}/{location}: {what} "):
            batch_ids(config)
    empty = make_config(
        tmp_path, f"events:\n  inputs:\n    - {{type: listing, location: {tmp_path}/empty}}"
    )
    assert batch_ids(empty) == []


def test_a_listed_file_name_that_is_not_utf8_is_named(tmp_path):
    listing = tmp_path / "listing"
    listing.mkdir()
    (listing / "good.flac").write_text("x")
    with open(os.path.join(os.fsencode(listing), b"caf\xe9.flac"), "w") as out:  # Latin-1
        out.write("x")
    config = make_config(
        tmp_path, f"events: {{inputs: [{{type: listing, location: {listing}, suffix: .flac}}]}}"
    )
    with pytest.raises(ConfigError, match=r"1 file name\(s\) are not UTF-8, e.g. b'caf\\xe9"):
        batch_ids(config)


def test_a_missing_or_binary_ids_file_is_named(tmp_path):
    for path, problem in (
        (tmp_path / "nowhere.txt", "cannot read the file of ids"),
        (tmp_path / "binary.txt", "the file of ids is not UTF-8 text"),
    ):
        if path.name == "binary.txt":
            path.write_bytes(b"\xff\xfe\x00a")
        config = make_config(tmp_path, f"events: {{inputs: [{{type: file, path: {path}}}]}}")
        with pytest.raises(ConfigError, match=f"^{path}: {problem}"):
            batch_ids(config)


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
    events = pathlib.Path(run.events_folder)
    lines = [line for f in events.iterdir() for line in f.read_text().splitlines()]
    sent = sorted(decode(base64.b64decode(json.loads(line)["data"])).element for line in lines)
    assert sent == ["p", "t1", "t2"]  # the ping, and the two processed
    # outcomes: a JSON-lines file per bundle; a bundle the runner retried (its records
    # written again, in another file) still counts once
    outcome_files = list((tmp_path / "runs" / "describe" / run.run_id / "outcomes").iterdir())
    assert outcome_files and all(f.suffix == ".jsonl" for f in outcome_files)
    (outcome_files[0].parent / "retried.jsonl").write_bytes(outcome_files[0].read_bytes())
    assert sum(run.counts().values()) == 5
    # the provenance's input digest is that of the bytes the logic read
    provenance = read_provenance(str(tmp_path / "out" / "t1.json"))
    content = (tmp_path / "in" / "t1.txt").read_bytes()
    assert provenance["inputs"]["audio"] == "sha256:" + hashlib.sha256(content).hexdigest()


def test_ids_become_messages_in_the_pipeline_the_same_when_made_again(tmp_path):
    # a retried bundle makes its messages again: with the same ids, so counted once
    assert message_for_id("t1", "run-a") == message_for_id("t1", "run-a")
    made = {message_for_id(e, run).message_id for e in ("t1", "t2") for run in ("a", "b")}
    assert len(made) == 4 and all(len(m) == 32 for m in made)
    config = make_config(tmp_path, f"dead_letter: {{location: {tmp_path}/dead}}")
    put_input(tmp_path, "t1")
    too_long = "x" * 5000  # longer than a message's element may be: dead-lettered, not fatal
    run = run_batch(
        config, Describe(), elements=["t1", "t1", too_long], runs_root=str(tmp_path / "runs")
    )
    assert run.elements == 2 and run.counts() == {"dead_letter:decode": 1, "processed": 1}
    (dead,) = [json.loads(p.read_text()) for p in (tmp_path / "dead" / "dead_letter").iterdir()]
    assert dead["reason"].startswith(f"element id '{'x' * 80}...' cannot be a message's element")


def notification(name: str, event: str = "OBJECT_FINALIZE") -> dict:
    resource = {"kind": "storage#object", "bucket": "uploads", "name": name, "generation": "7"}
    return {
        "data": base64.b64encode(json.dumps(resource).encode()).decode(),
        "attributes": {
            "eventType": event,
            "bucketId": "uploads",
            "objectId": name,
            "objectGeneration": "7",
            "payloadFormat": "JSON_API_V1",
        },
    }


def test_batch_from_a_file_of_upload_notifications(tmp_path):
    lines = [
        notification("a.txt"),
        {"ackId": "x", "message": notification("b.txt")},  # as `gcloud ... pull` saves them
        notification("a.txt", "OBJECT_DELETE"),  # not an upload: nothing to do
    ]
    saved = tmp_path / "notifications.jsonl"
    saved.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = make_config(
        tmp_path,
        "events:\n  accept: [gcs_notification]\n"
        f"  inputs: [{{type: file, path: {saved}, format: messages}}]",
    )
    config = attrs.evolve(
        config,
        data=attrs.evolve(config.data, inputs=(attrs.evolve(config.data.inputs[0], suffix=""),)),
    )
    (tmp_path / "in").mkdir()
    for name in ("a.txt", "b.txt"):  # the element is the object's name
        (tmp_path / "in" / name).write_text(f"content of {name}")
    run = run_batch(config, Describe(), runs_root=str(tmp_path / "runs"))
    assert run.counts() == {"processed": 2}
    assert sorted(p.name for p in (tmp_path / "out").glob("*.txt.json")) == [
        "a.txt.json",
        "b.txt.json",
    ]


def test_a_bad_line_in_a_messages_file_is_named(tmp_path):
    saved = tmp_path / "bad.jsonl"
    saved.write_text(json.dumps(notification("a.txt")) + "\n{not json\n")
    config = make_config(
        tmp_path, f"events: {{inputs: [{{type: file, path: {saved}, format: messages}}]}}"
    )
    with pytest.raises(ConfigError, match=rf"{saved}:2: expected a JSON Pub/Sub message"):
        run_batch(config, Describe(), runs_root=str(tmp_path / "runs"))


def test_batch_dead_letters_also_go_to_the_topic(tmp_path, pubsub):
    topic = pubsub.topic(pubsub.unique("dead"))
    watch = pubsub.subscription(pubsub.unique("dead-watch"), topic)
    config = make_config(tmp_path, f"dead_letter: {{location: {tmp_path}/dead, topic: {topic}}}")
    put_input(tmp_path, "bad", "fail")
    run = run_batch(config, Describe(), elements=["bad", "gone"], runs_root=str(tmp_path / "runs"))
    assert run.counts() == {"dead_letter:inputs": 1, "dead_letter:logic": 1}
    published = sorted(
        (m.attributes["cadenza_element"], json.loads(m.data)["stage"]) for m in pubsub.drain(watch)
    )
    assert published == [("bad", "logic"), ("gone", "inputs")]


def test_a_missing_dead_letter_topic_stops_the_run_before_it_starts(tmp_path, pubsub):
    topic = pubsub.unique("never-made")
    config = make_config(tmp_path, f"dead_letter: {{location: {tmp_path}/dead, topic: {topic}}}")
    put_input(tmp_path, "t1")
    with pytest.raises(ConfigError, match=r"^cannot run the batch \(its dead-letter topic\): "):
        run_batch(config, Describe(), elements=["t1"], runs_root=str(tmp_path / "runs"))
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


class DeletingTheTopic(Describe):
    """Describe, deleting the dead-letter topic first: the run's publishes to it fail."""

    def __init__(self, topic):
        self._topic = topic

    def process(self, ctx):
        from google.api_core.exceptions import NotFound
        from google.cloud import pubsub_v1

        with contextlib.suppress(NotFound):
            pubsub_v1.PublisherClient().delete_topic(topic=self._topic)
        return super().process(ctx)


def test_a_failing_dead_letter_publish_keeps_the_record_and_the_run_going(tmp_path, pubsub):
    topic = pubsub.topic(pubsub.unique("dead"))
    config = make_config(tmp_path, f"dead_letter: {{location: {tmp_path}/dead, topic: {topic}}}")
    put_input(tmp_path, "bad", "fail")
    put_input(tmp_path, "t1")
    run = run_batch(
        config,
        DeletingTheTopic(topic),
        elements=["bad", "t1"],
        runs_root=str(tmp_path / "runs"),
    )
    assert run.counts() == {"dead_letter:logic": 1, "processed": 1}
    assert [p.name for p in (tmp_path / "dead" / "dead_letter").iterdir()] != []
    assert run.counters["dead_letter_topic_failures"] == 1
    pubsub.publisher.create_topic(name=topic)  # for the fixture to delete


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
    temp_location: gs://bkt/t
    sdk_container_image: img@sha256:1""",
    )
    assert profile_args(config, "local")[1:] == ["--direct_num_workers=2"]
    assert "--dask_client_address=tcp://127.0.0.1:1" in profile_args(config, "dask")
    assert "--sdk_container_image=img@sha256:1" in profile_args(config, "dataflow")


def test_options_beam_does_not_know_are_refused_before_running(tmp_path):
    """Beam would log "Discarding unparseable args" and run without the option."""
    typo = make_config(
        tmp_path, "profiles:\n  local: {runner: local, options: {direct_num_worker: 2}}"
    )
    with pytest.raises(ConfigError) as err:
        run_batch(typo, Describe(), elements=["a"], runs_root=str(tmp_path / "runs"))
    assert str(err.value) == (
        "describe: profiles.local.options: --direct_num_worker is not an option of the job "
        "or of Beam (did you mean --direct_num_workers?)"
    )
    config = make_config(tmp_path)
    for extra, problem in (
        (["--save_main_sessio"], "--save_main_sessio is not an option of the job or of Beam"),
        (["stray"], "'stray' is not an option (options start with --)"),
        (["--direct_num_workers=two"], "argument --direct_num_workers: invalid int value"),
    ):
        with pytest.raises(ConfigError, match="^describe: the command line: " + re.escape(problem)):
            run_batch(config, Describe(), elements=["a"], extra_args=extra)
    assert not (tmp_path / "runs").exists()  # nothing ran
    workers = pipeline_options(config, "local", ["--direct_num_workers", "2"])
    assert workers.get_all_options()["direct_num_workers"] == 2
    # the runner named on the command line brings its options; Dataflow takes any option
    # (Beam hands those it does not know to the service)
    dask = ["--runner=apache_beam.runners.dask.dask_runner.DaskRunner", "--dask_npartitions=2"]
    assert pipeline_options(config, "local", dask).get_all_options()["npartitions"] == 2
    dataflow = make_config(
        tmp_path,
        "profiles: {dataflow: {runner: dataflow, project: p, region: r, temp_location: gs://bkt/t}}",
    )
    assert pipeline_options(dataflow, "dataflow", ["--service_only_option=1"])


def test_the_job_command_line_names_a_mistyped_option(tmp_path, capsys):
    config = tmp_path / "job.yaml"
    config.write_text(
        f"job_name: describe\ndata: {{inputs: [{{name: audio, location: {tmp_path}}}]}}"
    )
    assert run_job_cli(Describe(), config, ["--profle", "dask"]) == 2
    out = capsys.readouterr().out
    assert "--profle is not an option of the job or of Beam (did you mean --profile?)" in out
    with pytest.raises(SystemExit):  # argparse's own error, exit status 2
        run_job_cli(Describe(), config, ["--max-messages", "0"])
    assert "--max-messages: expected 1 or more, got 0" in capsys.readouterr().err


def test_the_job_command_line_can_fail_a_run_with_dead_letters(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ok.txt").write_text("hello")
    (tmp_path / "in" / "bad.txt").write_text("fail")
    config = tmp_path / "job.yaml"
    config.write_text(
        f"job_name: describe\nevents: {{inputs: [{{type: listing, location: {tmp_path}/in, "
        f"suffix: .txt}}]}}\ndata:\n  inputs: [{{name: audio, location: {tmp_path}/in, "
        f"suffix: .txt}}]\n  outputs: [{{name: report, location: {tmp_path}/out, suffix: .json}},"
        f" {{name: copy, location: {tmp_path}/out, suffix: .bin}}]\n"
    )
    runs = ["--runs", str(tmp_path / "runs")]
    assert run_job_cli(Describe(), config, runs) == 0  # its dead letters are results too
    assert run_job_cli(Describe(), config, [*runs, "--fail-on-dead-letters"]) == 1
    assert "1 element(s) dead-lettered" in capsys.readouterr().out


def test_the_job_command_line_says_how_to_reach_gcs_without_credentials(
    tmp_path, capsys, monkeypatch
):
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # not a Google Cloud machine: do not ask
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud login
    monkeypatch.setenv("HOME", str(tmp_path))
    config = tmp_path / "job.yaml"
    config.write_text(
        "job_name: describe\nevents: {inputs: [{type: listing, location: gs://b/in}]}\n"
        "data: {inputs: [{name: audio, location: gs://b/in}]}\n"
    )
    assert run_job_cli(Describe(), config, ["--runs", str(tmp_path / "runs")]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "error cannot reach Google Cloud: no credentials found." in out
    assert "STORAGE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST" in out


def test_the_local_runner_in_worker_processes_runs_every_element(tmp_path):
    """`--direct_running_mode=multi_processing`: Beam starts each worker as
    `sys.executable -m ...`; without this interpreter's -S, Debian's dist-packages broke
    the workers' imports and the run waited for them forever."""
    config = make_config(tmp_path)
    elements = [f"w{i}" for i in range(6)]
    for element in elements:
        put_input(tmp_path, element, f"content of {element}")
    extra = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    done = {}

    def run():
        done["run"] = run_batch(
            config,
            Describe(),
            elements=elements,
            runs_root=str(tmp_path / "runs"),
            extra_args=extra,
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(240)
    assert "run" in done, "the run did not finish in 240 s"
    assert done["run"].counts() == {"processed": 6}
    assert sorted(p.name for p in (tmp_path / "out").glob("w*.json")) == [
        f"{e}.json" for e in elements
    ]


def test_the_workers_image_pinned_by_digest_is_in_every_outputs_provenance(tmp_path):
    config = make_config(tmp_path)
    put_input(tmp_path, "e1", "content")
    digest = "sha256:" + "ab" * 32
    image = ["--sdk_container_image=registry.example/jobs/describe@" + digest]
    run_batch(config, Describe(), elements=["e1"], runs_root=str(tmp_path / "r1"), extra_args=image)
    assert read_provenance(str(tmp_path / "out" / "e1.json"))["image_digest"] == digest
    put_input(tmp_path, "e2", "content")
    tagged = ["--sdk_container_image=registry.example/jobs/describe:latest"]
    run_batch(
        config, Describe(), elements=["e2"], runs_root=str(tmp_path / "r2"), extra_args=tagged
    )
    assert read_provenance(str(tmp_path / "out" / "e2.json"))["image_digest"] is None


@pytest.fixture
def dask_cluster(tmp_path):
    """A real dask.distributed scheduler and two workers on 127.0.0.1."""
    with DaskCluster(tmp_path / "dask", workers=2) as address:
        yield address


def test_local_and_dask_give_identical_outputs(tmp_path, dask_cluster):
    """The same outputs on the local runner and on Dask (two workers), and with the
    lifecycle's steps fused or each its own transform."""
    outputs = {}
    for profile, fused in (("local", True), ("local", False), ("dask", None)):
        root = tmp_path / f"{profile}-{fused}"
        config = make_config(
            root,
            "profiles:\n  local: {runner: local}\n"
            f'  dask: {{runner: dask, scheduler: "{dask_cluster}"}}',
        )
        elements = [f"t{i:02d}" for i in range(30)]
        for element in elements:
            put_input(root, element, "fail" if element == "t07" else f"content of {element}")
        run = run_batch(
            config,
            Describe(),
            profile=profile,
            elements=elements,
            runs_root=str(root / "runs"),
            fused=fused,
        )
        assert run.counts() == {"dead_letter:logic": 1, "processed": 29}, profile
        if profile == "local":  # the DaskRunner reports no metrics: the records say it all
            assert run.counters["processed"] == 29 and run.counters["dead_letter_logic"] == 1
        outputs[profile, fused] = {
            p.name: p.read_bytes()
            for p in sorted((root / "out").iterdir())
            if not p.name.endswith(".provenance.json")
        }
    assert len(outputs["local", True]) == 58
    assert outputs["local", True] == outputs["local", False] == outputs["dask", None]


def test_dask_workers_take_relative_paths_from_where_the_run_started(tmp_path, monkeypatch):
    """A worker's working directory is its own: relative local locations (job.yaml's,
    and the run records' folder) are made absolute before the run."""
    (tmp_path / "workers").mkdir()
    monkeypatch.chdir(tmp_path / "workers")
    with DaskCluster(tmp_path / "dask", workers=1) as address:
        (tmp_path / "here").mkdir()
        monkeypatch.chdir(tmp_path / "here")
        config = make_config(
            pathlib.Path("job"), f'profiles:\n  dask: {{runner: dask, scheduler: "{address}"}}'
        )
        put_input(pathlib.Path("job"), "a")
        run = run_batch(config, Describe(), profile="dask", elements=["a"], runs_root="runs")
    assert run.counts() == {"processed": 1}  # from the run's records
    assert (tmp_path / "here" / "job" / "out" / "a.json").exists()
    assert list((tmp_path / "here" / "runs").iterdir())
    assert list((tmp_path / "workers").iterdir()) == []


def test_a_childs_batch_run_reads_its_parents_events(tmp_path):
    parent = make_config(tmp_path / "parent")
    for element in ("a", "b"):
        put_input(tmp_path / "parent", element)
    run = run_batch(parent, Describe(), elements=["a", "b"], runs_root=str(tmp_path / "runs"))
    (events,) = pathlib.Path(run.events_folder).iterdir()  # one bundle, one file
    child_root = tmp_path / "child"
    child = make_config(
        child_root, f"events: {{inputs: [{{type: file, path: {events}, format: messages}}]}}"
    )
    for element in ("a", "b"):
        put_input(child_root, element)
    child_run = run_batch(child, Describe(), runs_root=str(tmp_path / "runs-child"))
    assert child_run.counts() == {"processed": 2}
    assert sorted(p.name for p in (child_root / "out").glob("?.json")) == ["a.json", "b.json"]


def test_the_summary_prints_element_ids_and_reasons_as_they_are(tmp_path):
    from rich.console import Console

    from cadenza.runtime.summary import print_summary

    config = make_config(tmp_path)
    run = run_batch(
        config, Describe(), elements=["song [live]", "mix [/dub]"], runs_root=str(tmp_path / "r")
    )
    console = Console(record=True, width=300)
    print_summary(run, console)  # "[/dub]" would be a closing tag to rich's markup
    text = console.export_text()
    assert "dead letter mix [/dub]: data input missing: audio (" in text
    assert "dead letter song [live]: data input missing: audio (" in text
    assert run.counters["received"] == 2 and run.counters["dead_letter_input_missing"] == 2
    assert "counters: dead_letter_input_missing 2, " in text  # the runner's, in name order
    assert "without an outcome" not in text


def test_the_summary_keeps_its_heading_and_records_folder_on_one_line_each(tmp_path):
    from rich.console import Console

    from cadenza.runtime.summary import print_summary

    run = run_batch(make_config(tmp_path), Describe(), elements=["a"], runs_root=str(tmp_path))
    console = Console(record=True, width=40)  # narrower than either line
    print_summary(run, console)
    lines = console.export_text().splitlines()
    assert lines[0] == f"{run.job}: 1 element(s), run {run.run_id}"
    assert f"records: {run.folder}" in lines


def test_the_summary_says_why_events_have_no_outcome(tmp_path):
    from rich.console import Console

    from cadenza.runtime.summary import print_summary

    saved = tmp_path / "notifications.jsonl"
    deleted = {"eventType": "OBJECT_DELETE", "bucketId": "uploads", "objectId": "in/a.wav"}
    saved.write_text(json.dumps({"data": "", "attributes": deleted}) + "\n")
    config = make_config(
        tmp_path,
        "events:\n  accept: [gcs_notification]\n"
        f"  inputs: [{{type: file, path: {saved}, format: messages}}]",
    )
    run = run_batch(config, Describe(), runs_root=str(tmp_path / "runs"))
    console = Console(record=True, width=300)
    print_summary(run, console)
    assert run.counts() == {} and run.counters["ignored_storage_events"] == 1
    assert "1 event(s) without an outcome: storage notifications that are not uploads" in (
        console.export_text()
    )


def test_undecodable_saved_notifications_are_each_dead_lettered_with_what_arrived(tmp_path):
    saved = tmp_path / "notifications.jsonl"
    attributes = {"eventType": "OBJECT_FINALIZE", "bucketId": "uploads", "payloadFormat": "NONE"}
    lines = [  # no data, as with payloadFormat NONE; a generation that is not a number
        {"data": "", "messageId": f"m{i}", "attributes": {**attributes, "objectId": name}}
        for i, name in enumerate(("a.txt", "b.txt"))
    ]
    for line in lines:
        line["attributes"]["objectGeneration"] = "seven"
    saved.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = make_config(
        tmp_path,
        "events:\n  accept: [gcs_notification]\n"
        f"  inputs: [{{type: file, path: {saved}, format: messages}}]\n"
        f"dead_letter: {{location: {tmp_path}/dead}}",
    )
    run = run_batch(config, Describe(), runs_root=str(tmp_path / "runs"))
    assert run.counts() == {"dead_letter:decode": 2}
    dead = [json.loads(p.read_text()) for p in (tmp_path / "dead" / "dead_letter").iterdir()]
    received = sorted(
        (d["received"]["message_id"], d["received"]["attributes"]["objectId"]) for d in dead
    )
    assert received == [("m0", "a.txt"), ("m1", "b.txt")]
    assert all(d["stage"] == "decode" and d["received"]["data"] == "" for d in dead)
