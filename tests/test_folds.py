"""Fold stratification: every class's share in each validation fold within one record of the ideal."""
import numpy as np
import pytest

from team_code.data.folds import stratified_folds

CPSC_FIRST_LABELS = np.array([1098, 704, 207, 918, 556, 672, 1695, 825, 202]) / 6877


def cpsc_like_labels(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, 9), dtype=int)
    labels[np.arange(n), rng.choice(9, size=n, p=CPSC_FIRST_LABELS)] = 1
    extra = np.flatnonzero(rng.random(n) < 0.07)
    labels[extra, rng.integers(0, 9, len(extra))] = 1
    return labels


@pytest.mark.parametrize("n,folds,seed", [(120, 10, 0), (997, 10, 1), (2500, 10, 2), (400, 4, 3), (61, 5, 4)])
def test_each_class_within_one_record_of_ideal(n, folds, seed):
    labels = cpsc_like_labels(n, seed)
    splits = stratified_folds(labels, folds, seed)
    for val in splits:
        ideal = labels.sum(axis=0) * len(val) / n
        assert np.all(np.abs(labels[val].sum(axis=0) - ideal) <= 1.0), (labels[val].sum(axis=0), ideal)


def test_partition_equal_sizes_and_deterministic():
    labels = cpsc_like_labels(503, 7)
    splits = stratified_folds(labels, 10, seed=11)
    together = np.sort(np.concatenate(splits))
    assert np.array_equal(together, np.arange(503))
    assert {len(s) for s in splits} <= {50, 51}
    again = stratified_folds(labels, 10, seed=11)
    assert all(np.array_equal(a, b) for a, b in zip(splits, again))
    other = stratified_folds(labels, 10, seed=12)
    assert not all(np.array_equal(a, b) for a, b in zip(splits, other))


def test_too_few_records_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot be split into 10 folds"):
        stratified_folds(cpsc_like_labels(5, 0), 10, 0)


def test_many_label_sets_over_24_classes():
    """CinC 2020-like labels: 24 classes, up to five labels a record, hundreds of distinct label sets (the old
    repair held a label sets x label sets x classes array, which the full release could not afford)."""
    rng = np.random.default_rng(5)
    prevalence = np.sort(rng.power(0.3, 24))[::-1] * 0.3 + 0.003
    labels = (rng.random((3000, 24)) < prevalence).astype(int)
    labels[~labels.any(axis=1), 0] = 1
    assert len(np.unique(labels, axis=0)) > 300
    splits = stratified_folds(labels, 10, 0)
    assert np.array_equal(np.sort(np.concatenate(splits)), np.arange(3000)) and {len(s) for s in splits} == {300}
    for val in splits:
        ideal = labels.sum(axis=0) * len(val) / len(labels)
        assert np.all(np.abs(labels[val].sum(axis=0) - ideal) <= 1.0), (labels[val].sum(axis=0), ideal)
