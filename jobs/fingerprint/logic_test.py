"""The fingerprint logic alone, on real files and the real job.yaml: its params and its
report when workers share one catalog index."""

import logging

import pytest
import soundfile as sf

from cadenza.audio.fingerprint.synthetic import melody
from cadenza.core import ConfigError, Message, load_job_config
from cadenza.runtime.api import (
    ElementContext,
    ElementLogger,
    JobMetrics,
    resolve_inputs,
    resolve_outputs,
)
from jobs.fingerprint.logic import Fingerprint, Params
from jobs.fingerprint.pipeline import CONFIG

RATE = 22050


def config_for(tmp_path, index):
    env = {"NORMALIZE_OUTPUT": str(tmp_path / "in"), "FINGERPRINT_OUTPUT": str(tmp_path / "out")}
    return load_job_config(CONFIG, env={**env, "FINGERPRINT_INDEX": index}, params_class=Params)


def context(config, element):
    return ElementContext(
        element=element,
        payload=None,
        message=Message(element=element),
        inputs=resolve_inputs(config.data.inputs, element),
        outputs=resolve_outputs(config.data.outputs, element),
        params=config.params,
        log=ElementLogger(logging.getLogger("fingerprint-test"), {}),
        metrics=JobMetrics(config.job_name),
        config=config,
    )


def test_a_remote_index_is_refused_when_the_config_loads(tmp_path):
    with pytest.raises(ConfigError, match=r"'index' must be a local folder.*'gs://bucket/idx'"):
        config_for(tmp_path, "gs://bucket/idx")


@pytest.mark.parametrize("window_s", [".inf", ".nan", "0.0001", "0", "-5", "601.0"])
def test_a_window_the_matching_cannot_use_is_refused_when_the_config_loads(tmp_path, window_s):
    config = tmp_path / "job.yaml"
    config.write_text(CONFIG.read_text().replace("window_s: 10.0", f"window_s: {window_s}"))
    env = {"NORMALIZE_OUTPUT": str(tmp_path / "in"), "FINGERPRINT_INDEX": str(tmp_path / "i")}
    with pytest.raises(ConfigError, match=r"params: 'window_s' must be .* from 2 to 600, not "):
        load_job_config(config, env=env, params_class=Params)
    assert Params(index="idx", window_s=2).window_s == 2 and Params(index="idx").window_s == 10


def test_already_in_catalog_sees_what_another_worker_added(tmp_path):
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "x.wav.flac", melody(20, 8, RATE), RATE)
    config = config_for(tmp_path, str(tmp_path / "index"))
    first, second = Fingerprint(), Fingerprint()  # two workers, one index folder
    first.setup(config)
    second.setup(config)
    report = first.process(context(config, "x.wav")).outputs["report"]
    assert report["already_in_catalog"] is False
    again = second.process(context(config, "x.wav")).outputs["report"]  # a redelivery
    assert again["already_in_catalog"] is True and again["matches"] == []
