"""Loudness against values fixed by ITU-R BS.1770-4 and EBU Tech 3341, on synthetic tones."""

import functools

import numpy as np
import pytest
from scipy import signal

from cadenza.audio.loudness import (
    frame_rms_dbfs,
    integrated_loudness,
    k_weighting_sos,
    measure_loudness,
    rms_dbfs,
)


def sine(dbfs_peak, seconds, sample_rate=48000, hz=997.0):
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return 10 ** (dbfs_peak / 20) * np.sin(2 * np.pi * hz * t)


sine_1k = functools.partial(sine, hz=1000.0)


def stereo(mono):
    return np.stack([mono, mono], axis=1)


def test_k_weighting_reproduces_the_standards_48khz_table():
    """BS.1770-4 Tables 1 and 2: the pre-filter and RLB coefficients at 48 kHz."""
    shelf_b = [1.53512485958697, -2.69169618940638, 1.19839281085285]
    shelf_a = [1.0, -1.69065929318241, 0.73248077421585]
    rlb_b = [1.0, -2.0, 1.0]
    rlb_a = [1.0, -1.99004745483398, 0.99007225036621]
    expected = np.array([shelf_b + shelf_a, rlb_b + rlb_a])
    np.testing.assert_allclose(k_weighting_sos(48000), expected, rtol=0, atol=1e-8)


@pytest.mark.parametrize("sample_rate", [44100, 32000, 22050])
def test_k_weighting_has_the_same_response_at_other_rates(sample_rate):
    """Derived from the analog design, the filter is not just the 48 kHz table reused:
    its gain matches the 48 kHz filter's to 0.1 dB well below Nyquist, where the table
    applied at another rate would shift the shelf and the high-pass."""
    hz = np.array([20.0, 38.0, 100.0, 500.0, 997.0, 1700.0, 2500.0, 4000.0])
    hz = hz[hz <= sample_rate / 8]  # bilinear warping grows towards Nyquist

    def gain_db(sos, rate):
        _, response = signal.sosfreqz(sos, worN=hz, fs=rate)
        return 20 * np.log10(np.abs(response))

    reference = gain_db(k_weighting_sos(48000), 48000)
    np.testing.assert_allclose(
        gain_db(k_weighting_sos(sample_rate), sample_rate), reference, atol=0.1
    )
    table_misused = gain_db(k_weighting_sos(48000), sample_rate)
    assert np.abs(table_misused - reference).max() > 0.3


@pytest.mark.parametrize("sample_rate", [48000, 44100, 22050])
def test_full_scale_997hz_sine_in_one_channel_reads_minus_3_01_lufs(sample_rate):
    """BS.1770-4 defines the -0.691 dB offset so that the K-weighted level of a 997 Hz
    sine equals its mean square in dB: a 0 dBFS-peak sine has mean square 1/2, so one
    channel of it measures 10·log10(1/2) = -3.01 LUFS."""
    tone = sine(0.0, 5.0, sample_rate)
    assert integrated_loudness(tone, sample_rate) == pytest.approx(-3.01, abs=0.05)


@pytest.mark.parametrize("dbfs", [-23.0, -33.0])
def test_ebu_tech_3341_cases_1_and_2_stereo_1khz_sines(dbfs):
    """EBU Tech 3341 test cases 1 and 2: a stereo 1 kHz sine at -23 (-33) dBFS peak in
    both channels reads -23.0 (-33.0) ±0.1 LUFS (each channel -26.01, summed +3.01)."""
    assert integrated_loudness(stereo(sine_1k(dbfs, 20.0)), 48000) == pytest.approx(dbfs, abs=0.1)


def test_ebu_tech_3341_case_3_relative_gate_ignores_the_quiet_parts():
    """EBU Tech 3341 test case 3: -36, -23, -36 dBFS for 10, 60, 10 s reads -23.0 ±0.1:
    the -36 dBFS parts fall more than 10 LU below and are gated out."""
    program = np.concatenate([sine_1k(-36, 10), sine_1k(-23, 60), sine_1k(-36, 10)])
    assert integrated_loudness(stereo(program), 48000) == pytest.approx(-23.0, abs=0.1)
    # Ungated, it would read the mean square of both channels: about -24.2 LUFS.
    assert 10 * np.log10(2 * np.mean(program**2)) < -24.0


def test_ebu_tech_3341_case_4_both_gates():
    """EBU Tech 3341 test case 4: -72, -36, -23, -36, -72 dBFS for 10, 10, 60, 10, 10 s."""
    levels_and_seconds = [(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)]
    program = np.concatenate([sine_1k(level, seconds) for level, seconds in levels_and_seconds])
    assert integrated_loudness(stereo(program), 48000) == pytest.approx(-23.0, abs=0.1)


def test_silence_around_a_tone_is_gated_out():
    """Absolute gate: blocks of digital silence (below -70 LUFS) are ignored, so a 20 s
    tone between 10 s of silence on each side keeps the tone's loudness, but for the
    three blocks at each edge that are partly tone (1/4, 2/4, 3/4: 3 blocks' worth of
    energy in 6 blocks) and pass both gates. Ungated it would read 3 dB lower."""
    tone = sine(-20.0, 20.0, 44100)
    silence = np.zeros(10 * 44100)
    padded = np.concatenate([silence, tone, silence])
    alone = integrated_loudness(tone, 44100)
    assert alone == pytest.approx(-23.01, abs=0.05)
    full_blocks = round((20.0 - 0.4) / 0.1) + 1
    edges = 10 * np.log10((full_blocks + 3) / (full_blocks + 6))
    assert integrated_loudness(padded, 44100) == pytest.approx(alone + edges, abs=0.005)
    assert rms_dbfs(padded) == pytest.approx(rms_dbfs(tone) - 10 * np.log10(2), abs=0.01)


def test_nothing_above_the_gates_is_minus_infinity():
    assert integrated_loudness(np.zeros(48000), 48000) == float("-inf")
    assert integrated_loudness(sine(-90.0, 2.0), 48000) == float("-inf")
    assert integrated_loudness(sine(0.0, 0.3), 48000) == float("-inf")  # < one 400 ms block


def test_surround_channels_are_weighted():
    tone = sine(-23.0, 5.0)
    plain = integrated_loudness(stereo(tone), 48000)
    weighted = integrated_loudness(stereo(tone), 48000, channel_weights=(1.0, 1.41))
    assert weighted - plain == pytest.approx(10 * np.log10(2.41 / 2), abs=0.01)
    with pytest.raises(ValueError, match="channel_weights: expected 2 weights"):
        integrated_loudness(stereo(tone), 48000, channel_weights=(1.0,))


def test_rms_of_a_sine_a_square_and_silence():
    assert rms_dbfs(sine(0.0, 1.0)) == pytest.approx(-3.0103, abs=1e-3)
    assert rms_dbfs(sine(-20.0, 1.0)) == pytest.approx(-23.0103, abs=1e-3)
    assert rms_dbfs(np.full(1000, 0.5)) == pytest.approx(-6.0206, abs=1e-4)
    assert rms_dbfs(np.zeros(1000)) == float("-inf")
    assert rms_dbfs(np.zeros(0)) == float("-inf")


def test_frame_rms_follows_a_step_in_level():
    rate = 8000
    quiet, loud = sine(-40.0, 1.0, rate, 500.0), sine(-10.0, 1.0, rate, 500.0)
    frames = frame_rms_dbfs(np.concatenate([quiet, loud]), rate, frame_length=800, hop_length=400)
    assert frames.values.shape == frames.times_s.shape
    assert len(frames.times_s) == 2 * rate // 400 + 1
    inside_quiet = (frames.times_s > 0.2) & (frames.times_s < 0.8)
    inside_loud = (frames.times_s > 1.2) & (frames.times_s < 1.8)
    np.testing.assert_allclose(frames.values[inside_quiet], -43.01, atol=0.05)
    np.testing.assert_allclose(frames.values[inside_loud], -13.01, atol=0.05)
    middle = np.argmin(np.abs(frames.times_s - 1.0))  # half quiet, half loud
    assert -20.0 < frames.values[middle] < -13.5


def test_measure_loudness_reports_all_three():
    measured = measure_loudness(sine(-6.0, 3.0, 44100), 44100)
    assert measured.integrated_lufs == pytest.approx(-9.01, abs=0.05)
    assert measured.rms_dbfs == pytest.approx(-9.01, abs=0.01)
    assert measured.peak_dbfs == pytest.approx(-6.0, abs=0.01)


@pytest.mark.parametrize("sample_rate", [2000, 3000, 4000, 6000])
def test_rates_below_the_filters_minimum_are_measured_upsampled(sample_rate):
    """The ~1.7 kHz shelf is undefined at or above Nyquist (rates up to 3364 Hz) and
    warped near it: such audio is measured at 8 kHz, like audio recorded there."""
    tone = sine(-20.0, 3.0, sample_rate, hz=300.0)
    at_8k = integrated_loudness(sine(-20.0, 3.0, 8000, hz=300.0), 8000)
    assert np.isfinite(at_8k)
    assert integrated_loudness(tone, sample_rate) == pytest.approx(at_8k, abs=0.05)
    assert measure_loudness(stereo(tone), sample_rate).integrated_lufs == pytest.approx(
        at_8k + 3.01, abs=0.05
    )


def test_the_k_weighting_filter_refuses_rates_it_cannot_be_designed_at():
    with pytest.raises(ValueError, match="needs a rate above 3364 Hz, got 3000"):
        k_weighting_sos(3000)
