"""The DAG registry: valid configs become one JSON document; invalid DAGs fail, named."""

import json

import pytest

from cadenza.core import DagError
from cadenza.devtools import graph, registry


def write_job(folder, name, upstream=(), reads=None, writes=None):
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"job_name: {name}"]
    if upstream:
        lines.append(f"upstream: [{', '.join(upstream)}]")
    sources = [reads] if isinstance(reads, str) else list(reads or [f"/in/{name}"])
    target = writes or f"/out/{name}"
    inputs = ", ".join(f'{{name: in{i}, location: "{s}"}}' for i, s in enumerate(sources))
    lines.append("data:")
    lines.append(f"  inputs: [{inputs}]")
    lines.append(f'  outputs: [{{name: out, location: "{target}"}}]')
    path = folder / "job.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def diamond(tmp_path):
    return [
        write_job(tmp_path / "a", "normalize", writes="${OUT:-/out/norm}"),
        write_job(tmp_path / "b", "features", ["normalize"], reads="/out/norm"),
        write_job(tmp_path / "c", "fingerprint", ["normalize"], reads="/out/norm"),
        write_job(
            tmp_path / "d",
            "report",
            ["features", "fingerprint"],
            ["/out/features", "/out/fingerprint"],
        ),
    ]


def test_registry_is_written_with_order_edges_and_wiring(tmp_path, diamond):
    output = tmp_path / "registry.json"
    assert registry.main(["--output", str(output), *map(str, diamond)]) == 0
    document = json.loads(output.read_text())
    assert document["order"][0] == "normalize" and document["order"][-1] == "report"
    assert document["jobs"]["report"]["parents"] == ["features", "fingerprint"]
    subscriptions = {s["name"] for s in document["wiring"]["subscriptions"]}
    assert "cadenza-report-from-fingerprint" in subscriptions
    dag = registry.read_registry(output)
    assert dag.descendants("normalize") == ("features", "fingerprint", "report")


def test_a_cycle_fails_the_registry_with_the_cycle_shown(tmp_path, capsys):
    configs = [
        write_job(tmp_path / "a", "one", ["two"], reads="/out/two"),
        write_job(tmp_path / "b", "two", ["one"], reads="/out/one"),
    ]
    assert registry.main(["--output", str(tmp_path / "r.json"), *map(str, configs)]) == 1
    error = capsys.readouterr().err
    assert "do not form a valid DAG" in error and "one -> two -> one" in error
    assert not (tmp_path / "r.json").exists()


def test_a_missing_upstream_and_a_mismatched_location_are_named(tmp_path):
    parent = write_job(tmp_path / "a", "normalize", writes="/out/norm")
    orphan = write_job(tmp_path / "c", "orphan", ["nobody"])
    with pytest.raises(DagError, match="orphan: upstream: no job named 'nobody'"):
        registry.build_registry([parent, orphan])
    child = write_job(tmp_path / "b", "features", ["normalize"], reads="/somewhere/else")
    with pytest.raises(DagError, match=r"features: data.inputs \(/somewhere/else/\*\) read none"):
        registry.build_registry([parent, child])


def test_dag_errors_name_the_job_yaml_of_each_job_they_mention(tmp_path, capsys):
    """A cycle, an unknown upstream and a data mismatch: each line names its jobs' files."""
    one = write_job(tmp_path / "one", "one", ["two"], reads="/out/two")
    two = write_job(tmp_path / "two", "two", ["one"], reads="/out/one")
    assert registry.main(["--output", str(tmp_path / "r.json"), str(one), str(two)]) == 1
    assert f"one -> two -> one (one in {one}, two in {two})" in capsys.readouterr().err

    parent = write_job(tmp_path / "a", "normalize", writes="/out/norm")
    typo = write_job(tmp_path / "b", "features", ["normalise"], reads="/out/norm")
    with pytest.raises(DagError) as err:
        registry.build_registry([parent, typo])
    assert str(err.value).endswith(
        f"did you mean 'normalize'? (features in {typo}, normalize in {parent})"
    )

    child = write_job(tmp_path / "c", "features", ["normalize"], reads="/somewhere/else")
    other = write_job(tmp_path / "d", "report", ["normalize"], reads="/elsewhere")
    with pytest.raises(DagError) as err:
        registry.build_registry([parent, child, other])
    features, report = str(err.value).splitlines()
    assert features.startswith("features: ") and report.startswith("report: ")
    assert features.endswith(f"(features in {child}, normalize in {parent})")
    assert report.endswith(f"(report in {other}, normalize in {parent})")


def test_tree_dot_and_images_draw_the_dag(tmp_path, diamond, capsys):
    output = tmp_path / "registry.json"
    registry.main(["--output", str(output), *map(str, diamond)])
    dag = registry.read_registry(output)
    assert graph.main(["--registry", str(output)]) == 0
    tree = capsys.readouterr().out
    assert tree.index("normalize") < tree.index("features") < tree.index("report")
    assert "(shown above)" in tree  # report has two parents: drawn in full once
    assert "publishes: cadenza-fingerprint-out" in tree
    dot = graph.to_dot(dag)
    assert '"normalize" -> "fingerprint" [label="cadenza-fingerprint-from-normalize"]' in dot
    for fmt in ("dot", "svg", "png"):
        target = tmp_path / f"dag.{fmt}"
        assert (
            graph.main(["--registry", str(output), "--format", fmt, "--output", str(target)]) == 0
        )
        assert target.stat().st_size > 100
    assert (tmp_path / "dag.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "dag.svg").read_bytes()


def test_the_output_files_suffix_names_its_format(tmp_path, diamond, capsys, monkeypatch):
    output = tmp_path / "registry.json"
    registry.main(["--output", str(output), *map(str, diamond)])
    monkeypatch.setenv("BUILD_WORKING_DIRECTORY", str(tmp_path))
    formats = {"dag.dot": "dot", "dag.gv": "dot", "dag.svg": "svg", "DAG.PNG": "png"}
    for name, fmt in {**formats, "d[a]g.dot": "dot"}.items():
        assert graph.main(["--registry", str(output), "--output", name]) == 0
        assert (tmp_path / name).stat().st_size > 100
        said = capsys.readouterr()
        assert "normalize" not in said.out  # no tree
        assert f"wrote{tmp_path / name}({fmt},4jobs)" in "".join(said.err.split())
    assert (tmp_path / "dag.dot").read_text().startswith("digraph cadenza {")
    assert (tmp_path / "dag.gv").read_text().startswith("digraph cadenza {")
    assert b"<svg" in (tmp_path / "dag.svg").read_bytes()
    assert (tmp_path / "DAG.PNG").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --format wins over the suffix
    assert graph.main(["--registry", str(output), "--output", "g.txt", "--format", "dot"]) == 0
    assert (tmp_path / "g.txt").read_text().startswith("digraph cadenza {")


@pytest.mark.parametrize("name", ["dag.pdf", "dag", "[x].jpeg"])
def test_an_output_suffix_that_names_no_format_is_a_usage_error(tmp_path, capsys, name):
    with pytest.raises(SystemExit) as exit_:
        graph.main(["--registry", str(tmp_path / "r.json"), "--output", str(tmp_path / name)])
    assert exit_.value.code == 2
    said = " ".join(capsys.readouterr().err.split())
    assert f"cannot tell the format of --output {tmp_path / name}" in said
    assert ".dot, .gv, .svg, .png" in said and "--format dot|png|svg" in said
    assert not (tmp_path / name).exists()


def test_a_tree_is_not_written_to_a_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        graph.main(["--format", "tree", "--output", str(tmp_path / "dag.dot")])
    assert exit_.value.code == 2
    assert "--format tree is drawn in the terminal" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        graph.main(["--format", "svg"])
    assert "--format svg needs --output FILE" in capsys.readouterr().err


def test_the_help_says_the_suffix_names_the_format(capsys):
    with pytest.raises(SystemExit):
        graph.main(["--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "its suffix names the format unless --format does" in said
    assert ".dot -> dot, .gv -> dot, .svg -> svg, .png -> png" in said


def test_one_job_shows_its_ancestors_and_descendants_only(tmp_path, diamond, capsys):
    diamond.append(write_job(tmp_path / "e", "loner"))
    output = tmp_path / "registry.json"
    registry.main(["--output", str(output), *map(str, diamond)])
    assert graph.main(["--registry", str(output), "--job", "fingerprint"]) == 0
    tree = capsys.readouterr().out
    assert "normalize" in tree and "report" in tree
    assert "── features" not in tree and "loner" not in tree
    assert graph.main(["--registry", str(output), "--job", "fingerprnt"]) == 2
    assert "did you mean 'fingerprint'" in capsys.readouterr().err


def test_a_job_is_drawn_by_its_folder_name_too(tmp_path, capsys):
    config = write_job(tmp_path / "audio_info", "audio-info")
    output = tmp_path / "registry.json"
    assert registry.main(["--output", str(output), str(config)]) == 0
    assert json.loads(output.read_text())["templates"] == {"audio-info": config.read_text()}
    assert graph.main(["--registry", str(output), "--job", "audio_info"]) == 0
    assert "audio-info" in capsys.readouterr().out


def test_two_files_with_one_job_name_are_both_named(tmp_path):
    first = write_job(tmp_path / "a", "normalize")
    second = write_job(tmp_path / "b", "normalize", writes="/out/other")
    with pytest.raises(DagError) as err:
        registry.build_registry([first, second])
    assert str(err.value) == (
        f"job_name 'normalize' is in {first} and {second}: each job needs a name of its own"
    )


def test_the_registry_build_fails_on_a_shared_name(tmp_path, capsys):
    paths = []
    for name, text in {
        "a": "job_name: uploads-photos\n",
        "b": "job_name: ingest\nevents: {inputs: [{type: gcs_notification, bucket: photos-out}]}\n",
    }.items():
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_text(text)
    output = tmp_path / "registry.json"
    assert registry.main(["--output", str(output), *map(str, paths)]) == 1
    assert "'cadenza-uploads-photos-out' would be both" in capsys.readouterr().err
    assert not output.exists()


def test_dag_graph_names_a_damaged_registry_file(tmp_path, capsys):
    damaged = tmp_path / "registry.json"
    damaged.write_text('{"format": 1, "jobs": {')
    assert graph.main(["--registry", str(damaged)]) == 2
    said = "".join(capsys.readouterr().err.split())  # rich wraps long paths anywhere
    assert "".join(f"dag_graph: {damaged}: not a registry document: not JSON".split()) in said


def test_a_job_that_cannot_stream_is_drawn_batch_only_without_subscriptions(tmp_path, capsys):
    batch = write_job(tmp_path / "a", "audio-info")
    streaming = tmp_path / "b" / "job.yaml"
    streaming.parent.mkdir()
    streaming.write_text(
        "job_name: watcher\n"
        "events: {inputs: [{type: gcs_notification, bucket: uploads, prefix: new/}]}\n"
        "data: {outputs: [{name: out, location: /out/watcher}]}\n"
    )
    output = tmp_path / "registry.json"
    assert registry.main(["--output", str(output), str(batch), str(streaming)]) == 0
    capsys.readouterr()
    assert graph.main(["--registry", str(output), "--job", "audio-info"]) == 0
    tree = " ".join(capsys.readouterr().out.split())
    assert "batch only: never deployed" in tree
    assert "cadenza-audio-info-in" not in tree and "reads:" not in tree
    assert "(1 job)" in tree and "events: each batch run's events/ folder" in tree
    assert "publishes:" not in tree
    assert graph.main(["--registry", str(output), "--job", "watcher"]) == 0
    tree = " ".join(capsys.readouterr().out.split())
    assert "reads: cadenza-watcher-in <- cadenza-watcher-in" in tree
    assert "batch only" not in tree
    dot = graph.to_dot(registry.read_registry(output))
    assert "batch only: never deployed" in dot and "cadenza-audio-info-in" not in dot
