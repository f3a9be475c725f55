"""The DAG: a diamond, its queries, its wiring and registry JSON, and every invalid shape."""

import pathlib

import pytest

from cadenza.core.config import load_job_config, parse_job_config
from cadenza.core.dag import Dag
from cadenza.core.errors import DagError
from cadenza.core.wiring import BucketNotification, Subscription, plan_wiring

DIAMOND = pathlib.Path(__file__).parent / "testdata" / "dags" / "diamond"


@pytest.fixture
def diamond() -> Dag:
    return Dag.build(load_job_config(p) for p in sorted(DIAMOND.glob("*.yaml")))


def job(name, upstream=(), reads=(), writes=()):
    lines = [f"job_name: {name}", f"upstream: {list(upstream)}", "data:"]
    lines.append(
        "  inputs: ["
        + ", ".join(f"{{name: i{n}, location: {loc}}}" for n, loc in enumerate(reads))
        + "]"
    )
    lines.append(
        "  outputs: ["
        + ", ".join(f"{{name: o{n}, location: {loc}}}" for n, loc in enumerate(writes))
        + "]"
    )
    return parse_job_config("\n".join(lines), source=f"{name}.yaml")


def test_diamond_queries(diamond):
    assert diamond.topological_order() == ("normalize", "features", "fingerprint", "catalog")
    assert diamond.roots() == ("normalize",)
    assert diamond.children("normalize") == ("features", "fingerprint")
    assert diamond.parents("catalog") == ("features", "fingerprint")
    assert diamond.ancestors("catalog") == ("normalize", "features", "fingerprint")
    assert diamond.descendants("normalize") == ("features", "fingerprint", "catalog")
    assert diamond.descendants("catalog") == ()


def test_unknown_job_names_suggest_the_closest(diamond):
    with pytest.raises(
        DagError, match="no job named 'fingerprnt' in the DAG; did you mean 'fingerprint'"
    ):
        diamond.children("fingerprnt")


def test_missing_upstream():
    with pytest.raises(
        DagError,
        match=r"^features: upstream: no job named 'normalise'; did you mean 'normalize'\?$",
    ):
        Dag.build(
            [job("normalize", writes=["/a"]), job("features", upstream=["normalise"], reads=["/a"])]
        )


def test_cycle_is_shown_in_data_flow_order():
    jobs = [
        job("aaa", upstream=["ccc"], reads=["/c"], writes=["/a"]),
        job("bbb", upstream=["aaa"], reads=["/a"], writes=["/b"]),
        job("ccc", upstream=["bbb"], reads=["/b"], writes=["/c"]),
        job("ddd", upstream=["aaa"], reads=["/a"]),
    ]
    with pytest.raises(DagError) as err:
        Dag.build(jobs)
    assert str(err.value) == "cycle in the DAG: aaa -> bbb -> ccc -> aaa"


def test_duplicate_names():
    with pytest.raises(DagError, match=r"^abc: job name used by more than one job$"):
        Dag.build([job("abc"), job("abc")])


def test_two_jobs_writing_the_same_files_are_refused_naming_both():
    with pytest.raises(DagError) as err:
        Dag.build(
            [
                job("normalize", writes=["/data/normalized"]),
                job("loudness", ["normalize"], reads=["/data/normalized"], writes=["/data/levels"]),
                job("levels", writes=["/data/levels/"]),
            ]
        )
    assert str(err.value) == (
        "data.outputs /data/levels/* is written by 'levels', 'loudness': each job "
        "needs outputs of its own (another location or suffix)"
    )


def test_mismatched_data_location_names_both_sides():
    with pytest.raises(DagError) as err:
        Dag.build(
            [
                job("normalize", writes=["/data/normalized"]),
                job("features", ["normalize"], reads=["/data/normalised"]),
            ]
        )
    assert str(err.value) == (
        "features: data.inputs (/data/normalised/*) read none of the data.outputs "
        "of upstream 'normalize' (/data/normalized/*)"
    )


def test_wiring_plan_is_deterministic_and_complete(diamond):
    plan = plan_wiring(diamond)
    assert [t.name for t in plan.topics] == [
        "cadenza-catalog-in",
        "cadenza-catalog-out",
        "cadenza-features-in",
        "cadenza-features-out",
        "cadenza-fingerprint-in",
        "cadenza-fingerprint-out",
        "cadenza-normalize-in",
        "cadenza-normalize-out",
        "cadenza-uploads-uploads",
        "catalog-updates",
    ]
    assert plan.notifications == (
        BucketNotification(bucket="uploads", topic="cadenza-uploads-uploads"),
    )
    assert plan.for_job("catalog") == (
        Subscription(
            name="cadenza-catalog-from-features", topic="cadenza-features-out", job="catalog"
        ),
        Subscription(
            name="cadenza-catalog-from-fingerprint", topic="cadenza-fingerprint-out", job="catalog"
        ),
        Subscription(name="cadenza-catalog-in", topic="cadenza-catalog-in", job="catalog"),
        Subscription(name="legacy-catalog-feed", topic="", job="catalog", external=True),
    )
    assert plan.for_job("normalize") == (
        Subscription(name="cadenza-normalize-in", topic="cadenza-normalize-in", job="normalize"),
        Subscription(
            name="cadenza-normalize-uploads-uploads",
            topic="cadenza-uploads-uploads",
            job="normalize",
            prefix="incoming/",
        ),
    )
    assert plan_wiring(Dag.build(reversed(list(diamond.jobs.values())))) == plan


def test_registry_json_round_trips(diamond):
    text = diamond.to_json()
    again = Dag.from_json(text)
    assert again.jobs == diamond.jobs
    assert again.to_json() == text
    assert '"order": [\n    "normalize"' in text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"format": 1, "jobs"', "not JSON"),
        ("[1]", "expected a JSON object"),
        ('{"format": 1}', "'jobs' is missing or not an object"),
        ('{"format": 1, "jobs": {"a": {"config": {"job_name": 3}}}}', "a job's config is damaged"),
    ],
)
def test_a_damaged_registry_says_what_is_wrong(text, problem):
    with pytest.raises(DagError, match=f"^not a registry document: {problem}"):
        Dag.from_json(text)


def test_registry_of_another_format_is_refused(diamond):
    with pytest.raises(DagError, match="registry format 99; this Cadenza reads 1"):
        Dag.from_json(diamond.to_json().replace('"format": 1', '"format": 99'))
