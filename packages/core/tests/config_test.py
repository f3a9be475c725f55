"""Job config: valid files, every error path, templating and overrides."""

import pathlib

import attrs
import pytest

from cadenza.core.config import (
    DataLocation,
    FileInput,
    GcsNotificationInput,
    ListingInput,
    PubSubInput,
    load_job_config,
    parse_job_config,
)
from cadenza.core.decode import Format
from cadenza.core.errors import ConfigError

DATA = pathlib.Path(__file__).parent / "testdata" / "config"
ENV = {"PROJECT": "acme-media", "BUCKET": "tracks"}


def load(name, **kwargs):
    return load_job_config(DATA / name, **kwargs)


def errors_of(name, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(name, **kwargs)
    lines = str(err.value).splitlines()
    assert all(line.startswith(str(DATA / name) + ": ") for line in lines), lines
    return [line.removeprefix(str(DATA / name) + ": ") for line in lines]


def test_full_config_with_environment():
    config = load("valid_full.yaml", env=ENV)
    assert (config.job_name, config.version, config.upstream) == (
        "fingerprint",
        "3",
        ("normalize",),
    )
    assert config.events.accept == (Format.GCS_NOTIFICATION, Format.RAW)
    assert config.events.inputs == (
        PubSubInput(subscription="projects/acme-media/subscriptions/fingerprint"),
        GcsNotificationInput(bucket="tracks", prefix="incoming/"),
        FileInput(path="/data/ids.txt"),
        ListingInput(location="gs://tracks/normalized", suffix=".flac"),
    )
    assert config.events.outputs[0].topic == "projects/acme-media/topics/fingerprint-done"
    assert [d.name for d in config.data.inputs] == ["audio", "catalog"]
    assert [d.name for d in config.data.outputs] == ["report", "fingerprint"]
    assert config.data.inputs[1].skip_existence_check is True
    assert config.data.outputs[0].path_for("t1") == "gs://tracks/fingerprints/t1.json"
    assert config.profile("dataflow").project == "acme-media"
    assert config.profile("local").options == {"direct_num_workers": 2}
    assert config.reprocess_on_version_change is True


@pytest.mark.parametrize("env", [{}, None], ids=["with an environment", "as a template"])
def test_a_placeholder_that_is_not_one_is_named(env):
    text = (
        "job_name: loudness\n"
        "data: {outputs: [{name: rms, location: '${LOUDNESS_OUTPUT:-.cadenza/out/loudness'}]}\n"
        "params: {name_format: '${track:03d}', note: 'costs ${5}'}\n"
    )
    with pytest.raises(ConfigError) as err:
        parse_job_config(text, source="job.yaml", env=env)
    assert str(err.value).splitlines() == [  # the params' ${...} text is left alone
        "job.yaml: data.outputs[0].location: '${LOUDNESS_OUTPUT:-.cadenza/out/loudness': a "
        "placeholder without its closing '}'",
    ]


def test_a_job_that_would_read_its_own_outputs_is_refused():
    text = (
        "job_name: rms-root\n"
        "events: {inputs: [{type: listing, location: /data/same/}]}\n"
        "data:\n"
        "  inputs: [{name: audio, location: /data/same}]\n"
        "  outputs: [{name: rms, location: /data/same, suffix: .json}]\n"
    )
    with pytest.raises(ConfigError) as err:
        parse_job_config(text, source="job.yaml", env={})
    assert str(err.value).splitlines() == [
        "job.yaml: events.inputs[0]: the listing of /data/same/ takes in this job's own "
        "outputs (data.outputs[0] writes /data/same/<id>.json): each run would process them "
        "again; give the outputs another location, or the listing a suffix they do not end with"
    ]
    same_files = text.replace(
        "location: /data/same}]\n  outputs", "location: /data/same, suffix: .json}]\n  outputs"
    )
    same_files = same_files.replace("location: /data/same/}", "location: /data/in}")
    with pytest.raises(
        ConfigError, match=r"data.inputs\[0\]: reads the files data.outputs\[0\] writes"
    ):
        parse_job_config(same_files, source="job.yaml", env={})
    fine = text.replace("location: /data/same/}", "location: /data/same, suffix: .wav}")
    assert parse_job_config(fine, env={}).job_name == "rms-root"


def test_a_suffix_without_its_dot_is_refused_with_the_dotted_one():
    text = "job_name: loudness\ndata: {outputs: [{name: rms, location: /out, suffix: json}]}\n"
    with pytest.raises(ConfigError) as err:
        parse_job_config(text, source="job.yaml", env={})
    assert str(err.value) == (
        "job.yaml: data.outputs[0].suffix: 'json' is glued to the id (<id>json); "
        "did you mean '.json'?"
    )
    dotted = parse_job_config(text.replace("suffix: json", "suffix: _rms.json"), env={})
    assert dotted.data.outputs[0].path_for("a") == "/out/a_rms.json"
    for glued in ("v2", "L", "2"):  # <id>v2, a channel's <id>L: not extensions
        config = parse_job_config(text.replace("suffix: json", f"suffix: '{glued}'"), env={})
        assert config.data.outputs[0].suffix == glued


def test_defaults_fill_the_default_env_value():
    config = load("valid_full.yaml", env={"PROJECT": "p"})
    assert config.data.inputs[0].location == "gs://uploads/normalized"


def test_templates_are_checked_without_an_environment():
    config = load("valid_full.yaml")
    assert config.events.inputs[0].subscription == "projects/${PROJECT}/subscriptions/fingerprint"


def test_missing_environment_variables_are_named():
    assert errors_of("valid_full.yaml", env={}) == [
        "events.inputs[0].subscription: ${PROJECT} is not set in the environment",
        "events.outputs[0].topic: ${PROJECT} is not set in the environment",
        "profiles.dataflow.project: ${PROJECT} is not set in the environment",
    ]


def test_minimal_config_gets_a_local_profile():
    config = load("minimal.yaml")
    assert config.version == "1" and config.upstream == ()
    assert config.profile("local").runner == "local"
    with pytest.raises(ConfigError, match=r"no profile 'dask'; this job has \['local'\]"):
        config.profile("dask")


def test_typo_suggests_the_closest_key():
    assert errors_of("typo_key.yaml") == ["data.inptus: unknown key; did you mean 'inputs'?"]


def test_every_wrong_value_is_reported_with_its_dotted_key():
    errors = errors_of("wrong_types.yaml")
    assert "events.inputs[0].subscription: expected a string, found 42 (int)" in errors
    assert any(
        e.startswith("events.inputs[1].type: expected one of") and "did you mean 'pubsub'" in e
        for e in errors
    )
    assert any(
        e.startswith("events.accept[1]: expected one of") and "did you mean 'raw'" in e
        for e in errors
    )
    assert (
        "data.outputs[0].skip_existence_check: expected true or false, found 'yes' (str)" in errors
    )
    assert "data.outputs[1].name: required key missing" in errors
    assert any(e.startswith("upstream") for e in errors), errors


def test_semantic_errors_are_reported_with_keys():
    text = """
job_name: X
upstream: [X, normalize, normalize]
data:
  outputs:
    - {name: Report, location: /a}
    - {name: Report, location: ""}
profiles:
  locl: {runner: local}
  dask: {runner: dask}
  dataflow: {runner: dataflow, project: p}
"""
    with pytest.raises(ConfigError) as err:
        parse_job_config(text, source="x.yaml")
    errors = str(err.value).splitlines()
    assert errors[0].startswith("x.yaml: job_name: expected 3-63 characters")
    assert "x.yaml: data.outputs[1].name: duplicate name 'Report'" in errors
    assert "x.yaml: data.outputs[1].location: must not be empty" in errors
    assert any("profiles.locl: unknown profile; did you mean 'local'?" in e for e in errors)
    assert (
        "x.yaml: profiles.dask.scheduler: required for the dask runner (e.g. tcp://127.0.0.1:8786)"
        in errors
    )
    assert "x.yaml: profiles.dataflow.region: required for the dataflow runner" in errors
    assert "x.yaml: upstream: 'X' cannot be its own upstream" in errors
    assert "x.yaml: upstream: 'normalize' listed more than once" in errors


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "not_a_mapping.yaml",
            "expected a mapping at the top level, found ['just', 'a list'] (list)",
        ),
        ("bad_yaml.yaml", "not valid YAML"),
        ("no_such_file.yaml", "cannot read the job config: No such file or directory"),
    ],
)
def test_unreadable_files(name, message):
    with pytest.raises(ConfigError, match=rf"^{DATA / name}: ") as err:
        load(name)
    assert message in str(err.value)


def test_overrides_set_typed_values_by_dotted_path():
    config = load(
        "valid_full.yaml",
        env=ENV,
        overrides=[
            "data.inputs[0].location=/local/audio",
            "profiles.local.options.direct_num_workers=4",
            "reprocess_on_version_change=false",
            "params.min_score=12",
        ],
    )
    assert config.data.inputs[0].location == "/local/audio"
    assert config.profile("local").options["direct_num_workers"] == 4
    assert config.reprocess_on_version_change is False
    assert config.params["min_score"] == 12


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.inputs[7].location=/x", "data.inputs has no item [7]"),
        ("job_name", "expected key.path=value"),
        ("job_name.first=x", "job_name is not a mapping"),
    ],
)
def test_bad_overrides(override, message):
    with pytest.raises(ConfigError, match="override") as err:
        load("valid_full.yaml", env=ENV, overrides=[override])
    assert message in str(err.value)


def test_override_with_the_wrong_type_is_reported_at_its_key():
    with pytest.raises(
        ConfigError, match=r"data.inputs\[0\].suffix: expected a string, found 3 \(int\)"
    ) as raised:
        load("valid_full.yaml", env=ENV, overrides=["data.inputs[0].suffix=3"])
    # named with the file: the value came from the command line, not from job.yaml
    assert "valid_full.yaml with --set data.inputs[0].suffix=3: " in str(raised.value)


@attrs.frozen(kw_only=True)
class FingerprintParams:
    min_score: int
    bands: tuple[int, ...] = ()


def test_params_are_validated_by_the_jobs_class():
    config = load("valid_full.yaml", env=ENV, params_class=FingerprintParams)
    assert config.params == FingerprintParams(min_score=8, bands=(1, 2, 3))
    with pytest.raises(
        ConfigError, match=r"params.min_score: expected an integer, found 'high' \(str\)"
    ):
        load(
            "valid_full.yaml",
            env=ENV,
            overrides=["params.min_score=high"],
            params_class=FingerprintParams,
        )
    with pytest.raises(
        ConfigError, match=r"params.min_scor: unknown key; did you mean 'min_score'\?"
    ):
        load(
            "valid_full.yaml",
            env=ENV,
            overrides=["params.min_scor=1"],
            params_class=FingerprintParams,
        )


def test_templated_integers_pass_template_validation_only():
    text = "job_name: abc\nprofiles:\n  local: {runner: local}\nparams: {n: '${N}'}\n"
    assert parse_job_config(text).params == {"n": "${N}"}
    with pytest.raises(
        ConfigError, match=r"params.n: expected an integer, found 'x' \(str, from the environment\)"
    ):
        parse_job_config(text, env={"N": "x"}, params_class=_NParams)
    assert parse_job_config(text, env={"N": "5"}, params_class=_NParams).params.n == 5


@attrs.frozen
class _NParams:
    n: int


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "job_name: abc\nevents: {inputs: [oops]}",
            "events.inputs[0]: expected a mapping with a `type`",
        ),
        (
            "job_name: abc\nevents: {inputs: [{subscription: s}]}",
            "events.inputs[0].type: expected one of",
        ),
        (
            "job_name: abc\nevents: {inputs: [{type: file}]}",
            "events.inputs[0].path: required key missing",
        ),
        (
            "job_name: abc\nprofiles: {local: {runner: lcoal}}",
            "profiles.local.runner: expected one of",
        ),
        (
            "job_name: abc\ndata: {inputs: {name: a}}",
            "data.inputs: expected a list, found {'name': 'a'} (dict)",
        ),
        (
            "job_name: abc\nreprocess_on_version_change: 1",
            "reprocess_on_version_change: expected true or false",
        ),
        ("version: 2", "job_name: required key missing"),
    ],
)
def test_more_error_paths(text, message):
    with pytest.raises(ConfigError) as err:
        parse_job_config(text, source="j.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("j.yaml: ")


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("gs://b/tmp", "expected a bucket name (3-63 characters"),
        ("/tmp/staging", "expected gs://BUCKET/PATH, found '/tmp/staging'"),
    ],
)
def test_a_dataflow_temp_location_must_be_a_bucket_path(location, problem):
    """Beam's own check of it ended in a BadRequest traceback from Cloud Storage."""
    text = (
        "job_name: abc\nprofiles:\n  dataflow: {runner: dataflow, project: p, region: r, "
        f"temp_location: '{location}'}}\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_job_config(text, source="x.yaml", env={})
    assert f"x.yaml: profiles.dataflow.temp_location: {problem}" in str(raised.value)


def test_override_with_an_empty_key_and_unknown_profile_names():
    with pytest.raises(ConfigError, match="empty key"):
        parse_job_config("job_name: abc", overrides=["=3"])


def test_execution_and_dead_letter_settings():
    text = """
job_name: abc
dead_letter: {location: /tmp/dead, topic: abc-dead}
execution: {timeout_s: 2.5, retries: 3, retry_backoff_s: 1}
"""
    config = parse_job_config(text)
    assert config.dead_letter.location == "/tmp/dead" and config.dead_letter.topic == "abc-dead"
    assert (config.execution.timeout_s, config.execution.retries) == (2.5, 3)
    assert config.execution.retry_backoff_s == 1.0
    with pytest.raises(ConfigError) as err:
        parse_job_config(
            "job_name: abc\nexecution: {timeout_s: '2s', retries: -1}", source="j.yaml"
        )
    assert "j.yaml: execution.timeout_s: expected a number, found '2s' (str)" in str(err.value)
    with pytest.raises(ConfigError, match=r"execution\.retries: expected 0 or more, found -1"):
        parse_job_config("job_name: abc\nexecution: {retries: -1}")
    for bad, problem in (
        ("{timeout_s: .nan}", "execution.timeout_s: expected a positive number, found nan"),
        ("{timeout_s: .inf}", "execution.timeout_s: expected a positive number, found inf"),
        ("{timeout_s: 0}", "execution.timeout_s: expected a positive number, found 0.0"),
        ("{retry_backoff_s: -1}", "execution.retry_backoff_s: expected 0 or more, found -1.0"),
    ):
        with pytest.raises(ConfigError) as err:
            parse_job_config(f"job_name: abc\nexecution: {bad}")
        assert str(err.value) == f"<job.yaml>: {problem}"


def test_a_version_is_text_and_a_decimal_one_must_be_quoted():
    assert parse_job_config('job_name: abc\nversion: "1.10"').version == "1.10"
    assert parse_job_config("job_name: abc\nversion: 3").version == "3"
    assert parse_job_config("job_name: abc", overrides=["version=2"]).version == "2"
    with pytest.raises(ConfigError) as err:
        parse_job_config("job_name: abc\nversion: 1.10")
    assert str(err.value) == (
        '<job.yaml>: version: YAML reads 1.1 as a number; quote it, e.g. version: "1.1"'
    )


def test_a_file_input_holds_ids_or_pubsub_messages():
    config = parse_job_config(
        "job_name: abc\nevents: {inputs: [{type: file, path: n.jsonl, format: messages}]}"
    )
    assert config.events.inputs == (FileInput(path="n.jsonl", format="messages"),)
    assert FileInput(path="ids.txt").format == "ids"
    with pytest.raises(ConfigError, match=r"events.inputs\[0\].format: "):
        parse_job_config("job_name: abc\nevents: {inputs: [{type: file, path: x, format: csv}]}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("job_name: abc\nevents:\n", "events: expected a mapping, found None (NoneType)"),
        ("job_name: abc\ndata: []\n", "data: expected a mapping, found [] (list)"),
        ("job_name: abc\nprofiles:\n", "profiles: expected a mapping, found None (NoneType)"),
        ("job_name: abc\nprofiles: {}\n", "profiles: expected at least one profile"),
        ("job_name: abc\nprofiles: {local: }\n", "profiles.local: expected a mapping, found None"),
        ("job_name: abc\nparams: 10\n", "params: expected a mapping, found 10 (int)"),
        ("job_name: abc\nparams: [1, 2]\n", "params: expected a mapping, found [1, 2] (list)"),
        (
            "job_name: abc\nevents: {inputs: [{type: [a]}]}\n",
            "events.inputs[0].type: expected one of",
        ),
    ],
)
def test_a_section_that_is_not_a_mapping_is_named(text, message):
    with pytest.raises(ConfigError) as err:
        parse_job_config(text, source="j.yaml")
    assert str(err.value).startswith("j.yaml: ") and message in str(err.value)


@pytest.mark.parametrize("params", ["'fast'", "[1]", "10"])
def test_params_that_are_not_a_mapping_are_named_for_a_params_class(params):
    with pytest.raises(ConfigError, match=r"^j.yaml: params: expected a mapping, found "):
        parse_job_config(
            f"job_name: abc\nparams: {params}\n", source="j.yaml", params_class=FingerprintParams
        )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "events: {inputs: [{type: gcs_notification, bucket: 'gs://my-uploads'}]}",
            "events.inputs[0].bucket: expected a bucket's name, not a location: write 'my-uploads'",
        ),
        (
            "events: {inputs: [{type: gcs_notification, bucket: ''}]}",
            "events.inputs[0].bucket: must not be empty",
        ),
        (
            "events: {inputs: [{type: gcs_notification, bucket: My_Uploads}]}",
            "events.inputs[0].bucket: expected a bucket name",
        ),
        (
            "events: {inputs: [{type: pubsub, subscription: ''}]}",
            "events.inputs[0].subscription: must not be empty",
        ),
        (
            "events: {inputs: [{type: pubsub, subscription: 'projects/p/topics/t'}]}",
            "events.inputs[0].subscription: expected a Pub/Sub subscription id",
        ),
        ("events: {outputs: [{topic: ''}]}", "events.outputs[0].topic: must not be empty"),
        ("events: {outputs: [{topic: 'a b'}]}", "events.outputs[0].topic: expected a Pub/Sub"),
        ("dead_letter: {topic: goog-x}", "dead_letter.topic: expected a Pub/Sub topic id"),
    ],
)
def test_bucket_topic_and_subscription_names_are_checked(section, message):
    with pytest.raises(ConfigError) as err:
        parse_job_config(f"job_name: abc\n{section}\n", source="j.yaml")
    assert f"j.yaml: {message}" in str(err.value)


def test_templated_names_are_checked_once_substituted():
    text = "job_name: abc\nevents: {inputs: [{type: gcs_notification, bucket: '${B:-ups}'}]}\n"
    assert parse_job_config(text).events.inputs[0].bucket == "${B:-ups}"
    assert parse_job_config(text, env={}).events.inputs[0].bucket == "ups"
    with pytest.raises(ConfigError, match="write 'ups'"):
        parse_job_config(text, env={"B": "gs://ups/x"})
    full = "job_name: abc\nevents: {outputs: [{topic: projects/p/topics/done}]}\n"
    assert parse_job_config(full).events.outputs[0].topic == "projects/p/topics/done"


def test_a_whole_value_from_the_environment_fills_number_and_flag_fields():
    text = "job_name: abc\nexecution:\n  timeout_s: ${T:-3}\n  retries: ${R:-2}\n"
    assert parse_job_config(text).execution.timeout_s > 0  # the template alone passes
    defaults = parse_job_config(text, env={}).execution
    assert (defaults.timeout_s, defaults.retries) == (3.0, 2)
    given = parse_job_config(text, env={"T": "7.5", "R": "4"}).execution
    assert (given.timeout_s, given.retries) == (7.5, 4)
    with pytest.raises(ConfigError) as err:
        parse_job_config(text, env={"T": "soon", "R": "true"})
    assert str(err.value) == (
        "<job.yaml>: execution.timeout_s: expected a number, found 'soon' (str, from the "
        "environment)\n<job.yaml>: execution.retries: expected an integer, found 'true' "
        "(str, from the environment)"
    )
    versioned = parse_job_config("job_name: abc\nversion: ${V:-1}", env={"V": "2"})
    assert versioned.version == "2" and type(versioned.version) is str


def test_path_for_keeps_elements_inside_the_location():
    loc = DataLocation(name="audio", location="gs://tracks/normalized/", suffix=".flac")
    assert loc.path_for("2024/track-1") == "gs://tracks/normalized/2024/track-1.flac"
    assert loc.path_for("mix [/dub]") == "gs://tracks/normalized/mix [/dub].flac"


@pytest.mark.parametrize(
    ("element", "reason"),
    [
        ("../secret/x", "has a '..' path segment"),
        ("a/../../x", "has a '..' path segment"),
        ("./x", "has a '.' path segment"),
        ("/etc/passwd", "starts with '/'"),
        ("x\x00.flac", "has a NUL character"),
    ],
)
def test_path_for_refuses_an_element_that_would_leave_the_location(element, reason):
    loc = DataLocation(name="audio", location="/data/in", suffix=".flac")
    with pytest.raises(ValueError, match=r"^data location 'audio': element ") as err:
        loc.path_for(element)
    assert repr(element) in str(err.value) and reason in str(err.value)


def test_a_key_written_twice_is_refused_naming_both_lines(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(
        "job_name: fingerprint\n"
        "data:\n"
        "  inputs:\n"
        "    - {name: audio, location: /a, location: /b}\n"
        "data:\n"
        "  outputs: [{name: out, location: /c}]\n"
        "job_name: other-name\n"
    )
    with pytest.raises(ConfigError) as err:
        load_job_config(path, env={})
    assert str(err.value).splitlines() == [
        f"{path}: data: key written twice, on lines 2 and 5 (YAML would keep the last)",
        f"{path}: job_name: key written twice, on lines 1 and 7 (YAML would keep the last)",
        f"{path}: data.inputs[0].location: key written twice, on line 4 (YAML would keep the last)",
    ]


def test_keys_that_differ_or_come_from_a_merge_are_not_duplicates():
    config = parse_job_config(
        "job_name: fingerprint\n"
        "params:\n"
        "  base: &base {rate: 1, mono: true}\n"
        "  tuned: {<<: *base, rate: 2}\n"
        "  1: int key\n"
        "  '1': str key\n"
    )
    assert config.params["tuned"] == {"rate": 2, "mono": True}
    assert config.params[1] == "int key" and config.params["1"] == "str key"
