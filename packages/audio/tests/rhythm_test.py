"""Tempo and beats of click tracks whose tempo and click times the tests choose."""

import numpy as np
import pytest

from cadenza.audio.rhythm import estimate_tempo

RATE = 22050
FRAME_S = 512 / RATE


def click_track(period_s, seconds, first_s=0.1, rate=RATE):
    """Decaying 1.5 kHz bursts (10 ms) every `period_s` from `first_s`, and their times."""
    x = np.zeros(round(seconds * rate), np.float32)
    n = round(0.01 * rate)
    burst = np.sin(2 * np.pi * 1500 * np.arange(n) / rate) * np.exp(-np.arange(n) / (n / 5))
    times = np.arange(first_s, seconds - 0.05, period_s)
    for t in times:
        start = round(t * rate)
        x[start : start + n] += burst.astype(np.float32)
    return x, times


@pytest.mark.parametrize(("period_s", "bpm"), [(0.5, 120.0), (0.6, 100.0), (60 / 137, 137.0)])
def test_clicks_at_a_steady_period_give_its_tempo_and_beats_at_the_clicks(period_s, bpm):
    samples, clicks = click_track(period_s, 12.0)
    estimate = estimate_tempo(samples, RATE)
    assert estimate.bpm == pytest.approx(bpm, abs=1.0)
    beats = estimate.beat_times_s
    # Every beat falls on a click (within two 23 ms frames) ...
    nearest_click = np.abs(beats[:, None] - clicks[None, :]).min(axis=1)
    assert nearest_click.max() <= 2 * FRAME_S
    # ... and every click between the first and last beat has its beat (the tracker
    # may trim a few at the ends).
    covered = clicks[(clicks > beats[0] - 2 * FRAME_S) & (clicks < beats[-1] + 2 * FRAME_S)]
    assert len(beats) == len(covered) >= 0.8 * len(clicks)
    assert np.median(np.diff(beats)) == pytest.approx(period_s, abs=FRAME_S)


def test_silence_has_no_beats():
    estimate = estimate_tempo(np.zeros(5 * RATE, np.float32), RATE)
    assert estimate.bpm == 0.0
    assert estimate.beat_times_s.size == 0


def test_a_tempo_change_gives_a_tempo_between_the_two_and_beats_that_follow_it():
    """100 BPM for 8 s, then 120 BPM: the beats are not steady, so `bpm` is librosa's
    global estimate (one of the two tempos), while the beats follow the change."""
    slow, _ = click_track(0.6, 8.0)
    fast, _ = click_track(0.5, 8.0)
    estimate = estimate_tempo(np.concatenate([slow, fast]), RATE)
    assert 97.0 <= estimate.bpm <= 123.0
    intervals = np.diff(estimate.beat_times_s)
    first, last = intervals[:5], intervals[-5:]
    assert np.all(np.abs(first - 0.6) <= 2 * FRAME_S) and np.all(np.abs(last - 0.5) <= 2 * FRAME_S)


def test_warm_up_runs_the_tracker_on_its_click_track():
    from cadenza.audio import warm_up_tempo

    estimate = warm_up_tempo()
    assert estimate.bpm == pytest.approx(120.0, abs=3.0)
    assert len(estimate.beat_times_s) >= 4
