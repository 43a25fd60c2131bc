"""Scoring exactly as the official PhysioNet/CinC 2020 script (evaluate_12ECG_score.py, nine classes) scores: the
math alone, on arrays (team_code.scoring.score_folders reads the label and output files).

The official script adds up its contingency tables one record at a time. Floating-point sums depend on their
order, and a printed score such as 0.8125 sits exactly on a rounding boundary, so every sum here is sequential
(np.cumsum) in the official order rather than numpy's pairwise np.sum: the results are bit-identical, not just close.
"""
from __future__ import annotations

import numpy as np

BETA = 2.0
SCORE_NAMES = ("AUROC", "AUPRC", "Accuracy", "F-measure", "Fbeta-measure", "Gbeta-measure")
SCORE_KEYS = ("auroc", "auprc", "accuracy", "f_measure", "f_beta", "g_beta")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 1.0 where the denominator is 0 (the official convention)."""
    return np.divide(numerator, denominator, out=np.ones(np.shape(denominator)), where=denominator != 0)


def _sequential_sum(values: np.ndarray) -> float:
    """Left-to-right sum, the order of the official `+=` loops (np.sum is pairwise and may differ in the last bit)."""
    return float(np.cumsum(values)[-1]) if len(values) else 0.0


def macro(per_class: np.ndarray) -> float:
    """Mean over classes, summed in class order as the official script sums."""
    return _sequential_sum(per_class) / len(per_class)


def _weighted_cells(labels: np.ndarray, binary: np.ndarray, with_tn: bool) -> np.ndarray:
    """Rows tp, fp, fn (and tn) x classes: each record adds 1/(its number of labels) to one cell per class."""
    labels = np.asarray(labels, dtype=bool)
    binary = np.asarray(binary, dtype=bool)
    if labels.shape != binary.shape or labels.ndim != 2:
        raise ValueError(f"labels {labels.shape} and binary outputs {binary.shape} must be equal (records, classes)")
    num_labels = labels.sum(axis=1)
    weights = np.divide(1.0, num_labels, out=np.zeros(len(labels)), where=num_labels > 0)
    # Classes x records with records contiguous, so that each class's running sum walks memory in order.
    truth, output = np.ascontiguousarray(labels.T), np.ascontiguousarray(binary.T)
    cells = [truth & output, ~truth & output, truth & ~output] + ([~truth & ~output] if with_tn else [])
    if not len(labels):
        return np.zeros((len(cells), labels.shape[1]))
    sums = np.multiply(np.stack(cells), weights)  # a record's weight where it falls in the cell, 0.0 elsewhere
    np.cumsum(sums, axis=-1, out=sums)  # in place: a fresh array per call costs more than the sum itself
    return sums[..., -1].copy()


def per_class_counts(labels: np.ndarray, binary: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted tp, fp, fn, tn per class: a record with k labels adds 1/k to one cell of each class's table.

    A record without labels weighs 0 (the official script would divide by zero; callers leave such records out).
    """
    tp, fp, fn, tn = _weighted_cells(labels, binary, with_tn=True)
    return tp, fp, fn, tn


def _f_g(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    # Operand order follows the official expressions so that every rounding step is the same.
    f_beta = _ratio((1 + beta**2) * tp, ((1 + beta**2) * tp) + (fn * beta**2) + fp)
    g_beta = _ratio(tp, tp + fp + beta * fn)
    return f_beta, g_beta


def beta_measures(labels: np.ndarray, binary: np.ndarray, beta: float = BETA) -> dict[str, float | np.ndarray]:
    """Macro accuracy, F-measure, F-beta and G-beta, plus per-class precision, recall, F-beta and G-beta."""
    tp, fp, fn, tn = per_class_counts(labels, binary)
    f_beta, g_beta = _f_g(tp, fp, fn, beta)
    accuracy = _ratio(tp + tn, tp + fp + fn + tn)
    f_measure = _ratio(2 * tp, 2 * tp + fp + fn)
    return {
        "accuracy": macro(accuracy),
        "f_measure": macro(f_measure),
        "f_beta": macro(f_beta),
        "g_beta": macro(g_beta),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f_beta_per_class": f_beta,
        "g_beta_per_class": g_beta,
    }


def fbeta_gbeta(labels: np.ndarray, binary: np.ndarray, beta: float = BETA) -> tuple[float, float]:
    """Macro F-beta and G-beta alone: the objective of the threshold search, evaluated thousands of times."""
    tp, fp, fn = _weighted_cells(labels, binary, with_tn=False)
    f_beta, g_beta = _f_g(tp, fp, fn, beta)
    return macro(f_beta), macro(g_beta)


def auc_per_class(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and AUPRC of each class, walking the thresholds the official script walks.

    Thresholds are the distinct probabilities from high to low, with 1 put in front when absent and 0 dropped;
    a record counts as positive at threshold t when its probability is >= t. Counts are plain (unweighted).
    """
    labels = np.asarray(labels, dtype=bool)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if labels.shape != probabilities.shape or labels.ndim != 2 or len(labels) == 0:
        raise ValueError(f"labels {labels.shape} and probabilities {probabilities.shape} must be equal and non-empty")
    num_classes = labels.shape[1]
    auroc, auprc = np.zeros(num_classes), np.zeros(num_classes)
    for k in range(num_classes):
        scores, truth = probabilities[:, k], labels[:, k]
        thresholds = np.unique(scores)[::-1]
        if thresholds[0] != 1:
            thresholds = np.insert(thresholds, 0, 1)
        if thresholds[-1] == 0:
            thresholds = thresholds[:-1]
        positives, negatives = np.sort(scores[truth]), np.sort(scores[~truth])
        # Records with probability >= t: everything from the first sorted position holding a value >= t.
        tp = (len(positives) - np.searchsorted(positives, thresholds, side="left")).astype(np.float64)
        fp = (len(negatives) - np.searchsorted(negatives, thresholds, side="left")).astype(np.float64)
        fn, tn = len(positives) - tp, len(negatives) - fp
        tpr, tnr, ppv = _ratio(tp, tp + fn), _ratio(tn, fp + tn), _ratio(tp, tp + fp)
        auroc[k] = _sequential_sum(0.5 * (tpr[1:] - tpr[:-1]) * (tnr[1:] + tnr[:-1]))
        auprc[k] = _sequential_sum((tpr[1:] - tpr[:-1]) * ppv[1:])
    return auroc, auprc


def auc(labels: np.ndarray, probabilities: np.ndarray) -> tuple[float, float]:
    """Macro AUROC (area under TNR against TPR, trapezoids) and AUPRC (PPV against TPR, steps)."""
    auroc, auprc = auc_per_class(labels, probabilities)
    return macro(auroc), macro(auprc)


def format_scores(scores: dict) -> str:
    """The two lines the official script prints: names, then the six scores with 3 decimals."""
    return "|".join(SCORE_NAMES) + "\n" + "|".join(f"{scores[key]:.3f}" for key in SCORE_KEYS)


def format_per_class(scores: dict) -> str:
    """A per-class table of positives, precision, recall, F2 and G2, laid out like the paper's."""
    width = max(5, *(len(c) for c in scores["classes"]))
    rows = [f"{'class':<{width}} {'n':>6} {'precision':>9} {'recall':>6} {'F2':>6} {'G2':>6}"]
    for k, cls in enumerate(scores["classes"]):
        rows.append(
            f"{cls:<{width}} {int(scores['num_positive'][k]):>6} {scores['precision'][k]:>9.3f} "
            f"{scores['recall'][k]:>6.3f} {scores['f_beta_per_class'][k]:>6.3f} {scores['g_beta_per_class'][k]:>6.3f}"
        )
    return "\n".join(rows)
