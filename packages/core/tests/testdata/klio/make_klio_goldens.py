"""Makes the Klio golden messages with Klio's own published package (not run by tests).

Klio's `klio-core` (PyPI) ships a generated `klio_pb2` for old protobuf releases; it
runs with the pure-Python protobuf implementation. To regenerate:

    python3 -m venv /tmp/klio-venv
    /tmp/klio-venv/bin/pip install protobuf
    /tmp/klio-venv/bin/pip install --no-deps --ignore-requires-python klio-core==22.3.0
    PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python \
        /tmp/klio-venv/bin/python make_klio_goldens.py

It writes NAME.bin (the serialized KlioMessage) and NAME.json (what it holds, which
cadenza.core must read back from the bytes) for each case below.
"""

import json
import pathlib

from klio_core.proto import klio_pb2

HERE = pathlib.Path(__file__).parent


def job(name, project="klio-project"):
    j = klio_pb2.KlioJob()
    j.job_name = name
    j.gcp_project = project
    inp = j.inputs.add()
    inp.topic = f"projects/{project}/topics/{name}-in"
    inp.data_location = f"gs://{project}-{name}/input"
    return j


def top_down():
    m = klio_pb2.KlioMessage()
    m.version = klio_pb2.V2
    m.data.element = b"track-0001"
    m.metadata.intended_recipients.anyone.SetInParent()
    return m, {
        "element": "track-0001",
        "payload": None,
        "force": False,
        "ping": False,
        "recipients": {"limited": False, "jobs": [], "trigger_children_of": None},
        "audit_log": [],
    }


def bottom_up_with_everything():
    m = klio_pb2.KlioMessage()
    m.version = klio_pb2.V2
    m.data.element = "spotify:track:ünïcode".encode()
    m.data.payload = b"\x00\x01 state \xff"
    m.metadata.force = True
    m.metadata.ping = True
    limited = m.metadata.intended_recipients.limited
    limited.recipients.add().CopyFrom(job("normalize"))
    limited.recipients.add().CopyFrom(job("fingerprint"))
    limited.trigger_children_of.CopyFrom(job("fingerprint"))
    m.metadata.downstream.add().CopyFrom(job("features"))
    m.metadata.visited.add().CopyFrom(job("normalize"))
    for name, seconds, nanos in (
        ("normalize", 1_600_000_000, 123_456_789),
        ("fingerprint", 1_600_000_060, 0),
    ):
        item = m.metadata.job_audit_log.add()
        item.timestamp.seconds = seconds
        item.timestamp.nanos = nanos
        item.klio_job.CopyFrom(job(name))
    return m, {
        "element": "spotify:track:ünïcode",
        "payload": "000120737461746520ff",
        "force": True,
        "ping": True,
        "recipients": {
            "limited": True,
            "jobs": ["normalize", "fingerprint"],
            "trigger_children_of": "fingerprint",
        },
        "audit_log": [
            ["normalize", "2020-09-13T12:26:40.123456+00:00"],
            ["fingerprint", "2020-09-13T12:27:40+00:00"],
        ],
    }


def no_recipients_set():
    m = klio_pb2.KlioMessage()
    m.version = klio_pb2.V2
    m.data.element = b"legacy-track"
    return m, {
        "element": "legacy-track",
        "payload": None,
        "force": False,
        "ping": False,
        "recipients": {"limited": False, "jobs": [], "trigger_children_of": None},
        "audit_log": [],
    }


def v1_entity_id():
    m = klio_pb2.KlioMessage()
    m.version = klio_pb2.V1
    m.data.entity_id = "old-style-entity"
    return m, {"error": "only version 2"}


for case in (top_down, bottom_up_with_everything, no_recipients_set, v1_entity_id):
    message, expected = case()
    (HERE / f"{case.__name__}.bin").write_bytes(message.SerializeToString(deterministic=True))
    (HERE / f"{case.__name__}.json").write_text(
        json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
    )
    print(case.__name__, len(message.SerializeToString()), "bytes")
