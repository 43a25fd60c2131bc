"""Threshold tuning: exact objective, coordinate-wise optimum, and no class left above every probability it gets."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from team_code.scoring import challenge2020
from team_code.scoring.f2g2 import fbeta_gbeta
from team_code.training.thresholds import (
    _ChallengeSearch,
    _Search,
    apply_thresholds,
    challenge_score,
    objective_score,
    tune_thresholds,
)

# The search counts in exact integers, the official sums add floats 1/k record by record: equal up to rounding.
ROUNDING = 1e-12


def test_every_record_gets_at_least_one_label():
    probabilities = np.array([[0.1, 0.2, 0.3], [0.9, 0.8, 0.1], [0.0, 0.0, 0.0]])
    binary = apply_thresholds(probabilities, np.array([0.5, 0.5, 0.5]))
    assert binary.tolist() == [[False, False, True], [True, True, False], [True, False, False]]


def test_a_record_with_no_label_takes_the_fallbacks_most_probable_class():
    probabilities = np.array([[0.1, 0.4, 0.3], [0.9, 0.8, 0.1]])
    fallback = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    binary = apply_thresholds(probabilities, np.array([0.5, 0.5, 0.5]), fallback)
    assert binary.tolist() == [[False, False, True], [True, True, False]]  # the labelled record is not touched


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


@st.composite
def predictions(draw, max_records: int = 30):
    """Labels (some records with several labels, some with none) and probabilities on a coarse grid, so that
    ties between records and between classes are common."""
    n = draw(st.integers(1, max_records))
    classes = draw(st.integers(2, 5))
    labels = draw(arrays(bool, (n, classes), elements=st.booleans()))
    probabilities = draw(arrays(np.float64, (n, classes), elements=st.integers(0, 20).map(lambda k: k / 20)))
    return labels, probabilities


def _candidates(probabilities: np.ndarray, j: int) -> np.ndarray:
    """Every labelling a threshold can give class j: on from each distinct probability up, or never."""
    return np.append(np.unique(probabilities[:, j]), np.inf)


@settings(max_examples=60, deadline=None)
@given(predictions())
def test_vectorised_objective_equals_the_official_score(case):
    labels, probabilities = case
    search = _Search(labels, probabilities)
    rng = np.random.default_rng(len(labels))
    thresholds = rng.choice([0.0, 0.3, 0.5, 0.8, 2.0], labels.shape[1])
    above = probabilities >= thresholds[None, :]
    for j in range(labels.shape[1]):
        scores = search.class_scores(j, above)
        for value, score in zip(_candidates(probabilities, j), scores, strict=True):
            trial = thresholds.copy()
            trial[j] = value
            assert abs(score - challenge_score(labels, probabilities, trial)) < ROUNDING


@settings(max_examples=40, deadline=None)
@given(predictions())
def test_no_single_class_change_improves_the_result(case):
    labels, probabilities = case
    thresholds, score = tune_thresholds(labels, probabilities, seed=0)
    assert score == challenge_score(labels, probabilities, thresholds)
    assert score >= challenge_score(labels, probabilities, np.full(labels.shape[1], 0.5)) - ROUNDING
    for j in range(labels.shape[1]):
        for value in _candidates(probabilities, j):
            trial = thresholds.copy()
            trial[j] = value
            assert challenge_score(labels, probabilities, trial) <= score + ROUNDING


def test_a_class_below_every_grid_value_is_still_turned_on():
    # The failure seen on a small training run: class 2's probabilities all lie far below 0.5 (positives
    # 0.031-0.034, negatives at most 0.030), and its positive records' most probable class is another one, so only
    # a threshold at or below 0.034 labels them. Other classes are separated at 0.5.
    rng = np.random.default_rng(2)
    n = 90
    truth = np.arange(n) % 3
    labels = np.zeros((n, 3), dtype=bool)
    labels[np.arange(n), truth] = True
    probabilities = np.where(labels, 0.7, 0.2) + rng.uniform(-0.1, 0.1, (n, 3))
    probabilities[:, 2] = np.where(truth == 2, rng.uniform(0.031, 0.034, n), rng.uniform(0.0, 0.030, n))
    probabilities[truth == 2, 0] = 0.45  # most probable, below 0.5: the fallback label would be class 0
    never_class_2 = np.array([0.5, 0.5, 1.0])
    assert challenge_score(labels, probabilities, never_class_2) < 0.8  # turning class 2 on does help
    thresholds, score = tune_thresholds(labels, probabilities, seed=0)
    assert thresholds[2] <= probabilities[truth == 2, 2].min()
    assert thresholds[2] > probabilities[truth != 2, 2].max()
    assert score == challenge_score(labels, probabilities, thresholds) == 1.0


# --- The Challenge metric objective (challenge2020): columns named by SNOMED CT codes, merged as the official scorer
# --- merges output columns.

@st.composite
def predictions_with_fallback(draw, max_records: int = 30):
    """predictions() and, as inference's mean of the windows would be, a second grid array to fall back on."""
    labels, probabilities = draw(predictions(max_records))
    fallback = draw(arrays(np.float64, probabilities.shape, elements=st.integers(0, 20).map(lambda k: k / 20)))
    return labels, probabilities, fallback


@settings(max_examples=40, deadline=None)
@given(predictions_with_fallback())
def test_tuning_with_a_fallback_scores_and_optimises_that_rule(case):
    labels, probabilities, fallback = case
    search = _Search(labels, probabilities, fallback)
    thresholds = np.random.default_rng(len(labels)).choice([0.0, 0.3, 0.5, 0.8, 2.0], labels.shape[1])
    above = probabilities >= thresholds[None, :]
    for j in range(labels.shape[1]):
        for value, score in zip(_candidates(probabilities, j), search.class_scores(j, above), strict=True):
            trial = thresholds.copy()
            trial[j] = value
            assert abs(score - challenge_score(labels, probabilities, trial, fallback)) < ROUNDING
    tuned, score = tune_thresholds(labels, probabilities, seed=0, fallback=fallback)
    assert score == challenge_score(labels, probabilities, tuned, fallback)
    for j in range(labels.shape[1]):
        for value in _candidates(probabilities, j):
            trial = tuned.copy()
            trial[j] = value
            assert challenge_score(labels, probabilities, trial, fallback) <= score + ROUNDING


# Two columns of one equivalent pair (RBBB), an unscored code, and five scored classes.
CODES = ["426783006", "164889003", "713427006", "59118001", "270492004", "164884008", "10370003", "164934002"]


def _challenge_exact(labels, probabilities, thresholds, classes=CODES, fallback=None):
    merged_labels, _ = challenge2020.merge_columns(classes, labels)
    merged_binary, _ = challenge2020.merge_columns(classes, apply_thresholds(probabilities, thresholds, fallback))
    return challenge2020.challenge_metric(merged_labels, merged_binary)


@st.composite
def coded_predictions(draw, max_records: int = 25):
    n = draw(st.integers(1, max_records))
    labels = draw(arrays(bool, (n, len(CODES)), elements=st.booleans()))
    probabilities = draw(arrays(np.float64, (n, len(CODES)), elements=st.integers(0, 10).map(lambda k: k / 10)))
    return labels, probabilities


@settings(max_examples=40, deadline=None)
@given(coded_predictions())
def test_challenge_objective_equals_the_official_metric_at_every_candidate(case):
    labels, probabilities = case
    search = _ChallengeSearch(labels, probabilities, CODES)
    thresholds = np.random.default_rng(len(labels)).choice([0.0, 0.3, 0.5, 0.8, 2.0], len(CODES))
    above = probabilities >= thresholds[None, :]
    for j in range(len(CODES)):
        for value, score in zip(_candidates(probabilities, j), search.class_scores(j, above), strict=True):
            trial = thresholds.copy()
            trial[j] = value
            assert abs(score - _challenge_exact(labels, probabilities, trial)) < ROUNDING
    assert abs(objective_score(labels, probabilities, thresholds, "challenge2020", CODES)
               - _challenge_exact(labels, probabilities, thresholds)) < ROUNDING


@settings(max_examples=25, deadline=None)
@given(coded_predictions())
def test_challenge_tuning_reaches_a_point_no_single_class_change_improves(case):
    labels, probabilities = case
    thresholds, score = tune_thresholds(labels, probabilities, seed=0, objective="challenge2020", classes=CODES)
    assert score == objective_score(labels, probabilities, thresholds, "challenge2020", CODES)
    assert abs(score - _challenge_exact(labels, probabilities, thresholds)) < ROUNDING
    for j in range(len(CODES)):
        for value in _candidates(probabilities, j):
            trial = thresholds.copy()
            trial[j] = value
            assert _challenge_exact(labels, probabilities, trial) <= score + ROUNDING


def test_challenge_tuning_beats_one_half_on_a_planted_case():
    # One label a record; positives of class j score around c_j, negatives c_j - 0.25 (as the f2g2 planted case).
    rng = np.random.default_rng(1)
    codes = list(challenge2020.CLASSES[:9])
    n, classes = 600, len(codes)
    centres = np.linspace(0.2, 0.9, classes)
    labels = np.zeros((n, classes), dtype=bool)
    labels[np.arange(n), rng.integers(0, classes, n)] = True
    probabilities = np.clip(np.where(labels, centres, centres - 0.25) + rng.normal(0, 0.05, (n, classes)), 0, 1)
    baseline = objective_score(labels, probabilities, np.full(classes, 0.5), "challenge2020", codes)
    thresholds, score = tune_thresholds(labels, probabilities, seed=0, objective="challenge2020", classes=codes)
    assert score > baseline + 0.2 and score > 0.9
    assert np.all(np.abs(thresholds - (centres - 0.125)) < 0.1)


@settings(max_examples=25, deadline=None)
@given(coded_predictions(), st.integers(0, 2**32 - 1))
def test_challenge_objective_reads_the_fallback(case, seed):
    labels, probabilities = case
    fallback = np.random.default_rng(seed).random(probabilities.shape)
    search = _ChallengeSearch(labels, probabilities, CODES, fallback)
    thresholds = np.random.default_rng(len(labels)).choice([0.0, 0.3, 0.5, 0.8, 2.0], len(CODES))
    above = probabilities >= thresholds[None, :]
    for j in range(len(CODES)):
        for value, score in zip(_candidates(probabilities, j), search.class_scores(j, above), strict=True):
            trial = thresholds.copy()
            trial[j] = value
            assert abs(score - _challenge_exact(labels, probabilities, trial, fallback=fallback)) < ROUNDING
    assert abs(objective_score(labels, probabilities, thresholds, "challenge2020", CODES, fallback)
               - _challenge_exact(labels, probabilities, thresholds, fallback=fallback)) < ROUNDING


def test_f2g2_is_the_default_objective_and_ignores_classes():
    rng = np.random.default_rng(4)
    labels, probabilities = rng.random((80, 5)) < 0.3, rng.random((80, 5))
    default = tune_thresholds(labels, probabilities, seed=2)
    explicit = tune_thresholds(labels, probabilities, seed=2, objective="f2g2", classes=CODES[:5])
    assert default[1] == explicit[1] == challenge_score(labels, probabilities, default[0])
    assert np.array_equal(default[0], explicit[0])


def test_objective_errors_name_the_problem():
    labels, probabilities = np.ones((3, 2), dtype=bool), np.full((3, 2), 0.5)
    with pytest.raises(ValueError, match="unknown threshold objective 'auc'"):
        tune_thresholds(labels, probabilities, objective="auc")
    with pytest.raises(ValueError, match="needs the SNOMED CT code of each column"):
        tune_thresholds(labels, probabilities, objective="challenge2020")
    with pytest.raises(ValueError, match="3 class codes for 2 columns"):
        tune_thresholds(labels, probabilities, objective="challenge2020", classes=CODES[:3])
