"""The Pub/Sub and Cloud Storage emulators: start, answer, publish uploads, stop, restart."""

import json
import pathlib
import socket
import urllib.request

import google.auth
import pytest
from google.cloud import pubsub_v1, storage

from cadenza.devtools.emulators import (
    EmulatorError,
    Emulators,
    PubSubEmulator,
    StorageEmulator,
    apply_env,
    restore_env,
    write_fake_credentials,
)


def test_the_stack_serves_publishes_uploads_stops_and_keeps_objects(tmp_path):
    state = tmp_path / "stack"
    stack = Emulators(state, uploads_topic="uploads")
    with stack:
        env = stack.env()
        assert json.loads(stack.env_path.read_text()) == env
        assert set(env) == {
            "PUBSUB_EMULATOR_HOST",
            "STORAGE_EMULATOR_HOST",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GOOGLE_CLOUD_PROJECT",
        }
        previous = apply_env(env)
        try:
            subscriber = pubsub_v1.SubscriberClient()
            subscription = subscriber.subscription_path(stack.project, "watch-uploads")
            subscriber.create_subscription(
                name=subscription, topic=f"projects/{stack.project}/topics/uploads"
            )
            storage.Client().create_bucket("kept").blob("a/b.txt").upload_from_string(b"hi")
            response = subscriber.pull(subscription=subscription, max_messages=10, timeout=30)
            (received,) = response.received_messages
            assert received.message.attributes["eventType"] == "OBJECT_FINALIZE"
            assert received.message.attributes["objectId"] == "a/b.txt"
            subscriber.close()
        finally:
            restore_env(previous)
        processes = (stack.pubsub.pid, stack.storage.pid)
    assert not stack.pubsub.running and not stack.storage.running
    assert not stack.env_path.exists()
    assert not [pid for pid in processes if pathlib.Path(f"/proc/{pid}").exists()]

    with Emulators(state) as again:  # the same state folder: the object is still there
        previous = apply_env(again.env())
        try:
            assert storage.Client().bucket("kept").blob("a/b.txt").download_as_bytes() == b"hi"
        finally:
            restore_env(previous)


def test_a_missing_pubsub_emulator_is_named(tmp_path):
    emulator = PubSubEmulator(tmp_path, executable=pathlib.Path("/nowhere/cloud-pubsub-emulator"))
    with pytest.raises(EmulatorError, match="/nowhere/cloud-pubsub-emulator does not exist"):
        emulator.start()


def test_a_server_that_cannot_start_reports_its_log(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = StorageEmulator(tmp_path, taken.getsockname()[1])
        with pytest.raises(EmulatorError, match="fake-gcs-server exited with status") as err:
            server.start()
    assert "address already in use" in str(err.value)
    assert not server.running


def test_a_picked_port_taken_before_the_server_binds_it_is_picked_again(tmp_path):
    server = StorageEmulator(tmp_path)  # picks a free port
    picked = server.port
    with socket.socket() as taken:  # another process gets there first
        taken.bind(("127.0.0.1", picked))
        taken.listen()
        with server:
            assert server.running and server.port != picked
            with urllib.request.urlopen(f"{server.url}/storage/v1/b", timeout=10) as response:
                assert response.status == 200
    assert "address already in use" in server.log_path.read_text()


def test_fake_credentials_are_valid_without_a_refresh(tmp_path, monkeypatch):
    path = write_fake_credentials(tmp_path / "credentials.json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    credentials, _ = google.auth.default()
    assert credentials.valid and credentials.token == "fake-token"
