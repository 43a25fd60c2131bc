"""The physiological ECG generator: each class measured on the signal as a reader would, the file format, label
prevalence and rules, durations, determinism and the command line.

The measurements here (R-peak detector, median beat, spatial-velocity QRS bounds, P onset, ST at J+60 ms) are
written from the signal alone and never read the generator's metadata, so they check what a model will see.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import scipy.io
from scipy import signal as sps
from scipy.ndimage import maximum_filter1d

from simulators import synth
from team_code.io import records
from team_code.labels import CLASSES

FS = 500
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
RECORDED = [0, 1, 6, 7, 8, 9, 10, 11]  # I, II, V1..V6: the leads an electrocardiograph measures
# Contiguous leads: the inferior wall, the high lateral wall, neighbouring precordial leads.
CONTIGUOUS = (("II", "III", "aVF"), ("I", "aVL"), ("V1", "V2"), ("V2", "V3"), ("V3", "V4"), ("V4", "V5"),
              ("V5", "V6"))
SEEDS = range(5)


def make(labels: list[str], seed: int, seconds: float = 8.0, noise: bool = False) -> np.ndarray:
    signal, _ = synth.generate_record(np.random.default_rng(seed), labels, seconds, noise=noise)
    assert signal.shape == (12, int(seconds * FS)) and signal.dtype == np.float32
    return signal


# ---------------------------------------------------------------------------------------------------------------
# Measurements, from the signal only

def r_peaks(signal: np.ndarray) -> np.ndarray:
    """QRS complexes, Pan-Tompkins style: the 100 ms RMS of the 5-25 Hz slope of the recorded leads, peaks at
    least 270 ms apart above a quarter of its top level."""
    x = sps.sosfiltfilt(sps.butter(2, [5, 25], btype="bandpass", fs=FS, output="sos"), signal[RECORDED], axis=1)
    slope = np.sqrt(np.convolve((np.gradient(x, axis=1) ** 2).sum(0), np.ones(50) / 50, "same"))
    peaks, _ = sps.find_peaks(slope, distance=int(0.27 * FS), height=0.25 * np.percentile(slope, 99.5))
    return peaks


def spatial_velocity(beat: np.ndarray) -> np.ndarray:
    x = sps.sosfiltfilt(sps.butter(2, 40, fs=FS, output="sos"), beat[RECORDED], axis=1)
    return np.sqrt((np.gradient(x, axis=1) ** 2).sum(0)) * FS  # mV/s


def qrs_bounds(velocity: np.ndarray, centre: int) -> tuple[int, int]:
    """QRS onset and offset from the spatial velocity: walk out from its peak near `centre` while its +-15 ms
    running maximum stays above 12% of the peak (that bridges notches and the R apex)."""
    lo = max(0, centre - int(0.12 * FS))
    peak = lo + int(velocity[lo:centre + int(0.12 * FS)].argmax())
    envelope = maximum_filter1d(velocity, int(0.03 * FS) + 1)
    on = off = peak
    while on > 0 and envelope[on] > 0.12 * velocity[peak]:
        on -= 1
    while off < len(velocity) - 1 and envelope[off] > 0.12 * velocity[peak]:
        off += 1
    return on + int(0.015 * FS), off - int(0.015 * FS)


def median_beat(signal: np.ndarray, before: float = 0.7, after: float = 0.6) -> tuple[np.ndarray, int]:
    """Sample-wise median of the beats aligned on their R peaks, and the R peak's index in it."""
    b, a = int(before * FS), int(after * FS)
    peaks = [p for p in r_peaks(signal) if b <= p <= signal.shape[1] - a]
    return np.median(np.stack([signal[:, p - b:p + a] for p in peaks]), axis=0), b


def isoelectric(beat: np.ndarray, onset: int) -> int:
    """The flattest sample in the 60 ms before QRS onset: the PR segment, the reference level."""
    lo = onset - int(0.06 * FS)
    return lo + int(spatial_velocity(beat)[lo:onset].argmin())


def median_qrs(signal: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The median beat and its QRS onset and offset."""
    beat, r = median_beat(signal)
    return (beat, *qrs_bounds(spatial_velocity(beat), r))


def qrs_ms(signal: np.ndarray) -> float:
    _, on, off = median_qrs(signal)
    return (off - on) / FS * 1000


def p_magnitude(signal: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Spatial magnitude of the median beat against the PR segment (30 Hz low-passed), QRS onset, PR segment."""
    beat, on, _ = median_qrs(signal)
    iso = isoelectric(beat, on)
    x = sps.sosfiltfilt(sps.butter(2, 30, fs=FS, output="sos"), beat[RECORDED], axis=1)
    return np.sqrt(((x - x[:, iso:iso + 1]) ** 2).sum(0)), on, iso


def p_consistency(signal: np.ndarray) -> float:
    """Mean correlation, between beats, of II and V1 in the 200 ms before QRS onset: near 1 when the same P wave
    precedes every QRS, near 0 when atrial activity is unrelated to the ventricles."""
    beat, r = median_beat(signal)
    on, _ = qrs_bounds(spatial_velocity(beat), r)
    start, stop = on - r - int(0.22 * FS), on - r - int(0.02 * FS)
    segments = []
    for p in r_peaks(signal):
        if p + start >= 0:
            s = signal[[1, 6], p + start:p + stop].astype(np.float64)
            segments.append((s - s.mean(axis=1, keepdims=True)).ravel())
    unit = np.array(segments) / (np.linalg.norm(segments, axis=1, keepdims=True) + 1e-12)
    n = len(unit)
    return float(((unit @ unit.T).sum() - n) / (n * (n - 1)))


def pr_ms(signal: np.ndarray) -> float:
    """P onset to QRS onset on the median beat: the P wave is the nearest hump of the spatial magnitude before
    the QRS; its onset is where the hump falls to 20% above the floor before it."""
    magnitude, on, iso = p_magnitude(signal)
    lo = max(1, on - int(0.5 * FS))
    hump = next(i for i in range(iso - 1, lo, -1) if magnitude[i] > 0.03 and magnitude[i] >= magnitude[i - 1]
                and magnitude[i] >= magnitude[i + 1])
    p_peak = hump - int(0.06 * FS) + int(magnitude[hump - int(0.06 * FS):hump + 1].argmax())
    floor = magnitude[p_peak - int(0.15 * FS):p_peak].min()
    start = p_peak
    while magnitude[start] > floor + 0.2 * (magnitude[p_peak] - floor):
        start -= 1
    return (on - start) / FS * 1000


def st_levels(signal: np.ndarray) -> dict[str, float]:
    """ST level 60 ms after the J point against the PR segment, per lead, on the median beat (mV)."""
    beat, on, off = median_qrs(signal)
    iso = isoelectric(beat, on)
    j60 = off + int(0.06 * FS)
    level = beat[:, j60 - 2:j60 + 3].mean(axis=1) - beat[:, iso - 2:iso + 3].mean(axis=1)
    return dict(zip(LEADS, level.tolist()))


def in_contiguous_leads(levels: dict[str, float], criterion) -> bool:
    return any(sum(criterion(lead, levels[lead]) for lead in group) >= 2 for group in CONTIGUOUS)


def elevated(lead: str, level: float) -> bool:
    return level >= (0.2 if lead in ("V1", "V2", "V3") else 0.1)


def depressed(lead: str, level: float) -> bool:
    return level <= -0.1


def rr_irregularity(signal: np.ndarray) -> float:
    """RMS of successive RR differences over the mean RR: high for irregularly irregular rhythms."""
    rr = np.diff(r_peaks(signal)) / FS
    return float(np.sqrt(np.mean(np.diff(rr) ** 2)) / rr.mean())


def beat_table(signal: np.ndarray) -> list[tuple[float, float, float]]:
    """Per beat with neighbours on both sides: (QRS width ms, RR before s, RR after s)."""
    peaks = r_peaks(signal)
    velocity = spatial_velocity(signal)
    rows = []
    for k in range(1, len(peaks) - 1):
        on, off = qrs_bounds(velocity, int(peaks[k]))
        rows.append(((off - on) / FS * 1000, (peaks[k] - peaks[k - 1]) / FS, (peaks[k + 1] - peaks[k]) / FS))
    return rows


def sinus_rr(signal: np.ndarray) -> float:
    """Median RR between consecutive narrow beats that are neither premature nor pauses."""
    table = beat_table(signal)
    typical = np.median([pre for _, pre, _ in table])
    return float(np.median([post for (w, _, post), (w_next, _, _) in zip(table, table[1:])
                            if w < 110 and w_next < 110 and 0.85 < post / typical < 1.15]))


# ---------------------------------------------------------------------------------------------------------------
# Physiology

def test_af_rr_is_irregularly_irregular_and_sinus_is_not():
    af = [rr_irregularity(make(["AF"], s, noise=True)) for s in SEEDS]
    normal = [rr_irregularity(make(["Normal"], s, noise=True)) for s in SEEDS]
    assert min(af) > 0.12 > max(normal), (af, normal)


def test_af_has_fibrillatory_waves_and_no_p_wave():
    """V1 with each beat's median QRST subtracted holds 4-9 Hz f-waves; no P wave is bound to the QRS."""
    for seed in SEEDS:
        signal = make(["AF"], seed, seconds=10.0)
        beat, r = median_beat(signal, before=0.35, after=0.45)
        residual = signal[6].astype(np.float64).copy()
        for p in r_peaks(signal):
            lo, hi = max(0, p - r), min(residual.size, p - r + beat.shape[1])
            residual[lo:hi] -= beat[6, lo - (p - r):hi - (p - r)]
        freqs, power = sps.welch(residual, fs=FS, nperseg=2 * FS)
        band = (freqs >= 3) & (freqs <= 12)
        assert 4.0 <= freqs[band][power[band].argmax()] <= 9.0
        assert p_consistency(signal) < 0.5
        assert p_consistency(make(["Normal"], seed, seconds=10.0)) > 0.9


@pytest.mark.parametrize("label", ["LBBB", "RBBB"])
def test_bundle_branch_block_qrs_is_wide(label):
    for seed in SEEDS:
        assert qrs_ms(make([label], seed)) >= 120
    assert qrs_ms(make([label], 99, noise=True)) >= 115


def test_normal_qrs_is_narrow():
    for seed in SEEDS:
        assert qrs_ms(make(["Normal"], seed)) < 110
    assert qrs_ms(make(["Normal"], 99, noise=True)) < 115


def t_window_end(signal: np.ndarray, on: int, off: int) -> int:
    """End of the T-wave search window on the median beat: 300 ms after the QRS, or 60 ms before the next QRS
    when the rate is fast (at 150 bpm the next beat comes 400 ms after this one)."""
    rr = int(np.median(np.diff(r_peaks(signal))))
    return min(off + int(0.3 * FS), on + rr - int(0.06 * FS))


def test_lbbb_and_rbbb_morphology_in_the_stated_leads():
    """LBBB: V1 mostly negative (QS/rS), I and V6 mostly positive with no septal q, T opposite the QRS in V6;
    RBBB: a late positive R' in V1, a late negative S in I and V6, T inverted in V1."""
    for seed in SEEDS:
        beat, on, off = median_qrs(make(["LBBB"], seed))
        qrs = beat[:, on:off]
        area = {lead: qrs[LEADS.index(lead)].sum() for lead in ("I", "V1", "V6")}
        assert area["V1"] < 0 < area["V6"] and area["I"] > 0
        level = beat[:, isoelectric(beat, on)]
        for lead in ("I", "V6"):
            k = LEADS.index(lead)
            assert beat[k, on:on + int(0.025 * FS)].min() - level[k] > -0.05, f"septal q in {lead}"
        signal = make(["LBBB"], seed)
        beat, on, off = median_qrs(signal)
        v6 = beat[LEADS.index("V6")]
        t_wave = v6[off + int(0.1 * FS):t_window_end(signal, on, off)]
        assert t_wave[np.abs(t_wave).argmax()] < 0
        signal = make(["RBBB"], seed)
        beat, on, off = median_qrs(signal)
        late = beat[:, off - int(0.04 * FS):off]  # the last 40 ms of the QRS
        assert late[LEADS.index("V1")].max() > 0.2
        assert late[LEADS.index("I")].min() < 0 and late[LEADS.index("V6")].min() < 0
        v1_t = beat[LEADS.index("V1"), off + int(0.1 * FS):t_window_end(signal, on, off)]
        assert v1_t[np.abs(v1_t).argmax()] < 0


def test_first_degree_av_block_prolongs_pr():
    for seed in SEEDS:
        assert pr_ms(make(["I-AVB"], seed)) > 200
        assert 115 <= pr_ms(make(["Normal"], seed)) <= 205
    assert pr_ms(make(["I-AVB"], 99, noise=True)) > 195


def test_st_depression_and_elevation_in_contiguous_leads():
    for seed in SEEDS:
        std = st_levels(make(["STD"], seed))
        assert in_contiguous_leads(std, depressed) and not in_contiguous_leads(std, elevated), std
        assert in_contiguous_leads(st_levels(make(["STE"], seed)), elevated)
        assert max(abs(v) for v in st_levels(make(["Normal"], seed)).values()) < 0.1
    assert in_contiguous_leads(st_levels(make(["STD"], 99, seconds=10, noise=True)), depressed)
    assert in_contiguous_leads(st_levels(make(["STE"], 99, seconds=10, noise=True)), elevated)


def beats_with_cycles(signal: np.ndarray) -> list[tuple[int, float, float, float, bool]]:
    """Per beat with neighbours on both sides: (R index, QRS width ms, RR before / local sinus cycle, RR after /
    local sinus cycle, both neighbours narrow and on time). The local sinus cycle is the median of the nearby
    intervals between narrow beats that are neither premature nor pauses, so breathing and drifts in the sinus
    rate do not blur prematurity and pauses."""
    peaks = r_peaks(signal)
    velocity = spatial_velocity(signal)
    widths = []
    for p in peaks:
        on, off = qrs_bounds(velocity, int(p))
        widths.append((off - on) / FS * 1000)
    rr = np.diff(peaks) / FS
    typical = np.median(rr)
    normal = [j for j in range(len(rr)) if widths[j] < 110 and widths[j + 1] < 110 and 0.85 < rr[j] / typical < 1.2]
    rows = []
    for k in range(1, len(peaks) - 1):
        near = [rr[j] for j in normal if abs(j - k) <= 5 and j not in (k - 2, k - 1, k, k + 1)]
        if not near:
            continue
        cycle = float(np.median(near))
        plain = (2 <= k < len(rr) - 1 and widths[k - 1] < 110 and widths[k + 1] < 110
                 and rr[k - 2] > 0.85 * cycle and rr[k + 1] > 0.85 * cycle)
        rows.append((int(peaks[k]), widths[k], rr[k - 1] / cycle, rr[k] / cycle, plain))
    return rows


def test_pvc_is_a_wide_premature_beat_with_a_compensatory_pause():
    """Wide (>= 120 ms) and early, T opposite its QRS (in the lead where the QRS is largest); a single PVC between
    sinus beats is followed by a full compensatory pause (the two intervals span two sinus cycles), or is
    interpolated (no pause: the two intervals span about one cycle)."""
    compensatory = interpolated = 0
    for seed in range(12):
        signal = make(["PVC"], seed, seconds=12.0)
        table = beat_table(signal)
        wide = [(pre, post) for w, pre, post in table if w >= 120]
        assert wide and all(pre < 0.9 * post for pre, post in wide), table  # short-long: early, then a pause
        velocity = spatial_velocity(signal)
        peaks = list(r_peaks(signal))
        ectopic = [row for row in beats_with_cycles(signal) if row[1] >= 120 and row[2] < 0.95]
        for r, _, pre, post, plain in ectopic:
            on, _ = qrs_bounds(velocity, r)
            qrs_area = signal[:, on:on + int(0.12 * FS)].sum(axis=1)
            lead = int(np.abs(qrs_area).argmax())
            following = peaks[peaks.index(r) + 1]
            t_area = signal[lead, on + int(0.22 * FS):min(on + int(0.45 * FS), following - int(0.08 * FS))].sum()
            assert np.sign(t_area) == -np.sign(qrs_area[lead])
            if plain:
                if abs(pre + post - 2.0) < 0.12:
                    compensatory += 1
                else:
                    assert 0.95 < pre + post < 1.4, (seed, pre, post)
                    interpolated += 1
    assert compensatory > 3 * interpolated, (compensatory, interpolated)


def test_pvc_has_no_p_wave_of_its_own():
    """No P wave precedes a PVC: from 160 to 70 ms before its measured QRS onset (where a conducted beat's P wave
    stands) the signal stays flat when that span lies after the previous T wave; before the sinus beats of the
    same records the same span holds their P wave."""
    checked = 0
    for seed in range(48):
        signal = make(["PVC"], seed, seconds=12.0)
        beat, r = median_beat(signal)  # the same median beat that p_magnitude reads
        p_size, on_sinus, iso = p_magnitude(signal)
        p_peak = float(p_size[on_sinus - int(0.25 * FS):on_sinus].max())
        magnitude = np.sqrt(((beat[RECORDED] - beat[RECORDED, iso:iso + 1]) ** 2).sum(0))
        rr = int(np.median(np.diff(r_peaks(signal))))
        t_peak = r + int(0.1 * FS) + int(magnitude[r + int(0.1 * FS):r + rr // 2].argmax())
        t_end = t_peak + int(np.argmax(magnitude[t_peak:] < 0.08 * magnitude[t_peak]))
        peaks = list(r_peaks(signal))
        velocity = spatial_velocity(signal)
        for r_prev, r_next in zip(peaks[1:], peaks[2:]):
            on, off = qrs_bounds(velocity, int(r_next))
            start = on - int(0.16 * FS)
            prev_on, prev_off = qrs_bounds(velocity, int(r_prev))
            if (start - r_prev < t_end - r + int(0.03 * FS) or on - r_prev > int(0.64 * FS)
                    or prev_off - prev_on >= 0.11 * FS):  # after a conducted beat's T wave
                continue
            window = signal[RECORDED, start:on - int(0.07 * FS)]
            flat = np.sqrt(((window - window[:, :1]) ** 2).sum(0)).max()
            if off - on >= 0.12 * FS:
                assert flat < 0.4 * p_peak, seed
                checked += 1
            else:
                assert flat > 0.3 * p_peak, seed
    assert checked >= 3


def test_pac_is_an_early_beat_with_a_non_compensatory_pause():
    """PACs come from barely (~10 %) to very (>= 40 %) early; most are narrow like the sinus beats; a single PAC
    between sinus beats resets the sinus node: the two intervals around it span less than two sinus cycles."""
    prematurity, widths = [], []
    for seed in range(12):
        signal = make(["PAC"], seed, seconds=12.0)
        rows = beats_with_cycles(signal)
        premature = [row for row in rows if row[2] < 0.88]
        assert premature, rows
        for _, width, pre, post, plain in premature:
            prematurity.append(pre)
            widths.append(width)
            if plain:
                assert pre + post < 1.96, (seed, pre, post)
    assert min(prematurity) < 0.6 and max(prematurity) > 0.8, prematurity
    assert np.mean(np.array(widths) < 110) > 0.75, widths
    assert all(w < 160 for w in widths)  # an aberrant PAC is wide, RBBB-like, but not PVC-bizarre


def test_some_pacs_are_blocked_a_p_in_the_t_wave_and_a_pause():
    """A blocked PAC: a pause longer than any sinus arrhythmia gives (> 1.4 cycles) with no QRS, and an extra
    wave on the T wave before it (the premature P), which the median beat does not have. Sinus rhythm alone
    never pauses like that."""
    found = 0
    for seed in range(40):
        signal = make(["PAC"], seed, seconds=12.0)
        beat, r = median_beat(signal, before=0.3, after=0.6)
        for peak, width, pre, post, _ in beats_with_cycles(signal):
            if post > 1.4 and 0.85 < pre < 1.2 and width < 110:
                after = signal[RECORDED, peak + int(0.1 * FS):peak + int(0.55 * FS)]
                typical = beat[RECORDED, r + int(0.1 * FS):r + int(0.55 * FS)]
                assert np.sqrt(((after - typical) ** 2).sum(0)).max() > 0.03, seed
                found += 1
    assert found >= 2
    for seed in range(12):
        assert all(post < 1.3 for _, _, _, post, _ in beats_with_cycles(make(["Normal"], seed, seconds=12.0)))


def test_normal_sinus_rhythm_varies_beat_to_beat_as_hearts_do():
    """Normal sinus rhythm is not a metronome: over 30 s, SDNN and RMSSD lie in physiological ranges (a few ms in
    the old and stiff to tens of ms in the young) and differ between records; the rate follows breathing."""
    sdnn, rmssd = [], []
    for seed in range(16):
        rr = np.diff(r_peaks(make(["Normal"], seed, seconds=30.0)))[1:-1] / FS * 1000
        sdnn.append(rr.std())
        rmssd.append(np.sqrt(np.mean(np.diff(rr) ** 2)))
    assert min(rmssd) > 1.5 and max(rmssd) < 80 and 5 < np.median(rmssd) < 40, rmssd
    assert min(sdnn) > 2 and max(sdnn) < 120 and 5 < np.median(sdnn) < 60, sdnn
    assert max(rmssd) > 4 * min(rmssd) and max(sdnn) > 4 * min(sdnn)


def test_rates_span_sinus_bradycardia_to_tachycardia_in_every_sinus_class():
    """Rate identifies no class: non-Normal sinus classes include sinus bradycardia and tachycardia; Normal (normal
    sinus rhythm by the CPSC 2018 definition) stays within 60-100 bpm."""
    for label in ("PAC", "STD", "RBBB"):
        rates = [60 / np.median(np.diff(r_peaks(make([label], seed))) / FS) for seed in range(30)]
        assert min(rates) < 60 and max(rates) > 100, (label, rates)
    normal = [60 / np.median(np.diff(r_peaks(make(["Normal"], seed))) / FS) for seed in range(30)]
    assert 55 < min(normal) and max(normal) < 105, normal


# ---------------------------------------------------------------------------------------------------------------
# Records on disk

def test_written_records_keep_the_limb_lead_identities(tmp_path):
    names = synth.generate_dataset(tmp_path, n=4, seed=11, min_seconds=6, max_seconds=8)
    assert names == ["S00001", "S00002", "S00003", "S00004"]
    for name in names:
        val = scipy.io.loadmat(tmp_path / f"{name}.mat")["val"]
        assert val.dtype == np.int16 and val.shape[0] == 12
        c = np.rint(records.load_record(tmp_path / name).signal * 1000).astype(np.int64)
        lead = {n: c[i] for i, n in enumerate(LEADS)}
        assert np.abs(lead["III"] - (lead["II"] - lead["I"])).max() <= 1
        assert np.abs(2 * lead["aVR"] + lead["I"] + lead["II"]).max() <= 2
        assert np.abs(2 * lead["aVL"] - 2 * lead["I"] + lead["II"]).max() <= 2
        assert np.abs(2 * lead["aVF"] - 2 * lead["II"] + lead["I"]).max() <= 2
        header = (tmp_path / f"{name}.hea").read_text()
        assert header.splitlines()[0].split()[1] == "12"
        assert float(header.splitlines()[0].split()[2]) in synth.SAMPLING_RATES
        assert "1000/mV" in header and "#Age: " in header and "#Sex: " in header
        labels = records.load_record(tmp_path / name).labels
        assert labels and synth.compatible(labels)


def test_same_seed_same_bytes_and_record_i_independent_of_n(tmp_path):
    kw = dict(seed=5, min_seconds=6, max_seconds=7)
    synth.generate_dataset(tmp_path / "a", n=3, **kw)
    synth.generate_dataset(tmp_path / "b", n=3, **kw)
    synth.generate_dataset(tmp_path / "c", n=5, **kw)
    for name in ("S00001", "S00002", "S00003"):
        for ext in (".hea", ".mat"):
            copies = [(tmp_path / run / f"{name}{ext}").read_bytes() for run in ("a", "b", "c")]
            assert copies[0] == copies[1] == copies[2]
    other = tmp_path / "d"
    synth.generate_dataset(other, n=1, seed=6, min_seconds=6, max_seconds=7)
    assert (other / "S00001.mat").read_bytes() != (tmp_path / "a" / "S00001.mat").read_bytes()


def test_durations_are_clipped_to_the_requested_range(tmp_path):
    synth.generate_dataset(tmp_path, n=6, seed=2, min_seconds=6, max_seconds=9)
    for i in range(1, 7):
        _, _, fs, n = (tmp_path / f"S{i:05d}.hea").read_text().split()[:4]
        assert 6 <= int(n) / float(fs) <= 9


def test_records_are_written_at_several_sampling_rates(tmp_path):
    """The sampling rate carries no label: generated records come at several rates (250-1000 Hz), each loads with
    its own rate and duration, and the QRS still reads narrow or wide after resampling to 500 Hz."""
    synth.generate_dataset(tmp_path, n=30, seed=3, min_seconds=6, max_seconds=8)
    rates = Counter()
    for i in range(1, 31):
        record = records.load_record(tmp_path / f"S{i:05d}")
        rates[record.fs] += 1
        assert record.fs in synth.SAMPLING_RATES and 6 <= record.signal.shape[1] / record.fs <= 8
    assert len(rates) >= 3 and rates[500] < 30, rates
    for fs in (250, 1000):
        signal, meta = synth.generate_record(np.random.default_rng(1), ["LBBB"], 8.0, fs=fs, noise=False)
        assert signal.shape == (12, 8 * fs) and meta["fs"] == fs
        at_500 = sps.resample_poly(signal, 500, fs, axis=1)
        assert qrs_ms(at_500) >= 120


def test_command_line_writes_records_and_plot(tmp_path):
    assert synth.main([str(tmp_path / "out"), "--n", "2", "--seed", "1", "--max-seconds", "6", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["S00001.hea", "S00001.mat", "S00002.hea",
                                                                    "S00002.mat"]
    assert synth.main(["--plot", str(tmp_path / "classes.png")]) == 0
    assert (tmp_path / "classes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit):
        synth.main([])


# ---------------------------------------------------------------------------------------------------------------
# Labels and durations

@pytest.fixture(scope="module")
def label_sets() -> list[list[str]]:
    rng = np.random.default_rng(2018)
    return [synth.sample_labels(rng) for _ in range(2000)]


def test_first_labels_follow_cpsc_prevalence(label_sets):
    counts = Counter(labels[0] for labels in label_sets)
    total = sum(synth.FIRST_LABEL_COUNTS.values())
    for cls, cpsc in synth.FIRST_LABEL_COUNTS.items():
        p = cpsc / total
        assert abs(counts[cls] / 2000 - p) < 4 * np.sqrt(p * (1 - p) / 2000) + 1e-3, cls
    multi = sum(len(labels) > 1 for labels in label_sets) / 2000
    assert 0.045 < multi < 0.095
    assert any(len(labels) == 3 for labels in label_sets)


def test_label_sets_are_physiologically_compatible(label_sets):
    for labels in label_sets:
        assert len(set(labels)) == len(labels) and set(labels) <= set(CLASSES)
        assert labels == ["Normal"] or "Normal" not in labels
        assert not ({"AF", "I-AVB"} <= set(labels) or {"AF", "PAC"} <= set(labels))
        assert not {"LBBB", "RBBB"} <= set(labels)
    for bad in (["Normal", "AF"], ["AF", "I-AVB"], ["AF", "PAC"], ["LBBB", "RBBB"], ["AF", "AF"], ["XYZ"], []):
        assert not synth.compatible(bad)
        with pytest.raises(ValueError):
            synth.generate_record(np.random.default_rng(0), bad, 6.0)


def test_every_compatible_pair_generates_with_its_premature_beats():
    for i, a in enumerate(CLASSES):
        for j, b in enumerate(CLASSES):
            if i < j and synth.compatible([a, b]):
                signal, meta = synth.generate_record(np.random.default_rng(10 * i + j), [a, b], 4.0)
                assert np.isfinite(signal).all() and meta["labels"] == [a, b]
                assert (meta["pac_beats"] > 0) == ("PAC" in (a, b)) and (meta["pvc_beats"] > 0) == ("PVC" in (a, b))


def frontal_axis(signal: np.ndarray) -> float:
    """QRS axis from the net QRS areas of I and aVF on the median beat (degrees)."""
    beat, on, off = median_qrs(signal)
    area_i, area_avf = beat[LEADS.index("I"), on:off].sum(), beat[LEADS.index("aVF"), on:off].sum()
    return float(np.degrees(np.arctan2(area_avf / (np.sqrt(3) / 2), area_i)))


@pytest.mark.parametrize("label", ["Normal", "RBBB", "STD", "PAC"])
def test_rate_axis_and_voltage_vary_within_each_class(label):
    """No shortcut: within one class, records differ in rate, axis and QRS voltage as patients do."""
    signals = [make([label], seed) for seed in range(8)]
    rates = [60 / np.median(np.diff(r_peaks(s)) / FS) for s in signals]
    axes = [frontal_axis(s) for s in signals]
    voltage = [np.ptp(median_beat(s)[0][LEADS.index("V5")]) for s in signals]
    assert np.ptp(rates) > 12 and np.ptp(axes) > 30 and max(voltage) > 1.5 * min(voltage)


def test_durations_are_cpsc_like():
    rng = np.random.default_rng(7)
    seconds = np.array([synth.sample_seconds(rng) for _ in range(2000)])
    assert seconds.min() >= 6.0 and seconds.max() <= 60.0
    assert 0.65 < np.mean((seconds >= 10) & (seconds <= 20)) < 0.9
    assert np.mean(seconds < 10) > 0.03 and np.mean(seconds > 20) > 0.05
