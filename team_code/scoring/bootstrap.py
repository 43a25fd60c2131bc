"""Scores with 95 % bootstrap confidence intervals, per cross-validation fold and pooled.

Each score is computed by team_code.scoring.f2g2 (the official definitions, bit-exact); only the resampling of
records is added, with scikit-learn's `resample`, so an interval says how much the score would move on another
draw of records of the same kind.
"""
from __future__ import annotations

import numpy as np
from sklearn.utils import resample

from team_code.scoring import f2g2

# The six official scores, in the order of the official script's output line.
SCORES = (("auroc", "AUROC"), ("auprc", "AUPRC"), ("accuracy", "Accuracy"), ("f_measure", "F-measure"),
          ("f2", "F2"), ("g2", "G2"))
DRAWS = 1000
LEVEL = 0.95


def scores(labels: np.ndarray, probabilities: np.ndarray, binary: np.ndarray) -> dict[str, float]:
    """The six official macro scores of one set of records."""
    measures = f2g2.beta_measures(labels, binary)
    auroc, auprc = f2g2.auc(labels, probabilities)
    return {"auroc": auroc, "auprc": auprc, "accuracy": float(measures["accuracy"]),
            "f_measure": float(measures["f_measure"]), "f2": float(measures["f_beta"]),
            "g2": float(measures["g_beta"])}


def counts(labels: np.ndarray, binary: np.ndarray) -> dict[str, list[float]]:
    """The weighted per-class tp, fp, fn, tn that F2, G2, accuracy and F-measure are computed from; they add up
    over disjoint sets of records, so the folds' tables sum to the pooled table."""
    tp, fp, fn, tn = f2g2.per_class_counts(labels, binary)
    return {"tp": tp.tolist(), "fp": fp.tolist(), "fn": fn.tolist(), "tn": tn.tolist()}


def resample_counts(n: int, draws: int, seed: int) -> np.ndarray:
    """How often each of n records appears in each of `draws` resamples with replacement (draws x n)."""
    picks = resample(np.tile(np.arange(n), draws), n_samples=draws * n, random_state=seed).reshape(draws, n)
    return np.bincount((np.arange(draws)[:, None] * n + picks).ravel(), minlength=draws * n).reshape(draws, n)


def ratio(numerator: np.ndarray | float, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 1.0 where the denominator is 0 (the official convention)."""
    return np.divide(numerator, denominator, out=np.ones(np.shape(denominator)), where=denominator != 0)


def resampled_scores(labels: np.ndarray, probabilities: np.ndarray, binary: np.ndarray,
                     multiplicity: np.ndarray) -> dict[str, np.ndarray]:
    """The six scores of each resample, given as record multiplicities (draws x n), all draws at once.

    The same definitions as team_code.scoring.f2g2, rewritten over multiplicities so that 1,000 draws of a
    CPSC-sized set take seconds: a record drawn m times adds m times its 1/k weight to the tables, and a
    threshold value that a resample lacks adds a zero-width step to the AUROC/AUPRC sums, so walking the full
    set's distinct values gives each resample's own areas. Summation order differs from the official
    sequential sums in the last bits only; test_confidence checks agreement with metrics on explicit resamples.
    """
    labels, binary = np.asarray(labels, dtype=bool), np.asarray(binary, dtype=bool)
    m = np.asarray(multiplicity, dtype=np.float64)
    num_labels = labels.sum(axis=1)
    w = np.divide(1.0, num_labels, out=np.zeros(len(labels)), where=num_labels > 0)[:, None]
    tp, fp = m @ (w * (labels & binary)), m @ (w * (~labels & binary))
    fn, tn = m @ (w * (labels & ~binary)), m @ (w * (~labels & ~binary))
    beta2 = f2g2.BETA ** 2
    out = {"accuracy": ratio(tp + tn, tp + fp + fn + tn).mean(axis=1),
           "f_measure": ratio(2 * tp, 2 * tp + fp + fn).mean(axis=1),
           "f2": ratio((1 + beta2) * tp, (1 + beta2) * tp + beta2 * fn + fp).mean(axis=1),
           "g2": ratio(tp, tp + fp + f2g2.BETA * fn).mean(axis=1)}
    auroc, auprc = np.zeros((len(m), labels.shape[1])), np.zeros((len(m), labels.shape[1]))
    for k in range(labels.shape[1]):
        order = np.argsort(-probabilities[:, k], kind="stable")
        p, y = probabilities[order, k], labels[order, k]
        last = np.flatnonzero(np.r_[p[1:] != p[:-1], True])  # last record of each distinct value, high to low
        if p[last[-1]] == 0:  # the official walk drops threshold 0
            last = last[:-1]
        mk = m[:, order]
        pos_total = mk @ y.astype(np.float64)
        neg_total = mk.sum(axis=1) - pos_total
        start = [] if p[0] == 1 else [np.zeros((len(m), 1))]  # threshold 1 is put in front when absent
        tp_k = np.concatenate([*start, np.cumsum(mk * y, axis=1)[:, last]], axis=1)
        fp_k = np.concatenate([*start, np.cumsum(mk, axis=1)[:, last]], axis=1) - tp_k
        # tp / P and tn / N, 1.0 for every threshold when P (or N) is 0, as the official ratio gives.
        tpr = tp_k * ratio(1.0, pos_total)[:, None] + (pos_total == 0)[:, None]
        tnr = (neg_total[:, None] - fp_k) * ratio(1.0, neg_total)[:, None] + (neg_total == 0)[:, None]
        step = np.diff(tpr, axis=1)
        # Where tp rises, tp + fp > 0; elsewhere the step is 0 and the precision there does not count.
        ppv = tp_k[:, 1:] / np.maximum(tp_k[:, 1:] + fp_k[:, 1:], 1e-300)
        auroc[:, k] = (0.5 * step * (tnr[:, 1:] + tnr[:, :-1])).sum(axis=1)
        auprc[:, k] = (step * ppv).sum(axis=1)
    out["auroc"], out["auprc"] = auroc.mean(axis=1), auprc.mean(axis=1)
    return out


def bootstrap(labels: np.ndarray, probabilities: np.ndarray, binary: np.ndarray, draws: int = DRAWS,
              seed: int = 0) -> dict[str, tuple[float, float]]:
    """Percentile 95 % interval of each score over `draws` resamples of the records (with replacement)."""
    values: dict[str, list[np.ndarray]] = {key: [] for key, _ in SCORES}
    multiplicity = resample_counts(len(labels), draws, seed)
    for chunk in np.array_split(multiplicity, max(1, draws * len(labels) // 2_000_000)):  # bounded memory
        for key, value in resampled_scores(labels, probabilities, binary, chunk).items():
            values[key].append(value)
    tail = 100 * (1 - LEVEL) / 2
    return {key: (float(np.percentile(np.concatenate(v), tail)), float(np.percentile(np.concatenate(v), 100 - tail)))
            for key, v in values.items()}


def summarise(labels: np.ndarray, probabilities: np.ndarray, binary: np.ndarray, draws: int = DRAWS,
              seed: int = 0) -> dict:
    """Point scores, their intervals, the record count and the contingency tables of one set of records."""
    labels, binary = np.asarray(labels, dtype=bool), np.asarray(binary, dtype=bool)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    return {"records": int(len(labels)), "scores": scores(labels, probabilities, binary),
            "ci95": {k: list(v) for k, v in bootstrap(labels, probabilities, binary, draws, seed).items()},
            "counts": counts(labels, binary)}


def per_fold_and_pooled(labels: np.ndarray, probabilities: np.ndarray, binary: np.ndarray, fold_of: np.ndarray,
                        draws: int = DRAWS, seed: int = 0) -> dict:
    """summarise() for each fold's out-of-fold records and for all of them; each fold resamples with its own
    seed derived from `seed`, so the result does not depend on the number of folds computed before it."""
    fold_of = np.asarray(fold_of)
    folds = []
    for fold in np.unique(fold_of):
        rows = fold_of == fold
        folds.append({"fold": int(fold), **summarise(labels[rows], probabilities[rows], binary[rows], draws,
                                                     seed=seed * 1000 + int(fold) + 1)})
    return {"draws": draws, "seed": seed, "level": LEVEL, "folds": folds,
            "pooled": summarise(labels, probabilities, binary, draws, seed=seed * 1000)}
