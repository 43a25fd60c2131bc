"""Turn a record's signal into what the network sees: 500 Hz, 12 leads, 1-uV steps, cut into 20-s windows.

One path for training and the driver: `prepare_signal` gives the whole record at 500 Hz rounded to the cache's
int16 microvolts (so the cache stores exactly what the driver computes), and `windows` cuts it into the 20-s
inputs of the paper's fixed length. Training shows the network one window per record (a random one when the
record is longer); the driver and validation score every window and combine them (inference.combine_windows),
so a PVC 45 s into a record counts.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

FS = 500
SECONDS = 20
LENGTH = FS * SECONDS
# The longest record read: the 30-min INCART records of CinC 2020. Longer recordings (Holter) are cut here
# before resampling, so a day-long file never has to fit in memory at 500 Hz.
MAX_SECONDS = 30 * 60
MICROVOLTS = 1000.0  # stored counts per mV
_INT16 = (-32768, 32767)
# Bumped whenever prepare_signal or windows change, so stale caches and models are rebuilt or refused.
VERSION = 2


def resample(signal: np.ndarray, fs: float, target_fs: int = FS) -> np.ndarray:
    """Polyphase resampling along time; exact ratio for the usual rates (257, 360, 1000 Hz ...)."""
    if fs == target_fs:
        return signal
    ratio = Fraction(target_fs / fs).limit_denominator(1000)
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=-1)


def prepare_counts(signal: np.ndarray, fs: float) -> np.ndarray:
    """The whole record (at most MAX_SECONDS) resampled to 500 Hz as int16 microvolts: what the cache stores."""
    signal = np.asarray(signal)
    keep = int(math.ceil(MAX_SECONDS * fs))
    x = resample(np.asarray(signal[:, :keep], dtype=np.float64), fs)
    return np.clip(np.rint(x * MICROVOLTS), *_INT16).astype(np.int16)


def prepare_signal(signal: np.ndarray, fs: float) -> np.ndarray:
    """The whole record as the network's float32 mV: prepare_counts read back as the cache reads it."""
    return from_counts(prepare_counts(signal, fs))


def from_counts(counts: np.ndarray) -> np.ndarray:
    """int16 microvolts as float32 mV; the one conversion, so the cache's batches equal the driver's input bit for
    bit (numpy, not torch: in the training reader thread a torch op would start a second intra-op thread team)."""
    return np.divide(counts, np.float32(MICROVOLTS), dtype=np.float32)


def window_starts(num_samples: int) -> list[int]:
    """Start samples of the 20-s windows that cover a record: back to back, the last one ending at the record's
    end (so no window is mostly padding); one window starting at 0 when the record is 20 s or shorter."""
    if num_samples <= LENGTH:
        return [0]
    starts = list(range(0, num_samples - LENGTH, LENGTH))
    return starts + [num_samples - LENGTH]


def window(signal: np.ndarray, start: int = 0) -> np.ndarray:
    """The 20-s window at `start`, zero-padded at the end when the record is shorter (the paper's padding)."""
    out = np.zeros((signal.shape[0], LENGTH), dtype=np.float32)
    part = signal[:, start:start + LENGTH]
    out[:, :part.shape[1]] = part
    return out


def windows(signal: np.ndarray) -> np.ndarray:
    """Every window of a prepared record, (windows, 12, LENGTH)."""
    return np.stack([window(signal, s) for s in window_starts(signal.shape[1])])
