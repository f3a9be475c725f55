"""The local stack's start: the recorded wiring restored whatever its names' form, and
servers stopped again when restoring fails (nothing else could stop them)."""

import pytest
from google.cloud import pubsub_v1

from cadenza.devtools import localstack
from cadenza.devtools.emulators import EmulatorError, Emulators, apply_env, restore_env
from cadenza.devtools.localstack import LocalStack, pid_alive


def test_full_topic_paths_in_the_recorded_wiring_are_restored(tmp_path):
    """A config may name a topic `projects/P/topics/T` (events.outputs, dead_letter.topic):
    deploys record it so, and the next start recreates it as it is."""
    stack = LocalStack(tmp_path / "stack")
    full = f"projects/{stack.project}/topics/extra-out"
    stack.record_wiring([full, "plain-out"], [("extra-watch", full, 30)])
    try:
        state, started = stack.ensure()
        assert started
        previous = apply_env(state.env)
        try:
            publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
            assert publisher.get_topic(topic=full, timeout=30).name == full
            plain = publisher.topic_path(stack.project, "plain-out")
            assert publisher.get_topic(topic=plain, timeout=30).name == plain
            watch = subscriber.subscription_path(stack.project, "extra-watch")
            assert subscriber.get_subscription(subscription=watch, timeout=30).topic == full
            subscriber.close()
        finally:
            restore_env(previous)
    finally:
        stack.stop()


def test_a_failed_restore_stops_the_servers_it_started(tmp_path, monkeypatch):
    started = []

    class Recorded(Emulators):
        def start(self):
            super().start()
            started.append((self, self.pubsub.pid, self.storage.pid))
            return self

    monkeypatch.setattr(localstack, "Emulators", Recorded)
    stack = LocalStack(tmp_path / "stack")
    stack.pending_path.mkdir(parents=True)
    (stack.pending_path / "cadenza-x-in.jsonl").write_text("not JSON\n")  # a damaged save
    try:
        with pytest.raises(EmulatorError) as err:
            stack.ensure()
        assert f"restoring the wiring and messages recorded in {stack.root}" in str(err.value)
        assert "its servers were stopped again: JSONDecodeError" in str(err.value)
        ((_, *pids),) = started
        assert not any(pid_alive(pid) for pid in pids)
        assert stack.read_state() is None and stack.status() is None
    finally:
        for emulators, *_ in started:
            emulators.stop()
