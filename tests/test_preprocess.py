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


def _spiked(signal: np.ndarray, fs: float, seed: int) -> np.ndarray:
    from simulators import perturb  # the harness's pacemaker: 0.5-2 ms, 2-10 mV, 60-100 bpm, in every lead

    return perturb.pacing_spikes(signal, fs, np.random.default_rng(seed))[0]


def test_spike_removal_leaves_real_records_alone_except_their_glitches(real_samples):
    from team_code.io.records import load_record, record_names

    folder = real_samples / "cinc2021"
    changed = {}
    for name in record_names(folder):
        signal = load_record(folder / name).signal.astype(np.float64)
        kept = preprocess.remove_spikes(signal, 500)
        if not np.array_equal(kept, signal):
            changed[name] = int((kept != signal).any(axis=0).sum())
    # Two records hold glitches of -4 to -7.5 mV over 3-4 samples in one lead (JS20011 a burst of them); each
    # has fewer than 30 of its 5,000 samples replaced, the other 48 records none.
    assert set(changed) <= {"JS20007", "JS20011"} and all(n < 30 for n in changed.values()), changed


@pytest.mark.parametrize("fs, largest_error", [(250, 1.0), (500, 0.3), (1000, 0.3)])
def test_pacing_spikes_are_removed_and_the_qrs_kept(fs, largest_error):
    import tempfile
    from pathlib import Path

    from simulators import synth
    from team_code.io.records import load_record

    with tempfile.TemporaryDirectory() as tmp:
        synth.generate_dataset(Path(tmp), 6, seed=3, min_seconds=10, max_seconds=10)
        records = [load_record(p.with_suffix("")) for p in sorted(Path(tmp).glob("*.hea"))]
    for seed, record in enumerate(records):
        clean = preprocess.resample(record.signal.astype(np.float64), record.fs, fs)
        assert np.array_equal(preprocess.remove_spikes(clean, fs), clean)  # a clean record: nothing is a spike
        spiked = _spiked(clean, fs, seed)
        assert np.abs(spiked - clean).max() >= 2.0
        cleaned = preprocess.remove_spikes(spiked, fs)
        # What is left of a spike is a straight line's error over 1-3 samples, far below the 2-10 mV spike (a spike
        # on a QRS at 250 Hz bridges 8 ms of it);
        # at the record's first and last 3 ms the median holds a spike (remove_spikes says so).
        edge = int(np.ceil(preprocess.SPIKE_SECONDS * fs))
        error = np.abs(cleaned - clean)[:, edge:-edge]
        assert error.max() < largest_error, (fs, seed)
        assert error.mean() < 2e-3


def test_a_record_noisy_throughout_is_not_taken_for_spikes():
    noise = np.random.default_rng(0).normal(0.0, 0.5, (12, 5000))  # 0.5 mV of broadband noise in every lead
    assert np.array_equal(preprocess.remove_spikes(noise, 500), noise)
    spiked = noise * 0.01
    spiked[:, 1000] += 5.0
    kept = preprocess.remove_spikes(spiked, 500)
    assert np.abs(kept[:, 1000]).max() < 0.1 and np.array_equal(kept[:, :1000], spiked[:, :1000])


def _median_filter_spikes(signal: np.ndarray, size: int) -> np.ndarray:
    """The definition spike_samples shortcuts: a full running median (scipy) over the whole record."""
    from scipy.ndimage import median_filter

    return np.abs(signal - median_filter(signal, size=(1, size), mode="nearest")).sum(axis=0) > preprocess.SPIKE_MV


@pytest.mark.parametrize("size", [5, 7])  # 500 Hz and 250 Hz take 5 samples, 1,000 Hz 7
def test_spike_samples_equal_a_full_running_median(size):
    import tempfile
    from pathlib import Path

    from simulators import synth
    from team_code.io.records import load_record

    rng = np.random.default_rng(size)
    with tempfile.TemporaryDirectory() as tmp:
        synth.generate_dataset(Path(tmp), 4, seed=11, min_seconds=10, max_seconds=10)
        signals = [load_record(p.with_suffix("")).signal.astype(np.float64) for p in sorted(Path(tmp).glob("*.hea"))]
    signals += [_spiked(s, 500, k) for k, s in enumerate(signals)]  # spikes on and off the QRS complexes
    noise = rng.normal(0.0, 0.6, (12, 3000))  # broadband noise: most samples are candidates
    noise[:, :4] += 8.0  # a spike at the record's start, where the "nearest" padding decides
    faint = rng.normal(0.0, 0.01, (12, 3000))
    faint[:, 1000::400] += 0.24  # spikes whose 12 leads sum to just above SPIKE_MV: the bound's tightest case
    signals += [noise, faint, np.zeros((12, 3000)), np.full((12, size), 3.0)]
    found = 0
    for signal in signals:
        expected = _median_filter_spikes(signal, size)
        np.testing.assert_array_equal(preprocess.spike_samples(signal, size), expected)
        found += expected.sum()
    assert found > 100  # the comparison covered spikes, not only clean samples


def test_spike_samples_equal_a_full_running_median_on_real_records(real_samples):
    from team_code.io.records import load_record, record_names

    folder = real_samples / "cinc2021"
    found = 0
    for name in record_names(folder):
        signal = load_record(folder / name).signal.astype(np.float64)
        expected = _median_filter_spikes(signal, 5)
        np.testing.assert_array_equal(preprocess.spike_samples(signal, 5), expected, err_msg=name)
        found += expected.sum()
    assert found > 0  # the glitches of JS20007 and JS20011
