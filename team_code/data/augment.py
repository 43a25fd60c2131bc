"""Training-time augmentation: the same heart as another machine, electrode placement and patient would record it.

Every change here is one a label must survive: a different amplifier gain per lead, baseline wander, muscle and
mains noise, a recording that starts at another moment, a slightly faster or slower heart, a lead that came off,
an electrode that moved on the skin, a device that records the six limb leads only.
None of them changes what defines a class (a stretch of at most 6 % keeps a 200-ms PR or a 120-ms QRS on its
side of the criteria except at the very edge). It works in place on a batch of float32 mV windows in numpy, in
the cache's reader thread, and leaves each record's zero padding at zero so the network's masking still finds
where the recording ends.
"""
from __future__ import annotations

import numpy as np

from team_code.data.preprocess import FS

MAX_STRETCH = 0.06
MAX_SHIFT_S = 1.5
MOTION_PROBABILITY = 0.3  # records with electrode-motion excursions
CHEST_FLAT_PROBABILITY = 0.05  # records written by a six-lead (limb-lead) device: V1-V6 flat
# Rows of records.STANDARD_LEADS (I, II, III, aVR, aVL, aVF, V1-V6): what one electrode's potential adds to each
# lead, for the electrodes RA, LA, LL (Einthoven, Goldberger, Wilson's terminal) and V1-V6.
_ELECTRODE_TO_LEADS = np.zeros((9, 12), dtype=np.float32)
_ELECTRODE_TO_LEADS[:3, :6] = [[-1, -1, 0, 1, -0.5, -0.5], [1, 0, -1, -0.5, 1, -0.5], [0, 1, 1, -0.5, -0.5, 1]]
_ELECTRODE_TO_LEADS[:3, 6:] = -1 / 3
_ELECTRODE_TO_LEADS[3:, 6:] = np.eye(6)


def augment(signals: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> None:
    """Alter a (batch, 12, samples) batch in place; lengths are each record's samples before its padding."""
    batch, leads, samples = signals.shape
    lengths = np.array(lengths, dtype=np.int64)
    for k in range(batch):  # the two changes that move samples: per record
        if rng.random() < 0.5:  # start the recording later (it opens mid-rhythm anyway)
            lengths[k] = _shift(signals[k], int(lengths[k]), int(rng.uniform(0, min(MAX_SHIFT_S * FS, lengths[k] / 4))))
        if rng.random() < 0.5:  # heart rate and every interval a few per cent faster or slower
            lengths[k] = _stretch(signals[k], int(lengths[k]), 1.0 + rng.uniform(-MAX_STRETCH, MAX_STRETCH))
    recorded = (np.arange(samples) < lengths[:, None])[:, None, :]
    # One gain per record (0.5-2x) and, for half of them, a different gain per lead (sd 10 %).
    gain = np.exp(rng.uniform(np.log(0.5), np.log(2.0), (batch, 1, 1)))
    gain = gain * np.where(rng.random((batch, 1, 1)) < 0.5, np.exp(rng.normal(0.0, 0.1, (batch, leads, 1))), 1.0)
    signals *= gain.astype(np.float32)
    time = np.arange(samples, dtype=np.float32) / FS
    extra = np.zeros_like(signals)
    wander = np.flatnonzero(rng.random(batch) < 0.5)  # baseline wander: breathing and electrode drift
    for _ in range(2):
        hz = rng.uniform(0.05, 0.6, (len(wander), leads, 1)).astype(np.float32)
        phase = rng.uniform(0, 2 * np.pi, (len(wander), leads, 1)).astype(np.float32)
        amplitude = rng.uniform(0.0, 0.3, (len(wander), leads, 1)).astype(np.float32)
        _add_sines(extra, wander, amplitude, hz, phase, time)
    noisy = np.flatnonzero(rng.random(batch) < 0.5)  # muscle and amplifier noise
    level = rng.uniform(0.005, 0.05, len(noisy)).astype(np.float32)
    noise = rng.standard_normal((len(noisy), leads, samples), dtype=np.float32)
    for row, k in enumerate(noisy):
        noise[row] *= level[row]
        extra[k] += noise[row]
    mains = np.flatnonzero(rng.random(batch) < 0.2)  # mains interference, 50 or 60 Hz
    hz = np.where(rng.random((len(mains), 1, 1)) < 0.5, 50.0, 60.0).astype(np.float32)
    amplitude = rng.uniform(0.005, 0.05, (len(mains), leads, 1)).astype(np.float32)  # drawn before the phase
    phase = rng.uniform(0, 2 * np.pi, (len(mains), leads, 1)).astype(np.float32)
    _add_sines(extra, mains, amplitude, hz, phase, time)
    for k in np.flatnonzero(rng.random(batch) < MOTION_PROBABILITY):
        extra[k] += _electrode_motion(samples, rng)
    extra *= recorded
    signals += extra
    for k in np.flatnonzero(rng.random(batch) < 0.1):  # one or two leads came off
        signals[k, rng.choice(leads, size=int(rng.integers(1, 3)), replace=False)] = 0.0
    signals[rng.random(batch) < CHEST_FLAT_PROBABILITY, 6:] = 0.0  # a six-lead device: the chest leads empty


def _add_sines(extra: np.ndarray, rows: np.ndarray, amplitude: np.ndarray, hz: np.ndarray, phase: np.ndarray,
               time: np.ndarray) -> None:
    """extra[rows] += amplitude * sin(2 pi hz time + phase), one (12, samples) row at a time in one buffer.

    Why not one batched expression: it made four batch-sized temporaries, and filling their fresh pages cost
    more than the sines; row by row, in place, the values are the same to the bit."""
    buffer = np.empty(extra.shape[1:], dtype=np.float32)
    omega = 2 * np.pi * hz
    for row, k in enumerate(rows):
        np.multiply(omega[row], time, out=buffer)
        buffer += phase[row]
        np.sin(buffer, out=buffer)
        buffer *= amplitude[row]
        extra[k] += buffer


def _electrode_motion(samples: int, rng: np.random.Generator) -> np.ndarray:
    """(12, samples) mV: one to three slow excursions, each on one electrode, seen in every lead that uses it.

    Why: an electrode that moves on the skin changes its half-cell potential by a few mV at the rates of the P,
    QRS and T waves (about 0.5-8 Hz); no filter can remove it, and it mimics ectopic beats. Each excursion is a
    sum of a few sinusoids of random rate under a smooth window, 0.3-3 s long and 0.3-3 mV at its largest, put
    on RA, LA, LL or a chest electrode: a limb electrode's shows in six limb leads and, through Wilson's
    terminal, in all six chest leads; a chest electrode's in its own lead only.
    """
    out = np.zeros((12, samples), dtype=np.float32)
    for _ in range(int(rng.integers(1, 4))):
        length = min(samples, int(rng.uniform(0.3, 3.0) * FS))
        start = int(rng.integers(0, samples - length + 1))
        t = np.arange(length, dtype=np.float32) / FS
        hz = rng.uniform(0.3, 8.0, 4).astype(np.float32)
        phase = rng.uniform(0, 2 * np.pi, 4).astype(np.float32)
        weight = rng.normal(size=(4, 1)).astype(np.float32)
        swing = (weight * np.sin(2 * np.pi * hz[:, None] * t + phase[:, None])).sum(axis=0)
        swing *= np.sin(np.pi * np.arange(length, dtype=np.float32) / length) ** 2
        swing *= rng.uniform(0.3, 3.0) / max(float(np.abs(swing).max()), 1e-6)
        out[:, start:start + length] += _ELECTRODE_TO_LEADS[int(rng.integers(9))][:, None] * swing
    return out


def _shift(signal: np.ndarray, n: int, shift: int) -> int:
    """Drop the first `shift` samples of the recorded part; returns the new recorded length."""
    if shift <= 0:
        return n
    signal[:, :n - shift] = signal[:, shift:n]
    signal[:, n - shift:] = 0.0
    return n - shift


def _stretch(signal: np.ndarray, n: int, factor: float) -> int:
    """Resample the recorded part by `factor` in time (linear interpolation); returns the new recorded length."""
    m = min(signal.shape[1], int(n * factor))
    source = np.minimum(np.arange(m, dtype=np.float64) / factor, n - 1)
    low = np.floor(source).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    fraction = (source - low).astype(np.float32)
    stretched = np.take(signal, low, axis=1)  # in place from here: the same values as one expression, fewer copies
    stretched *= 1 - fraction
    stretched += np.take(signal, high, axis=1) * fraction
    signal[:, :m] = stretched
    signal[:, m:] = 0.0
    return m
