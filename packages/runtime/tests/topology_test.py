"""What a job streams from: its streaming inputs and, deployed in the DAG, its parents'
output events; and which mode the job command line picks."""

from cadenza.core import parse_job_config
from cadenza.core.wiring import RESTORED_FOR_ATTRIBUTE
from cadenza.runtime.streaming.topology import Source, output_topics, parent_topics, sources

CHILD = """
job_name: fingerprint
upstream: [normalize, legacy]
events:
  inputs:
    - {type: listing, location: /data/normalized}
    - {type: gcs_notification, bucket: uploads, prefix: a/}
    - {type: gcs_notification, bucket: uploads, prefix: b/}
"""


def test_deployed_in_the_dag_a_job_also_reads_each_parents_output_events():
    config = parse_job_config(CHILD, env={})
    alone = [s.subscription for s in sources(config, "p")]
    assert alone == ["projects/p/subscriptions/cadenza-fingerprint-uploads-uploads"]
    deployed = sources(config, "p", from_upstream=True)
    assert [s.subscription for s in deployed] == [
        "projects/p/subscriptions/cadenza-fingerprint-in",
        "projects/p/subscriptions/cadenza-fingerprint-from-normalize",
        "projects/p/subscriptions/cadenza-fingerprint-from-legacy",
        "projects/p/subscriptions/cadenza-fingerprint-uploads-uploads",
    ]
    assert [(s.bucket, s.prefixes) for s in deployed] == [
        (None, ()),
        (None, ()),
        (None, ()),
        ("uploads", ("a/", "b/")),
    ]
    assert output_topics(config, "p") == ("projects/p/topics/cadenza-fingerprint-out",)
    assert parent_topics(config, "p") == (
        ("normalize", "projects/p/topics/cadenza-normalize-in"),
        ("legacy", "projects/p/topics/cadenza-legacy-in"),
    )


def test_a_message_restored_for_another_subscription_is_not_kept():
    mine, other = "projects/p/subscriptions/a", "projects/p/subscriptions/b"
    source = Source(mine)
    assert source.keeps({}) and source.keeps({RESTORED_FOR_ATTRIBUTE: mine})
    assert not source.keeps({RESTORED_FOR_ATTRIBUTE: other})
    uploads = Source(mine, bucket="up", prefixes=("new/",))
    notification = {"eventType": "OBJECT_FINALIZE", "bucketId": "up", "objectId": "new/x"}
    assert uploads.keeps({**notification, RESTORED_FOR_ATTRIBUTE: mine})
    assert not uploads.keeps({**notification, RESTORED_FOR_ATTRIBUTE: other})
