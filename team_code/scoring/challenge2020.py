"""Scoring as the final-phase official PhysioNet/CinC 2020 script scores: 27 SNOMED CT codes, three equivalent pairs
merged into 24 classes, the published weight matrix, and its seven measures (the math alone, on arrays;
team_code.scoring.score_folders reads the files).

The rules are those of the final evaluate_12ECG_score.py of physionetchallenges/evaluation-2020 (the version that
takes the scored classes from weights.csv):
- classes are weights.csv's rows with each equivalent code replaced by its pair's first code, first occurrences kept;
- a label is positive when the `#Dx` line holds the class or its equivalent; other codes are ignored, so a record
  with no scored code is an all-negative row (it still counts, e.g. in accuracy);
- an output column names a class, or its equivalent, or nothing scored (ignored); when several columns name one class
  the binary output is their OR and the probability their NaN-ignoring mean; a NaN probability becomes 0, and a class
  without a column is 0 and probability 0;
- the normal class (426783006) enters only through the Challenge metric's reference classifier, which outputs the
  normal class alone for every record: that scores 0, always outputting the labels scores 1. (An earlier revision of
  the script also rewrote label and output rows around the normal class; the final one does not, nor does this.)

Bit-exact where it matters: the official script adds its tables record by record with `+=`, and floating-point sums
depend on their order, so every such sum here runs in record order (np.cumsum), and the means over classes are the
same numpy calls (np.nanmean, np.nansum) on the same arrays.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from team_code.labels import CINC2020_EQUIVALENT, CINC2020_NORMAL, CINC2020_SCORED

# The published weight matrix of the final phase (weights.csv of evaluation-2020, carried over as data).
WEIGHTS_FILE = Path(__file__).with_name("weights_2020.csv")
BETA = 2
SCORE_NAMES = ("AUROC", "AUPRC", "Accuracy", "F-measure", "Fbeta-measure", "Gbeta-measure", "Challenge metric")
SCORE_KEYS = ("auroc", "auprc", "accuracy", "f_measure", "f_beta", "g_beta", "challenge_metric")
_CHUNK = 2048  # records summed at once: keeps the records x classes x classes terms of the metric to a few MB

_REPRESENTATIVE = {code: pair[0] for pair in CINC2020_EQUIVALENT for code in pair}


def representative(code: str) -> str:
    """The code that stands for its equivalent pair (the pair's first code), or the code itself."""
    return _REPRESENTATIVE.get(code, code)


def _load_weights(path: Path) -> tuple[tuple[str, ...], np.ndarray]:
    lines = [[cell.strip() for cell in line.split(",")] for line in path.read_text(encoding="ascii").splitlines()]
    codes = lines[0][1:]
    if tuple(codes) != CINC2020_SCORED or [row[0] for row in lines[1:]] != codes:
        raise ValueError(f"{path}: rows and columns must be the 27 scored codes in the official order")
    values = np.array([[float(v) for v in row[1:]] for row in lines[1:]], dtype=np.float64)
    rows = [representative(c) for c in codes]
    classes = tuple(dict.fromkeys(rows))
    for cls in classes:  # equivalent codes must weigh the same, or merging them would change the score
        same = [i for i, r in enumerate(rows) if r == cls]
        if not (values[same] == values[same[0]]).all() or not (values[:, same] == values[:, [same[0]]]).all():
            raise ValueError(f"{path}: the codes equivalent to {cls} have different weights")
    index = [rows.index(c) for c in classes]
    return classes, values[np.ix_(index, index)]


CLASSES, WEIGHTS = _load_weights(WEIGHTS_FILE)
NORMAL_INDEX = CLASSES.index(CINC2020_NORMAL)


def label_matrix(dx_lists: Sequence[Iterable[str]]) -> np.ndarray:
    """Records x CLASSES, True where the record's `#Dx` codes hold the class or its equivalent."""
    labels = np.zeros((len(dx_lists), len(CLASSES)), dtype=bool)
    for row, dx in zip(labels, dx_lists):
        found = {representative(code) for code in dx}
        row[:] = [c in found for c in CLASSES]
    return labels


def column_map(columns: Sequence[str]) -> np.ndarray:
    """For each column, the index in CLASSES of the class it names (equivalents merged), or -1 if not scored."""
    return np.array([CLASSES.index(representative(c)) if representative(c) in CLASSES else -1 for c in columns],
                    dtype=np.int64)


def merge_columns(columns: Sequence[str], binary: np.ndarray, probabilities: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(binary, probabilities) over CLASSES from outputs (records x columns) over `columns`: OR of the binary outputs
    and NaN-ignoring mean of the probabilities of the columns naming one class, NaN to 0, absent classes 0."""
    binary = np.atleast_2d(np.asarray(binary, dtype=bool))
    probabilities = np.zeros(binary.shape) if probabilities is None else np.atleast_2d(
        np.asarray(probabilities, dtype=np.float64))
    target = column_map(columns)
    merged_binary = np.zeros((len(binary), len(CLASSES)), dtype=bool)
    merged = np.zeros((len(binary), len(CLASSES)), dtype=np.float64)
    for j in range(len(CLASSES)):
        own = np.flatnonzero(target == j)
        if len(own):
            merged_binary[:, j] = binary[:, own].any(axis=1)
            with warnings.catch_warnings():  # all-NaN columns: NaN, then 0 below, as the official script does
                warnings.simplefilter("ignore", RuntimeWarning)
                merged[:, j] = np.nanmean(probabilities[:, own], axis=1)
    merged[np.isnan(merged)] = 0
    return merged_binary, merged


def _record_sum(terms: Iterable[np.ndarray]) -> np.ndarray:
    """Left-to-right sum over records of per-record arrays given in chunks (records first): the order of the
    official `+=` loops, without holding every record's terms at once."""
    total = None
    for part in terms:
        part = np.array(part, dtype=np.float64)  # a fresh array: cumsum runs in place on it
        if total is not None:
            part[0] += total
        np.cumsum(part, axis=0, out=part)
        total = part[-1]
    return total


def _chunks(n: int) -> Iterable[slice]:
    return (slice(start, min(start + _CHUNK, n)) for start in range(0, max(n, 1), _CHUNK))


def _check(labels: np.ndarray, outputs: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    labels, outputs = np.asarray(labels), np.asarray(outputs)
    if labels.shape != outputs.shape or labels.ndim != 2 or not len(labels):
        raise ValueError(f"labels {labels.shape} and {what} {outputs.shape} must be equal and non-empty")
    return labels.astype(bool), outputs


def _ratio_or_nan(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.full(np.shape(denominator), np.nan), where=denominator != 0)


def _nanmean(values: np.ndarray) -> float:
    with warnings.catch_warnings():  # every class undefined: NaN, as the official script prints it
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(values))


def accuracy(labels: np.ndarray, binary: np.ndarray) -> float:
    """Fraction of records whose binary outputs equal their labels in every class."""
    labels, binary = _check(labels, binary, "binary outputs")
    return float(np.all(labels == binary.astype(bool), axis=1).sum()) / float(len(labels))


def f_measure_per_class(labels: np.ndarray, binary: np.ndarray) -> np.ndarray:
    """2TP / (2TP + FP + FN) per class from plain counts; NaN where no record is positive or output."""
    labels, binary = _check(labels, binary, "binary outputs")
    binary = binary.astype(bool)
    tp = (labels & binary).sum(axis=0).astype(np.float64)
    fp = (~labels & binary).sum(axis=0).astype(np.float64)
    fn = (labels & ~binary).sum(axis=0).astype(np.float64)
    return _ratio_or_nan(2 * tp, 2 * tp + fp + fn)


def beta_measures(labels: np.ndarray, binary: np.ndarray, beta: int = BETA) -> tuple[float, float]:
    """Macro F-beta and G-beta with each record adding 1/max(its label count, 1) to its cells; NaN classes skipped."""
    labels, binary = _check(labels, binary, "binary outputs")
    binary = binary.astype(bool)
    weight = 1.0 / np.maximum(labels.sum(axis=1), 1).astype(np.float64)
    cells = (np.stack([labels[s] & binary[s], ~labels[s] & binary[s], labels[s] & ~binary[s]], axis=1)
             * weight[s, None, None] for s in _chunks(len(labels)))
    tp, fp, fn = _record_sum(cells)
    # Operand order of the official expressions, so every rounding step is the same.
    f_beta = _ratio_or_nan((1 + beta**2) * tp, (1 + beta**2) * tp + fp + beta**2 * fn)
    g_beta = _ratio_or_nan(tp, tp + fp + beta * fn)
    return _nanmean(f_beta), _nanmean(g_beta)


def auc_per_class(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and AUPRC of each class over the thresholds the final script walks: one above every probability, then
    each distinct probability from high to low (positive when >= it). NaN for a class without positives (AUROC and
    AUPRC) or without negatives (AUROC)."""
    labels, probabilities = _check(labels, probabilities, "probabilities")
    probabilities = probabilities.astype(np.float64)
    auroc, auprc = np.zeros(labels.shape[1]), np.zeros(labels.shape[1])
    for k in range(labels.shape[1]):
        scores, truth = probabilities[:, k], labels[:, k]
        distinct = np.unique(scores)
        thresholds = np.append(distinct, distinct[-1] + 1)[::-1]
        positives, negatives = np.sort(scores[truth]), np.sort(scores[~truth])
        tp = (len(positives) - np.searchsorted(positives, thresholds, side="left")).astype(np.float64)
        fp = (len(negatives) - np.searchsorted(negatives, thresholds, side="left")).astype(np.float64)
        tp[0] = fp[0] = 0  # the official walk starts with nothing counted, even above a probability of inf
        fn, tn = len(positives) - tp, len(negatives) - fp
        tpr, tnr, ppv = _ratio_or_nan(tp, tp + fn), _ratio_or_nan(tn, fp + tn), _ratio_or_nan(tp, tp + fp)
        auroc[k] = np.cumsum(0.5 * (tpr[1:] - tpr[:-1]) * (tnr[1:] + tnr[:-1]))[-1]
        auprc[k] = np.cumsum((tpr[1:] - tpr[:-1]) * ppv[1:])[-1]
    return auroc, auprc


def modified_confusion(labels: np.ndarray, binary: np.ndarray) -> np.ndarray:
    """Classes x classes (labels x outputs): a record adds 1/max(|labels or outputs|, 1) to every (label class,
    output class) pair it has."""
    labels, binary = _check(labels, binary, "binary outputs")
    binary = binary.astype(bool)
    weight = 1.0 / np.maximum((labels | binary).sum(axis=1), 1).astype(np.float64)
    return _record_sum((labels[s, :, None] & binary[s, None, :]) * weight[s, None, None] for s in _chunks(len(labels)))


def challenge_metric(labels: np.ndarray, binary: np.ndarray, weights: np.ndarray = WEIGHTS,
                     normal_index: int = NORMAL_INDEX) -> float:
    """The Challenge metric: the weighted modified confusion, scaled so that outputting the normal class alone for
    every record scores 0 and outputting the labels scores 1 (0 when the two coincide)."""
    labels, binary = _check(labels, binary, "binary outputs")
    inactive = np.zeros(labels.shape, dtype=bool)
    inactive[:, normal_index] = True
    observed, correct, inactive = (float(np.nansum(weights * modified_confusion(labels, outputs)))
                                   for outputs in (binary, labels, inactive))
    if correct == inactive:
        return 0.0
    return float(observed - inactive) / float(correct - inactive)


def measures(labels: np.ndarray, binary: np.ndarray, probabilities: np.ndarray) -> dict:
    """The seven scores of the final phase (keys SCORE_KEYS) plus per-class AUROC, AUPRC and F-measure, on
    records x CLASSES arrays."""
    auroc, auprc = auc_per_class(labels, probabilities)
    f_measure = f_measure_per_class(labels, binary)
    f_beta, g_beta = beta_measures(labels, binary)
    return {
        "auroc": _nanmean(auroc), "auprc": _nanmean(auprc), "accuracy": accuracy(labels, binary),
        "f_measure": _nanmean(f_measure), "f_beta": f_beta, "g_beta": g_beta,
        "challenge_metric": challenge_metric(labels, binary),
        "auroc_per_class": auroc, "auprc_per_class": auprc, "f_measure_per_class": f_measure,
    }


def format_scores(scores: dict) -> str:
    """The two lines the final-phase script prints: names, then the seven scores with 3 decimals, comma-separated."""
    return ",".join(SCORE_NAMES) + "\n" + ",".join(f"{scores[key]:.3f}" for key in SCORE_KEYS)


def format_per_class(scores: dict) -> str:
    """A per-class table of positives, AUROC, AUPRC and F-measure (the final script's per-class scores)."""
    width = max(5, *(len(c) for c in scores["classes"]))
    rows = [f"{'class':<{width}} {'n':>6} {'AUROC':>6} {'AUPRC':>6} {'F':>6}"]
    for k, cls in enumerate(scores["classes"]):
        rows.append(f"{cls:<{width}} {int(scores['num_positive'][k]):>6} {scores['auroc_per_class'][k]:>6.3f} "
                    f"{scores['auprc_per_class'][k]:>6.3f} {scores['f_measure_per_class'][k]:>6.3f}")
    return "\n".join(rows)
