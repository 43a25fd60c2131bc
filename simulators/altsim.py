"""An independent 12-lead ECG simulator of the nine CPSC 2018 classes, used only as a held-out test bed.

It exists only to test whether models trained on simulators.synth generalise: a classifier that learned the
classes as physiology should score well here too, one that learned quirks of synth should not. It was written
without reading simulators.synth, from the clinical definitions alone, and models the ECG differently on purpose:

* no heart dipole: each independent lead (I, II, V1-V6) is drawn from per-lead templates, i.e. sums of
  asymmetric raised-cosine deflections (P, q, R, S, R', notches, T, U) whose amplitudes come from clinical
  per-lead normal ranges (R/S progression across V1-V6, septal q in lateral leads, biphasic P in V1);
* a sinus rhythm with respiratory sinus arrhythmia and an LF/HF tachogram (ECGSYN-style spectrum), lognormal
  independent RR in AF, explicit atrial and ventricular clocks for ectopic beats and their pauses;
* noise at the electrodes (RA, LA, LL, V1-V6), so one electrode's pop or tremor shows up in every lead that
  uses it: respiratory and random-walk baseline wander, pink-spectrum EMG with bursts, mains hum with a third
  harmonic, step-like electrode pops and motion bursts, sometimes a device low-pass filter.

III, aVR, aVL and aVF are derived from I and II as an electrocardiograph does.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.signal
from tqdm import tqdm

from team_code import log
from team_code.io.records import write_record
from team_code.labels import CLASSES

# The leads an electrocardiograph measures; the other four are computed from I and II.
INDEPENDENT_LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
_I, _II = 0, 1
_N_LEADS = len(INDEPENDENT_LEADS)


def _v(k: int) -> int:
    """Row of precordial lead Vk among INDEPENDENT_LEADS."""
    return 1 + k


# Label pairs a clinician would accept on one ECG: Normal goes alone, AF has no PR (so no I-AVB) and no PACs,
# the two bundle branch blocks exclude each other, and an LBBB's own ST-T changes hide ischaemic ST shifts.
COMPATIBLE_PAIRS: frozenset[frozenset[str]] = frozenset(frozenset(p) for p in [
    ("AF", "RBBB"), ("AF", "LBBB"), ("AF", "PVC"), ("AF", "STD"),
    ("I-AVB", "RBBB"), ("I-AVB", "LBBB"), ("I-AVB", "PVC"), ("I-AVB", "STD"), ("I-AVB", "PAC"),
    ("LBBB", "PVC"), ("LBBB", "PAC"), ("RBBB", "PAC"), ("RBBB", "PVC"), ("RBBB", "STD"), ("RBBB", "STE"),
    ("PAC", "PVC"), ("PAC", "STD"), ("PAC", "STE"), ("PVC", "STD"), ("PVC", "STE"),
])
MIN_SECONDS = 4.0  # room for an ectopic beat and the pause after it
MIN_SECONDS_TWO_ECTOPICS = 8.0  # room for a PAC and a PVC with normal beats around each
SECOND_LABEL_PROBABILITY = 0.12


class Wave(NamedTuple):
    """One deflection: an asymmetric raised cosine peaking `peak` s after its anchor, `amp` mV high."""

    peak: float
    left: float
    right: float
    amp: float
    sharp: float = 1.0  # exponent > 1 narrows the tip (R waves)


@dataclass
class Complex:
    """One beat type. P waves are timed from P onset, QRS waves from QRS onset; one list per independent lead."""

    p: list[list[Wave]]
    qrs: list[list[Wave]]
    qrs_s: float
    t_amp: np.ndarray  # (8,) mV
    t_s: float  # T wave duration at RR = 1 s
    t_peak_fraction: float  # where the T peak sits in the T wave (> 0.5: slow upstroke, steep downstroke)
    st: np.ndarray  # (8,) ST level in mV relative to the PR segment
    u_amp: np.ndarray  # (8,)
    qtc_s: float  # QT at RR = 1 s; QT follows RR by Fridericia's cube root
    fixed_qt_s: float | None = None  # ectopic ventricular beats: QT set by the wide QRS, not by RR


class Beat(NamedTuple):
    """A QRS onset at `qrs` s (None for a blocked P) with its P onset (None without P) and the RR before it."""

    qrs: float | None
    p: float | None
    kind: str  # "sinus", "af", "pac", "pvc", "blocked"
    rr_before: float


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _chance(rng: np.random.Generator, p: float) -> bool:
    return bool(rng.random() < p)


# ---------------------------------------------------------------------------------------------------------------
# Per-lead templates

# Average adult R, S and T amplitudes (mV) across V1-V6; scaled and shifted per record.
_PRECORDIAL_R = np.array([0.2, 0.45, 0.8, 1.2, 1.25, 1.0])
_PRECORDIAL_S = np.array([0.9, 1.35, 0.95, 0.55, 0.3, 0.15])
_PRECORDIAL_T = np.array([0.05, 0.45, 0.5, 0.45, 0.35, 0.25])


def _limb_share(axis_deg: float, lead_deg: float) -> float:
    """How much of a frontal-plane axis a limb lead shows, for amplitude tables (the hexaxial rule)."""
    return float(np.cos(np.radians(axis_deg - lead_deg)))


def _two_part_p(rng: np.random.Generator, p_s: float, right_atrial: float, left_atrial: float) -> list[Wave]:
    """A P wave as the right atrial then the left atrial deflection, which overlap by about half."""
    split = _u(rng, 0.3, 0.4)  # right atrial peak, as a fraction of the P duration
    return [Wave(split * p_s, split * p_s, 0.3 * p_s, right_atrial),
            Wave((split + 0.25) * p_s, 0.35 * p_s, (0.75 - split) * p_s, left_atrial)]


def _sinus_p(rng: np.random.Generator, p_s: float) -> list[list[Wave]]:
    """Sinus P: upright in I, II and V2-V6, biphasic (positive then negative) in V1."""
    axis, amp = _u(rng, 30, 75), _u(rng, 0.1, 0.25)
    waves = [_two_part_p(rng, p_s, 0.7 * amp * _limb_share(axis, d), 0.7 * amp * _limb_share(axis, d))
             for d in (0, 60)]
    waves.append(_two_part_p(rng, p_s, _u(rng, 0.04, 0.08), -_u(rng, 0.02, 0.06)))
    waves.append(_two_part_p(rng, p_s, _u(rng, 0.03, 0.06), _u(rng, -0.01, 0.04)))
    for _ in range(4):
        a = _u(rng, 0.04, 0.1)
        waves.append(_two_part_p(rng, p_s, 0.7 * a, 0.7 * a))
    return waves


def _ectopic_p(rng: np.random.Generator, p_s: float) -> list[list[Wave]]:
    """A P from an ectopic atrial focus: another axis (often inverted in II) and other precordial shapes."""
    axis, amp = _u(rng, 120, 330), _u(rng, 0.06, 0.18)
    waves = [_two_part_p(rng, p_s, 0.5 * amp * _limb_share(axis, d), 0.6 * amp * _limb_share(axis, d))
             for d in (0, 60)]
    for _ in range(6):
        a = _u(rng, -0.08, 0.08)
        waves.append(_two_part_p(rng, p_s, a, _u(rng, -0.5, 1.0) * a))
    return waves


def _narrow_qrs(rng: np.random.Generator, d: float, axis: float, scale: float) -> list[list[Wave]]:
    """Normal conduction: q-R-s in the limb leads by axis, rS in V1 turning into qR in V6."""
    waves: list[list[Wave]] = []
    amp = scale * _u(rng, 0.8, 1.7)
    for lead_deg in (0, 60):
        share = _limb_share(axis, lead_deg)
        r = amp * (0.1 + 0.9 * max(share, 0.0)) * _u(rng, 0.9, 1.1)
        s = amp * (0.9 * max(-share, 0.0) + _u(rng, 0.0, 0.15))
        shift = _u(rng, -0.04, 0.04) * d
        lead = [Wave(0.42 * d + shift, 0.3 * d, 0.22 * d, r, 1.5), Wave(0.74 * d + shift, 0.17 * d, 0.2 * d, -s)]
        if share > 0.3 and _chance(rng, 0.7):
            lead.append(Wave(0.12 * d, 0.1 * d, 0.08 * d, -min(_u(rng, 0.02, 0.12), 0.25 * r)))
        waves.append(lead)
    chest = scale * _u(rng, 0.6, 1.6)
    zone = _u(rng, -0.8, 0.8)  # early or late R-wave transition
    r_amp = np.interp(np.arange(6) + zone, np.arange(6), _PRECORDIAL_R) * chest
    s_amp = np.interp(np.arange(6) + zone, np.arange(6), _PRECORDIAL_S) * chest
    for k in range(6):
        r, s = r_amp[k] * _u(rng, 0.85, 1.15), s_amp[k] * _u(rng, 0.85, 1.15)
        r_peak = (0.3 + 0.03 * k) * d  # the septal r of V1 comes early, the lateral R later
        lead = [Wave(r_peak, min(0.25 * d, r_peak), 0.22 * d, r, 1.5),
                Wave(r_peak + 0.3 * d, 0.18 * d, min(0.24 * d, 0.98 * d - r_peak - 0.3 * d), -s)]
        if k >= 4 and _chance(rng, 0.7):
            lead.append(Wave(0.1 * d, 0.09 * d, 0.08 * d, -min(_u(rng, 0.03, 0.12), 0.25 * r)))
        waves.append(lead)
    return waves


def _notched_r(rng: np.random.Generator, d: float, amp: float) -> list[Wave]:
    """Broad notched or slurred monophasic R of LBBB: two humps over the whole QRS, no septal q."""
    first, overlap = _u(rng, 0.7, 1.0), _u(rng, 0.28, 0.42) * d  # from a deep notch to a slurred plateau
    return [Wave(0.33 * d, 0.33 * d, overlap, first * amp), Wave(0.7 * d, overlap, 0.28 * d, amp)]


def _lbbb_qrs(rng: np.random.Generator, d: float, scale: float) -> tuple[list[list[Wave]], np.ndarray, np.ndarray]:
    """LBBB: broad notched R in I, aVL, V5-V6 without q; QS or rS in V1-V3; ST-T discordant to the QRS.

    Returns (QRS waves, T amplitudes, ST levels).
    """
    amp = scale * _u(rng, 0.6, 1.6)
    inferior = _u(rng, -0.5, 0.9)  # lead II relative to lead I; aVL = I - II/2 stays a broad positive R
    lead_i = _notched_r(rng, d, amp)
    lead_ii = [w._replace(amp=w.amp * inferior * _u(rng, 0.8, 1.2)) for w in _notched_r(rng, d, amp)]
    waves = [lead_i, lead_ii]
    t = np.zeros(_N_LEADS)
    st = np.zeros(_N_LEADS)
    t[_I], st[_I] = -_u(rng, 0.15, 0.45) * min(amp, 1.2), -_u(rng, 0.03, 0.1)
    t[_II], st[_II] = -0.3 * inferior * min(amp, 1.2), -0.06 * inferior
    chest = scale * _u(rng, 0.8, 1.6)
    for k in range(1, 7):
        if k <= 3:  # QS or rS: a tiny early r at most, then a deep broad S
            s = chest * _u(rng, 1.0, 2.0) * (1.2 if k == 2 else 1.0)
            lead = [Wave(0.5 * d, 0.38 * d, 0.45 * d, -s, 1.0)]
            if _chance(rng, 0.6):
                lead.append(Wave(0.1 * d, 0.08 * d, 0.1 * d, _u(rng, 0.03, 0.15)))
            t[_v(k)], st[_v(k)] = _u(rng, 0.2, 0.5) * min(s, 1.6), _u(rng, 0.04, 0.15) * min(s, 1.5) / 1.5
        elif k == 4:  # transition: broad R then broad S
            lead = [Wave(0.3 * d, 0.28 * d, 0.22 * d, chest * _u(rng, 0.2, 0.7), 1.2),
                    Wave(0.68 * d, 0.2 * d, 0.3 * d, -chest * _u(rng, 0.3, 1.2))]
            t[_v(k)], st[_v(k)] = _u(rng, -0.1, 0.2), _u(rng, -0.02, 0.05)
        else:
            r = chest * _u(rng, 0.6, 1.4)
            lead = _notched_r(rng, d, r)
            t[_v(k)], st[_v(k)] = -_u(rng, 0.15, 0.4) * min(r, 1.2), -_u(rng, 0.03, 0.12)
        waves.append(lead)
    return waves, t, st


def _rbbb_qrs(rng: np.random.Generator, d: float, axis: float, scale: float
              ) -> tuple[list[list[Wave]], np.ndarray, np.ndarray]:
    """RBBB: rsR' in V1-V2, wide slurred S in I and V5-V6, T inverted in V1-V3.

    Returns (QRS waves, T amplitudes, ST levels).
    """
    waves: list[list[Wave]] = []
    amp = scale * _u(rng, 0.7, 1.5)
    slur = Wave(0.62 * d, 0.16 * d, 0.36 * d, 0.0)  # the late, slow right-ventricular activation
    for lead_deg, s_range in ((0, (0.2, 0.6)), (60, (0.1, 0.4))):
        share = _limb_share(axis, lead_deg)
        r = amp * (0.15 + 0.85 * max(share, 0.0))
        lead = [Wave(0.27 * d, 0.2 * d, 0.17 * d, r, 1.5), slur._replace(amp=-_u(rng, *s_range) * scale)]
        if share > 0.3 and _chance(rng, 0.7):
            lead.append(Wave(0.07 * d, 0.06 * d, 0.06 * d, -_u(rng, 0.02, 0.1)))
        waves.append(lead)
    chest = scale * _u(rng, 0.7, 1.4)
    for k in (1, 2):
        r_prime = chest * _u(rng, 0.5, 1.3) * (1.0 if k == 1 else 0.8)
        waves.append([Wave(0.13 * d, 0.1 * d, 0.1 * d, chest * _u(rng, 0.1, 0.35), 1.3),
                      Wave(0.38 * d, 0.11 * d, 0.12 * d, -chest * _u(rng, 0.15, 0.6) * k),
                      Wave(0.7 * d, 0.2 * d, 0.28 * d, r_prime, 1.2)])
    waves.append([Wave(0.25 * d, 0.2 * d, 0.16 * d, chest * _u(rng, 0.4, 0.9), 1.5),
                  Wave(0.55 * d, 0.15 * d, 0.25 * d, -chest * _u(rng, 0.4, 1.0)),
                  Wave(0.85 * d, 0.08 * d, 0.12 * d, chest * _u(rng, 0.0, 0.25))])
    for k in (4, 5, 6):
        r = chest * _u(rng, 0.7, 1.5) * (1.0, 1.0, 0.8)[k - 4]
        lead = [Wave(0.28 * d, 0.2 * d, 0.17 * d, r, 1.5), slur._replace(amp=-chest * _u(rng, 0.2, 0.6))]
        if k >= 5 and _chance(rng, 0.7):
            lead.append(Wave(0.07 * d, 0.06 * d, 0.06 * d, -_u(rng, 0.03, 0.1)))
        waves.append(lead)
    t = np.zeros(_N_LEADS)
    st = np.zeros(_N_LEADS)
    t[_I], t[_II] = _u(rng, 0.1, 0.35), _u(rng, 0.1, 0.35)
    for k, (low, high) in zip((1, 2, 3), ((0.1, 0.4), (0.1, 0.4), (0.05, 0.3))):
        t[_v(k)], st[_v(k)] = -_u(rng, low, high), -_u(rng, 0.0, 0.06)
    for k in (4, 5, 6):
        t[_v(k)] = _u(rng, 0.1, 0.4)
    return waves, t, st


def _pvc_complex(rng: np.random.Generator, scale: float, qtc: float) -> Complex:
    """A ventricular ectopic beat: wide bizarre QRS, no P, ST-T opposite to the main QRS deflection.

    A right-ventricular focus looks like LBBB in V1-V6 (negative in V1, positive in V6), a left-ventricular one
    like RBBB; the frontal axis depends on the site (outflow tract: inferior, apex: superior).
    """
    d = _u(rng, 0.15, 0.2)
    right_ventricle = _chance(rng, 0.6)
    axis = _u(rng, 60, 110) if _chance(rng, 0.5) else _u(rng, -100, -20)
    if not right_ventricle:
        axis = _u(rng, 100, 200) if _chance(rng, 0.5) else _u(rng, -100, -30)
    size = scale * _u(rng, 1.2, 2.6)
    main = [size * _limb_share(axis, 0), size * _limb_share(axis, 60)]
    transition = _u(rng, 2.0, 4.5)
    sign = 1.0 if right_ventricle else -1.0
    chest = scale * _u(rng, 1.1, 2.5)
    main += [sign * chest * np.tanh(0.9 * (k - transition)) for k in range(1, 7)]
    waves: list[list[Wave]] = []
    peak = _u(rng, 0.4, 0.55) * d
    sharp = _u(rng, 1.0, 1.3)
    for m in main:
        at = peak + _u(rng, -0.1, 0.1) * d  # the activation front reaches each lead's peak at its own time
        lead = [Wave(at, at, d - at - 0.04 * d, m, sharp),
                Wave(_u(rng, 0.6, 0.8) * d, 0.15 * d, 0.15 * d, _u(rng, -0.35, 0.35) * max(abs(m), 0.5 * size))]
        if _chance(rng, 0.5):
            lead.append(Wave(0.07 * d, 0.06 * d, 0.06 * d, -np.sign(m) * _u(rng, 0.05, 0.2)))
        waves.append(lead)
    # Secondary repolarisation: ST-T against the QRS area. One factor for I and II keeps the derived limb leads
    # discordant too.
    mean_qrs = np.array([sum(w.amp * (w.left + w.right) / 2 for w in lead) for lead in waves]) / (0.5 * d)
    factor = np.concatenate([np.full(2, _u(rng, 0.25, 0.4)), rng.uniform(0.25, 0.45, 6)])
    t = -np.clip(factor * mean_qrs, -1.0, 1.0)
    st = -np.clip(0.08 * mean_qrs, -0.2, 0.2)
    return Complex(p=[[] for _ in range(_N_LEADS)], qrs=waves, qrs_s=d, t_amp=t, t_s=_u(rng, 0.2, 0.28),
                   t_peak_fraction=_u(rng, 0.45, 0.6), st=st, u_amp=np.zeros(_N_LEADS), qtc_s=qtc,
                   fixed_qt_s=d + _u(rng, 0.24, 0.32))


def _normal_repolarisation(rng: np.random.Generator, axis: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """T amplitudes and ST levels of normal repolarisation: T concordant, ST flat (a hint of J in V2-V3)."""
    t = np.zeros(_N_LEADS)
    t_axis = float(np.clip(axis + rng.normal(0, 15), -10, 75))
    t_size = scale * _u(rng, 0.2, 0.5)
    t[_I], t[_II] = t_size * _limb_share(t_axis, 0), t_size * _limb_share(t_axis, 60)
    chest = scale * _u(rng, 0.6, 1.4)
    for k in range(1, 7):
        t[_v(k)] = _PRECORDIAL_T[k - 1] * chest * _u(rng, 0.8, 1.2)
    t[_v(1)] = _u(rng, -0.15, 0.2)
    st = rng.uniform(-0.02, 0.02, _N_LEADS)
    st[_v(2)], st[_v(3)] = _u(rng, 0.0, 0.05), _u(rng, 0.0, 0.04)
    return t, st


def _ischaemic_st(rng: np.random.Generator, kind: str, avoid_right_precordial: bool
                  ) -> tuple[dict[int, float], dict[int, float], str]:
    """ST levels and T-wave factors of an STD or STE pattern in a contiguous territory.

    Limb-lead levels are set on I and II so that the derived leads follow: e.g. inferior elevation in II with
    I near zero gives elevation in III and aVF and reciprocal depression in aVL. Returns (ST by row, T factor by
    row, territory).
    """
    st: dict[int, float] = {}
    tf: dict[int, float] = {}
    if kind == "STE":
        territories = ["inferior", "lateral"] + ([] if avoid_right_precordial else ["anterior", "anterior"])
        territory = str(rng.choice(territories))
        if territory == "anterior":
            for k in (2, 3):
                st[_v(k)] = _u(rng, 0.25, 0.5)
            if _chance(rng, 0.5):
                st[_v(1)] = _u(rng, 0.22, 0.4)
            if _chance(rng, 0.8):
                st[_v(4)] = _u(rng, 0.15, 0.4)
            if _chance(rng, 0.3):
                st[_v(5)] = _u(rng, 0.1, 0.3)
        elif territory == "inferior":
            level = _u(rng, 0.15, 0.3)
            st[_II], st[_I] = level, -_u(rng, 0.0, 0.15) * level
            if _chance(rng, 0.3):  # right ventricular or posterolateral extension
                st[_v(5)], st[_v(6)] = _u(rng, 0.1, 0.2), _u(rng, 0.1, 0.2)
        else:
            level = _u(rng, 0.16, 0.3)
            st[_I], st[_II] = level, _u(rng, 0.4, 0.7) * level
            if _chance(rng, 0.7):
                st[_v(5)], st[_v(6)] = _u(rng, 0.12, 0.3), _u(rng, 0.12, 0.3)
                if _chance(rng, 0.4):
                    st[_v(4)] = _u(rng, 0.12, 0.3)
        for row in st:
            if st[row] > 0.09:
                tf[row] = _u(rng, 1.3, 2.2)  # hyperacute T merging with the raised ST
        return st, tf, territory
    territories = ["lateral", "lateral", "inferior", "diffuse"] + ([] if avoid_right_precordial else ["anterior"])
    territory = str(rng.choice(territories))
    if territory == "lateral":
        for k in (4, 5, 6):
            st[_v(k)] = -_u(rng, 0.12, 0.3)
        if _chance(rng, 0.6):
            level = _u(rng, 0.12, 0.22)
            st[_I], st[_II] = -level, -_u(rng, 0.3, 0.7) * level
    elif territory == "inferior":
        level = _u(rng, 0.15, 0.3)
        st[_II], st[_I] = -level, -_u(rng, 0.2, 0.5) * level
    elif territory == "diffuse":  # subendocardial ischaemia: depression almost everywhere, aVR elevated
        for k in (3, 4, 5, 6):
            st[_v(k)] = -_u(rng, 0.12, 0.3)
        st[_I], st[_II] = -_u(rng, 0.1, 0.2), -_u(rng, 0.1, 0.2)
    else:  # anterior depression, e.g. reciprocal to a posterior infarct
        first = int(rng.integers(1, 3))
        for k in range(first, first + 3):
            st[_v(k)] = -_u(rng, 0.12, 0.3)
    for row in st:
        tf[row] = _u(rng, -0.8, 0.5) if territory != "anterior" else _u(rng, 0.8, 1.3)
    return st, tf, territory


# ---------------------------------------------------------------------------------------------------------------
# Rhythm

def _tachogram(rng: np.random.Generator, start: float, stop: float, relative_sd: float, resp_hz: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Relative RR modulation on a 4 Hz grid: Gaussian LF (0.1 Hz) and HF (respiratory) spectral peaks."""
    dt = 0.25
    n = int(np.ceil((stop - start) / dt)) + 64
    freqs = np.fft.rfftfreq(n, dt)
    lf_hf = _u(rng, 0.5, 2.0)
    sigma = 0.015
    power = (lf_hf * np.exp(-0.5 * ((freqs - _u(rng, 0.08, 0.12)) / sigma) ** 2)
             + np.exp(-0.5 * ((freqs - resp_hz) / sigma) ** 2))
    spectrum = np.sqrt(power) * np.exp(2j * np.pi * rng.random(freqs.size))
    series = np.fft.irfft(spectrum, n)
    series *= relative_sd / max(float(series.std()), 1e-12)
    return start + dt * np.arange(n), series


@dataclass
class Rhythm:
    """Rhythm parameters of one record."""

    rr_s: float
    pr_s: float
    af: bool
    pac: bool
    pvc: bool
    relative_sd: float
    resp_hz: float


def _ectopic_times(rng: np.random.Generator, first: float, last: float, rr: float) -> list[float]:
    """When ectopic beats of one kind are due between first and last: one to three singles, or a bigeminal run."""
    if _chance(rng, 0.2):
        start = _u(rng, first, max(first, last - 4 * rr))
        return [start + 2 * rr * i for i in range(int(rng.integers(2, 6))) if start + 2 * rr * i <= last]
    times = np.sort(rng.uniform(first, last, int(rng.integers(1, 4))))
    kept = [float(times[0])]
    for t in times[1:]:
        if t - kept[-1] > 2.5 * rr:
            kept.append(float(t))
    return kept


def _ectopic_plan(rng: np.random.Generator, kinds: list[str], seconds: float, rr: float) -> list[tuple[float, str]]:
    """Ectopic beats due, in time order: each kind at least once, a normal beat between two ectopic ones.

    With PACs and PVCs each kind gets its own part of the record (MIN_SECONDS_TWO_ECTOPICS makes room).
    """
    first, last = 1.0, seconds - max(1.8, 1.6 * rr)
    bounds = np.linspace(first, last, len(kinds) + 1)
    order = [str(k) for k in rng.permutation(kinds)]
    due = sorted((t, kind) for k, kind in enumerate(order) for t in _ectopic_times(rng, bounds[k], bounds[k + 1], rr))
    plan: list[tuple[float, str]] = []
    for t, kind in due:
        if plan and t - plan[-1][0] <= 1.8 * rr:
            if kind in {k for _, k in plan}:
                continue
            t = plan[-1][0] + 1.8 * rr + 0.01  # the first of a new kind waits for a normal beat
        plan.append((t, kind))
    return plan


def _schedule(rng: np.random.Generator, rhythm: Rhythm, seconds: float) -> list[Beat]:
    """Beat times from an atrial clock (sinus node, reset by PACs) and a ventricular one (PVCs, AF)."""
    start = -_u(rng, 0.6, 1.6) * rhythm.rr_s - 0.5
    grid, modulation = _tachogram(rng, start - 2, seconds + 4, rhythm.relative_sd, rhythm.resp_hz)
    kinds = [k for k, on in (("pac", rhythm.pac), ("pvc", rhythm.pvc)) if on]
    due = _ectopic_plan(rng, kinds, seconds, rhythm.rr_s) if kinds else []

    beats: list[Beat] = []
    atrial = start  # the last atrial depolarisation (sinus or ectopic)
    qrs = start + rhythm.pr_s
    beats.append(Beat(qrs, None if rhythm.af else start, "af" if rhythm.af else "sinus", rhythm.rr_s))
    pending_reset = 1.0
    while qrs < seconds + 0.5:
        if rhythm.af:  # irregularly irregular: independent intervals
            rr = float(np.clip(rhythm.rr_s * np.exp(rng.normal(0, rhythm.relative_sd)), 0.3, 2.2))
        else:
            rr = rhythm.rr_s * (1 + float(np.interp(atrial, grid, modulation)))
        next_kind = due[0][1] if due and qrs + rr >= due[0][0] else None
        if next_kind == "pvc":
            due.pop(0)
            earliest = max(0.45, 0.36 / rr)  # mostly after the preceding T wave
            latest = 1 - (rhythm.pr_s + 0.02) / rr if not rhythm.af else 0.75  # before the next sinus P conducts
            coupling = _u(rng, earliest, max(earliest, min(0.75, latest)))
            pvc = qrs + coupling * rr
            beats.append(Beat(pvc, None, "pvc", coupling * rr))
            if rhythm.af:
                qrs = pvc + rr * _u(rng, 1.1, 1.5)
                beats.append(Beat(qrs, None, "af", qrs - pvc))
            else:  # the sinus node goes on; its next P meets refractory ventricles: full compensatory pause
                atrial += rr
                beats.append(Beat(None, atrial, "blocked", rr))
                atrial += rr
                beats.append(Beat(atrial + rhythm.pr_s, atrial, "sinus", atrial + rhythm.pr_s - pvc))
                qrs = atrial + rhythm.pr_s
            continue
        if next_kind == "pac":
            due.pop(0)
            atrial += _u(rng, 0.55, 0.75) * rr
            pr = rhythm.pr_s + _u(rng, -0.02, 0.05)
            beats.append(Beat(atrial + pr, atrial, "pac", atrial + pr - qrs))
            qrs = atrial + pr
            pending_reset = _u(rng, 1.0, 1.08)  # the sinus node is reset: the pause is not compensatory
            continue
        if rhythm.af:
            beats.append(Beat(qrs + rr, None, "af", rr))
            qrs += rr
            continue
        atrial += rr * pending_reset
        pending_reset = 1.0
        pr = rhythm.pr_s + rng.normal(0, 0.003)
        beats.append(Beat(atrial + pr, atrial, "sinus", atrial + pr - qrs))
        qrs = atrial + pr
    return beats


def _fibrillatory_waves(rng: np.random.Generator, n: int, fs: float) -> np.ndarray:
    """AF f-waves, (8, n): a 4-9 Hz quasi-periodic wave with drifting rate and size, largest in V1 and II."""
    slow = scipy.signal.sosfiltfilt(scipy.signal.butter(2, 0.5, fs=fs, output="sos"), rng.normal(0, 1, n))
    slow /= max(float(np.abs(slow).max()), 1e-9)
    rate = _u(rng, 4.5, 8.5) + _u(rng, 0.2, 0.6) * slow
    phase = 2 * np.pi * np.cumsum(rate) / fs
    envelope = 1 + 0.35 * np.roll(slow, n // 3)
    size = _u(rng, 0.02, 0.06)
    lead_size = {_I: _u(rng, 0.05, 0.3), _II: _u(rng, 0.4, 0.8), _v(1): 1.0, _v(2): _u(rng, 0.5, 0.9),
                 _v(3): _u(rng, 0.3, 0.6), _v(4): _u(rng, 0.15, 0.4), _v(5): _u(rng, 0.1, 0.3),
                 _v(6): _u(rng, 0.1, 0.3)}
    harmonic, harmonic_phase = _u(rng, 0.15, 0.5), _u(rng, 0, 2 * np.pi)
    out = np.zeros((_N_LEADS, n))
    for row, share in lead_size.items():
        lag = _u(rng, 0, 2 * np.pi)
        out[row] = size * share * envelope * (np.sin(phase + lag) + harmonic * np.sin(2 * (phase + lag)
                                                                                      + harmonic_phase))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Rendering

def _add_wave(row: np.ndarray, fs: float, anchor: float, wave: Wave, gain: float = 1.0) -> None:
    start = anchor + wave.peak - wave.left
    i0 = max(int(np.ceil(start * fs)), 0)
    i1 = min(int(np.floor((anchor + wave.peak + wave.right) * fs)), row.size - 1)
    if i1 < i0 or wave.amp == 0:
        return
    x = np.arange(i0, i1 + 1) / fs - (anchor + wave.peak)
    width = np.where(x < 0, wave.left, wave.right)
    shape = 0.5 * (1 + np.cos(np.pi * np.clip(x / width, -1, 1)))
    row[i0:i1 + 1] += gain * wave.amp * shape ** wave.sharp


def _add_plateau(row: np.ndarray, fs: float, edges: tuple[float, float, float, float], level: float) -> None:
    """A level reached smoothly between edges[0] and [1], held, then left smoothly between [2] and [3]."""
    a, b, c, e = edges
    i0, i1 = max(int(np.ceil(a * fs)), 0), min(int(np.floor(e * fs)), row.size - 1)
    if i1 < i0 or level == 0:
        return
    x = np.arange(i0, i1 + 1) / fs
    rise = 0.5 * (1 - np.cos(np.pi * np.clip((x - a) / (b - a), 0, 1)))
    fall = 0.5 * (1 + np.cos(np.pi * np.clip((x - c) / (e - c), 0, 1)))
    row[i0:i1 + 1] += level * rise * fall


def _render(beats: Sequence[Beat], complexes: dict[str, Complex], n: int, fs: float, resp_hz: float,
            rng: np.random.Generator) -> np.ndarray:
    """Sum the beats into the 8 independent leads; QRS size breathes with respiration."""
    out = np.zeros((_N_LEADS, n))
    resp_phase = _u(rng, 0, 2 * np.pi)
    resp_depth = rng.uniform(0.02, 0.12, _N_LEADS) * rng.choice([-1, 1], _N_LEADS)
    for beat in beats:
        cx = complexes[beat.kind]
        if beat.p is not None:
            for row in range(_N_LEADS):
                for wave in cx.p[row]:
                    _add_wave(out[row], fs, beat.p, wave)
        if beat.qrs is None:
            continue
        breath = 1 + resp_depth * np.sin(2 * np.pi * resp_hz * beat.qrs + resp_phase)
        jitter = 1 + rng.normal(0, 0.02, _N_LEADS)
        rr = float(np.clip(beat.rr_before, 0.3, 2.0))
        qt = cx.fixed_qt_s if cx.fixed_qt_s is not None else cx.qtc_s * rr ** (1 / 3) + 0.7 * max(cx.qrs_s - 0.1, 0)
        j_point = beat.qrs + cx.qrs_s
        t_end = beat.qrs + qt
        t_len = min(cx.t_s * rr ** (1 / 3), t_end - j_point - 0.02)
        t_peak = t_end - (1 - cx.t_peak_fraction) * t_len
        t_wave = Wave(t_peak - beat.qrs, cx.t_peak_fraction * t_len, (1 - cx.t_peak_fraction) * t_len, 1.0)
        u_wave = Wave(qt + 0.07, 0.06, 0.08, 1.0)
        st_fall = t_peak - 0.3 * (t_peak - j_point)  # the shifted ST returns to baseline through the T wave
        for row in range(_N_LEADS):
            for wave in cx.qrs[row]:
                _add_wave(out[row], fs, beat.qrs, wave, breath[row] * jitter[row])
            _add_wave(out[row], fs, beat.qrs, t_wave, cx.t_amp[row] * (1 + 0.4 * (breath[row] - 1)))
            _add_wave(out[row], fs, beat.qrs, u_wave, cx.u_amp[row])
            _add_plateau(out[row], fs, (j_point - 0.5 * cx.qrs_s, j_point + 0.01, st_fall, t_end + 0.04), cx.st[row])
    return out


# ---------------------------------------------------------------------------------------------------------------
# Noise at the electrodes

def _coloured(rng: np.random.Generator, n: int, fs: float, exponent: float, band: tuple[float, float]) -> np.ndarray:
    """Unit-variance noise with a 1/f^exponent spectrum inside a frequency band."""
    freqs = np.fft.rfftfreq(n, 1 / fs)
    gain = np.zeros_like(freqs)
    inside = (freqs >= band[0]) & (freqs <= band[1])
    gain[inside] = freqs[inside] ** (-exponent / 2)
    spectrum = gain * (rng.normal(size=freqs.size) + 1j * rng.normal(size=freqs.size))
    series = np.fft.irfft(spectrum, n)
    return series / max(float(series.std()), 1e-12)


def _electrode_noise(rng: np.random.Generator, n: int, fs: float, resp_hz: float, level: float) -> np.ndarray:
    """Noise on the nine electrodes RA, LA, LL, V1-V6, (9, n) in mV."""
    t = np.arange(n) / fs
    out = np.zeros((9, n))
    mains_hz = 50.0 if _chance(rng, 0.8) else 60.0
    mains = _u(rng, 0.0, 0.03) if _chance(rng, 0.6) else 0.0  # many carts notch-filter the mains
    bursts = _chance(rng, 0.4)  # muscle tension that comes and goes
    envelope = 1 + 1.5 * np.clip(_coloured(rng, n, fs, 2.0, (0.05, 1.0)), 0, 2) if bursts else 1.0
    for e in range(9):
        chest = e >= 3
        breathing = level * _u(rng, 0.0, 0.08 if chest else 0.04)
        out[e] += breathing * np.sin(2 * np.pi * resp_hz * t + _u(rng, 0, 2 * np.pi))
        out[e] += level * _u(rng, 0.005, 0.07) * _coloured(rng, n, fs, 2.0, (0.03, 0.7))
        emg = level * _u(rng, 0.002, 0.01 if chest else 0.016)
        out[e] += emg * envelope * _coloured(rng, n, fs, _u(rng, 0.3, 1.0), (15.0, min(250.0, 0.45 * fs)))
        if mains and mains_hz < fs / 2:
            amp = mains * _u(rng, 0.2, 1.0)
            phase = _u(rng, 0, 2 * np.pi)
            out[e] += amp * np.sin(2 * np.pi * mains_hz * t + phase)
            if 3 * mains_hz < fs / 2:
                out[e] += amp * _u(rng, 0.05, 0.3) * np.sin(2 * np.pi * 3 * mains_hz * t + 3 * phase)
    for _ in range(int(rng.poisson(0.08 * level))):  # electrode pop: a step that decays as the gel recovers
        e, at = int(rng.integers(9)), _u(rng, 0, n / fs)
        tau = _u(rng, 0.1, 0.8)
        after = t >= at
        out[e, after] += rng.choice([-1, 1]) * _u(rng, 0.2, 1.5) * np.exp(-(t[after] - at) / tau)
    if _chance(rng, 0.05 * level):  # a movement: a few seconds of slow large swings on one electrode
        e, at, length = int(rng.integers(9)), _u(rng, 0, n / fs), _u(rng, 0.5, 2.5)
        window = np.clip(1 - np.abs((t - at - length / 2) / (length / 2)), 0, 1)
        out[e] += _u(rng, 0.2, 0.6) * window * _coloured(rng, n, fs, 1.0, (0.5, 5.0))
    return out


def _electrodes_to_leads(electrodes: np.ndarray) -> np.ndarray:
    """Leads I, II, V1-V6 seen from electrode potentials (V leads against Wilson's central terminal)."""
    ra, la, ll = electrodes[:3]
    wilson = (ra + la + ll) / 3
    return np.vstack([la - ra, ll - ra, electrodes[3:] - wilson])


def twelve_leads(independent: np.ndarray) -> np.ndarray:
    """All 12 leads in records.STANDARD_LEADS order from I, II, V1-V6 (Einthoven and Goldberger)."""
    lead_i, lead_ii = independent[0], independent[1]
    return np.vstack([lead_i, lead_ii, lead_ii - lead_i, -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2,
                      lead_ii - lead_i / 2, independent[2:]])


# ---------------------------------------------------------------------------------------------------------------
# Records

def check_labels(labels: Sequence[str]) -> list[str]:
    """The labels in CLASSES order if they may appear together on one ECG; ValueError otherwise."""
    unknown = [label for label in labels if label not in CLASSES]
    if unknown or not labels:
        raise ValueError(f"labels must be a non-empty subset of {CLASSES}, got {list(labels)}")
    chosen = [c for c in CLASSES if c in labels]
    for i, a in enumerate(chosen):
        for b in chosen[i + 1:]:
            if frozenset((a, b)) not in COMPATIBLE_PAIRS:
                raise ValueError(f"labels {a} and {b} cannot be simulated on one ECG")
    return chosen


def generate_record(rng: np.random.Generator, labels: Sequence[str], seconds: float, fs: float = 500
                    ) -> tuple[np.ndarray, dict]:
    """One 12-lead ECG showing the labels: ((12, n) float32 mV in records.STANDARD_LEADS order, description).

    The description holds the labels, age and sex, the drawn rate, intervals, axis, ST territory and noise
    level, and "beats": (QRS onset sample, kind) of every beat in the record, kind one of sinus, af, pac, pvc.
    ValueError for labels that cannot go together, for fs below 100 Hz, and for records shorter than
    MIN_SECONDS (MIN_SECONDS_TWO_ECTOPICS with both PAC and PVC).
    """
    chosen = check_labels(labels)
    shortest = MIN_SECONDS_TWO_ECTOPICS if {"PAC", "PVC"} <= set(chosen) else MIN_SECONDS
    if not seconds >= shortest:
        raise ValueError(f"seconds must be at least {shortest} for {'+'.join(chosen)}, got {seconds}")
    if not fs >= 100:
        raise ValueError(f"fs must be at least 100 Hz, got {fs}")
    present = set(chosen)
    female = _chance(rng, 0.45)
    age = float(np.clip(rng.normal(45 if "Normal" in present else 62, 15), 18, 95))
    scale = (0.85 if female else 1.0) * (0.9 if age > 65 else 1.0) * _u(rng, 0.75, 1.25)

    if "Normal" in present:
        heart_rate = _u(rng, 60, 100)
    elif "AF" in present:
        heart_rate = _u(rng, 60, 150)
    elif "I-AVB" in present:
        heart_rate = _u(rng, 50, 85)
    else:
        heart_rate = _u(rng, 50, 108)
    rr = 60.0 / heart_rate
    qtc = _u(rng, 0.38, 0.44) + (0.015 if female else 0.0)
    if "I-AVB" in present:
        longest = min(0.38, rr - qtc * rr ** (1 / 3) - 0.03)
        pr = _u(rng, 0.215, max(0.23, longest))
    else:
        pr = _u(rng, 0.125, 0.195)
    p_s = _u(rng, 0.08, 0.11)
    resp_hz = _u(rng, 0.18, 0.35)
    if "AF" in present:
        relative_sd = _u(rng, 0.12, 0.3)
    else:  # sinus arrhythmia, larger in the young
        relative_sd = _u(rng, 0.01, 0.035) * (1.3 if age < 40 else 1.0)
    rhythm = Rhythm(rr_s=rr, pr_s=pr, af="AF" in present, pac="PAC" in present, pvc="PVC" in present,
                    relative_sd=relative_sd, resp_hz=resp_hz)

    axis = _u(rng, -15, 85) if "Normal" in present else _u(rng, -40, 100)
    if "LBBB" in present:
        qrs_s = _u(rng, 0.13, 0.18)
        qrs, t_amp, st = _lbbb_qrs(rng, qrs_s, scale)
    elif "RBBB" in present:
        qrs_s = _u(rng, 0.14, 0.175)
        axis = _u(rng, -10, 100)
        qrs, t_amp, st = _rbbb_qrs(rng, qrs_s, axis, scale)
    else:
        qrs_s = _u(rng, 0.07, 0.1)
        qrs = _narrow_qrs(rng, qrs_s, axis, scale)
        t_amp, st = _normal_repolarisation(rng, axis, scale)
    territory = None
    for kind in ("STD", "STE"):
        if kind in present:
            levels, t_factor, territory = _ischaemic_st(rng, kind, avoid_right_precordial="RBBB" in present)
            for row, level in levels.items():
                st[row] = level
            for row, factor in t_factor.items():
                base = t_amp[row] if kind == "STD" or t_amp[row] > 0.2 else 0.3
                t_amp[row] = base * factor
    u_amp = np.zeros(_N_LEADS)
    if heart_rate < 75 and _chance(rng, 0.3):
        u_amp = np.clip(t_amp, 0, None) * _u(rng, 0.08, 0.15)
    sinus = Complex(p=_sinus_p(rng, p_s), qrs=qrs, qrs_s=qrs_s, t_amp=t_amp, t_s=_u(rng, 0.2, 0.27),
                    t_peak_fraction=_u(rng, 0.55, 0.68), st=st, u_amp=u_amp, qtc_s=qtc)
    if "STE" in present:
        sinus.t_s *= 1.2  # the T wave starts early and merges with the raised ST segment
    complexes = {"sinus": sinus, "af": replace(sinus, p=[[] for _ in range(_N_LEADS)]),
                 "pac": replace(sinus, p=_ectopic_p(rng, _u(rng, 0.06, 0.1))), "blocked": sinus}
    if "PVC" in present:
        complexes["pvc"] = _pvc_complex(rng, scale, qtc)

    n = int(round(seconds * fs))
    beats = _schedule(rng, rhythm, n / fs)
    independent = _render(beats, complexes, n, fs, resp_hz, rng)
    if "AF" in present:
        independent += _fibrillatory_waves(rng, n, fs)
    noise_level = float(np.exp(rng.uniform(np.log(0.3), np.log(2.0))))
    independent += _electrodes_to_leads(_electrode_noise(rng, n, fs, resp_hz, noise_level))
    lowpass_hz = None
    if _chance(rng, 0.3):  # some carts record through a 35-100 Hz low-pass
        lowpass_hz = min(_u(rng, 35, 100), 0.4 * fs)
        sos = scipy.signal.butter(2, lowpass_hz, fs=fs, output="sos")
        independent = scipy.signal.sosfiltfilt(sos, independent, axis=1)
    signal = twelve_leads(independent).astype(np.float32)

    conducted = [b for b in beats if b.qrs is not None and 0 <= b.qrs < n / fs]
    info = {
        "labels": chosen, "age": round(age), "sex": "Female" if female else "Male",
        "heart_rate_bpm": heart_rate, "pr_ms": None if "AF" in present else 1000 * pr, "qrs_ms": 1000 * qrs_s,
        "qtc_ms": 1000 * qtc, "axis_deg": axis, "st_territory": territory, "noise_level": noise_level,
        "lowpass_hz": lowpass_hz,
        "beats": [(int(round(b.qrs * fs)), b.kind) for b in conducted],
    }
    return signal, info


def draw_labels(rng: np.random.Generator, seconds: float) -> list[str]:
    """A roughly uniform first label; now and then a compatible second one that fits in `seconds`."""
    first = str(rng.choice(CLASSES))
    if first != "Normal" and _chance(rng, SECOND_LABEL_PROBABILITY):
        partners = sorted(c for c in CLASSES if frozenset((first, c)) in COMPATIBLE_PAIRS
                          and ({first, c} != {"PAC", "PVC"} or seconds >= MIN_SECONDS_TWO_ECTOPICS))
        return check_labels([first, str(rng.choice(partners))])
    return [first]


def generate_dataset(out_dir: str | Path, n: int, seed: int, seconds: tuple[float, float] = (8.0, 30.0),
                     prefix: str = "X") -> list[str]:
    """Write n records NAME.hea + NAME.mat to out_dir; the same seed gives the same files. Returns the names."""
    low, high = seconds
    if not MIN_SECONDS <= low <= high:
        raise ValueError(f"seconds must satisfy {MIN_SECONDS} <= min <= max, got {seconds}")
    names = []
    for i in tqdm(range(n), desc="altsim records", disable=not log.progress_bars()):
        rng = np.random.default_rng([seed, i])
        duration = round(_u(rng, low, high), 1)
        labels = draw_labels(rng, duration)
        signal, info = generate_record(rng, labels, duration)
        name = f"{prefix}{i + 1:05d}"
        write_record(out_dir, name, signal, fs=500, age=info["age"], sex=info["sex"], labels=labels)
        names.append(name)
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """python -m simulators.altsim OUT_DIR --n N --seed S: write a test set from this independent simulator."""
    parser = argparse.ArgumentParser(prog="python -m simulators.altsim", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--n", type=int, default=100, help="number of records")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-seconds", type=float, default=8.0)
    parser.add_argument("--max-seconds", type=float, default=30.0)
    parser.add_argument("--prefix", default="X", help="record names are PREFIX00001, PREFIX00002, ...")
    log.add_arguments(parser, quiet_help="no progress bar")
    args = parser.parse_args(argv)
    log.configure(quiet=args.quiet, verbose=args.verbose)
    if args.n < 0:
        parser.error("--n must be >= 0")
    try:
        generate_dataset(args.out_dir, args.n, args.seed, (args.min_seconds, args.max_seconds), args.prefix)
    except ValueError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
