"""Existence checks batched per bundle: single lookups first, then one listing of the
folder answers the rest; the answers are the same as one lookup per path, on local
folders and on Cloud Storage (fake-gcs-server), and in a pipeline."""

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from google.cloud import storage
from jobs_for_tests import make_config, put_input

from cadenza.core import Message
from cadenza.runtime.lifecycle import RequireInputs, existence
from cadenza.runtime.lifecycle.existence import LISTING_AFTER, BundleExistence
from cadenza.runtime.lifecycle.records import DEAD_LETTER


def ask_all(checks: BundleExistence, paths: list[str]) -> list[bool]:
    return [checks.exists(p) for p in paths]


def test_after_a_few_lookups_one_listing_answers_the_rest_of_the_folder(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    present = {f"e{i:02d}" for i in range(0, 40, 3)}
    for name in present:
        (folder / f"{name}.json").write_text("{}")
    paths = [f"{folder}/e{i:02d}.json" for i in range(40)]
    checks = BundleExistence()
    assert ask_all(checks, paths) == [FileSystems.exists(p) for p in paths]
    assert (checks.lookups, checks.listings) == (LISTING_AFTER, 1)


def test_a_few_checks_stay_single_lookups_and_folders_are_counted_apart(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.json").write_text("{}")
    checks = BundleExistence()
    paths = [f"{tmp_path}/a/x.json", f"{tmp_path}/a/y.json", f"{tmp_path}/b/x.json"]
    assert ask_all(checks, paths) == [True, False, False]
    assert (checks.lookups, checks.listings) == (3, 0)
    missing_folder = [f"{tmp_path}/nowhere/e{i}.json" for i in range(LISTING_AFTER + 5)]
    assert not any(ask_all(checks, missing_folder))
    assert checks.listings == 1


def test_a_folder_bigger_than_the_lookups_could_page_through_stays_on_lookups(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(existence, "NAMES_PER_LOOKUP", 2)  # pages of 2 names, as it were
    for i in range(0, 40, 2):  # 20 names: more than 2 per lookup after LISTING_AFTER + 1
        (tmp_path / f"e{i:02d}.json").write_text("{}")
    paths = [f"{tmp_path}/e{i:02d}.json" for i in range(40)]
    checks = BundleExistence()
    assert ask_all(checks, paths) == [i % 2 == 0 for i in range(40)]
    assert (checks.lookups, checks.listings) == (40, 1)


def test_relative_bare_and_double_slash_paths_are_answered_by_the_listing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    for i in range(0, 20, 3):
        (tmp_path / "out" / f"e{i:02d}.json").write_text("{}")
        (tmp_path / f"e{i:02d}.json").write_text("{}")
    for paths in (
        [f"out/e{i:02d}.json" for i in range(20)],
        [f"e{i:02d}.json" for i in range(20)],
        [f"{tmp_path}/out//e{i:02d}.json" for i in range(20)],
    ):
        checks = BundleExistence()
        assert ask_all(checks, paths) == [i % 3 == 0 for i in range(20)]
        assert checks.listings == 1


@pytest.mark.usefixtures("emulators")
def test_on_cloud_storage_the_listing_gives_the_same_answers(gcs_bucket):
    bucket = storage.Client().bucket(gcs_bucket)
    for i in range(0, 30, 4):
        bucket.blob(f"out/e{i:02d}.json").upload_from_string(b"{}")
    bucket.blob("out/deeper/e01.json").upload_from_string(b"{}")  # not out/e01.json
    paths = [f"gs://{gcs_bucket}/out/e{i:02d}.json" for i in range(30)]
    checks = BundleExistence()
    answers = ask_all(checks, paths)
    assert answers == [i % 4 == 0 for i in range(30)]
    assert checks.listings == 1 and checks.lookups == LISTING_AFTER


def test_in_a_pipeline_every_element_gets_its_own_answer(tmp_path):
    config = make_config(tmp_path)
    elements = [f"t{i:02d}" for i in range(3 * LISTING_AFTER)]
    present = elements[::2]
    for element in present:
        put_input(tmp_path, element)
    p = TestPipeline(runner=FnApiRunner())
    out = p | beam.Create([Message(element=e) for e in elements]) | RequireInputs(config)
    assert_that(out["main"] | beam.Map(lambda m: m.element), equal_to(present), label="work")
    dead = out[DEAD_LETTER] | beam.Map(lambda d: d.element)
    assert_that(dead, equal_to(elements[1::2]), label="dead")
    result = p.run()
    result.wait_until_finish()

    def counter(name):
        query = result.metrics().query(MetricsFilter().with_name(name))["counters"]
        return sum(c.committed for c in query)

    assert counter("existence_lookups") == LISTING_AFTER  # one bundle: the rest listed
    assert counter("existence_listings") == 1
