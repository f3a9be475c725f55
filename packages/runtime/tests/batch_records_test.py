"""RecordResults, the batch run's records, as a DoFn: the same records whether the
runner starts bundles or not, whatever the batches, and nothing twice."""

import base64
import json

import pytest

from cadenza.core import Message, Outcome, decode
from cadenza.core.message import EPOCH
from cadenza.runtime import batch_records
from cadenza.runtime.batch_records import RecordResults
from cadenza.runtime.lifecycle import DeadLetter, Routed
from cadenza.runtime.lifecycle.records import DEAD_LETTER, FINISHED, PUBLISH


def results() -> list[Routed]:
    """The same results on every call (ids and times fixed)."""
    published = [
        Message(element=f"track-{i}", message_id=f"m{i}", trace_id="t").with_audit(
            "job", Outcome.PROCESSED, at=EPOCH, job_version="1"
        )
        for i in range(5)
    ]
    finished = Message(element="other", message_id="m9", trace_id="t")
    finished = finished.with_audit("job", Outcome.NOT_RECIPIENT, at=EPOCH)
    dead = DeadLetter(
        job="job", stage="inputs", reason="data input missing", element="gone", at="then"
    )
    return [
        *(Routed(PUBLISH, m) for m in published),
        Routed(FINISHED, finished),
        Routed(DEAD_LETTER, dead),
        Routed(PUBLISH, published[0]),  # the same message again: recorded once
    ]


def lines(folder, kind: str) -> list[dict]:
    found = [json.loads(line) for f in sorted((folder / kind).glob("*.jsonl")) for line in f.open()]
    return sorted(found, key=lambda record: record["key"])


def run(tmp_path, name: str, *, start: bool, finishes: int = 1) -> tuple:
    folder = tmp_path / name
    fn = RecordResults("job", str(folder), str(tmp_path / f"{name}-dead"))
    if start:
        fn.start_bundle()
    keys = [key for routed in results() for key in fn.process(routed)]
    for _ in range(finishes if start else 0):
        fn.finish_bundle()
    return keys, lines(folder, "outcomes"), lines(folder, "events")


def test_records_are_the_same_in_batches_per_bundle_or_one_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr(batch_records, "RECORD_BATCH", 2)  # several batches in the bundle
    batched = run(tmp_path, "batched", start=True)
    at_once = run(tmp_path, "unstarted", start=False)  # a runner that starts no bundles
    assert batched == at_once
    keys, outcomes, events = batched
    assert len(keys) == 8 and len(outcomes) == 7 and len(events) == 5
    by_outcome = sorted(record["outcome"] for record in outcomes)
    assert by_outcome == ["dead_letter:inputs", "not-recipient"] + ["processed"] * 5
    children = [decode(base64.b64decode(event["data"])) for event in events]
    assert sorted(child.element for child in children) == [f"track-{i}" for i in range(5)]


def test_a_bundle_finished_twice_writes_its_records_once(tmp_path):
    _, outcomes, events = run(tmp_path, "twice", start=True, finishes=2)
    assert len(outcomes) == 7 and len(events) == 5
    assert len(list((tmp_path / "twice" / "outcomes").glob("*.jsonl"))) == 1


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_no_message_waits_past_a_batch(tmp_path, monkeypatch, size):
    monkeypatch.setattr(batch_records, "RECORD_BATCH", size)
    fn = RecordResults("job", str(tmp_path / "r"), str(tmp_path / "dead"))
    fn.start_bundle()
    for routed in results()[:5]:
        list(fn.process(routed))
        assert len(fn._messages) < size  # recorded once a batch is full
