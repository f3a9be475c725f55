"""Bucket notifications through the Cloud Storage JSON API.

Cloud Storage cannot be reached from here and fake-gcs-server has no notificationConfigs
API, so the test starts, on 127.0.0.1, a small server implementing just the endpoints
the real API documents for them (list and insert a bucket's notificationConfigs, the
project's service agent) and checks the requests google-cloud-storage's client sends
it: the topic, the event types, the payload format; idempotence; conflicts left alone.
"""

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from cadenza.core import parse_job_config
from cadenza.core.dag import Dag
from cadenza.core.wiring import plan_wiring
from cadenza.devtools.dataflow_deploy import apply_cloud_wiring
from cadenza.devtools.gcs_notifications import apply_notifications
from cadenza.devtools.wiring_apply import CONFLICT, CREATED, EXISTS, job_plan

AGENT = "service-123456@gs-project-accounts.iam.gserviceaccount.com"


class NotificationsApi(BaseHTTPRequestHandler):
    """GET/POST /storage/v1/b/<bucket>/notificationConfigs, GET .../serviceAccount."""

    configs: dict  # bucket -> [resource]

    def _reply(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _parts(self) -> list[str]:
        return self.path.split("?", 1)[0].strip("/").split("/")

    def do_GET(self):
        parts = self._parts()
        if parts[:3] == ["storage", "v1", "projects"] and parts[4:] == ["serviceAccount"]:
            return self._reply({"kind": "storage#serviceAccount", "email_address": AGENT})
        if parts[:3] == ["storage", "v1", "b"] and parts[4:] == ["notificationConfigs"]:
            items = self.configs.get(parts[3], [])
            return self._reply({"kind": "storage#notifications", "items": items})
        return self._reply({"error": {"code": 404, "message": self.path}}, 404)

    def do_POST(self):
        parts = self._parts()
        if parts[:3] != ["storage", "v1", "b"] or parts[4:] != ["notificationConfigs"]:
            return self._reply({"error": {"code": 404, "message": self.path}}, 404)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        items = self.configs.setdefault(parts[3], [])
        resource = {**body, "id": str(len(items) + 1), "kind": "storage#notification"}
        items.append(resource)
        return self._reply(resource)

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    configs: dict = {}
    handler = type("Handler", (NotificationsApi,), {"configs": configs})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = storage.Client(
        project="my-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": f"http://127.0.0.1:{server.server_port}"},
    )
    yield client, configs
    server.shutdown()
    server.server_close()


def plan(*buckets):
    jobs = [
        parse_job_config(
            f"job_name: job{i}\nevents: {{inputs: [{{type: gcs_notification, bucket: {b}}}]}}",
            env={},
        )
        for i, b in enumerate(buckets)
    ]
    return plan_wiring(Dag.build(jobs))


def test_missing_notifications_are_created_then_reported_as_existing(api):
    client, configs = api
    first = apply_notifications(plan("uploads"), "my-project", client)
    assert [(r.kind, r.name, r.status) for r in first] == [
        ("notification", "gs://uploads", CREATED),
        ("grant", "cadenza-uploads-uploads", "needed"),
    ]
    (sent,) = configs["uploads"]
    assert (
        sent["topic"]
        == "//pubsub.googleapis.com/projects/my-project/topics/cadenza-uploads-uploads"
    )
    assert sent["event_types"] == ["OBJECT_FINALIZE"]
    assert sent["payload_format"] == "JSON_API_V1"
    assert AGENT in first[1].detail and "roles/pubsub.publisher" in first[1].detail
    again = apply_notifications(plan("uploads"), "my-project", client)
    assert again[0].status == EXISTS
    assert len(configs["uploads"]) == 1  # nothing created twice


def test_a_notification_to_the_topic_without_finalize_events_is_a_conflict(api):
    client, configs = api
    topic = "//pubsub.googleapis.com/projects/my-project/topics/cadenza-uploads-raw"
    configs["raw"] = [
        {"id": "7", "topic": topic, "event_types": ["OBJECT_DELETE"], "payload_format": "NONE"}
    ]
    configs["other"] = [  # another topic's notification does not count, and is kept
        {"id": "1", "topic": "//pubsub.googleapis.com/projects/my-project/topics/else"}
    ]
    rows = apply_notifications(plan("raw", "other"), "my-project", client)
    status = {r.name: (r.status, r.detail) for r in rows if r.kind == "notification"}
    assert status["gs://raw"][0] == CONFLICT and "notification 7" in status["gs://raw"][1]
    assert status["gs://other"][0] == CREATED
    assert len(configs["raw"]) == 1 and len(configs["other"]) == 2


def test_a_plan_without_notifications_asks_nothing():
    job = parse_job_config("job_name: quiet\n", env={})
    assert apply_notifications(plan_wiring(Dag.build([job])), "my-project", client=object()) == []


def test_the_cloud_wiring_makes_topics_subscriptions_and_notifications(api, emulators):
    """deploy --profile dataflow's wiring step: Pub/Sub through its API (the emulator
    here), notifications through the storage API (the server above)."""
    client, configs = api
    suffix = uuid.uuid4().hex[:6]
    parent = parse_job_config(
        f"job_name: norm{suffix}\n"
        f"events: {{inputs: [{{type: gcs_notification, bucket: up{suffix}, prefix: new/}}]}}\n"
        f"data: {{outputs: [{{name: audio, location: gs://d{suffix}/n, suffix: .flac}}]}}",
        env={},
    )
    child = parse_job_config(
        f"job_name: feat{suffix}\nupstream: [norm{suffix}]\n"
        f"data: {{inputs: [{{name: audio, location: gs://d{suffix}/n, suffix: .flac}}]}}",
        env={},
    )
    dag = Dag.build([parent, child])
    wiring = job_plan(plan_wiring(dag), parent)
    rows = apply_cloud_wiring(wiring, emulators.project, client)
    status = {(r.kind, r.name): r.status for r in rows}
    assert status[("topic", f"cadenza-uploads-up{suffix}")] == CREATED  # a real topic per bucket
    assert status[("topic", f"cadenza-norm{suffix}-out")] == CREATED
    assert status[("subscription", f"cadenza-norm{suffix}-uploads-up{suffix}")] == CREATED
    assert status[("subscription", f"cadenza-feat{suffix}-from-norm{suffix}")] == CREATED
    assert status[("notification", f"gs://up{suffix}")] == CREATED
    (sent,) = configs[f"up{suffix}"]
    assert sent["topic"].endswith(
        f"/projects/{emulators.project}/topics/cadenza-uploads-up{suffix}"
    )
    again = apply_cloud_wiring(wiring, emulators.project, client)
    assert {r.status for r in again if r.kind != "grant"} == {EXISTS}
