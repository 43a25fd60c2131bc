"""Physiological 12-lead ECG generator for the nine CPSC 2018 classes: the embedded default data and the test bed.

Real CPSC 2018 records cannot ship with the project, so demos and tests write CinC 2020 records from a model:
the heart is a time-varying 3-D dipole, per beat a sum of Gaussian waves (P, Q, R, S, T, bundle-branch and
ectopic components), each with its own direction, plus a separate ST-segment (injury current) component. Dower's
lead vectors project it onto I, II and V1-V6; electrode noise is added to those eight recorded leads and III, aVR,
aVL, aVF are derived from them as an electrocardiograph does, so the Einthoven and Goldberger identities hold in
the written integer samples. Everything a class's definition does not fix varies widely and identically across
classes — beat-to-beat sinus variability, rate (sinus bradycardia to tachycardia), axis, amplitudes, intervals,
noise kinds, the recording's filtering, electrode swaps, the sampling rate, record length — so that no
simulator habit can be learned as the class: a model has to learn the physiology.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import signal as sps
from tqdm import tqdm

from team_code import log
from team_code.io.records import STANDARD_LEADS, write_record
from team_code.labels import CLASS_TO_SNOMED, CLASSES

# First labels of the 6,877 CPSC 2018 training records.
FIRST_LABEL_COUNTS: dict[str, int] = {
    "Normal": 918, "AF": 1098, "I-AVB": 704, "LBBB": 207, "RBBB": 1695, "PAC": 556, "PVC": 672, "STD": 825,
    "STE": 202,
}
MULTI_LABEL_FRACTION = 0.07  # CPSC 2018: 476 of 6,877 records carry a second or third label
_THIRD_LABEL_FRACTION = 0.15  # of the multi-label records
# Pairs a clinician would not report together (Normal excludes everything else).
_INCOMPATIBLE = (frozenset({"AF", "I-AVB"}), frozenset({"AF", "PAC"}), frozenset({"LBBB", "RBBB"}))

# Dower's lead vectors: rows I, II, V1..V6; columns Frank X (to the left), Y (to the feet), Z (to the back).
_DOWER = np.array([
    [0.632, -0.235, 0.059], [0.235, 1.066, -0.132],
    [-0.515, 0.157, -0.917], [0.044, 0.164, -1.387], [0.882, 0.098, -1.277],
    [1.213, 0.127, -0.601], [1.125, 0.127, -0.086], [0.831, 0.076, 0.230],
])
# The electrocardiograph's derivation of the 12 standard leads from the 8 recorded ones (I, II, V1..V6).
_DERIVE = np.zeros((12, 8))
_DERIVE[0, 0] = _DERIVE[1, 1] = 1.0
_DERIVE[2] = [-1, 1, 0, 0, 0, 0, 0, 0]  # III = II - I
_DERIVE[3] = [-0.5, -0.5, 0, 0, 0, 0, 0, 0]  # aVR = -(I + II) / 2
_DERIVE[4] = [1, -0.5, 0, 0, 0, 0, 0, 0]  # aVL = I - II / 2
_DERIVE[5] = [-0.5, 1, 0, 0, 0, 0, 0, 0]  # aVF = II - I / 2
_DERIVE[6:, 2:] = np.eye(6)
_LEAD = {name: i for i, name in enumerate(STANDARD_LEADS)}
# Electrodes RA, LA, LL, V1..V6 -> recorded leads: I = LA - RA, II = LL - RA, Vk = Vk - Wilson's central terminal.
_ELECTRODES_TO_LEADS = np.zeros((8, 9))
_ELECTRODES_TO_LEADS[0, :3] = [-1, 1, 0]
_ELECTRODES_TO_LEADS[1, :3] = [-1, 0, 1]
_ELECTRODES_TO_LEADS[2:, :3] = -1 / 3
_ELECTRODES_TO_LEADS[2:, 3:] = np.eye(6)

# Contiguous lead groups in which ST criteria are read.
_INFERIOR = ("II", "III", "aVF")
_STE_TERRITORIES = (("II", "III", "aVF"), ("V1", "V2", "V3"), ("V2", "V3", "V4"), ("V3", "V4", "V5"),
                    ("I", "aVL"), ("V5", "V6"), ("I", "aVL", "V5", "V6"))
_STD_TERRITORIES = (("V4", "V5", "V6"), ("V5", "V6"), ("V3", "V4", "V5"), ("V1", "V2", "V3"), ("V2", "V3"),
                    ("II", "aVF", "V5", "V6"))
_RECIPROCAL_STD = {("II", "III", "aVF"): ("I", "aVL")}  # STD that accompanies an STE territory when both labelled
_ST_AT = 0.06  # ST level is read 60 ms after the J point
_PAD_S = 4.0  # events are rendered from 4 s before the record starts, so it opens mid-rhythm


def compatible(labels: Sequence[str]) -> bool:
    """Whether a label set is one a clinician could report: known, distinct, Normal alone, no excluded pair."""
    found = set(labels)
    if len(found) != len(labels) or not found or not found <= set(CLASSES):
        return False
    if "Normal" in found and len(found) > 1:
        return False
    return not any(pair <= found for pair in _INCOMPATIBLE)


def sample_labels(rng: np.random.Generator) -> list[str]:
    """A label set: first label with CPSC 2018 prevalence, about 7% of records with compatible extra labels."""
    names = list(FIRST_LABEL_COUNTS)
    weights = np.array([FIRST_LABEL_COUNTS[c] for c in names], dtype=float)
    labels = [names[rng.choice(len(names), p=weights / weights.sum())]]
    # Normal records cannot take a second label, so the others take one more often to reach 7% overall.
    p_multi = MULTI_LABEL_FRACTION * weights.sum() / (weights.sum() - FIRST_LABEL_COUNTS["Normal"])
    if labels[0] != "Normal" and rng.random() < p_multi:
        extra = 2 if rng.random() < _THIRD_LABEL_FRACTION else 1
        for _ in range(extra):
            options = [c for c in names if c not in labels and compatible([*labels, c])]
            w = np.array([FIRST_LABEL_COUNTS[c] for c in options], dtype=float)
            labels.append(options[rng.choice(len(options), p=w / w.sum())])
    return labels


def sample_seconds(rng: np.random.Generator) -> float:
    """Record duration in 6-60 s, distributed like CPSC 2018: most records 10-20 s, a few short or long ones."""
    u = rng.random()
    if u < 0.08:
        seconds = rng.uniform(6.0, 10.0)
    elif u < 0.87:
        seconds = 10.0 + 10.0 * rng.beta(1.1, 2.2)
    else:
        seconds = 20.0 + 40.0 * rng.beta(1.0, 3.0)
    return round(float(seconds), 3)


# ---------------------------------------------------------------------------------------------------------------
# The dipole model

@dataclass
class _Waves:
    """Gaussian waves of one beat kind, timed from the beat's onset: centre c0 + c1*QT, width s0 + s1*QT (s)."""

    c0: np.ndarray
    c1: np.ndarray
    s0: np.ndarray
    s1: np.ndarray
    vec: np.ndarray  # (k, 3) amplitude x direction, mV
    qrs: float = 0.0  # QRS duration (ventricular kinds): where the J point and the ST segment start
    st: np.ndarray = field(default_factory=lambda: np.zeros(3))  # secondary ST-segment dipole of this kind
    qt_extra: float = 0.0  # QT lengthening by a wide QRS

    def at(self, t: float, qt: float) -> np.ndarray:
        """Dipole (3,) at time t after onset, without the ST component."""
        g = np.exp(-0.5 * ((t - self.c0 - self.c1 * qt) / (self.s0 + self.s1 * qt)) ** 2)
        return g @ self.vec


def _waves(rows: list[tuple[float, float, float, float, np.ndarray]], **kw: object) -> _Waves:
    c0, c1, s0, s1, vec = zip(*rows)
    return _Waves(np.array(c0), np.array(c1), np.array(s0), np.array(s1), np.array(vec), **kw)


def _unit(v: Sequence[float] | np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _jitter(rng: np.random.Generator, v: Sequence[float], degrees: float) -> np.ndarray:
    """A unit direction scattered about v by roughly `degrees`: no two hearts point their waves identically."""
    return _unit(_unit(v) + rng.normal(0.0, math.radians(degrees), 3))


def _rotation(frontal_deg: float, horizontal_deg: float) -> np.ndarray:
    """Rotate the heart in the frontal plane (towards the feet: the axis grows) and in the horizontal plane."""
    a, b = math.radians(frontal_deg), math.radians(horizontal_deg)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    ry = np.array([[math.cos(b), 0, -math.sin(b)], [0, 1, 0], [math.sin(b), 0, math.cos(b)]])
    return ry @ rz


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _st_shape(t: np.ndarray, j: float | np.ndarray, t_peak: np.ndarray | float, t_end: np.ndarray | float,
              slope: float) -> np.ndarray:
    """ST-segment profile: rises through the J point, holds (with a slope) and fades with the T wave, from one T
    width before its peak to one after its end, as repolarisation completes."""
    width = (np.asarray(t_end) - t_peak) / 2.5
    rise = _smoothstep((t - j + 0.01) / 0.03)
    drop = 1.0 - _smoothstep((t - t_peak + width) / (np.asarray(t_end) - t_peak + 2 * width))
    return rise * drop * np.maximum(1.0 + slope * (t - j) / 0.1, 0.0)


@dataclass
class _Heart:
    """One patient's heart: rhythm, intervals and the wave templates of each atrial and ventricular beat kind."""

    af: bool
    rr: float  # mean RR, s
    pr: float
    qtc: float  # Framingham-corrected QT of a conducted beat
    atrial: dict[str, _Waves]
    ventricular: dict[str, _Waves]
    injury: np.ndarray  # ST-segment dipole (STD/STE), shared by every ventricular beat
    st_slope: float
    st_leads: dict[str, tuple[str, ...]]
    resp_hz: float
    resp_phase: float
    rsa: float  # respiratory sinus arrhythmia, fraction of RR
    resp_gain: float  # respiratory modulation of QRS amplitude
    pac: float  # per-beat probability of a premature atrial / ventricular beat (0 when not labelled)
    pvc: float
    pvc_pattern: str
    dower: np.ndarray  # this patient's lead vectors (I, II, V1..V6): torso shape and electrode placement vary
    # Sinus-rate variability besides breathing: Mayer waves (~0.1 Hz), very-low-frequency wander, beat jitter;
    # amplitudes as fractions of RR.
    mayer: float = 0.0
    mayer_hz: float = 0.1
    mayer_phase: float = 0.0
    vlf: float = 0.0
    vlf_hz: float = 0.02
    vlf_phase: float = 0.0
    jitter: float = 0.0
    pac_pattern: str = "isolated"  # isolated, couplets or bigeminy
    pac_blocked: float = 0.0  # fraction of PACs so early that the ventricles are refractory: P without QRS
    pac_aberrant: float = 0.0  # fraction of conducted PACs that meet a refractory right bundle: wide QRS
    pvc_interpolated: float = 0.0  # chance that a PVC lets the next sinus beat through (no pause)
    axis: float = 0.0

    @property
    def leads(self) -> np.ndarray:
        """Lead vectors of all 12 leads (12, 3)."""
        return _DERIVE @ self.dower

    def cycle(self, t: float, z: float) -> float:
        """Sinus cycle length (s) starting at time t: breathing, Mayer waves, slow wander, and a jitter z ~ N(0, 1)."""
        return self.rr * (1.0 + self.rsa * math.sin(2 * math.pi * self.resp_hz * t + self.resp_phase)
                          + self.mayer * math.sin(2 * math.pi * self.mayer_hz * t + self.mayer_phase)
                          + self.vlf * math.sin(2 * math.pi * self.vlf_hz * t + self.vlf_phase) + self.jitter * z)

    def qt(self, rr: np.ndarray) -> np.ndarray:
        """QT of conducted beats after an interval rr, by Framingham, with some memory of the mean rate."""
        rr_eff = 0.6 * rr + 0.4 * self.rr
        return self.qtc - 0.154 * (1.0 - rr_eff)


def _draw_heart(rng: np.random.Generator, labels: Sequence[str], age: float, female: bool) -> _Heart:
    """Draw one patient's heart for the labels; every class shares the same ranges of rate, axis and amplitude."""
    has = set(labels)
    af = "AF" in has
    # Rate. CPSC 2018 labels sinus bradycardia and sinus tachycardia as none of its nine classes, and its "Normal"
    # is normal sinus rhythm, 60-100 bpm by definition: so Normal keeps 60-100 and every other sinus class draws
    # from the same 60-100 distribution most of the time, or a sinus bradycardia (40-60) or tachycardia (100-150).
    # Inside 60-100 the rate says nothing of the class; outside it, only "not Normal", as the definition does.
    u = rng.random()
    if af:
        bpm = 0.0
        while not 50 < bpm < 160:
            bpm = rng.normal(95, 22)
    elif "Normal" not in has and u < 0.12:
        bpm = rng.uniform(40, 60)
    elif "Normal" not in has and u < 0.24:
        bpm = rng.uniform(100, 150)
    else:
        bpm = 0.0
        while not 60 < bpm < 100:
            bpm = rng.normal(76, 13) + (3 if female else 0)
    rr = 60.0 / bpm
    # PR lengthens a little with age; first-degree AV block is 215-400 ms, mostly 220-300 ms.
    pr = float(np.clip(rng.uniform(0.125, 0.19) + 0.0003 * (age - 50), 0.122, 0.192))
    if "I-AVB" in has:
        pr = 0.215 + 0.185 * rng.beta(1.3, 2.6)
    qtc = float(np.clip(rng.normal(0.405, 0.014) + (0.012 if female else 0.0), 0.37, 0.445))

    # Heart position: the axis drifts leftwards with age; the horizontal rotation moves the R-wave transition.
    rot = _rotation(float(np.clip(rng.normal(-0.35 * (age - 50), 22), -70, 70)), rng.normal(0, 10))
    qrs_gain = float(np.clip(rng.lognormal(0, 0.22), 0.6, 1.7)) * (0.88 if female else 1.0) * (1.15 - 0.003 * age)
    t_gain = qrs_gain ** 0.6 * rng.lognormal(0, 0.22)  # T follows QRS voltage, loosely
    p_gain = rng.lognormal(0, 0.3)

    def d(v: Sequence[float], deg: float = 10.0) -> np.ndarray:
        return rot @ _jitter(rng, v, deg)

    # Sinus P: right atrium (inferior, anterior) then left atrium (leftward, posterior): biphasic in V1.
    pd = rng.uniform(0.07, 0.12)
    atrial = {"sinus": _waves([
        (0.36 * pd, 0, 0.15 * pd, 0, p_gain * rng.uniform(0.08, 0.15) * d([0.25, 0.9, -0.35])),
        (0.62 * pd, 0, 0.15 * pd, 0, p_gain * rng.uniform(0.06, 0.12) * d([0.8, 0.35, 0.45])),
    ])}

    # T wave: a main Gaussian ending at the QT point and a broader, earlier one that shapes the slow ascent.
    tw = rng.uniform(0.085, 0.105)

    def t_rows(vec: np.ndarray, width: float = 1.0) -> list[tuple[float, float, float, float, np.ndarray]]:
        w = tw * width
        return [(0.0, 1 - 2.5 * w, 0.0, w, vec), (0.0, 1 - 3.7 * w, 0.0, 1.3 * w, 0.3 * vec)]

    t_normal = t_gain * rng.uniform(0.2, 0.45) * d([0.75, 0.45, -0.45], 15)
    septal = qrs_gain * rng.uniform(0.1, 0.28) * d([-0.6, 0.3, -0.75], 12)
    r_main = qrs_gain * rng.uniform(1.1, 1.9) * d([0.75, 0.45, 0.45])
    t_normal *= min(1.0, 0.4 * np.linalg.norm(r_main) / np.linalg.norm(t_normal))  # T stays smaller than R
    s_late = qrs_gain * rng.uniform(0.35, 0.8) * d([-0.4, -0.25, 0.9], 12)
    st_secondary = np.zeros(3)
    qt_extra = 0.0
    if "RBBB" in has:
        # Normal septal and left-ventricular activation, then a slow, late right-ventricular vector (anterior,
        # rightward): rsR' in V1-V2, wide slurred S in I and V5-V6; T opposite the late vector, inverted in V1-V3.
        qrs = rng.uniform(0.138, 0.17)
        dn = rng.uniform(0.075, 0.09)
        sig_rv = rng.uniform(0.015, 0.021)
        rv = qrs_gain * rng.uniform(0.65, 1.1) * d([-0.35, -0.05, -0.93])
        rows = [(0.2 * dn, 0, 0.08 * dn, 0, septal), (0.47 * dn, 0, 0.12 * dn, 0, r_main),
                (0.72 * dn, 0, 0.09 * dn, 0, 0.45 * s_late), (qrs - 2.3 * sig_rv, 0, sig_rv, 0, rv)]
        t_vec = t_gain * rng.uniform(0.25, 0.45) * d([0.45, 0.35, 0.6], 8)
        st_secondary = -0.05 * rng.uniform(0, 1) * _unit(rv)
        qt_extra = qrs - 0.095
    elif "LBBB" in has:
        # The septum is activated from the right: no septal q. One slow leftward, posterior wavefront in two
        # phases (a notched broad R in I, aVL, V5-V6; QS or rS in V1-V3); ST-T opposite the QRS.
        qrs = rng.uniform(0.125, 0.165)
        sig = rng.uniform(0.115, 0.135) * qrs
        for _ in range(30):  # the initial forces point at I and V6: no q there
            l1 = d([0.55, 0.3, 0.15], 20)
            if min(_DOWER[0] @ l1, _DOWER[7] @ l1) > 0.15:
                break
        else:
            l1 = _unit([0.55, 0.3, 0.15])
        l1 = qrs_gain * rng.uniform(0.9, 1.6) * l1
        l2 = qrs_gain * rng.uniform(1.2, 2.2) * d([0.7, 0.0, 0.7])
        rows = [(0.31 * qrs, 0, sig, 0, l1), (0.69 * qrs, 0, sig, 0, l2)]
        mean = _unit(l1 + l2)
        t_vec = -t_gain * rng.uniform(0.35, 0.7) * mean
        st_secondary = -rng.uniform(0.04, 0.1) * mean
        qt_extra = qrs - 0.095
    else:
        qrs = rng.uniform(0.075, 0.1)
        rows = [(0.2 * qrs, 0, 0.08 * qrs, 0, septal), (0.47 * qrs, 0, 0.12 * qrs, 0, r_main),
                (0.74 * qrs, 0, 0.09 * qrs, 0, s_late)]
        t_vec = t_normal
    if rng.random() < 0.25:  # a small slur or notch in the QRS: hearts are not smooth sums of three waves
        rows.append((rng.uniform(0.3, 0.9) * qrs, 0, 0.05 * qrs, 0, qrs_gain * rng.uniform(0.05, 0.15)
                     * _unit(rng.normal(size=3))))
    ventricular = {"conducted": _waves(rows + t_rows(t_vec), qrs=qrs, st=st_secondary, qt_extra=qt_extra)}

    if "PAC" in has:
        # An ectopic atrial focus: a P wave of another direction (low atrial: inverted in II, III, aVF; left
        # atrial: negative in I and V6; right atrial near the sinus node; or anywhere) and shape.
        foci = ([0.1, -0.9, -0.3], [-0.7, 0.5, 0.4], [0.7, 0.2, -0.5], [0.2, 0.7, -0.6], rng.normal(size=3))
        focus = foci[rng.integers(len(foci))]
        pd2 = rng.uniform(0.06, 0.11)
        atrial["pac"] = _waves([
            (0.4 * pd2, 0, 0.17 * pd2, 0, p_gain * rng.uniform(0.06, 0.18) * d(focus, 25)),
            (0.65 * pd2, 0, 0.14 * pd2, 0, p_gain * rng.uniform(0.0, 0.06) * d(rng.normal(size=3), 5)),
        ])
        if "RBBB" not in has and "LBBB" not in has:
            # Aberrant conduction: a PAC that finds the right bundle still refractory is conducted with a late,
            # slow right-ventricular vector (RBBB-like, QRS 120-150 ms).
            width = rng.uniform(0.125, 0.15)
            sig_rv = rng.uniform(0.014, 0.02)
            rv = qrs_gain * rng.uniform(0.5, 1.0) * d([-0.35, -0.05, -0.93])
            aberrant = rows + [(width - 2.3 * sig_rv, 0, sig_rv, 0, rv)]
            ventricular["aberrant"] = _waves(aberrant + t_rows(t_vec), qrs=width, st=-0.04 * _unit(rv),
                                             qt_extra=width - qrs)
    pvc_pattern = "isolated"
    if "PVC" in has:
        # Ectopic ventricular foci: slow cell-to-cell spread gives a wide bizarre QRS whose direction depends on
        # the origin (right ventricle: LBBB-like, negative in V1; left ventricle: RBBB-like, positive in V1; any
        # axis), with the ST-T opposite it. Several foci (multifocal) in some patients.
        origins = ([0.6, 0.5, 0.6], [0.6, -0.6, 0.5], [-0.4, 0.6, -0.7], [-0.4, -0.6, -0.7], rng.normal(size=3))
        for k in range(int(rng.choice([1, 2, 3], p=[0.75, 0.18, 0.07]))):
            width = rng.uniform(0.13, 0.2)
            sig = 0.12 * width
            d1 = _jitter(rng, origins[rng.integers(len(origins))], 30)
            d2 = _jitter(rng, _unit(d1 + rng.uniform(0.6, 1.4) * _unit(rng.normal(size=3))), 5)
            e1 = qrs_gain * rng.uniform(1.0, 2.4) * d1
            e2 = qrs_gain * rng.uniform(1.0, 2.2) * d2
            mean = _unit(e1 + e2)
            ventricular[f"pvc{k}"] = _waves(
                [(0.33 * width, 0, sig, 0, e1), (0.67 * width, 0, sig, 0, e2)]
                + t_rows(-t_gain * rng.uniform(0.35, 0.8) * mean, 1.25),
                qrs=width, st=-rng.uniform(0.04, 0.12) * mean, qt_extra=width - 0.08)
        pvc_pattern = str(rng.choice(["isolated", "couplets", "bigeminy", "trigeminy"], p=[0.64, 0.12, 0.12, 0.12]))

    # Sinus-rate variability: respiratory sinus arrhythmia from almost none to marked, larger in the young and
    # smaller at fast breathing and fast rates; Mayer waves, slow wander and beat-to-beat jitter.
    resp_hz = rng.uniform(0.15, 0.4)
    youth = float(np.clip((80.0 - age) / 60.0, 0.15, 1.0))
    rsa = 0.0 if af else 0.12 * youth * rng.beta(1.2, 2.5) * min(1.0, 0.25 / resp_hz) * min(1.0, rr / 0.75)
    heart = _Heart(
        af=af, rr=rr, pr=pr, qtc=qtc, atrial=atrial, ventricular=ventricular, injury=np.zeros(3),
        st_slope=float(rng.uniform(-0.5, 0.6)), st_leads={}, resp_hz=resp_hz,
        resp_phase=rng.uniform(0, 2 * math.pi), rsa=rsa,
        resp_gain=rng.uniform(0.0, 0.1), pac=rng.uniform(0.05, 0.35) if "PAC" in has else 0.0,
        pvc=rng.uniform(0.05, 0.35) if "PVC" in has else 0.0, pvc_pattern=pvc_pattern,
        dower=np.array([np.linalg.norm(v) * rng.lognormal(0, 0.08) * _jitter(rng, v, 6) for v in _DOWER]),
        mayer=0.0 if af else rng.uniform(0.0, 0.03) * youth, mayer_hz=rng.uniform(0.07, 0.13),
        mayer_phase=rng.uniform(0, 2 * math.pi), vlf=0.0 if af else rng.uniform(0.0, 0.04),
        vlf_hz=rng.uniform(0.005, 0.04), vlf_phase=rng.uniform(0, 2 * math.pi),
        jitter=0.0 if af else float(np.clip(rng.lognormal(math.log(0.012), 0.5) * (0.6 + 0.6 * youth), 0.003, 0.04)),
        pac_pattern=str(rng.choice(["isolated", "couplets", "bigeminy"], p=[0.7, 0.15, 0.15])),
        pac_blocked=rng.uniform(0.2, 0.6) if rng.random() < 0.2 else 0.0,
        pac_aberrant=rng.uniform(0.2, 0.6) if "aberrant" in ventricular and rng.random() < 0.15 else 0.0,
        pvc_interpolated=rng.uniform(0.3, 1.0) if rng.random() < 0.15 else 0.0)
    _set_axis(heart)
    if "Normal" in has:  # a normal ECG has a normal axis: turn the heart back inside -30..+90 degrees
        for _ in range(3):
            if -30 < heart.axis < 90:
                break
            turn = _rotation(float(np.clip(heart.axis, -25, 85)) - heart.axis + rng.uniform(-10, 10), 0)
            for waves in (*heart.atrial.values(), *heart.ventricular.values()):
                waves.vec = waves.vec @ turn.T
                waves.st = turn @ waves.st
            _set_axis(heart)
    _draw_injury(rng, heart, has)
    return heart


def _set_axis(heart: _Heart) -> None:
    """The frontal QRS axis a reader would report: net QRS area in I against aVF (hexaxial scaling)."""
    w = heart.ventricular["conducted"]
    qrs = w.c1 == 0
    area = (w.s0[qrs] * math.sqrt(2 * math.pi)) @ w.vec[qrs]
    lead_i, lead_avf = heart.leads[_LEAD["I"]] @ area, heart.leads[_LEAD["aVF"]] @ area
    heart.axis = math.degrees(math.atan2(lead_avf / (math.sqrt(3) / 2), lead_i))


def _st_base(heart: _Heart) -> tuple[np.ndarray, float]:
    """ST level (mV) at J+60 ms of a conducted beat in the 12 leads against the PR segment, without the injury
    current, and the weight of the ST profile at that instant (the level is linear in the injury vector)."""
    w = heart.ventricular["conducted"]
    qt = float(heart.qt(np.array(heart.rr))) + w.qt_extra
    t = w.qrs + _ST_AT
    shape = float(_st_shape(np.array(t), w.qrs, w.c1.max() * qt, qt, heart.st_slope))
    return heart.leads @ (w.at(t, qt) - w.at(-0.005, qt) + shape * w.st), shape


def _draw_injury(rng: np.random.Generator, heart: _Heart, has: set[str]) -> None:
    """The injury-current dipole: ST shifts in >= 2 contiguous leads for STD/STE (with their reciprocal image).

    Constraints on the ST level at J+60 ms of each lead are solved by Kaczmarz projections: targets reach the
    drawn depth or height, and an STD-only heart keeps its reciprocal elevation below the STE criteria. The ST
    vector also bends the T wave, as ischaemia does (flattened or inverted with STD, hyperacute with STE).
    """
    if not has & {"STD", "STE"}:
        # Not a class: a small ST shift within normal limits (early repolarisation, J-point elevation), so that
        # a small shift alone does not mean STD or STE.
        v = _unit(rng.normal(size=3))
        heart.injury = rng.uniform(0.0, 0.05) * v / np.abs(heart.leads @ v).max()
        return
    w = heart.ventricular["conducted"]
    main_t = int(np.argmax(w.c1))
    t_before = w.vec[main_t].copy()
    for _ in range(100):
        ste = _STE_TERRITORIES[rng.integers(len(_STE_TERRITORIES))] if "STE" in has else ()
        std: tuple[str, ...] = ()
        if "STD" in has:
            std = _RECIPROCAL_STD.get(ste, _INFERIOR) if ste else _STD_TERRITORIES[rng.integers(len(_STD_TERRITORIES))]
        height, depth = rng.uniform(0.14, 0.5), rng.uniform(0.13, 0.4)
        # (lead, sign, bound): sign * level >= bound. Margins keep the criteria through noise and beat-to-beat QT.
        rules = [(lead, 1.0, max(height, 0.24 if lead in ("V1", "V2", "V3") else 0.0)) for lead in ste]
        rules += [(lead, -1.0, depth) for lead in std]
        if not ste:  # nothing justifies an elevation: the reciprocal image stays below the STE criteria
            rules += [(lead, -1.0, -(0.13 if lead in ("V1", "V2", "V3") else 0.06))
                      for lead in STANDARD_LEADS if lead != "aVR"]
        tilt = rng.uniform(0.2, 0.8)
        injury = _kaczmarz(heart, rules)
        if injury is None:
            continue
        # Ischaemic T-wave change along the injury vector, then solve again so the ST criteria still hold.
        w.vec[main_t] = t_before + tilt * injury
        w.vec[main_t + 1] = 0.3 * w.vec[main_t]
        injury = _kaczmarz(heart, rules)
        if injury is not None:
            heart.injury = injury
            heart.st_leads = {"STE": ste, "STD": std}
            return
        w.vec[main_t] = t_before
        w.vec[main_t + 1] = 0.3 * t_before
    raise RuntimeError("no injury vector meets the ST criteria")


def _kaczmarz(heart: _Heart, rules: list[tuple[str, float, float]]) -> np.ndarray | None:
    """An injury vector v with sign * ST level >= bound for every rule, by cyclic projections; None if none."""
    base, shape = _st_base(heart)
    idx = np.array([_LEAD[lead] for lead, _, _ in rules])
    sign = np.array([s for _, s, _ in rules])
    g = sign[:, None] * shape * heart.leads[idx]
    h = np.array([b for _, _, b in rules]) - sign * base[idx]
    v = np.zeros(3)
    for _ in range(200):
        gaps = h - g @ v
        if gaps.max() <= 1e-6:
            return v
        for gi, hi in zip(g, h):
            gap = hi - gi @ v
            if gap > 0:
                v += gap / (gi @ gi) * gi
    return None


# ---------------------------------------------------------------------------------------------------------------
# Rhythm: when each atrial and ventricular beat happens

@dataclass
class _Beats:
    """Beat onsets (s from the record's start): atrial (P-wave onsets) and ventricular (QRS onsets)."""

    atrial_t: list[float] = field(default_factory=list)
    atrial_kind: list[str] = field(default_factory=list)
    vent_t: list[float] = field(default_factory=list)
    vent_kind: list[str] = field(default_factory=list)
    vent_rr: list[float] = field(default_factory=list)  # interval from the previous ventricular beat
    blocked_pac_t: list[float] = field(default_factory=list)  # PACs that reached no ventricle (P onsets)

    def atrium(self, t: float, kind: str) -> None:
        self.atrial_t.append(t)
        self.atrial_kind.append(kind)

    def ventricle(self, t: float, kind: str) -> None:
        self.vent_rr.append(t - self.vent_t[-1] if self.vent_t else math.nan)
        self.vent_t.append(t)
        self.vent_kind.append(kind)

    def visible(self, kind_prefix: str, seconds: float) -> int:
        """Premature beats of a kind whose beat and following pause lie inside the record (for PACs: conducted
        ones, so every PAC record shows at least one premature QRS)."""
        last = seconds - min(1.6, 0.35 * seconds)
        if kind_prefix == "pac":
            blocked = set(self.blocked_pac_t)
            return sum(k == "pac" and t not in blocked and 0.3 < t < last
                       for k, t in zip(self.atrial_kind, self.atrial_t))
        return sum(k.startswith(kind_prefix) and 0.3 < t < last for k, t in zip(self.vent_kind, self.vent_t))


def _schedule(rng: np.random.Generator, heart: _Heart, seconds: float) -> _Beats:
    """Beat times: variable sinus rhythm (or AF), with the labelled premature beats.

    A PAC comes 10-60 % early; it resets the sinus node (non-compensatory pause). If the ventricles are still
    refractory it is blocked (a P wave, often in the T wave, and a pause without QRS); a conducted one may be
    aberrant. A PVC leaves the sinus node alone: its sinus P still fires, hidden in the PVC and not conducted, and
    the next sinus beat comes on time (compensatory pause), unless the PVC is interpolated between two sinus beats.
    Patterns: isolated, couplets, bigeminy (and trigeminy for PVCs). At least one premature beat of each
    labelled kind falls well inside the record.
    """
    n_max = int((seconds + _PAD_S + 2.0) / 0.2) + 4
    u_kind, u_couple, u_reset, u_sub, jitter, af_rr = (rng.random(n_max), rng.random(n_max), rng.random(n_max),
                                                       rng.random(n_max), rng.normal(0, 1, n_max),
                                                       rng.normal(0, 1, n_max))
    af_spread = rng.uniform(0.15, 0.32)
    start = -_PAD_S + rng.uniform(0.0, heart.rr)
    pvc_kinds = [k for k in heart.ventricular if k.startswith("pvc")]
    forced_at = {kind: 0.3 + rng.uniform(0.0, 0.5) * seconds for kind in ("pac", "pvc")}
    pac_period = 2 if heart.pac_pattern == "bigeminy" else None
    pvc_period = {"bigeminy": 2, "trigeminy": 3}.get(heart.pvc_pattern)

    def run(force: set[str]) -> _Beats:
        beats = _Beats()
        pending = set(force)
        s, last = start, "start"  # s: next sinus P (AF: next conducted QRS); last: the previous event
        last_p = start - heart.rr
        for k in range(n_max):
            if s > seconds + 1.0:
                break
            if heart.af:
                rr = max(0.3, heart.rr * math.exp(af_spread * af_rr[k] - af_spread ** 2 / 2))
            else:
                rr = max(0.35, heart.cycle(s, jitter[k]))
            # When a premature beat here would come: a PAC 10-60 % early, conducted once the previous T wave is
            # over (earlier it is blocked); a PVC after the previous T wave and, in sinus rhythm, before this
            # cycle's P wave is conducted, so that P is hidden in it.
            pac_pr = heart.pr + 0.04 * u_reset[k] if heart.pr > 0.2 else min(heart.pr + 0.04 * u_reset[k], 0.195)
            at: dict[str, float] = {}
            qt_prev = refractory = 0.0
            if beats.vent_t:
                last_v = beats.vent_t[-1]
                prev = heart.ventricular[beats.vent_kind[-1]]
                qt_prev = float(heart.qt(np.array(beats.vent_rr[-1] if len(beats.vent_rr) > 1 else heart.rr)))
                qt_prev += prev.qt_extra
                refractory = last_v + qt_prev + 0.02
                at["pac"] = max(last_p + (0.4 + 0.5 * u_couple[k]) * rr, refractory - pac_pr)
                if heart.af:
                    at["pvc"] = last_v + max(0.3, (0.5 + 0.25 * u_couple[k]) * rr)
                else:
                    lo, hi = max(qt_prev + 0.03, 0.3), s - last_v - 0.02
                    if hi <= lo:  # fast rates: on the end of the T wave (refractoriness shortens with rate), and
                        # it may follow the sinus P closely
                        lo = max(qt_prev - 0.04, 0.26)
                        hi = min(s + heart.pr - 0.03 - last_v, lo + 0.03)
                    if hi > lo:
                        at["pvc"] = last_v + lo + u_couple[k] * (hi - lo)
            want = ""
            if heart.pvc and "pvc" in at and (
                    (last == "sinus" and (u_kind[k] < heart.pvc if pvc_period is None else k % pvc_period == 0))
                    or (last == "pvc" and heart.pvc_pattern == "couplets" and u_sub[k] < 0.5)):
                want = "pvc"
            elif heart.pac and "pac" in at and (
                    (last == "sinus" and (u_kind[k] > 1 - heart.pac if pac_period is None else k % 2 == 0))
                    or (last == "pac" and heart.pac_pattern == "couplets" and u_sub[k] < 0.5)):
                want = "pac"
            due = [kind for kind in sorted(pending) if kind in at and at[kind] >= forced_at[kind]]
            forced = bool(due) and last == "sinus"
            if forced:
                want = due[0]
                pending.discard(want)
            pvc_kind = pvc_kinds[int(u_reset[k] * len(pvc_kinds))] if pvc_kinds else ""
            if heart.af:
                if want == "pvc":
                    beats.ventricle(at["pvc"], pvc_kind)
                    s = at["pvc"] + rr * (1.0 + 0.3 * u_reset[k])
                else:
                    beats.ventricle(s, "conducted")
                    s += rr
            elif want == "pac":  # the ectopic focus resets the sinus node: a non-compensatory pause
                p_at, kind = at["pac"], "conducted"
                if not forced and u_sub[k] < heart.pac_blocked:  # in the ST-T, the AV node still refractory
                    lo = max(last_p + 0.28, beats.vent_t[-1] + 0.45 * qt_prev)
                    p_at = min(lo + u_couple[k] * max(refractory - pac_pr - 0.02 - lo, 0.0), last_p + 0.9 * rr)
                    kind = ""
                elif not forced and "aberrant" in heart.ventricular and u_sub[k] < heart.pac_aberrant:
                    p_at = max(refractory - pac_pr, last_p + 0.4 * rr)  # early: the right bundle is refractory
                    kind = "aberrant"
                beats.atrium(p_at, "pac")
                if kind:
                    beats.ventricle(p_at + pac_pr, kind)
                else:
                    beats.blocked_pac_t.append(p_at)
                # The pause: one cycle plus the time to reach and reset the node, less than two cycles in all.
                early = (p_at - last_p) / rr
                last_p, s = p_at, p_at + rr * (1.0 + u_reset[k] * min(0.12, max(0.0, 0.92 - early)))
            elif want == "pvc":
                t_pvc = at["pvc"]
                beats.ventricle(t_pvc, pvc_kind)
                interpolated = u_sub[k] < heart.pvc_interpolated
                delay = 0.04 + 0.08 * u_couple[k]  # concealed retrograde conduction lengthens the next PR
                if interpolated and s + heart.pr + delay - t_pvc >= 0.42:
                    beats.atrium(s, "sinus")  # interpolated: the sinus beat conducts after the PVC, no pause
                    beats.ventricle(s + heart.pr + delay, "conducted")
                    last_p, s = s, s + rr
                else:  # the sinus node fires on time into refractory ventricles: compensatory pause
                    beats.atrium(s, "sinus")
                    last_p, s = s, s + rr
                    if s + heart.pr < t_pvc + 0.34:  # a fast sinus P may also fall in the PVC's refractory time
                        beats.atrium(s, "sinus")
                        last_p, s = s, s + heart.cycle(s, jitter[k - 1])
            else:
                beats.atrium(s, "sinus")
                beats.ventricle(s + heart.pr + 0.002 * jitter[k], "conducted")
                last_p, s = s, s + rr
            last = want or "sinus"
        return beats

    force: set[str] = set()
    for _ in range(4):
        beats = run(force)
        missing = {kind for kind, rate in (("pac", heart.pac), ("pvc", heart.pvc))
                   if rate and not beats.visible(kind, seconds)}
        if not missing:
            break
        force |= missing
        for kind in missing:  # force it, earlier each time it still lands outside
            forced_at[kind] = 0.3 + 0.5 * (forced_at[kind] - 0.3)
    return beats


# ---------------------------------------------------------------------------------------------------------------
# Rendering: dipole, atrial fibrillation, electrode noise

def _render(heart: _Heart, beats: _Beats, n: int, fs: int) -> np.ndarray:
    """The heart's dipole (3, n): every wave of every beat, vectorised per beat kind, summed by bincount."""
    total = int(round((_PAD_S + 2.0) * fs)) + n
    positions: list[np.ndarray] = []
    weights: list[np.ndarray] = []

    def gaussians(times: np.ndarray, waves: _Waves, qt: np.ndarray, gain: np.ndarray) -> None:
        centre = times[:, None] + waves.c0 + waves.c1 * qt[:, None]  # (beats, waves)
        sigma = waves.s0 + waves.s1 * qt[:, None]
        half = int(math.ceil(4 * sigma.max() * fs))
        pos = np.rint((centre + _PAD_S) * fs).astype(np.int64)[..., None] + np.arange(-half, half + 1)
        g = np.exp(-0.5 * ((pos / fs - _PAD_S - centre[..., None]) / sigma[..., None]) ** 2)
        positions.append(pos.ravel())
        weights.append(np.einsum("bkw,bkd->dbkw", g, gain[:, None, None] * waves.vec[None]).reshape(3, -1))

    for kind, waves in heart.atrial.items():
        times = np.array([t for t, k in zip(beats.atrial_t, beats.atrial_kind) if k == kind])
        if times.size:
            gaussians(times, waves, np.zeros_like(times), np.ones_like(times))
    vent_t = np.array(beats.vent_t)
    rr = np.nan_to_num(np.array(beats.vent_rr), nan=heart.rr)
    kinds = np.array(beats.vent_kind)
    gain_all = 1.0 + heart.resp_gain * np.sin(2 * math.pi * heart.resp_hz * vent_t + heart.resp_phase)
    for kind, waves in heart.ventricular.items():
        sel = kinds == kind
        if not sel.any():
            continue
        times, qt = vent_t[sel], heart.qt(rr[sel]) + waves.qt_extra
        gaussians(times, waves, qt, gain_all[sel])
        # ST segment: secondary (bundle branch block, PVC) plus the injury current, from the J point to T's end.
        j, t_peak, end = times + waves.qrs, times + waves.c1.max() * qt, times + qt
        length = int(math.ceil((1.2 * qt.max() - waves.qrs + 0.02) * fs)) + 1
        pos = np.rint((j - 0.01 + _PAD_S) * fs).astype(np.int64)[:, None] + np.arange(length)
        shape = _st_shape(pos / fs - _PAD_S, j[:, None], t_peak[:, None], end[:, None], heart.st_slope)
        positions.append(pos.ravel())
        weights.append((waves.st + heart.injury)[:, None] * shape.ravel()[None, :])

    pos = np.concatenate(positions)
    w = np.concatenate(weights, axis=1)
    keep = (pos >= 0) & (pos < total)
    start = int(round(_PAD_S * fs))
    return np.stack([np.bincount(pos[keep], weights=w[d, keep], minlength=total)[start:start + n]
                     for d in range(3)])


def _slow_noise(rng: np.random.Generator, rows: int, n: int, fs: float, hz: float) -> np.ndarray:
    """Unit-variance random signals (rows, n) with content below about `hz`: knots every 1/(2 hz) s, smoothed."""
    step = max(1, int(fs / (2 * hz)))
    knots = rng.normal(0, 1, (rows, n // step + 4))
    kernel = np.array([0.25, 0.5, 0.25])
    knots = np.apply_along_axis(np.convolve, 1, knots, kernel, "same") / math.sqrt(0.375)
    x = np.arange(n) / step + 1.0
    out = np.empty((rows, n))
    for r in range(rows):
        out[r] = np.interp(x, np.arange(knots.shape[1]), knots[r])
    return out


def _f_waves(rng: np.random.Generator, leads: np.ndarray, n: int, fs: int) -> tuple[np.ndarray, float, float]:
    """Fibrillatory atrial activity (3, n): 4-9 Hz waves of wandering rate and size, clearest in V1 and II."""
    f0 = rng.uniform(4.0, 9.0)
    freq = np.clip(f0 + rng.uniform(0.2, 0.6) * _slow_noise(rng, 1, n, fs, 0.5)[0], 4.0, 9.0)
    phase = 2 * math.pi * np.cumsum(freq) / fs + rng.uniform(0, 2 * math.pi)
    envelope = np.clip(1 + 0.3 * _slow_noise(rng, 2, n, fs, 1.0), 0.3, None)
    size = rng.uniform(0.025, 0.09)  # mV, about the wave's half peak-to-peak in V1
    dipole = np.zeros((3, n))
    for r, lead, share in ((0, "V1", 1.0), (1, "II", rng.uniform(0.5, 0.9))):
        direction = _jitter(rng, leads[_LEAD[lead]], 15)
        harmonic = rng.uniform(0.1, 0.4)
        wave = np.sin(phase + r * rng.uniform(0.5, 2.0)) + harmonic * np.sin(2 * phase + rng.uniform(0, 6.3))
        amp = share * size / ((1 + harmonic) * abs(leads[_LEAD[lead]] @ direction))
        dipole += amp * direction[:, None] * (envelope[r] * wave)[None, :]
    return dipole, f0, size


@lru_cache(maxsize=4)
def _emg_filter(fs: int) -> np.ndarray:
    return sps.butter(2, [20.0, min(150.0, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")


def _noise(rng: np.random.Generator, heart: _Heart, n: int, fs: int) -> tuple[np.ndarray, dict]:
    """Electrode noise (8 recorded leads, mV) at clinical levels: each of the 9 electrodes (RA, LA, LL, V1-V6)
    wanders with breathing and skin potential drift, picks up muscle (more on the limbs) and mains hum, and now
    and then moves (a motion burst); leads see the differences, as in a real electrocardiograph."""
    t = np.arange(n) / fs
    # How noisy this recording is overall (now and then nearly clean), and which kinds it has at all.
    level = rng.lognormal(0, 0.55) * (0.1 if rng.random() < 0.08 else 1.0)
    present = rng.random(4) < np.array([0.85, 0.85, 0.8, 0.55])
    resp = rng.uniform(0.003, 0.05) * level * present[0]
    drift = rng.uniform(0.01, 0.08) * level * present[1]
    emg = rng.uniform(0.0012, 0.006) * level * present[2]
    mains_hz = 50.0 if rng.random() < 0.7 else 60.0
    mains = rng.exponential(0.004) * level * present[3]
    e = rng.normal(0, resp, (9, 1)) * np.sin(2 * math.pi * heart.resp_hz * t + heart.resp_phase
                                             + rng.uniform(-0.6, 0.6, (9, 1)))
    e += drift * rng.uniform(0.3, 1.0, (9, 1)) * _slow_noise(rng, 9, n, fs, 0.3)
    muscle = sps.sosfilt(_emg_filter(fs), rng.normal(0, 1, (9, n + fs)), axis=1)[:, fs:]
    muscle *= np.exp(0.5 * _slow_noise(rng, 9, n, fs, 0.5)) / (muscle.std() + 1e-12)
    e += emg * np.array([1.6, 1.6, 1.6, 1, 1, 1, 1, 1, 1])[:, None] * muscle
    e += mains * rng.uniform(0, 1, (9, 1)) * np.sin(2 * math.pi * mains_hz * t + rng.uniform(0, 6.3, (9, 1)))
    bursts = int(rng.random() < 0.2) + int(rng.random() < 0.05)
    for _ in range(bursts):
        m = min(n, int(rng.uniform(0.3, 1.5) * fs))
        at = int(rng.integers(0, n - m + 1))
        e[rng.integers(9), at:at + m] += (rng.uniform(0.1, 0.5) * np.hanning(m)
                                          * _slow_noise(rng, 1, m, fs, rng.uniform(2, 6))[0])
    leads = _ELECTRODES_TO_LEADS @ e + rng.normal(0, 0.0008, (8, n))
    return leads, {"noise_level": float(level), "baseline_mv": float(resp + drift), "emg_mv": float(emg),
                   "mains_hz": mains_hz, "mains_mv": float(mains), "motion_bursts": bursts}


def _recording_filter(rng: np.random.Generator, leads: np.ndarray, fs: int, mains_hz: float
                      ) -> tuple[np.ndarray, dict]:
    """The electrocardiograph's band-pass: diagnostic (0.05-150 Hz), monitoring (0.5-40 Hz) or in between, below
    the Nyquist frequency of the written rate, and sometimes a mains notch. Zero-phase, as digital carts apply it."""
    mode = str(rng.choice(["diagnostic", "monitoring", "other"], p=[0.55, 0.25, 0.2]))
    if mode == "diagnostic":
        high, low = 0.05, rng.uniform(100.0, 150.0)
    elif mode == "monitoring":
        high, low = rng.uniform(0.3, 0.67), rng.uniform(35.0, 45.0)
    else:
        high, low = rng.uniform(0.05, 0.5), rng.uniform(40.0, 150.0)
    low = min(float(low), 0.45 * fs)
    sos = np.vstack([sps.butter(1, high, btype="highpass", fs=fs, output="sos"),
                     sps.butter(2, low, fs=fs, output="sos")])
    leads = sps.sosfiltfilt(sos, leads, axis=1)
    notch = rng.random() < 0.3 and mains_hz < low
    if notch:
        b, a = sps.iirnotch(mains_hz, 30.0, fs=fs)
        leads = sps.filtfilt(b, a, leads, axis=1)
    return leads, {"filter": mode, "highpass_hz": float(high), "lowpass_hz": low,
                   "notch_hz": mains_hz if notch else None}


def _electrode_swap(rng: np.random.Generator, leads: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Now and then electrodes are misplaced; the labels stay those of the patient. LA/RA reversal inverts I and
    turns II into III; LA/LL exchanges I and II (III inverted); V1/V2 exchanges those two precordial leads."""
    u = rng.random()
    swap = "LA/RA" if u < 0.025 else "LA/LL" if u < 0.032 else "V1/V2" if u < 0.042 else None
    if swap is None:
        return leads, None
    out = leads.copy()
    if swap == "LA/RA":
        out[0], out[1] = -leads[0], leads[1] - leads[0]
    elif swap == "LA/LL":
        out[0], out[1] = leads[1], leads[0]
    else:
        out[2], out[3] = leads[3], leads[2]
    return out, swap


# Sampling rates written to the records (Hz) and how often: the challenge's sources and common carts.
SAMPLING_RATES = {250: 0.12, 257: 0.08, 360: 0.12, 500: 0.53, 1000: 0.15}


def sample_fs(rng: np.random.Generator) -> int:
    """A sampling rate for a generated record: the rate must carry no label, so training sees several."""
    rates = list(SAMPLING_RATES)
    return rates[rng.choice(len(rates), p=np.array(list(SAMPLING_RATES.values())))]


# ---------------------------------------------------------------------------------------------------------------
# Records

def generate_record(rng: np.random.Generator, labels: Sequence[str], seconds: float, fs: int = 500, *,
                    noise: bool = True) -> tuple[np.ndarray, dict]:
    """One 12-lead record (12, n) float32 mV in standard lead order, with its metadata (patient, rhythm,
    intervals, axis). Leads I, II and V1-V6 are rounded to 1 uV before III, aVR, aVL, aVF are derived from
    them, so the limb-lead identities hold to one count in the written int16 samples. noise=False gives the
    clean signal for measurements: no electrode noise, no recording filter, no electrode swap."""
    labels = list(labels)
    if not compatible(labels):
        raise ValueError(f"labels {labels} are not a compatible set of {CLASSES}")
    n = int(round(seconds * fs))
    if seconds < 4.0 or fs < 100:
        raise ValueError(f"need at least 4 s at 100 Hz or more, got {seconds} s at {fs} Hz")
    age = int(np.clip(rng.normal(61, 17), 18, 95))
    sex = "Male" if rng.random() < 0.54 else "Female"
    heart = _draw_heart(rng, labels, age, sex == "Female")
    beats = _schedule(rng, heart, seconds)
    dipole = _render(heart, beats, n, fs)
    meta: dict = {}
    if heart.af:
        f_dipole, meta["f_wave_hz"], meta["f_wave_mv"] = _f_waves(rng, heart.leads, n, fs)
        dipole += f_dipole
    leads = heart.dower @ dipole
    if noise:
        extra, noise_meta = _noise(rng, heart, n, fs)
        leads += extra
        meta.update(noise_meta)
        leads, filter_meta = _recording_filter(rng, leads, fs, noise_meta["mains_hz"])
        meta.update(filter_meta)
        leads, meta["electrode_swap"] = _electrode_swap(rng, leads)
    counts = np.clip(np.rint(leads * 1000.0), -16000, 16000)  # derived leads stay inside int16
    signal = (_DERIVE @ counts / 1000.0).astype(np.float32)

    inside = [(t, k) for t, k in zip(beats.vent_t, beats.vent_kind) if 0 <= t < seconds]
    rr = np.diff([t for t, _ in inside])
    conducted = heart.ventricular["conducted"]
    qt = float(heart.qt(np.array(heart.rr))) + conducted.qt_extra
    meta = {
        "labels": labels, "age": age, "sex": sex, "seconds": n / fs, "fs": fs,
        "rhythm": "atrial fibrillation" if heart.af else "sinus",
        "heart_rate": float(60.0 / rr.mean()) if rr.size else 60.0 / heart.rr,
        "pr_ms": None if heart.af else round(heart.pr * 1000, 1),
        "qrs_ms": round(conducted.qrs * 1000, 1), "qt_ms": round(qt * 1000, 1),
        "qtc_ms": round(qt / math.sqrt(heart.rr) * 1000, 1), "axis_deg": round(heart.axis, 1),
        "pac_beats": sum(bool(k == "pac" and 0 <= t < seconds) for t, k in zip(beats.atrial_t, beats.atrial_kind)),
        "pvc_beats": sum(k.startswith("pvc") for _, k in inside),
        # Where the abnormal beats are (s from the record's start), for checking explanations against the truth:
        # pac_times_s: P-wave onsets of every PAC, conducted (narrow or aberrant) or blocked; blocked_pac_times_s:
        # the subset that reached no ventricle (the P in the T wave and the pause after it are the evidence);
        # aberrant_pac_times_s: QRS onsets of PACs conducted with a wide QRS; pvc_times_s: QRS onsets of PVCs
        # (interpolated ones included); af_segments_s: the f-wave stretches of AF.
        "pac_times_s": [round(float(t), 4) for t, k in zip(beats.atrial_t, beats.atrial_kind)
                        if k == "pac" and 0 <= t < seconds],
        "blocked_pac_times_s": [round(float(t), 4) for t in beats.blocked_pac_t if 0 <= t < seconds],
        "aberrant_pac_times_s": [round(float(t), 4) for t, k in inside if k == "aberrant"],
        "pvc_times_s": [round(float(t), 4) for t, k in inside if k.startswith("pvc")],
        "af_segments_s": [[0.0, n / fs]] if heart.af else [],
        "pvc_pattern": heart.pvc_pattern if heart.pvc else None,
        "pac_pattern": heart.pac_pattern if heart.pac else None, "st_leads": heart.st_leads, **meta,
    }
    return signal, meta


def _record_rng(seed: int, index: int) -> np.random.Generator:
    """Record `index` of a seed has its own stream, so it is the same however many records are generated."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def generate_dataset(out_dir: str | Path, n: int, seed: int, min_seconds: float = 6.0, max_seconds: float = 60.0,
                     prefix: str = "S", snomed: bool = False) -> list[str]:
    """Write n records PREFIX00001.hea/.mat ... into out_dir (CinC 2020 format); return their names.

    Record i depends only on (seed, i); durations outside [min_seconds, max_seconds] are clipped to it. With
    snomed the #Dx lines hold SNOMED CT codes (labels.CLASS_TO_SNOMED) instead of class names, as the CinC 2020
    release writes them: the same records, labelled for --classes cinc2020.
    """
    if n < 0 or not 4.0 <= min_seconds <= max_seconds:
        raise ValueError(f"need n >= 0 and 4 <= min_seconds <= max_seconds, got {n}, {min_seconds}, {max_seconds}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for i in tqdm(range(n), desc="synthetic records", unit="rec", disable=not log.progress_bars()):
        rng = _record_rng(seed, i)
        labels = sample_labels(rng)
        seconds = float(np.clip(sample_seconds(rng), min_seconds, max_seconds))
        signal, meta = generate_record(rng, labels, seconds, fs=sample_fs(rng))
        name = f"{prefix}{i + 1:05d}"
        written = [CLASS_TO_SNOMED[c] for c in labels] if snomed else labels
        write_record(out, name, signal, fs=meta["fs"], age=meta["age"], sex=meta["sex"], labels=written)
        names.append(name)
    return names


_PRINT_LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))


def plot_classes(path: str | Path, seed: int = 0, seconds: float = 10.0) -> None:
    """Draw one record per class as a 12-lead printout (3 x 4 leads of 2.5 s and a lead II rhythm strip, on a
    0.2 s x 0.5 mV grid at 25 mm/s and 10 mm/mV), nine panels in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 3, figsize=(30, 15.5))
    row_gap = 3.2
    for c, (cls, ax) in enumerate(zip(CLASSES, axes.ravel())):
        signal, meta = generate_record(_record_rng(seed, c), [cls], seconds)
        fs = meta["fs"]
        t = np.arange(signal.shape[1]) / fs
        bottom, top = -3 * row_gap - 1.8, 1.8
        for x in np.arange(-0.4, seconds + 1e-9, 0.2):
            ax.axvline(x, color="#f4b6b6", lw=0.5, zorder=0)
        for y in np.arange(math.floor(bottom * 2) / 2, top + 1e-9, 0.5):
            ax.axhline(y, color="#f4b6b6", lw=0.5, zorder=0)
        rows = [*_PRINT_LAYOUT, ("II",)]
        for r, leads in enumerate(rows):
            y0 = -r * row_gap
            ax.plot([-0.4, -0.35, -0.35, -0.15, -0.15, -0.1], [y0, y0, y0 + 1, y0 + 1, y0, y0], color="k", lw=0.9)
            width = seconds / len(leads)
            for k, lead in enumerate(leads):
                sel = (t >= k * width) & (t < (k + 1) * width)
                trace = signal[STANDARD_LEADS.index(lead), sel]
                ax.plot(t[sel], y0 + np.clip(trace, -row_gap / 2 - 0.2, row_gap / 2 + 0.2), color="k", lw=0.7)
                ax.text(k * width + 0.05, y0 + 0.75, lead, fontsize=10, fontweight="bold")
                if k:
                    ax.plot([k * width] * 2, [y0 - 0.3, y0 + 0.3], color="k", lw=0.9)
        pr = "no P (f-waves)" if meta["pr_ms"] is None else f"PR {meta['pr_ms']:.0f} ms"
        ax.set_title(f"{cls}:  {meta['heart_rate']:.0f} bpm, {pr}, QRS {meta['qrs_ms']:.0f} ms, "
                     f"QT {meta['qt_ms']:.0f} ms, axis {meta['axis_deg']:.0f}\N{DEGREE SIGN}, "
                     f"{meta['sex'].lower()} {meta['age']}", fontsize=12, loc="left")
        ax.set_xlim(-0.45, seconds)
        ax.set_ylim(bottom, top)
        ax.set_aspect(0.4)  # 25 mm/s and 10 mm/mV: one mV is as tall as 0.4 s is wide
        ax.set_xticks(np.arange(0, seconds + 1e-9, 1.0))
        ax.set_xticklabels([f"{s:g} s" for s in np.arange(0, seconds + 1e-9, 1.0)], fontsize=8)
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.suptitle(f"Synthetic 12-lead ECGs, one per class (simulators.synth, seed {seed}).  25 mm/s, 10 mm/mV; "
                 "grid 0.2 s x 0.5 mV; calibration pulse 1 mV", fontsize=15)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """python -m simulators.synth OUT_DIR --n N --seed S | python -m simulators.synth --plot FILE.png [--seed S]"""
    parser = argparse.ArgumentParser(prog="python -m simulators.synth", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", nargs="?", help="directory for the NAME.hea/NAME.mat records")
    parser.add_argument("--n", type=int, default=100, help="number of records (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--min-seconds", type=float, default=6.0, help="shortest record (default 6 s)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="longest record (default 60 s)")
    parser.add_argument("--prefix", default="S", help="record name prefix (default S)")
    parser.add_argument("--snomed", action="store_true",
                        help="write SNOMED CT codes in the #Dx lines, as the CinC 2020 release does")
    parser.add_argument("--plot", metavar="FILE.png", help="draw one record per class, 12 leads, into FILE.png")
    log.add_arguments(parser, quiet_help="no progress bar")
    args = parser.parse_args(argv)
    log.configure(quiet=args.quiet, verbose=args.verbose)
    if args.out_dir is None and args.plot is None:
        parser.error("give OUT_DIR, --plot FILE.png, or both")
    if args.plot:
        plot_classes(args.plot, seed=args.seed)
    if args.out_dir:
        try:
            generate_dataset(args.out_dir, args.n, args.seed, args.min_seconds, args.max_seconds, args.prefix,
                             args.snomed)
        except ValueError as err:
            parser.error(str(err))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
