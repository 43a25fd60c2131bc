"""Turn a record's signal into the network's fixed input: 500 Hz, 20 s, 12 leads, float32 mV."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

FS = 500
SECONDS = 20
LENGTH = FS * SECONDS
# Bumped whenever prepare_signal changes, so stale caches are rebuilt.
VERSION = 1


def resample(signal: np.ndarray, fs: float, target_fs: int = FS) -> np.ndarray:
    """Polyphase resampling along time; exact ratio for the usual rates (257, 360, 1000 Hz ...)."""
    if fs == target_fs:
        return signal
    ratio = Fraction(target_fs / fs).limit_denominator(1000)
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=-1)


def prepare_signal(signal: np.ndarray, fs: float) -> np.ndarray:
    """Resample to 500 Hz, then zero-pad or truncate at the end to 20 s (the paper's fixed length)."""
    x = resample(np.asarray(signal, dtype=np.float64), fs)
    out = np.zeros((x.shape[0], LENGTH), dtype=np.float32)
    n = min(LENGTH, x.shape[1])
    out[:, :n] = x[:, :n]
    return out
