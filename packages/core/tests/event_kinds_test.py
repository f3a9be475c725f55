"""Which kinds of event a job's config lets it take."""

from cadenza.core import parse_job_config
from cadenza.core.event_kinds import can_stream, has_batch_input, is_streaming

CHILD = """
job_name: fingerprint
upstream: [normalize, legacy]
events:
  inputs:
    - {type: listing, location: /data/normalized}
    - {type: gcs_notification, bucket: uploads, prefix: a/}
"""


def test_the_modes_a_config_allows():
    both = parse_job_config(CHILD, env={})
    assert is_streaming(both) and has_batch_input(both) and can_stream(both)
    batch_child = parse_job_config(
        "job_name: features\nupstream: [normalize]\n"
        "events: {inputs: [{type: listing, location: x}]}",
        env={},
    )
    assert not is_streaming(batch_child) and can_stream(batch_child)
    root = parse_job_config(
        "job_name: tool\nevents: {inputs: [{type: listing, location: x}]}", env={}
    )
    assert not can_stream(root)
