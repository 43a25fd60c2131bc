"""Preprocessing: resampling keeps the waveform, the 1-uV grid, 20-s windows that cover a record, long records."""
import numpy as np
import pytest

from team_code.data import preprocess
from team_code.data.preprocess import FS, LENGTH, MAX_SECONDS, prepare_signal, window, window_starts, windows


@pytest.mark.parametrize("fs", [250, 257, 360, 500, 1000])
def test_resampling_keeps_a_sines_frequency_and_amplitude(fs):
    t = np.arange(int(12 * fs)) / fs
    signal = np.tile(1.5 * np.sin(2 * np.pi * 7.0 * t), (12, 1))
    out = prepare_signal(signal, fs)
    assert out.shape == (12, int(round(12 * FS)))
    core = out[0, FS:-FS]  # away from the filter's edges
    spectrum = np.abs(np.fft.rfft(core))
    assert np.fft.rfftfreq(len(core), 1 / FS)[spectrum.argmax()] == pytest.approx(7.0, abs=0.1)
    assert np.abs(core).max() == pytest.approx(1.5, abs=0.01)


def test_values_lie_on_the_microvolt_grid_and_clip_to_int16():
    signal = np.array([[0.12345, -40.0, 40.0, 0.0005]] * 12)
    out = prepare_signal(signal, FS)
    np.testing.assert_array_equal(out[0], np.float32([0.123, -32.768, 32.767, 0.0]) + np.float32(0))
    np.testing.assert_array_equal(preprocess.prepare_counts(signal, FS)[0], [123, -32768, 32767, 0])


def test_window_pads_and_truncates_exactly():
    short = np.arange(12 * 3000, dtype=np.float32).reshape(12, 3000)
    w = window(short)
    assert w.shape == (12, LENGTH)
    np.testing.assert_array_equal(w[:, :3000], short)
    assert not w[:, 3000:].any()
    long = np.arange(12 * 25000, dtype=np.float32).reshape(12, 25000)
    np.testing.assert_array_equal(window(long), long[:, :LENGTH])


@pytest.mark.parametrize("samples", [1, 5000, LENGTH, LENGTH + 1, 22500, 3 * LENGTH, 3 * LENGTH + 7])
def test_windows_cover_every_sample_and_end_at_the_end(samples):
    starts = window_starts(samples)
    assert starts[0] == 0
    covered = np.zeros(samples, dtype=bool)
    for s in starts:
        covered[s:s + LENGTH] = True
    assert covered.all()
    if samples > LENGTH:
        assert starts[-1] + LENGTH == samples and all(s + LENGTH <= samples for s in starts)
        assert len(starts) == -(-samples // LENGTH)
    signal = np.ones((12, samples), dtype=np.float32)
    assert windows(signal).shape == (len(starts), 12, LENGTH)


def test_a_long_recording_is_cut_before_it_is_resampled(monkeypatch):
    seen = []
    original = preprocess.resample

    def spy(signal, fs, target_fs=FS):
        seen.append(signal.shape)
        return original(signal, fs, target_fs)

    monkeypatch.setattr(preprocess, "resample", spy)
    fs = 1000
    record = np.zeros((12, (MAX_SECONDS + 600) * fs), dtype=np.float32)  # 40 min at 1000 Hz
    out = prepare_signal(record, fs)
    assert seen == [(12, MAX_SECONDS * fs)]
    assert out.shape == (12, MAX_SECONDS * FS)
