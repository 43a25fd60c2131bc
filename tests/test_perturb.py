"""The perturbation families keep what they promise: shapes and rates, the property each one is named for, and the
record names and labels of the folder they copy."""
from __future__ import annotations

import numpy as np
import pytest

from simulators import perturb, synth
from simulators.altsim import twelve_leads
from team_code.io.records import STANDARD_LEADS, load_record, read_header, record_names

FS = 500.0
LEAD = {name: k for k, name in enumerate(STANDARD_LEADS)}


def tones(hz: list[float], seconds: float = 20.0, fs: float = FS) -> np.ndarray:
    """A 12-lead signal (limb leads derived as a cart derives them) that is a sum of 1-mV sinusoids."""
    t = np.arange(int(seconds * fs)) / fs
    rng = np.random.default_rng(0)
    independent = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (8, 1))) for f in hz)
    return twelve_leads(independent)


def amplitude(signal: np.ndarray, hz: float, fs: float = FS) -> np.ndarray:
    """Per-lead amplitude of the hz component in the middle half of the record (away from filter edges)."""
    n = signal.shape[1]
    middle = signal[:, n // 4: 3 * n // 4]
    t = np.arange(middle.shape[1]) / fs
    return 2 * np.abs(middle @ np.exp(-2j * np.pi * hz * t)) / middle.shape[1]


def test_lead_gains_scale_each_lead_by_its_own_gain_within_range():
    signal = tones([5.0])
    out, fs = perturb.lead_gains(signal, FS, np.random.default_rng(1))
    ratio = out / signal
    gains = np.median(ratio, axis=1)
    assert fs == FS and out.shape == signal.shape
    np.testing.assert_allclose(ratio, gains[:, None] * np.ones_like(ratio), rtol=1e-9)
    assert np.all((gains >= 0.5) & (gains <= 2.0))
    assert gains.max() / gains.min() > 1.5  # independent per lead, not one gain for the record


@pytest.mark.parametrize("family, inside, outside", [
    ("bandpass_0.5_40", [2.0, 10.0, 15.0], [0.1, 100.0]),
    ("bandpass_0.05_150", [0.5, 10.0, 60.0], [0.01, 220.0]),
])
def test_band_passes_keep_their_band_and_remove_the_rest(family, inside, outside):
    signal = tones(inside + outside, seconds=120.0)
    out, fs = perturb.FAMILIES[family](signal, FS, np.random.default_rng(0))
    before = {hz: amplitude(signal, hz) for hz in inside + outside}
    for hz in inside:
        np.testing.assert_allclose(amplitude(out, hz), before[hz], rtol=0.1)
    for hz in outside:
        assert np.all(amplitude(out, hz) < 0.3 * before[hz]), hz


def test_band_pass_leaves_out_an_upper_edge_the_rate_cannot_carry():
    """At 250 Hz the 150-Hz edge is above Nyquist: a 100-Hz component stays."""
    signal = tones([100.0, 10.0], seconds=30.0, fs=250.0)
    out, _ = perturb.FAMILIES["bandpass_0.05_150"](signal, 250.0, np.random.default_rng(0))
    np.testing.assert_allclose(amplitude(out, 100.0, 250.0), amplitude(signal, 100.0, 250.0), rtol=0.05)


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_mains_notch_removes_the_mains_and_keeps_the_ecg_band(mains):
    signal = tones([mains, 10.0])
    out, _ = perturb.mains_notch(signal, FS, np.random.default_rng(0), hz=mains)
    assert np.all(amplitude(out, mains) < 0.05 * amplitude(signal, mains))
    np.testing.assert_allclose(amplitude(out, 10.0), amplitude(signal, 10.0), rtol=0.02)


def test_mains_notch_draws_50_or_60_hz():
    signal = tones([50.0, 60.0])
    removed = set()
    for seed in range(8):
        out, _ = perturb.mains_notch(signal, FS, np.random.default_rng(seed))
        removed |= {hz for hz in (50.0, 60.0) if np.all(amplitude(out, hz) < 0.05 * amplitude(signal, hz))}
    assert removed == {50.0, 60.0}


def test_monitor_high_pass_is_causal_and_removes_an_offset():
    signal = tones([10.0]) + 2.0
    out, _ = perturb.monitor_high_pass(signal, FS, np.random.default_rng(0))
    changed = signal.copy()
    changed[:, 5000:] += 3.0
    out_changed, _ = perturb.monitor_high_pass(changed, FS, np.random.default_rng(0))
    np.testing.assert_array_equal(out_changed[:, :5000], out[:, :5000])  # nothing of the future leaks back
    assert np.abs(out[:, -1000:].mean(axis=1)).max() < 0.01  # 2-mV offset gone after a few time constants


@pytest.mark.parametrize("fs", [250.0, 500.0, 1000.0])
def test_pacing_spikes_are_narrow_regular_and_large(fs):
    signal = tones([1.0], seconds=30.0, fs=fs)
    out, out_fs = perturb.pacing_spikes(signal, fs, np.random.default_rng(3))
    added = out - signal
    independent = added[[LEAD[lead] for lead in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")]]
    on = np.abs(added).max(axis=0) > 1e-9
    runs = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(int), [0]])))
    starts, lengths = runs[::2], runs[1::2] - runs[::2]
    assert out_fs == fs
    assert np.all(lengths <= np.ceil(0.002 * fs) + 1)  # 0.5-2 ms: one to a few samples
    assert 30 * 60 / 60 - 1 <= len(starts) <= 30 * 100 / 60 + 1  # 60-100 paced per minute
    intervals = np.diff(starts) / fs
    assert intervals.max() - intervals.min() <= 2 / fs  # a fixed rate
    assert 2.0 <= np.abs(independent).max() <= 10.0
    np.testing.assert_allclose(added[LEAD["III"]], added[LEAD["II"]] - added[LEAD["I"]], atol=1e-12)


def test_electrode_motion_is_one_large_slow_burst_seen_by_the_leads_of_its_electrode():
    signal = tones([1.0], seconds=10.0)
    out, _ = perturb.electrode_motion(signal, FS, np.random.default_rng(4), per_10_s=1e-9)  # exactly one burst
    added = out - signal
    on = np.flatnonzero(np.abs(added).max(axis=0) > 1e-9)
    assert on[-1] - on[0] + 1 <= 3.0 * FS and on[-1] - on[0] + 1 == len(on)  # one burst of at most 3 s
    assert 1.0 <= np.abs(added).max()  # a few mV
    spectrum = np.abs(np.fft.rfft(added, axis=1)).sum(axis=0) ** 2
    hz = np.fft.rfftfreq(added.shape[1], 1 / FS)
    assert spectrum[hz <= 10].sum() > 0.95 * spectrum.sum()  # slow: its energy below 10 Hz
    np.testing.assert_allclose(added[LEAD["III"]], added[LEAD["II"]] - added[LEAD["I"]], atol=1e-12)
    np.testing.assert_allclose(added[LEAD["aVR"]], -(added[LEAD["I"]] + added[LEAD["II"]]) / 2, atol=1e-12)


@pytest.mark.parametrize("target", [250, 1000])
def test_resampling_changes_the_rate_and_keeps_the_waveform(target):
    signal = tones([3.0, 20.0], seconds=10.0)
    out, fs = perturb.resample_to(signal, FS, np.random.default_rng(0), target)
    assert fs == target and out.shape == (12, int(10 * target))
    for hz in (3.0, 20.0):
        np.testing.assert_allclose(amplitude(out, hz, target), amplitude(signal, hz), rtol=0.01)


def test_flat_leads_zero_one_to_three_leads_and_keep_the_others():
    signal = tones([5.0])
    counts = set()
    for seed in range(20):
        out, _ = perturb.flat_leads(signal, FS, np.random.default_rng(seed))
        flat = np.flatnonzero(~out.any(axis=1))
        counts.add(len(flat))
        kept = np.setdiff1d(np.arange(12), flat)
        np.testing.assert_array_equal(out[kept], signal[kept])
    assert counts == {1, 2, 3}


def test_limb_leads_only_writes_empty_chest_leads():
    signal = tones([5.0])
    out, _ = perturb.FAMILIES["limb_leads_only"](signal, FS, np.random.default_rng(0))
    chest = [LEAD[lead] for lead in perturb.CHEST_LEADS]
    assert not out[chest].any()
    np.testing.assert_array_equal(out[:6], signal[:6])


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Four generated records of 8-12 s at synth's mix of rates."""
    directory = tmp_path_factory.mktemp("perturb") / "clean"
    synth.generate_dataset(directory, 4, seed=5, min_seconds=8, max_seconds=12)
    return directory


def regenerate_synth(out, seconds):
    synth.generate_dataset(out, 4, seed=5, min_seconds=seconds, max_seconds=seconds)


def test_build_perturbed_copies_every_record_with_its_labels(clean, tmp_path):
    folders = perturb.build_perturbed(clean, tmp_path / "p", seed=0, regenerate=regenerate_synth)
    assert list(folders) == [*perturb.FAMILIES, *perturb.LENGTHS]
    names = record_names(clean)
    for family, folder in folders.items():
        assert record_names(folder) == names, family
        for name in names:
            original, copy = read_header(clean / f"{name}.hea"), read_header(folder / f"{name}.hea")
            assert copy.dx == original.dx and copy.age == original.age and copy.sex == original.sex, family
            record = load_record(folder / name)
            if family in ("fs_250", "fs_1000"):
                assert record.fs == int(family[3:])
                assert abs(record.signal.shape[1] / record.fs - original.num_samples / original.fs) < 0.01
            elif family in perturb.LENGTHS:
                assert record.signal.shape[1] == round(perturb.LENGTHS[family] * record.fs)
            else:
                assert record.fs == original.fs and record.signal.shape[1] == original.num_samples
    again = perturb.build_perturbed(clean, tmp_path / "again", ["pacing_spikes"], seed=0)
    first = load_record(folders["pacing_spikes"] / names[0]).signal
    np.testing.assert_array_equal(load_record(again["pacing_spikes"] / names[0]).signal, first)


def test_build_perturbed_refuses_lengths_it_cannot_regenerate(clean, tmp_path):
    with pytest.raises(ValueError, match="regenerate"):
        perturb.build_perturbed(clean, tmp_path / "p", ["seconds_10"])
    with pytest.raises(ValueError, match="unknown"):
        perturb.build_perturbed(clean, tmp_path / "p", ["lowpass"])
    def other_hearts(out, seconds):
        synth.generate_dataset(out, 4, seed=6, min_seconds=seconds, max_seconds=seconds)

    with pytest.raises(ValueError, match="labels differ"):
        perturb.build_perturbed(clean, tmp_path / "q", ["seconds_10"], regenerate=other_hearts)
