"""Which kinds of event a job's config lets it take."""

from cadenza.core import parse_job_config
from cadenza.core.event_kinds import can_stream, has_batch_input, is_streaming


def config(upstream: str = "", *inputs: str):
    text = f"job_name: some-job\nupstream: [{upstream}]\nevents: {{inputs: [{', '.join(inputs)}]}}"
    return parse_job_config(text, env={})


LISTING = "{type: listing, location: /data/in}"
UPLOADS = "{type: gcs_notification, bucket: uploads, prefix: a/}"


def test_the_modes_a_config_allows():
    both = config("normalize", LISTING, UPLOADS)
    assert is_streaming(both) and has_batch_input(both) and can_stream(both)
    batch_child = config("normalize", LISTING)
    assert not is_streaming(batch_child) and can_stream(batch_child)
    streaming_root = config("", UPLOADS)
    assert is_streaming(streaming_root) and not has_batch_input(streaming_root)
    batch_root = config("", LISTING)
    assert not can_stream(batch_root) and has_batch_input(batch_root)
