"""The independent simulator: each class's defining feature, measured on the signal with simple ECG measurements.

The generator's beat annotations only say where to look (which beats are sinus, PAC or PVC); widths, intervals,
ST levels and RR irregularity are measured on the signal itself.
"""
from __future__ import annotations

from collections import Counter
from functools import cache

import numpy as np
import pytest
import scipy.io
import scipy.signal

from simulators import altsim
from team_code.io.records import STANDARD_LEADS, load_record
from team_code.labels import CLASSES

FS = 500
SEEDS = range(6)
LEAD = {name: i for i, name in enumerate(STANDARD_LEADS)}
# Neighbouring leads in the Cabrera limb order and the precordial order.
CONTIGUOUS = [("aVL", "I"), ("II", "aVF"), ("aVF", "III")] + [(f"V{k}", f"V{k + 1}") for k in range(1, 6)]


@cache
def _record(labels: tuple[str, ...], seed: int, seconds: float = 10.0) -> tuple[np.ndarray, dict]:
    signal, info = altsim.generate_record(np.random.default_rng([seed, 99]), labels, seconds)
    high_pass = scipy.signal.butter(2, 0.3, btype="high", fs=FS, output="sos")  # baseline wander out
    return scipy.signal.sosfiltfilt(high_pass, signal.astype(np.float64), axis=1), info


def _onsets(info: dict, kind: str, signal: np.ndarray, margin: float = 0.7) -> np.ndarray:
    """Annotated QRS onsets of one beat kind, away from the record's edges."""
    onsets = np.array([at for at, k in info["beats"] if k == kind], dtype=int)
    return onsets[(onsets > margin * FS) & (onsets < signal.shape[1] - margin * FS)]


def _sinus(labels: tuple[str, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A record and the onsets of its sinus beats."""
    signal, info = _record(labels, seed)
    return signal, _onsets(info, "sinus", signal)


def _median_beat(signal: np.ndarray, onsets: np.ndarray, before: float = 0.6, after: float = 0.6) -> np.ndarray:
    a, b = int(before * FS), int(after * FS)
    return np.median(np.stack([signal[:, at - a:at + b] for at in onsets]), axis=0)


def _qrs_bounds(beat: np.ndarray, inside: int) -> tuple[int, int]:
    """QRS onset and offset: where the summed absolute slope of all leads stays under 10% of its peak for 20 ms."""
    low_pass = scipy.signal.butter(2, 40, fs=FS, output="sos")
    velocity = np.abs(np.diff(scipy.signal.sosfiltfilt(low_pass, beat, axis=1), axis=1)).sum(axis=0)
    threshold = max(0.1 * velocity[inside - 60:inside + 60].max(), 2 * np.median(velocity))
    quiet = np.convolve(velocity < threshold, np.ones(10), mode="valid") == 10
    onset = max(i for i in range(inside - 10) if quiet[i]) + 10
    offset = min(i for i in range(inside, quiet.size) if quiet[i])
    return onset, offset


def _qrs_ms(signal: np.ndarray, onsets: np.ndarray) -> float:
    beat = _median_beat(signal, onsets)
    onset, offset = _qrs_bounds(beat, int(0.64 * FS))
    return 1000 * (offset - onset) / FS


def _pr_ms(signal: np.ndarray, onsets: np.ndarray) -> float | None:
    """From the earliest P onset in any lead to the QRS onset, on the median beat; None without a P.

    The P is the last bump of the spatial magnitude (I, II, V1-V6) before the QRS, the last because the previous
    T wave may reach into the window at fast rates; its onset is where the magnitude falls to 30% of the bump
    above the noise floor.
    """
    beat = _median_beat(signal, onsets)
    onset, _ = _qrs_bounds(beat, int(0.64 * FS))
    leads = [LEAD[name] for name in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")]
    x = scipy.signal.sosfiltfilt(scipy.signal.butter(2, 25, fs=FS, output="sos"), beat[leads], axis=1)
    magnitude = np.sqrt(((x - x[:, onset - 8:onset - 2].mean(axis=1, keepdims=True)) ** 2).sum(axis=0))
    low = onset - int(0.36 * FS)
    window = magnitude[low:onset - int(0.03 * FS)]
    floor = np.percentile(window, 20)
    bumps, _ = scipy.signal.find_peaks(window, height=floor + 0.05, prominence=0.04)
    if len(bumps) == 0:
        return None
    start, size = low + int(bumps[-1]), window[bumps[-1]] - floor
    while start > low and magnitude[start] - floor > 0.3 * size:
        start -= 1
    return 1000 * (onset - start) / FS


def _st_levels(signal: np.ndarray, onsets: np.ndarray) -> dict[str, float]:
    """ST level 60 ms after the J point against the PR segment, per lead."""
    beat = _median_beat(signal, onsets)
    onset, offset = _qrs_bounds(beat, int(0.64 * FS))
    base = beat[:, onset - 10:onset - 3].mean(axis=1)
    j60 = offset + int(0.06 * FS)
    return dict(zip(STANDARD_LEADS, beat[:, j60 - 2:j60 + 3].mean(axis=1) - base))


def _contiguous(levels: dict[str, float], sign: float, at_least: float = 0.1) -> list[tuple[str, str]]:
    return [(a, b) for a, b in CONTIGUOUS if sign * levels[a] >= at_least and sign * levels[b] >= at_least]


def _r_peaks(signal: np.ndarray) -> np.ndarray:
    """A QRS detector: 6-30 Hz slope energy over 120 ms, peaks at least 270 ms apart."""
    band = scipy.signal.butter(2, (6, 30), btype="band", fs=FS, output="sos")
    slope = np.diff(scipy.signal.sosfiltfilt(band, signal, axis=1), axis=1)
    energy = np.convolve((slope ** 2).sum(axis=0), np.ones(60) / 60, mode="same")
    peaks, props = scipy.signal.find_peaks(energy, distance=int(0.27 * FS), height=0.03 * energy.max())
    return peaks[props["peak_heights"] >= 0.15 * np.median(props["peak_heights"])]


def _rr_irregularity(signal: np.ndarray) -> float:
    """Median absolute change between successive RR intervals, relative to the median RR."""
    rr = np.diff(_r_peaks(signal)) / FS
    return float(np.median(np.abs(np.diff(rr))) / np.median(rr))


# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", CLASSES)
def test_shape_units_and_limb_lead_identities(label):
    signal, info = altsim.generate_record(np.random.default_rng(5), [label], 7.3)
    assert signal.shape == (12, round(7.3 * FS)) and signal.dtype == np.float32
    assert np.all(np.isfinite(signal)) and np.abs(signal).max() < 12
    lead_i, lead_ii = signal[LEAD["I"]].astype(np.float64), signal[LEAD["II"]].astype(np.float64)
    for name, expected in [("III", lead_ii - lead_i), ("aVR", -(lead_i + lead_ii) / 2),
                           ("aVL", lead_i - lead_ii / 2), ("aVF", lead_ii - lead_i / 2)]:
        np.testing.assert_allclose(signal[LEAD[name]], expected, atol=1e-5)
    assert info["labels"] == [label]
    qrs_peak = np.abs(signal[LEAD["II"]]).max()
    assert 0.15 < qrs_peak, "a 12-lead ECG has visible complexes in lead II"


@pytest.mark.parametrize("pair", sorted(sorted(p) for p in altsim.COMPATIBLE_PAIRS))
def test_every_compatible_pair_can_be_simulated(pair):
    signal, info = altsim.generate_record(np.random.default_rng(8), pair, 8)
    assert signal.shape == (12, 8 * FS) and np.all(np.isfinite(signal))
    assert info["labels"] == [c for c in CLASSES if c in pair]
    kinds = {kind for _, kind in info["beats"]}
    assert ("pvc" in kinds) == ("PVC" in pair) and ("pac" in kinds) == ("PAC" in pair)
    assert ("af" in kinds) == ("AF" in pair)


@pytest.mark.parametrize("fs", [250, 1000])
def test_other_sampling_frequencies(fs):
    signal, info = altsim.generate_record(np.random.default_rng(2), ["LBBB"], 6, fs=fs)
    assert signal.shape == (12, 6 * fs) and np.all(np.isfinite(signal))
    assert info["qrs_ms"] >= 120


def test_same_rng_same_record_and_other_seed_another():
    a, _ = altsim.generate_record(np.random.default_rng(11), ["RBBB", "PVC"], 6)
    b, _ = altsim.generate_record(np.random.default_rng(11), ["RBBB", "PVC"], 6)
    c, _ = altsim.generate_record(np.random.default_rng(12), ["RBBB", "PVC"], 6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dataset_is_deterministic_and_written_in_the_cinc_format(tmp_path):
    first = altsim.generate_dataset(tmp_path / "a", 5, seed=4, seconds=(5, 6))
    again = altsim.generate_dataset(tmp_path / "b", 5, seed=4, seconds=(5, 6))
    other = altsim.generate_dataset(tmp_path / "c", 5, seed=5, seconds=(5, 6))
    assert first == again == other == [f"X{i:05d}" for i in range(1, 6)]
    for name in first:
        for ext in (".hea", ".mat"):
            assert (tmp_path / "a" / f"{name}{ext}").read_bytes() == (tmp_path / "b" / f"{name}{ext}").read_bytes()
    assert any((tmp_path / "a" / f"{n}.mat").read_bytes() != (tmp_path / "c" / f"{n}.mat").read_bytes()
               for n in first)
    for name in first:
        record = load_record(tmp_path / "a" / name)
        assert record.fs == FS and 5 * FS <= record.signal.shape[1] <= 6 * FS
        assert record.labels and altsim.check_labels(record.labels) == record.labels
        assert record.sex in ("Male", "Female") and 18 <= record.age <= 95
        val = scipy.io.loadmat(tmp_path / "a" / f"{name}.mat")["val"].astype(np.int64)
        lead_i, lead_ii = val[LEAD["I"]], val[LEAD["II"]]
        for lead, derived in [("III", lead_ii - lead_i), ("aVR", -(lead_i + lead_ii) / 2),
                              ("aVL", lead_i - lead_ii / 2), ("aVF", lead_ii - lead_i / 2)]:
            assert np.abs(val[LEAD[lead]] - derived).max() <= 1.5, f"{name} {lead}"


def test_command_line_writes_the_records(tmp_path):
    assert altsim.main([str(tmp_path / "out"), "--n", "2", "--seed", "1", "--min-seconds", "4",
                        "--max-seconds", "5", "--prefix", "Z"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["Z00001.hea", "Z00001.mat", "Z00002.hea",
                                                                    "Z00002.mat"]


@pytest.mark.parametrize("labels", [["AF", "I-AVB"], ["LBBB", "RBBB"], ["Normal", "PVC"], ["AF", "PAC"],
                                    ["LBBB", "STE"], ["Sinus"], []])
def test_impossible_label_sets_are_refused(labels):
    with pytest.raises(ValueError):
        altsim.generate_record(np.random.default_rng(0), labels, 10)


def test_too_short_a_record_is_refused():
    with pytest.raises(ValueError, match="seconds"):
        altsim.generate_record(np.random.default_rng(0), ["PVC"], 2)
    with pytest.raises(ValueError, match="seconds"):
        altsim.generate_record(np.random.default_rng(0), ["PAC", "PVC"], 6)


def test_labels_are_balanced_and_only_compatible_ones_combine():
    drawn = [altsim.draw_labels(np.random.default_rng([3, i]), 10.0) for i in range(1800)]
    first = Counter(labels[0] if len(labels) == 1 else "multi" for labels in drawn)
    assert all(140 <= first[c] <= 260 for c in CLASSES), first
    multi = [labels for labels in drawn if len(labels) > 1]
    assert 0.05 < len(multi) / len(drawn) < 0.2
    assert all("Normal" not in labels and altsim.check_labels(labels) == labels for labels in multi)


def test_af_rr_is_irregularly_irregular_and_sinus_is_not():
    af = [_rr_irregularity(_record(("AF",), s)[0]) for s in SEEDS]
    normal = [_rr_irregularity(_record(("Normal",), s)[0]) for s in SEEDS]
    assert min(af) > 0.07 and max(normal) < 0.05, (af, normal)


def _f_wave_power(labels: tuple[str, ...], seed: int) -> float:
    """Cancel each QRS-T with the median beat; the power left in V1 between 4 and 9 Hz."""
    signal, info = _record(labels, seed)
    onsets = _onsets(info, "af" if "AF" in labels else "sinus", signal)
    v1 = signal[LEAD["V1"]].copy()
    template = _median_beat(signal, onsets, 0.25, 0.5)[LEAD["V1"]]
    for at in onsets:
        v1[at - int(0.25 * FS):at + int(0.5 * FS)] -= template
    freqs, power = scipy.signal.welch(v1[onsets[0]:onsets[-1]], fs=FS, nperseg=2 * FS)
    return float(power[(freqs >= 4) & (freqs <= 9)].sum())


def test_af_has_fibrillatory_waves():
    af = [_f_wave_power(("AF",), s) for s in SEEDS]
    normal = [_f_wave_power(("Normal",), s) for s in SEEDS]
    assert np.median(af) > 5 * np.median(normal), (af, normal)


def _p_size(signal: np.ndarray, onsets: np.ndarray) -> float:
    """Largest deviation of lead II from the PR baseline 250-30 ms before the QRS, on the median beat."""
    beat = _median_beat(signal, onsets)
    onset, _ = _qrs_bounds(beat, int(0.64 * FS))
    x = beat[LEAD["II"]]
    return float(np.abs(x[onset - int(0.25 * FS):onset - int(0.03 * FS)] - x[onset - 8:onset - 2].mean()).max())


def test_af_has_no_p_waves():
    """Median of the beats after a long RR (so no T wave falls before the QRS): flat in AF, a P in sinus rhythm."""
    tested = 0
    for s in SEEDS:
        signal, info = _record(("AF",), s, 20.0)
        beats = np.array([at for at, _ in info["beats"]])
        long_rr = beats[1:][np.diff(beats) >= 0.65 * FS]
        long_rr = long_rr[(long_rr > 0.7 * FS) & (long_rr < signal.shape[1] - 0.7 * FS)]
        if len(long_rr) >= 3:  # a fast AF may have no long RR at all
            tested += 1
            assert _p_size(signal, long_rr) < 0.07, f"seed {s}: a P wave in AF"
        assert _p_size(*_sinus(("Normal",), s)) > 0.09, f"seed {s}: no P wave in sinus rhythm"
    assert tested >= len(SEEDS) // 2


def test_first_degree_av_block_prolongs_pr():
    normal = [_pr_ms(*_sinus(("Normal",), s)) for s in SEEDS]
    block = [_pr_ms(*_sinus(("I-AVB",), s)) for s in SEEDS]
    assert all(p is not None and 110 <= p <= 205 for p in normal), normal
    assert all(p is not None and p > 205 for p in block), block


def test_bundle_branch_blocks_widen_the_qrs_and_normal_stays_narrow():
    normal = [_qrs_ms(*_sinus(("Normal",), s)) for s in SEEDS]
    lbbb = [_qrs_ms(*_sinus(("LBBB",), s)) for s in SEEDS]
    rbbb = [_qrs_ms(*_sinus(("RBBB",), s)) for s in SEEDS]
    assert max(normal) < 100, normal
    assert min(lbbb) >= 120 and min(rbbb) >= 120, (lbbb, rbbb)


def _qrs_and_t(beat: np.ndarray) -> tuple[int, int, slice]:
    """QRS onset and offset, and 80 ms around the T peak (the largest deviation over all leads after the QRS)."""
    onset, offset = _qrs_bounds(beat, int(0.64 * FS))
    base = beat[:, onset - 10:onset - 3].mean(axis=1, keepdims=True)
    after = offset + int(0.05 * FS)
    t_peak = after + int(np.argmax(np.abs(beat[:, after:offset + int(0.35 * FS)] - base).sum(axis=0)))
    return onset, offset, slice(t_peak - int(0.04 * FS), t_peak + int(0.04 * FS))


def test_lbbb_morphology():
    """QS/rS in V1, no septal q and a positive QRS in I and V6, ST-T opposite to the QRS."""
    for s in SEEDS:
        beat = _median_beat(*_sinus(("LBBB",), s))
        onset, offset, t_wave = _qrs_and_t(beat)
        base = beat[:, onset - 10:onset - 3].mean(axis=1, keepdims=True)
        qrs, t = beat[:, onset:offset] - base, beat[:, t_wave] - base
        v1, v6, lead_i = LEAD["V1"], LEAD["V6"], LEAD["I"]
        assert qrs[v1].min() < -3 * max(qrs[v1].max(), 0.05), f"seed {s}: V1 is not QS/rS"
        for lead in (lead_i, v6):
            peak = int(np.argmax(qrs[lead]))
            assert qrs[lead, peak] > 0.3 and qrs[lead, :peak].min() > -0.05, f"seed {s}: q or no R in {lead}"
            assert t[lead].mean() < 0 < t[v1].mean(), f"seed {s}: T not discordant"


def test_rbbb_morphology():
    """rsR' in V1 (terminal deflection positive after a negative s), terminal S in I and V6, T inverted in V1."""
    for s in SEEDS:
        beat = _median_beat(*_sinus(("RBBB",), s))
        onset, offset, t_wave = _qrs_and_t(beat)
        base = beat[:, onset - 10:onset - 3].mean(axis=1, keepdims=True)
        qrs, t = beat[:, onset:offset] - base, beat[:, t_wave] - base
        v1 = qrs[LEAD["V1"]]
        last_peak = int(np.argmax(v1[len(v1) // 2:])) + len(v1) // 2
        first_peak = int(np.argmax(v1[:len(v1) // 3]))
        assert v1[last_peak] > 0.2 and v1[first_peak:last_peak].min() < v1[last_peak] - 0.2, f"seed {s}: no R'"
        late = slice(int(0.6 * qrs.shape[1]), qrs.shape[1])
        for lead in ("I", "V6"):
            assert qrs[LEAD[lead], late].min() < -0.05, f"seed {s}: no terminal S in {lead}"
        assert t[LEAD["V1"]].mean() < -0.03, f"seed {s}: T upright in V1"


def _single_beat_onset(signal: np.ndarray, near: int) -> int:
    """The QRS onset of one beat, measured around its annotated position."""
    beat = signal[:, near - int(0.6 * FS):near + int(0.6 * FS)]
    return near - int(0.6 * FS) + _qrs_bounds(beat, int(0.64 * FS))[0]


def _ectopic_timing(labels: tuple[str, ...], kind: str, seed: int) -> list[tuple[float, float, float]]:
    """(coupling / sinus RR, (coupling + pause) / sinus RR, QRS ms) for each ectopic beat between sinus beats.

    The sinus RR is the local one, from the sinus beats just before and after, as breathing changes it.
    """
    signal, info = _record(labels, seed, 15.0)
    beats = info["beats"]
    out = []
    for i in range(2, len(beats) - 2):
        window = beats[i - 2:i + 3]
        kinds = [k for _, k in window]
        if kinds != ["sinus", "sinus", kind, "sinus", "sinus"]:
            continue
        if window[0][0] < 0.7 * FS or window[-1][0] > signal.shape[1] - 0.7 * FS:
            continue
        first, before, at, after, last = (_single_beat_onset(signal, x) for x, _ in window)
        sinus_rr = ((before - first) + (last - after)) / 2
        width = _qrs_ms(signal, np.array([at]))
        out.append(((at - before) / sinus_rr, (after - before) / sinus_rr, width))
    return out


def test_pac_is_premature_narrow_and_resets_the_sinus_node():
    measured = [m for s in SEEDS for m in _ectopic_timing(("PAC",), "pac", s)]
    assert len(measured) >= len(SEEDS)
    for coupling, cycle, width in measured:
        assert coupling < 0.9 and cycle < 1.93 and width < 105, measured


def test_pvc_is_premature_wide_and_followed_by_a_compensatory_pause():
    measured = [m for s in SEEDS for m in _ectopic_timing(("PVC",), "pvc", s)]
    assert len(measured) >= len(SEEDS)
    for coupling, cycle, width in measured:
        assert coupling < 0.8 and abs(cycle - 2) < 0.15 and width >= 120, measured


def test_pvc_t_wave_is_opposite_to_its_qrs():
    for s in SEEDS:
        signal, info = _record(("PVC",), s)
        beat = _median_beat(signal, _onsets(info, "pvc", signal))
        onset, offset, t_wave = _qrs_and_t(beat)
        base = np.median(beat, axis=1, keepdims=True)  # an early PVC starts on the preceding T wave
        qrs_mean, t_mean = (beat[:, onset:offset] - base).mean(axis=1), (beat[:, t_wave] - base).mean(axis=1)
        clear = np.abs(qrs_mean) > 0.5 * np.abs(qrs_mean).max()  # leads with a clearly dominant deflection
        assert clear.sum() >= 3 and np.all(np.sign(t_mean[clear]) == -np.sign(qrs_mean[clear])), f"seed {s}"


def _ste_criterion(levels: dict[str, float]) -> list[tuple[str, str]]:
    """Contiguous pairs elevated at least 0.1 mV, or 0.2 mV in V1-V3."""
    def raised(lead: str) -> bool:
        return levels[lead] >= (0.2 if lead in ("V1", "V2", "V3") else 0.1)
    return [(a, b) for a, b in CONTIGUOUS if raised(a) and raised(b)]


def test_st_depression_in_two_contiguous_leads():
    for s in SEEDS:
        levels = _st_levels(*_sinus(("STD",), s))
        assert _contiguous(levels, -1), f"seed {s}: no depression in two contiguous leads: {levels}"
        assert not _ste_criterion(levels), f"seed {s}: elevation too: {levels}"


def test_st_elevation_in_two_contiguous_leads():
    for s in SEEDS:
        levels = _st_levels(*_sinus(("STE",), s))
        assert _ste_criterion(levels), f"seed {s}: no elevation in two contiguous leads: {levels}"
        assert not _contiguous(levels, -1, 0.15), f"seed {s}: depression too: {levels}"


def test_normal_st_is_flat():
    for s in SEEDS:
        levels = _st_levels(*_sinus(("Normal",), s))
        assert not _ste_criterion(levels) and not _contiguous(levels, -1), f"seed {s}: {levels}"
        assert max(abs(v) for v in levels.values()) < 0.1, f"seed {s}: {levels}"

