"""The benchmark harness's own checks: degradations do what they say, scoring is right."""

import pathlib

import numpy as np
import pytest
import soundfile as sf

from tests.bench.fingerprint.corpus import Corpus, Track
from tests.bench.fingerprint.queries import (
    Query,
    add_noise,
    change_speed,
    encode_mp3,
    mp3_kbps,
    phone_chain,
)
from tests.bench.fingerprint.systems import QueryResult
from tests.bench.fingerprint.truth import FALSE_POSITIVE, HIT, MISS, WRONG, Judge


def _tone(frequency: float, seconds: float, rate: int) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * frequency * np.arange(int(seconds * rate)) / rate)).astype(
        np.float32
    )


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def test_noise_is_added_at_the_requested_snr():
    clean = _tone(440, 2.0, 22050)
    for snr in (0.0, 10.0, 15.0):
        noisy = add_noise(clean, snr, np.random.default_rng(1))
        noise = noisy - clean
        measured = 10 * np.log10(np.mean(clean.astype(float) ** 2) / np.mean(noise**2))
        assert measured == pytest.approx(snr, abs=0.2)


def test_speed_changes_tempo_and_pitch_together():
    rate = 22050
    faster = change_speed(_tone(1000, 2.04, rate), rate, 1.02)
    assert len(faster) == pytest.approx(2.0 * rate, abs=2)
    assert _peak_hz(faster, rate) == pytest.approx(1020, abs=2)


@pytest.mark.parametrize("rate", [22050, 44100])
def test_mp3_is_64_kbit_per_second(rate):
    data = encode_mp3(_tone(440, 2.0, rate), rate)
    assert mp3_kbps(data) == pytest.approx(64.0, abs=0.01)


def test_phone_chain_is_band_limited_at_8_khz():
    rate = 22050
    low, _ = phone_chain(_tone(100, 2.0, rate), rate, np.random.default_rng(0))
    mid, out_rate = phone_chain(_tone(1000, 2.0, rate), rate, np.random.default_rng(0))
    assert out_rate == 8000 and len(mid) == pytest.approx(16000, abs=2)
    assert np.std(low) < 0.3 * np.std(mid)


@pytest.fixture
def looped_corpus(tmp_path: pathlib.Path) -> Corpus:
    """A 12 s track: one 3 s stretch of noise played four times."""
    rate = 11025
    loop = np.random.default_rng(3).standard_normal(3 * rate).astype(np.float32) * 0.2
    path = tmp_path / "loop.wav"
    sf.write(path, np.tile(loop, 4), rate)
    track = Track("test/loop", path, 12.0, "test", recorded=False)
    return Corpus("test", tmp_path, "x", references=(track,), held_out=())


def _query(offset_s: float, *, speed: float = 1.0, indexed: bool = True) -> Query:
    return Query("q", pathlib.Path("q.wav"), 2.0, "clean", "test/loop", offset_s, speed, indexed)


def test_offset_within_tolerance_is_a_hit(looped_corpus):
    judge = Judge(looped_corpus)
    assert judge.judge(_query(1.0), QueryResult("test/loop", 1.09, 0.01)).outcome == HIT
    assert judge.judge(_query(1.0), QueryResult(None, None, 0.01)).outcome == MISS
    assert judge.judge(_query(1.0), QueryResult("other", 1.0, 0.01)).outcome == WRONG


def test_speed_changed_queries_accept_any_aligned_offset(looped_corpus):
    judge = Judge(looped_corpus)
    # 2 s at +2%: query time q lines up with 1.0 + 1.02 q, offsets 1.0 .. 1.04
    assert judge.judge(_query(1.0, speed=1.02), QueryResult("test/loop", 1.14, 0.01)).outcome == HIT


def test_repeat_rule_accepts_a_loop_restatement_only(looped_corpus):
    judge = Judge(looped_corpus)
    repeat = judge.judge(_query(1.0), QueryResult("test/loop", 7.0, 0.01))
    assert repeat.outcome == HIT and repeat.repeat_r > 0.95
    elsewhere = judge.judge(_query(1.0), QueryResult("test/loop", 5.5, 0.01))
    assert elsewhere.outcome == WRONG and elsewhere.repeat_r < 0.5


def test_any_answer_to_a_not_indexed_query_is_a_false_positive(looped_corpus):
    judge = Judge(looped_corpus)
    answer = QueryResult("test/loop", 1.0, 0.01)
    assert judge.judge(_query(1.0, indexed=False), answer).outcome == FALSE_POSITIVE
