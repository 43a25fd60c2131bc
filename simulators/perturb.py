"""Recording conditions that neither simulator draws, applied to finished records: development tooling only.

The two simulators (simulators.synth, simulators.altsim) each draw their own noise, filters and rates; a model
chosen against them can still fail on a cart that records differently. Each family here is one such difference,
with the reason it occurs in practice, and none of them changes what the record shows (the labels stay): a
per-lead gain error, a monitoring or diagnostic band-pass, a mains notch, a monitor's causal high-pass, pacing
spikes, electrode motion, a 250 Hz or 1,000 Hz source, a flat lead. `build_perturbed` writes one perturbed copy
of a folder of records per family (same record names, same #Dx lines); tools/transfer.py scores a trained model on
them. Training and inference never import this module.

A family is a function (signal (12, n) in mV in records.STANDARD_LEADS order, fs, rng) -> (signal, fs).
"""
from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import scipy.signal

from simulators.altsim import twelve_leads
from team_code.data.preprocess import resample
from team_code.io.records import STANDARD_LEADS, load_record, read_header, record_names, write_record

logger = logging.getLogger(f"team_code.{__name__}")

Family = Callable[[np.ndarray, float, np.random.Generator], tuple[np.ndarray, float]]

CHEST_LEADS: tuple[str, ...] = ("V1", "V2", "V3", "V4", "V5", "V6")
_INDEPENDENT = [STANDARD_LEADS.index(lead) for lead in ("I", "II", *CHEST_LEADS)]


def lead_gains(signal: np.ndarray, fs: float, rng: np.random.Generator, low: float = 0.5, high: float = 2.0
               ) -> tuple[np.ndarray, float]:
    """Each lead times its own gain, log-uniform in [low, high].

    Why: every channel of an amplifier is calibrated on its own, a header can state the wrong gain for some
    leads, and electrode-skin impedance differs per electrode. Training draws one gain per record and only
    about 10 % between leads; here the ratios between leads, which axis and bundle-branch patterns are read
    from, move by up to 4x.
    """
    gains = np.exp(rng.uniform(np.log(low), np.log(high), (signal.shape[0], 1)))
    return signal * gains, fs


def band_pass(signal: np.ndarray, fs: float, rng: np.random.Generator, low_hz: float, high_hz: float
              ) -> tuple[np.ndarray, float]:
    """A zero-phase Butterworth band-pass (order 2, run forwards and backwards).

    Why: 0.05-150 Hz is the AHA bandwidth of a diagnostic 12-lead cart; 0.5-40 Hz is the monitoring and
    exercise-test setting, which rounds the QRS, lowers R and S amplitudes and removes notches and pacing
    spikes. An upper edge at or above 0.45 fs is left out: the record is already band-limited there.
    """
    if high_hz < 0.45 * fs:
        sos = scipy.signal.butter(2, [low_hz, high_hz], btype="bandpass", fs=fs, output="sos")
    else:
        sos = scipy.signal.butter(2, low_hz, btype="highpass", fs=fs, output="sos")
    return scipy.signal.sosfiltfilt(sos, signal, axis=-1), fs


def mains_notch(signal: np.ndarray, fs: float, rng: np.random.Generator, hz: float | None = None,
                quality: float = 30.0) -> tuple[np.ndarray, float]:
    """A zero-phase notch at the mains frequency, 50 or 60 Hz (drawn when hz is None).

    Why: carts in 50 Hz and 60 Hz countries notch the mains out; the notch also takes the QRS's own energy at
    that frequency and rings after a sharp deflection.
    """
    hz = hz if hz is not None else float(rng.choice([50.0, 60.0]))
    b, a = scipy.signal.iirnotch(hz, quality, fs=fs)
    return scipy.signal.filtfilt(b, a, signal, axis=-1), fs


def monitor_high_pass(signal: np.ndarray, fs: float, rng: np.random.Generator, cutoff_hz: float = 0.5
                      ) -> tuple[np.ndarray, float]:
    """A causal first-order high-pass at cutoff_hz, as a bedside monitor runs it.

    Why: monitor mode steadies the baseline with a single-pole high-pass far above the diagnostic 0.05 Hz; its
    phase shift bends the ST segment after every large QRS, the artefactual ST depression or elevation the AHA
    recommendations warn about.
    """
    sos = scipy.signal.butter(1, cutoff_hz, btype="highpass", fs=fs, output="sos")
    return scipy.signal.sosfilt(sos, signal, axis=-1), fs


def pacing_spikes(signal: np.ndarray, fs: float, rng: np.random.Generator, rate_bpm: tuple[float, float] = (60, 100),
                  width_ms: tuple[float, float] = (0.5, 2.0), amplitude_mv: tuple[float, float] = (2.0, 10.0)
                  ) -> tuple[np.ndarray, float]:
    """Narrow high-amplitude pacemaker spikes at a fixed rate that the heart does not follow.

    Why: a pacemaker in magnet mode paces asynchronously, and one that fails to capture leaves spikes without
    a paced beat; either way spikes of 0.5-2 ms and several mV cross a rhythm that keeps its own labels. Each
    spike is a pulse of one width and one direction, amplitude_mv on the independent lead (I, II, V1-V6) that
    sees it most, and III, aVR, aVL, aVF derived from I and II as an electrocardiograph derives them. Every
    sample the pulse touches holds its full amplitude, as a cart's pace enhancement stores a spike narrower than
    its sampling interval: one or two samples at 500 Hz.
    """
    n = signal.shape[1]
    interval_s = 60.0 / rng.uniform(*rate_bpm)
    width_s = rng.uniform(*width_ms) / 1000.0
    direction = rng.uniform(-1.0, 1.0, len(_INDEPENDENT))
    independent = direction / np.abs(direction).max() * rng.uniform(*amplitude_mv)
    pulse = np.zeros(n)
    for start in np.arange(rng.uniform(0.0, interval_s), n / fs - width_s, interval_s):
        pulse[int(start * fs):int((start + width_s) * fs) + 1] = 1.0
    return signal + twelve_leads(independent[:, None] * pulse[None, :]), fs


def electrode_motion(signal: np.ndarray, fs: float, rng: np.random.Generator, per_10_s: float = 1.0,
                     seconds: tuple[float, float] = (0.5, 3.0), peak_mv: tuple[float, float] = (1.0, 3.0),
                     band_hz: tuple[float, float] = (0.5, 8.0)) -> tuple[np.ndarray, float]:
    """Bursts of large slow excursions on one electrode each (at least one burst per record).

    Why: an electrode that moves on the skin (the patient turns, a cable is pulled) changes its half-cell
    potential; the MIT-BIH noise stress test's "em" recordings show excursions of a few mV at 0.5-8 Hz that
    overlap the P, QRS and T spectrum and mimic ectopic beats, the artefact that filters cannot remove. A burst
    on RA, LA or LL shows in the limb leads and, through Wilson's terminal, in every chest lead; one on a chest
    electrode only in its own lead.
    """
    n = signal.shape[1]
    electrodes = np.zeros((9, n))  # RA, LA, LL, V1-V6
    sos = scipy.signal.butter(2, [band_hz[0], min(band_hz[1], 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    for _ in range(max(1, int(rng.poisson(per_10_s * n / fs / 10.0)))):
        length = min(n, int(rng.uniform(*seconds) * fs))
        start = int(rng.integers(0, n - length + 1))
        swing = scipy.signal.sosfiltfilt(sos, rng.standard_normal(length + 2 * int(fs)))[int(fs):int(fs) + length]
        swing *= scipy.signal.windows.hann(length)
        swing /= max(float(np.abs(swing).max()), 1e-12)  # the burst's peak is the drawn peak_mv
        electrodes[int(rng.integers(9)), start:start + length] += rng.uniform(*peak_mv) * swing
    ra, la, ll = electrodes[:3]
    independent = np.vstack([la - ra, ll - ra, electrodes[3:] - (ra + la + ll) / 3])
    return signal + twelve_leads(independent), fs


def resample_to(signal: np.ndarray, fs: float, rng: np.random.Generator, target_fs: int) -> tuple[np.ndarray, float]:
    """The record as a source sampling at target_fs would store it (polyphase, with its anti-aliasing filter).

    Why: Holters and older carts record at 250 Hz (content above 125 Hz, QRS notches and pacing spikes, is
    lost), PTB records at 1,000 Hz; the pipeline must read both through its own resampling.
    """
    return resample(np.asarray(signal, dtype=np.float64), fs, target_fs), float(target_fs)


def flat_leads(signal: np.ndarray, fs: float, rng: np.random.Generator, leads: Sequence[str] = (),
               count: tuple[int, int] = (1, 3)) -> tuple[np.ndarray, float]:
    """Leads written as zeros: the named ones, or else `count` (inclusive range) drawn at random.

    Why: a lead whose electrode came off is stored flat, and a six-lead (limb lead) device writes its records
    in a 12-lead file with the chest leads empty. The record must be read from the leads it has.
    """
    rows = [STANDARD_LEADS.index(lead) for lead in leads] if leads else \
        rng.choice(len(STANDARD_LEADS), size=int(rng.integers(count[0], count[1] + 1)), replace=False)
    out = np.array(signal, dtype=np.float64)
    out[rows] = 0.0
    return out, fs


FAMILIES: dict[str, Family] = {
    "lead_gains": lead_gains,
    "bandpass_0.5_40": partial(band_pass, low_hz=0.5, high_hz=40.0),
    "bandpass_0.05_150": partial(band_pass, low_hz=0.05, high_hz=150.0),
    "mains_notch": mains_notch,
    "monitor_highpass": monitor_high_pass,
    "pacing_spikes": pacing_spikes,
    "electrode_motion": electrode_motion,
    "fs_250": partial(resample_to, target_fs=250),
    "fs_1000": partial(resample_to, target_fs=1000),
    "flat_1_3_leads": flat_leads,
    "limb_leads_only": partial(flat_leads, leads=CHEST_LEADS),
}
# Record lengths: the same hearts generated again at one duration, which only the generator can do (cutting a
# record can drop the one ectopic beat its label rests on).
LENGTHS: dict[str, float] = {"seconds_10": 10.0, "seconds_60": 60.0}

# regenerate(out_dir, seconds): the clean folder's records written again, same names, labels and hearts, at
# exactly `seconds` (quality.generate_source for synth and altsim).
Regenerate = Callable[[Path, float], None]


def family_rng(seed: int, family: str, index: int) -> np.random.Generator:
    """Record `index`'s stream for a family: the same whichever families are built, and in whatever order."""
    return np.random.default_rng([seed, zlib.crc32(family.encode()), index])


def perturb_folder(clean_dir: Path, out_dir: Path, family: str, seed: int = 0) -> None:
    """Write every record of clean_dir to out_dir through one family, keeping name, #Dx, age and sex."""
    apply = FAMILIES[family]
    for index, name in enumerate(record_names(clean_dir)):
        record = load_record(clean_dir / name)
        signal, fs = apply(record.signal.astype(np.float64), record.fs, family_rng(seed, family, index))
        write_record(out_dir, name, signal, fs=fs, age=record.age, sex=record.sex, labels=record.dx)


def _check_same_records(clean_dir: Path, out_dir: Path) -> None:
    """ValueError unless out_dir holds exactly clean_dir's record names, each with the same #Dx."""
    names = record_names(clean_dir)
    if record_names(out_dir) != names:
        raise ValueError(f"{out_dir}: regenerated record names differ from {clean_dir}'s")
    for name in names:
        if read_header(out_dir / f"{name}.hea").dx != read_header(clean_dir / f"{name}.hea").dx:
            raise ValueError(f"{out_dir / name}: regenerated labels differ from {clean_dir / name}'s")


def build_perturbed(clean_dir: str | Path, out_root: str | Path, families: Sequence[str] | None = None,
                    seed: int = 0, regenerate: Regenerate | None = None) -> dict[str, Path]:
    """One perturbed copy of clean_dir per family, in out_root/FAMILY; returns {family: folder}.

    families defaults to every one of FAMILIES, and of LENGTHS when `regenerate` is given (a length family
    without it is a ValueError). Regenerated folders are checked to hold the clean folder's names and labels.
    """
    clean_dir, out_root = Path(clean_dir), Path(out_root)
    families = list(families) if families is not None else [*FAMILIES, *(LENGTHS if regenerate else ())]
    unknown = [f for f in families if f not in FAMILIES and f not in LENGTHS]
    if unknown:
        raise ValueError(f"unknown perturbation families {unknown}; known: {', '.join([*FAMILIES, *LENGTHS])}")
    if regenerate is None and any(f in LENGTHS for f in families):
        raise ValueError("the record-length families need `regenerate` (the generator of the clean records)")
    folders = {}
    for family in families:
        out = out_root / family
        if family in LENGTHS:
            regenerate(out, LENGTHS[family])
            _check_same_records(clean_dir, out)
        else:
            perturb_folder(clean_dir, out, family, seed)
        logger.info(f"perturbed copy {family}: {out}")
        folders[family] = out
    return folders
