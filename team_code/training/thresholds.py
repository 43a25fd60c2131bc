"""Per-class probability thresholds, tuned on out-of-fold probabilities for the objective of the class set: mean(F2,
G2) of the Feb phase (f2g2) or the Challenge metric of the final phase (challenge2020).

A coordinate ascent over each class's distinct probabilities finds thresholds that no single-class change can
improve; the downhill simplex (Nelder-Mead, the paper's method) then polishes, and the best result wins.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

from team_code.scoring import challenge2020
from team_code.scoring.f2g2 import BETA, fbeta_gbeta

OBJECTIVES = ("f2g2", "challenge2020")


def apply_thresholds(probabilities: np.ndarray, thresholds: np.ndarray, fallback: np.ndarray | None = None
                     ) -> np.ndarray:
    """Binary labels: a class is on when its probability reaches its threshold; every record gets at least
    one label (its most probable class) because every CPSC 2018 record has one.

    `fallback` (same shape) is what "most probable" is read from, when not the probabilities themselves: a record
    of several windows has a max per class and a min for Normal (inference.combine_windows), taken from different
    windows, so its argmax can be a class no window finds most probable; the mean of its windows cannot be (a
    class every window ranks first is the mean's first), and a 10-s and a 60-s record of one heart then agree.
    """
    probabilities = np.atleast_2d(probabilities)
    fallback = probabilities if fallback is None else np.atleast_2d(fallback)
    binary = probabilities >= np.asarray(thresholds)[None, :]
    empty = ~binary.any(axis=1)
    binary[empty, fallback[empty].argmax(axis=1)] = True
    return binary


def challenge_score(labels: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray,
                    fallback: np.ndarray | None = None) -> float:
    """The tuning objective: mean of macro F2 and G2, computed as evaluate.py computes them."""
    f2, g2 = fbeta_gbeta(labels.astype(bool), apply_thresholds(probabilities, thresholds, fallback), beta=BETA)
    return (f2 + g2) / 2


def _scores_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """mean(macro F2, macro G2) for each row of per-class counts (..., classes): the definitions of
    metrics.fbeta_gbeta (a ratio with a zero denominator is 1), vectorised over rows."""
    b2 = BETA**2
    f_den, g_den = (1 + b2) * tp + b2 * fn + fp, tp + fp + BETA * fn
    f = np.divide((1 + b2) * tp, f_den, out=np.ones(np.shape(f_den)), where=f_den != 0)
    g = np.divide(tp, g_den, out=np.ones(np.shape(g_den)), where=g_den != 0)
    return (f.mean(axis=-1) + g.mean(axis=-1)) / 2


_POLISH_ROUNDS = 10  # simplex-then-ascent rounds; each must improve, so this is only a guard


class _Search:
    """The objective over one class's candidate thresholds at once, the others held fixed.

    A class's candidates are its distinct probabilities (on for every record with p >= value) and "never".
    Counts are exact integers: a record with k labels weighs unit/k, unit being the least common multiple of the
    label counts, so the incremental sums carry no rounding (the score differs from metrics.fbeta_gbeta only in
    the last bits, since the official sums add the floats 1/k record by record).
    """

    def __init__(self, labels: np.ndarray, probabilities: np.ndarray, fallback: np.ndarray | None = None):
        self.labels, self.probabilities, self.fallback = labels, probabilities, fallback
        counts = labels.sum(axis=1)
        unit = math.lcm(*(int(k) for k in np.unique(counts) if k > 0)) if counts.any() else 1
        self.weights = np.where(counts > 0, unit // np.maximum(counts, 1), 0).astype(np.int64)
        self.argmax = (probabilities if fallback is None else fallback).argmax(axis=1)
        self.distinct = [np.unique(probabilities[:, j]) for j in range(labels.shape[1])]
        self.order = [np.argsort(-probabilities[:, j], kind="stable") for j in range(labels.shape[1])]

    def counts(self, binary: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = self.weights
        return w @ (self.labels & binary), w @ (~self.labels & binary), w @ (self.labels & ~binary)

    def index_of(self, thresholds: np.ndarray) -> np.ndarray:
        """Each class's candidate index for a threshold: the first distinct value it does not exceed
        (len(distinct) means never on)."""
        return np.array([np.searchsorted(d, t, side="left") for d, t in zip(self.distinct, thresholds)])

    def on(self, index: np.ndarray) -> np.ndarray:
        """Records x classes at or above each class's candidate, before the at-least-one-label rule."""
        values = np.array([d[i] if i < len(d) else np.inf for d, i in zip(self.distinct, index)])
        return self.probabilities >= values[None, :]

    def labelled(self, index: np.ndarray) -> np.ndarray:
        """The driver's labels at these candidates: `on`, then the at-least-one-label rule (apply_thresholds')."""
        binary = self.on(index)
        empty = ~binary.any(axis=1)
        binary[empty, self.argmax[empty]] = True
        return binary

    def score(self, index: np.ndarray) -> float:
        return float(_scores_from_counts(*self.counts(self.labelled(index))))

    def score_thresholds(self, thresholds: np.ndarray) -> float:
        """The objective at these thresholds, exactly as evaluate.py computes it."""
        return challenge_score(self.labels, self.probabilities, thresholds, self.fallback)

    def class_scores(self, j: int, above: np.ndarray) -> np.ndarray:
        """The score at each candidate of class j (index 0..len(distinct), the last being never), the other
        classes on where `above` says, the at-least-one-label rule applied as apply_thresholds applies it."""
        labels, w, argmax = self.labels, self.weights, self.argmax
        others_on = np.delete(above, j, axis=1).any(axis=1)
        # Start from class j never on: records with no other class on get their most probable class.
        binary = above.copy()
        binary[:, j] = False
        binary[~others_on, argmax[~others_on]] = True
        base = np.stack(self.counts(binary))  # tp, fp, fn x classes
        # What turning class j on changes, record by record. A record whose only label is its argmax j is on
        # either way; one that would fall back to another argmax class a loses a instead.
        n, num_classes = labels.shape
        delta = np.zeros((n, 3, num_classes), dtype=np.int64)
        changes = others_on | (argmax != j)
        truth = labels[:, j]
        delta[changes & truth, 0, j] += w[changes & truth]
        delta[changes & truth, 2, j] -= w[changes & truth]
        delta[changes & ~truth, 1, j] += w[changes & ~truth]
        swap = np.flatnonzero(~others_on & (argmax != j))
        a = argmax[swap]
        hit = labels[swap, a]
        delta[swap[hit], 0, a[hit]] -= w[swap[hit]]
        delta[swap[hit], 2, a[hit]] += w[swap[hit]]
        delta[swap[~hit], 1, a[~hit]] -= w[swap[~hit]]
        # Records from the most probable down; candidate value v turns on the records up to the last one >= v.
        order = self.order[j]
        cumulative = np.cumsum(delta[order], axis=0)
        p = self.probabilities[order, j]
        last = np.flatnonzero(np.append(p[1:] != p[:-1], True))  # last position of each distinct value, high first
        counts = np.concatenate([base[None], base[None] + cumulative[last]])  # never, then highest value first
        scores = _scores_from_counts(counts[:, 0], counts[:, 1], counts[:, 2])
        return scores[::-1]  # candidate index order: lowest distinct value first, never last

    def ascend(self, index: np.ndarray, max_sweeps: int) -> np.ndarray:
        """Coordinate ascent: move each class to its best candidate while that strictly improves the score,
        sweeping over the classes until a sweep changes nothing (or max_sweeps)."""
        index = index.copy()
        for _ in range(max_sweeps):
            changed = False
            for j in range(self.labels.shape[1]):
                scores = self.class_scores(j, self.on(index))
                best = int(np.argmax(scores))
                if scores[best] > scores[index[j]]:
                    index[j], changed = best, True
            if not changed:
                break
        return index

    def thresholds(self, index: np.ndarray) -> np.ndarray:
        """Each candidate as a threshold halfway between its distinct value and the next lower one (halfway to 1,
        or just above, for never): the same labels on these probabilities, the widest margin for new ones."""
        result = np.empty(len(index))
        for j, (d, i) in enumerate(zip(self.distinct, index)):
            if i < len(d):
                lower, upper = (d[i - 1] if i > 0 else min(0.0, d[0])), d[i]
            else:
                lower, upper = d[-1], max(1.0, np.nextafter(d[-1], np.inf))
            middle = (lower + upper) / 2
            result[j] = middle if lower < middle else upper  # neighbours one float apart have no middle
        return result


class _ChallengeSearch(_Search):
    """The Challenge metric over one class's candidate thresholds at once, the others held fixed.

    Columns are named by `classes` (SNOMED CT codes); they are merged into challenge2020.CLASSES as the official
    scorer merges output columns (equivalent codes OR-ed, unscored codes ignored). The metric is a sum over records
    of (labels . weights . outputs) / |labels or outputs|, so what turning class j on changes is a per-record delta;
    the score is challenge2020.challenge_metric's up to rounding (its sums run in another order).
    """

    def __init__(self, labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[str],
                 fallback: np.ndarray | None = None):
        super().__init__(labels, probabilities, fallback)
        if len(classes) != labels.shape[1]:
            raise ValueError(f"{len(classes)} class codes for {labels.shape[1]} columns of labels and probabilities")
        target = challenge2020.column_map(classes)
        self.merge = np.zeros((len(classes), len(challenge2020.CLASSES)))
        self.merge[np.flatnonzero(target >= 0), target[target >= 0]] = 1.0
        self.truth = self.merged(labels)
        self.gain = self.truth @ challenge2020.WEIGHTS  # what outputting each class earns a record
        inactive = np.zeros(self.truth.shape, dtype=bool)
        inactive[:, challenge2020.NORMAL_INDEX] = True
        self.correct, self.inactive = self.observed(self.truth), self.observed(inactive)

    def merged(self, binary: np.ndarray) -> np.ndarray:
        return (binary @ self.merge) > 0

    def per_record(self, merged: np.ndarray) -> np.ndarray:
        union = np.maximum((self.truth | merged).sum(axis=1), 1)
        return (self.gain * merged).sum(axis=1) / union

    def observed(self, merged: np.ndarray) -> float:
        return float(self.per_record(merged).sum())

    def normalised(self, observed: np.ndarray | float) -> np.ndarray | float:
        if self.correct == self.inactive:
            return np.zeros_like(observed)
        return (observed - self.inactive) / (self.correct - self.inactive)

    def score(self, index: np.ndarray) -> float:
        return float(self.normalised(self.observed(self.merged(self.labelled(index)))))

    def score_thresholds(self, thresholds: np.ndarray) -> float:
        """The Challenge metric at these thresholds (challenge2020.challenge_metric's up to rounding)."""
        binary = apply_thresholds(self.probabilities, thresholds, self.fallback)
        return float(self.normalised(self.observed(self.merged(binary))))

    def class_scores(self, j: int, above: np.ndarray) -> np.ndarray:
        """The metric at each candidate of class j (index 0..len(distinct), the last being never), the other classes
        on where `above` says, the at-least-one-label rule applied as apply_thresholds applies it."""
        off = above.copy()
        off[:, j] = False
        empty = ~off.any(axis=1)
        off[empty, self.argmax[empty]] = True
        on = above.copy()
        on[:, j] = True
        before = self.per_record(self.merged(off))
        delta = self.per_record(self.merged(on)) - before
        order = self.order[j]
        p = self.probabilities[order, j]
        last = np.flatnonzero(np.append(p[1:] != p[:-1], True))
        base = before.sum()
        observed = np.concatenate([[base], base + np.cumsum(delta[order])[last]])
        return self.normalised(observed)[::-1]


def objective_score(labels: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray, objective: str = "f2g2",
                    classes: Sequence[str] | None = None, fallback: np.ndarray | None = None) -> float:
    """The tuning objective at these thresholds: challenge_score for f2g2, the Challenge metric (columns named by
    `classes`) for challenge2020; `fallback` as apply_thresholds reads it."""
    if objective == "f2g2":
        return challenge_score(labels, probabilities, thresholds, fallback)
    return _search(labels, probabilities, objective, classes, fallback).score_thresholds(thresholds)


def _search(labels: np.ndarray, probabilities: np.ndarray, objective: str, classes: Sequence[str] | None,
            fallback: np.ndarray | None = None) -> _Search:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown threshold objective {objective!r} (choose from {', '.join(OBJECTIVES)})")
    if fallback is not None and np.shape(fallback) != np.shape(probabilities):
        raise ValueError(f"fallback {np.shape(fallback)} must have the probabilities' shape {np.shape(probabilities)}")
    if objective == "f2g2":
        return _Search(labels, probabilities, fallback)
    if classes is None:
        raise ValueError("the challenge2020 objective needs the SNOMED CT code of each column (classes)")
    return _ChallengeSearch(np.asarray(labels).astype(bool), np.asarray(probabilities, dtype=np.float64), classes,
                            fallback)


def tune_thresholds(labels: np.ndarray, probabilities: np.ndarray, seed: int = 0, random_starts: int = 3,
                    max_sweeps: int = 50, max_evaluations: int = 2000, objective: str = "f2g2",
                    classes: Sequence[str] | None = None, fallback: np.ndarray | None = None
                    ) -> tuple[np.ndarray, float]:
    """Maximise the objective (f2g2: mean of macro F2 and G2; challenge2020: the Challenge metric, the columns being
    the SNOMED CT codes `classes`), at-least-one-label rule applied (reading `fallback` as apply_thresholds does);
    return (thresholds, score).

    Coordinate ascent over each class's distinct probabilities, from all 0.5 and `random_starts` seeded random
    starts, reaches a point no single-class change improves (so no class is left above every probability it
    gets when turning it on helps). The downhill simplex polishes the best of those; after an improvement the
    ascent runs again, so the result is still coordinate-wise optimal and never scores below the ascent alone.
    """
    labels = np.asarray(labels).astype(bool)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if labels.shape != probabilities.shape or labels.ndim != 2 or not len(labels):
        raise ValueError(f"labels {labels.shape} and probabilities {probabilities.shape} must be equal and non-empty")
    num_classes = labels.shape[1]
    search = _search(labels, probabilities, objective, classes, fallback)
    objective_at = search.score_thresholds
    rng = np.random.default_rng(seed)
    starts = [np.full(num_classes, 0.5)] + [rng.uniform(0.1, 0.7, num_classes) for _ in range(random_starts)]
    ascended = [search.ascend(search.index_of(start), max_sweeps) for start in starts]
    index = max(ascended, key=search.score)
    best_t = search.thresholds(index)
    best = objective_at(best_t)

    def loss(t: np.ndarray) -> float:
        return -objective_at(np.clip(t, 0.0, 1.0))

    for _ in range(_POLISH_ROUNDS):
        polished = np.clip(_simplex_run(loss, best_t, max_evaluations), 0.0, 1.0)
        if -loss(polished) <= best:
            break
        index = search.ascend(search.index_of(polished), max_sweeps)
        candidate = search.thresholds(index)
        score = objective_at(candidate)
        if score <= best:
            break
        best_t, best = candidate, score
    return best_t, best


def _simplex_run(loss, start: np.ndarray, max_evaluations: int, step: float = 0.1) -> np.ndarray:
    """scipy's Nelder-Mead from a simplex `step` wide per class (towards 0.5): the objective is piecewise
    constant, so a small simplex would see no slope."""
    simplex = np.vstack([start] + [start + step * np.eye(len(start))[i] * (1 if start[i] < 0.5 else -1)
                                   for i in range(len(start))])
    result = minimize(loss, start, method="Nelder-Mead",
                      options={"initial_simplex": simplex, "maxfev": max_evaluations, "xatol": 1e-3, "fatol": 1e-6})
    return result.x
