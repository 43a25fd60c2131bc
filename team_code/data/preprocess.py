"""Turn a record's signal into what the network sees: 500 Hz, 12 leads, 1-uV steps, cut into 20-s windows.

One path for training and the driver: `prepare_signal` gives the whole record, pacing spikes and one-sample glitches
removed (remove_spikes), at 500 Hz rounded to the cache's int16 microvolts (so the cache stores exactly what the
driver computes), and `windows` cuts it into the 20-s inputs of the paper's fixed length. Training shows the network
one window per record (a random one when the record is longer); the driver and validation score every window and
combine them (inference.combine_windows), so a PVC 45 s into a record counts.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import maximum_filter1d, minimum_filter1d
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
VERSION = 3
SPIKE_SECONDS = 0.003  # a pacing spike (0.5-2 ms) or a glitch is at most this long
# mV, the leads' summed departure from their running median above which a sample is a spike. Clean generated
# records stay below 1.7 and 48 of the 50 real samples below 1.6 (the other two: a glitch of -7.5 and -6 mV
# in one lead over 3-4 samples); a 2-mV pacing spike sums to 4 or more over the 12 leads.
SPIKE_MV = 2.5
# Pacing at 100 bpm flags under 1 % of the samples; a record with more such samples is noisy throughout, and
# bridging them would rewrite it: it is left as it is.
SPIKE_MAX_FRACTION = 0.02


def resample(signal: np.ndarray, fs: float, target_fs: int = FS) -> np.ndarray:
    """Polyphase resampling along time; exact ratio for the usual rates (257, 360, 1000 Hz ...)."""
    if fs == target_fs:
        return signal
    ratio = Fraction(target_fs / fs).limit_denominator(1000)
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=-1)


def remove_spikes(signal: np.ndarray, fs: float) -> np.ndarray:
    """The record with pacing spikes and one-sample glitches bridged by a straight line in every lead.

    Why: a pacemaker spike (0.5-2 ms, several mV, in every lead at once) is no wave of the heart, yet it is the
    steepest thing in the record: it swamped the QRS detector's slope energy (beats were found at the spikes)
    and the first convolutions, and a model trained without pacemakers lost 0.6 of its F2 on records with them
    (docs/benchmark_robustness.md). A spike is a sample where the leads together depart from their running
    median over 2 x 3 ms + 1 samples (at least 5) by more than SPIKE_MV: a QRS, tens of milliseconds wide,
    passes such a median almost unchanged. Those samples are drawn straight between the unspiked samples on each
    side. Done at the source's rate, before resampling spreads a spike over more samples. A spike within 3 ms of
    the record's first or last sample can stay (the median there holds it); a steep but real slope at the edge
    is not taken for one. A record where more than SPIKE_MAX_FRACTION of the samples look like spikes is noise,
    not spikes, and is returned unchanged.
    """
    size = 2 * max(2, math.ceil(SPIKE_SECONDS * fs)) + 1  # at least 5: a spike of 2 samples at 250 Hz
    if signal.shape[-1] < size:
        return signal
    spike = spike_samples(signal, size)
    if not spike.any() or spike.mean() > SPIKE_MAX_FRACTION:
        return signal
    out = np.array(signal, copy=True)
    index = np.arange(signal.shape[-1])
    for lead in range(signal.shape[0]):  # each lead drawn straight across the spike, as it ran before and after
        out[lead, spike] = np.interp(index[spike], index[~spike], signal[lead, ~spike])
    return out


def spike_samples(signal: np.ndarray, size: int) -> np.ndarray:
    """Where the leads' summed |signal - running median over `size` samples| exceeds SPIKE_MV: exactly what a
    median_filter(signal, (1, size), mode="nearest") over the whole record gives, in about 60 % of the time.

    Why the shortcut is exact: a sample's distance from the median of a window that holds it is at most the
    window's range (max - min), so where the leads' summed ranges stay within SPIKE_MV no sample can be a spike.
    The median is computed only at the rest (about 5 % of a generated record's samples: the QRS complexes)."""
    half = size // 2
    ranges = (maximum_filter1d(signal, size, axis=-1, mode="nearest")
              - minimum_filter1d(signal, size, axis=-1, mode="nearest")).sum(axis=0)
    spike = np.zeros(signal.shape[-1], dtype=bool)
    candidates = np.flatnonzero(ranges > SPIKE_MV)
    if candidates.size:
        padded = np.pad(signal, ((0, 0), (half, half)), mode="edge")  # mode="nearest" of scipy.ndimage
        median = np.median(sliding_window_view(padded, size, axis=-1)[:, candidates], axis=-1)
        spike[candidates] = np.abs(signal[:, candidates] - median).sum(axis=0) > SPIKE_MV
    return spike


def prepare_counts(signal: np.ndarray, fs: float) -> np.ndarray:
    """The whole record (at most MAX_SECONDS), spikes removed, resampled to 500 Hz as int16 microvolts: what the
    cache stores."""
    signal = np.asarray(signal)
    keep = int(math.ceil(MAX_SECONDS * fs))
    x = resample(remove_spikes(np.asarray(signal[:, :keep], dtype=np.float64), fs), fs)
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
