"""Threshold tuning with Nelder-Mead beats the 0.5 default on a case where the best thresholds are elsewhere."""
import numpy as np

from team_code.metrics import fbeta_gbeta
from team_code.thresholds import apply_thresholds, challenge_score, tune_thresholds


def test_every_record_gets_at_least_one_label():
    probabilities = np.array([[0.1, 0.2, 0.3], [0.9, 0.8, 0.1], [0.0, 0.0, 0.0]])
    binary = apply_thresholds(probabilities, np.array([0.5, 0.5, 0.5]))
    assert binary.tolist() == [[False, False, True], [True, True, False], [True, False, False]]


def test_score_matches_the_evaluation_definition():
    rng = np.random.default_rng(0)
    labels = rng.random((50, 9)) < 0.2
    probabilities = rng.random((50, 9))
    thresholds = rng.uniform(0.2, 0.8, 9)
    f2, g2 = fbeta_gbeta(labels, apply_thresholds(probabilities, thresholds))
    assert challenge_score(labels, probabilities, thresholds) == (f2 + g2) / 2


def test_tuning_beats_one_half_on_a_planted_case():
    # Positives of class j score around c_j, negatives around c_j - 0.25: the right threshold is near c_j - 0.12,
    # far from 0.5 for most classes.
    rng = np.random.default_rng(1)
    n, classes = 600, 9
    centres = np.linspace(0.2, 0.9, classes)
    labels = np.zeros((n, classes), dtype=bool)
    labels[np.arange(n), rng.integers(0, classes, n)] = True
    probabilities = np.where(labels, centres, centres - 0.25) + rng.normal(0, 0.05, (n, classes))
    probabilities = np.clip(probabilities, 0, 1)
    baseline = challenge_score(labels, probabilities, np.full(classes, 0.5))
    thresholds, score = tune_thresholds(labels, probabilities, seed=0)
    assert score == challenge_score(labels, probabilities, thresholds)
    assert score > baseline + 0.2
    assert score > 0.95
    assert np.all(np.abs(thresholds - (centres - 0.125)) < 0.1)
