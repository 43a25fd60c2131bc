"""Scoring: the vectorised metrics against a literal, loop-based transcription of the official 2020 script."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from team_code.scoring.f2g2 import (
    auc,
    auc_per_class,
    beta_measures,
    fbeta_gbeta,
    format_per_class,
    format_scores,
    per_class_counts,
)

# --- The official definitions, written the way evaluate_12ECG_score.py (2020, nine classes) computes them:
# --- per-record Python loops with `+=`, and a walk down the sorted probabilities for the AUC.

def official_beta_score(labels, output, beta=2):
    num_recordings, num_classes = len(labels), len(labels[0])
    f_beta_l, g_beta_l, f_measure_l, accuracy_l = (np.zeros(num_classes) for _ in range(4))
    for j in range(num_classes):
        tp = fp = fn = tn = 0
        for i in range(num_recordings):
            num_labels = np.sum(labels[i])
            if labels[i][j] and output[i][j]:
                tp += 1 / num_labels
            elif not labels[i][j] and output[i][j]:
                fp += 1 / num_labels
            elif labels[i][j] and not output[i][j]:
                fn += 1 / num_labels
            elif not labels[i][j] and not output[i][j]:
                tn += 1 / num_labels
        if (1 + beta**2) * tp + (fn * beta**2) + fp:
            f_beta_l[j] = float((1 + beta**2) * tp) / float(((1 + beta**2) * tp) + (fn * beta**2) + fp)
        else:
            f_beta_l[j] = 1.0
        if tp + fp + beta * fn:
            g_beta_l[j] = float(tp) / float(tp + fp + beta * fn)
        else:
            g_beta_l[j] = 1.0
        if tp + fp + fn + tn:
            accuracy_l[j] = float(tp + tn) / float(tp + fp + fn + tn)
        else:
            accuracy_l[j] = 1.0
        if 2 * tp + fp + fn:
            f_measure_l[j] = float(2 * tp) / float(2 * tp + fp + fn)
        else:
            f_measure_l[j] = 1.0
    f_beta = g_beta = f_measure = accuracy = 0
    for j in range(num_classes):
        f_beta += f_beta_l[j] * 1.0
        g_beta += g_beta_l[j] * 1.0
        f_measure += f_measure_l[j] * 1.0
        accuracy += accuracy_l[j] * 1.0
    n = float(num_classes)
    return float(accuracy) / n, float(f_measure) / n, float(f_beta) / n, float(g_beta) / n


def official_auc(labels, probabilities):
    num_recordings, num_classes = labels.shape
    auroc_l, auprc_l = np.zeros(num_classes), np.zeros(num_classes)
    for k in range(num_classes):
        thresholds = np.unique(probabilities[:, k])[::-1]
        if thresholds[0] != 1:
            thresholds = np.insert(thresholds, 0, 1)
        if thresholds[-1] == 0:
            thresholds = thresholds[:-1]
        m = len(thresholds)
        tp, fp, fn, tn = np.zeros(m), np.zeros(m), np.zeros(m), np.zeros(m)
        idx = np.argsort(probabilities[:, k])[::-1]
        i = 0
        for j in range(m):
            if j == 0:
                tp[j], fp[j] = 0, 0
                fn[j] = np.sum(labels[:, k])
                tn[j] = num_recordings - fn[j]
            else:
                tp[j], fp[j], fn[j], tn[j] = tp[j - 1], fp[j - 1], fn[j - 1], tn[j - 1]
            while i < num_recordings and probabilities[idx[i], k] >= thresholds[j]:
                if labels[idx[i], k]:
                    tp[j] += 1
                    fn[j] -= 1
                else:
                    fp[j] += 1
                    tn[j] -= 1
                i += 1
        tpr, tnr, ppv = np.zeros(m), np.zeros(m), np.zeros(m)
        for j in range(m):
            tpr[j] = float(tp[j]) / float(tp[j] + fn[j]) if tp[j] + fn[j] else 1
            tnr[j] = float(tn[j]) / float(fp[j] + tn[j]) if fp[j] + tn[j] else 1
            ppv[j] = float(tp[j]) / float(tp[j] + fp[j]) if tp[j] + fp[j] else 1
        for j in range(m - 1):
            auroc_l[k] += 0.5 * (tpr[j + 1] - tpr[j]) * (tnr[j + 1] + tnr[j])
            auprc_l[k] += (tpr[j + 1] - tpr[j]) * ppv[j + 1]
    auroc = auprc = 0
    for k in range(num_classes):
        auroc += auroc_l[k] * 1.0
        auprc += auprc_l[k] * 1.0
    return float(auroc) / float(num_classes), float(auprc) / float(num_classes)


def random_case(rng: np.random.Generator, num_records: int, num_classes: int):
    """Labels with 1-3 per record, binary outputs, and probabilities with ties, exact 0s and 1s."""
    labels = np.zeros((num_records, num_classes), dtype=bool)
    for row in labels:
        row[rng.choice(num_classes, size=rng.integers(1, min(3, num_classes) + 1), replace=False)] = True
    binary = rng.random((num_records, num_classes)) < rng.random()
    grid = rng.choice([3, 10, 1000])  # coarse grids force ties
    probabilities = np.round(rng.random((num_records, num_classes)) * grid) / grid
    return labels, binary, probabilities


# --- Equality with the official transcription. Exact (==), not approximate: sums run in the official order, and
# --- printed scores sit on rounding boundaries (0.8125) often enough that the last bit matters.

@pytest.mark.parametrize("seed", range(300))
def test_beta_measures_and_auc_equal_the_official_loops_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels, binary, probabilities = random_case(rng, int(rng.integers(1, 60)), int(rng.integers(1, 10)))
    accuracy, f_measure, f_beta, g_beta = official_beta_score(labels.astype(int), binary.astype(int))
    measures = beta_measures(labels, binary)
    assert (measures["accuracy"], measures["f_measure"], measures["f_beta"], measures["g_beta"]) == (
        accuracy, f_measure, f_beta, g_beta)
    assert fbeta_gbeta(labels, binary) == (f_beta, g_beta)
    assert auc(labels, probabilities) == official_auc(labels.astype(int), probabilities.copy())


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_metrics_equal_the_official_loops_on_generated_cases(data: st.DataObject) -> None:
    num_records = data.draw(st.integers(1, 25))
    num_classes = data.draw(st.integers(1, 9))
    rows = st.lists(st.booleans(), min_size=num_classes, max_size=num_classes)
    labels = np.array(data.draw(st.lists(rows.filter(any), min_size=num_records, max_size=num_records)))
    binary = np.array(data.draw(st.lists(rows, min_size=num_records, max_size=num_records)))
    probability = st.sampled_from([0.0, 0.001, 0.25, 0.5, 0.999, 1.0]) | st.floats(0, 1)
    probabilities = np.array(data.draw(st.lists(st.lists(probability, min_size=num_classes, max_size=num_classes),
                                                min_size=num_records, max_size=num_records)))
    measures = beta_measures(labels, binary)
    expected = official_beta_score(labels.astype(int), binary.astype(int))
    assert (measures["accuracy"], measures["f_measure"], measures["f_beta"], measures["g_beta"]) == expected
    assert auc(labels, probabilities) == official_auc(labels.astype(int), probabilities.copy())


# --- Hand-computed cases.

# Classes A, B, C. Records (labels -> outputs): {A,B}->{A,C}, {A}->{A}, {C}->{B}, {B,C}->{B,C}.
HAND_LABELS = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 1]], dtype=bool)
HAND_BINARY = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 0], [0, 1, 1]], dtype=bool)


def test_multi_label_records_add_one_over_their_label_count() -> None:
    tp, fp, fn, tn = per_class_counts(HAND_LABELS, HAND_BINARY)
    assert tp.tolist() == [1.5, 0.5, 0.5]
    assert fp.tolist() == [0.0, 1.0, 0.5]
    assert fn.tolist() == [0.0, 0.5, 1.0]
    assert tn.tolist() == [1.5, 1.0, 1.0]


def test_beta_measures_on_a_hand_computed_case() -> None:
    m = beta_measures(HAND_LABELS, HAND_BINARY)
    # F2 = 5tp / (5tp + 4fn + fp), G2 = tp / (tp + fp + 2fn)
    assert m["f_beta_per_class"] == pytest.approx([1.0, 2.5 / 5.5, 2.5 / 7.0], abs=1e-15)
    assert m["g_beta_per_class"] == pytest.approx([1.0, 0.5 / 2.5, 0.5 / 3.0], abs=1e-15)
    assert m["f_beta"] == pytest.approx((1 + 5 / 11 + 5 / 14) / 3, abs=1e-15)
    assert m["g_beta"] == pytest.approx((1 + 0.2 + 1 / 6) / 3, abs=1e-15)
    assert m["accuracy"] == pytest.approx((1 + 0.5 + 0.5) / 3, abs=1e-15)
    assert m["f_measure"] == pytest.approx((1 + 0.4 + 0.4) / 3, abs=1e-15)
    assert m["precision"] == pytest.approx([1.0, 1 / 3, 0.5], abs=1e-15)
    assert m["recall"] == pytest.approx([1.0, 0.5, 1 / 3], abs=1e-15)


def test_every_undefined_ratio_is_one() -> None:
    # Class 0 present, never predicted; class 1 predicted, never present; class 2 never present nor predicted.
    labels = np.array([[1, 0, 0], [1, 0, 0]], dtype=bool)
    binary = np.array([[0, 1, 0], [0, 0, 0]], dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = beta_measures(labels, binary)
    assert m["precision"].tolist() == [1.0, 0.0, 1.0]          # tp + fp = 0 for classes 0 and 2
    assert m["recall"].tolist() == [0.0, 1.0, 1.0]             # tp + fn = 0 for classes 1 and 2
    assert m["f_beta_per_class"].tolist() == [0.0, 0.0, 1.0]   # 5tp + 4fn + fp = 0 only for class 2
    assert m["g_beta_per_class"].tolist() == [0.0, 0.0, 1.0]
    assert m["f_beta"] == m["g_beta"] == pytest.approx(1 / 3, abs=1e-15)
    assert m["f_measure"] == pytest.approx(1 / 3, abs=1e-15)
    assert m["accuracy"] == pytest.approx((0 + 0.5 + 1) / 3, abs=1e-15)


def test_records_without_labels_weigh_nothing_and_an_empty_table_scores_one() -> None:
    labels = np.zeros((2, 2), dtype=bool)
    binary = np.array([[1, 0], [1, 1]], dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        counts = per_class_counts(labels, binary)
        m = beta_measures(labels, binary)
    assert all(c.tolist() == [0.0, 0.0] for c in counts)
    assert (m["accuracy"], m["f_measure"], m["f_beta"], m["g_beta"]) == (1.0, 1.0, 1.0, 1.0)
    assert all(c.tolist() == [0.0, 0.0] for c in per_class_counts(np.zeros((0, 2)), np.zeros((0, 2))))


def test_per_class_counts_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="must be equal"):
        per_class_counts(np.ones((3, 2), dtype=bool), np.ones((3, 3), dtype=bool))


def one_class_auc(labels: list[int], probabilities: list[float]) -> tuple[float, float]:
    auroc, auprc = auc_per_class(np.array(labels, dtype=bool)[:, None], np.array(probabilities)[:, None])
    return float(auroc[0]), float(auprc[0])


def test_auc_with_tied_probabilities() -> None:
    # Thresholds 1, 0.8, 0.4, 0.2: (TPR, TNR, PPV) = (0, 1, 1), (.5, .5, .5), (1, .5, 2/3), (1, 0, .5).
    auroc, auprc = one_class_auc([1, 0, 1, 0], [0.8, 0.8, 0.4, 0.2])
    assert auroc == pytest.approx(0.5 * 0.5 * 1.5 + 0.5 * 0.5 * 1.0, abs=1e-15)  # 0.625, the pairwise AUC
    assert auprc == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3, abs=1e-15)


def test_auc_drops_the_zero_threshold() -> None:
    # Thresholds 1, 0.6 only: the records at probability 0 are never called positive.
    auroc, auprc = one_class_auc([1, 0, 1], [0.6, 0.0, 0.0])
    assert auroc == pytest.approx(0.5, abs=1e-15)  # 0.75 if 0 were kept as a threshold
    assert auprc == pytest.approx(0.5, abs=1e-15)


def test_auc_prepends_one_only_when_absent() -> None:
    # Perfect ranking. Without probability 1, threshold 1 is added and the curve starts at TPR 0: AUROC 1.
    assert one_class_auc([1, 0], [0.9, 0.5]) == (1.0, 1.0)
    # With probability 1 present the curve starts at TPR 1 and the official area is 0.
    assert one_class_auc([1, 0], [1.0, 0.5]) == (0.0, 0.0)


def test_auc_of_a_class_without_positives_or_negatives() -> None:
    assert one_class_auc([0, 0, 0], [0.9, 0.5, 0.1]) == (0.0, 0.0)  # TPR undefined, 1 throughout
    assert one_class_auc([1, 1, 1], [0.9, 0.5, 0.1]) == (1.0, 1.0)  # TNR and PPV 1 throughout
    assert one_class_auc([1, 0], [0.0, 0.0]) == (0.0, 0.0)          # the only threshold left is 1


def test_auc_is_the_macro_mean_of_the_per_class_areas() -> None:
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=bool)
    probabilities = np.array([[0.9, 0.2], [0.1, 0.7], [0.6, 0.3], [0.3, 0.4]])
    auroc, auprc = auc_per_class(labels, probabilities)
    assert auc(labels, probabilities) == pytest.approx((auroc.mean(), auprc.mean()), abs=1e-15)
    assert auroc[0] == 1.0


def test_format_scores_and_the_per_class_table() -> None:
    scores = {"auroc": 0.8125, "auprc": 0.5, "accuracy": 2 / 3, "f_measure": 0.6, "f_beta": 0.60389,
              "g_beta": 0.4555, "classes": ["AF", "I-AVB"], "num_positive": np.array([12, 3]),
              "precision": np.array([1.0, 1 / 3]), "recall": np.array([0.5, 1.0]),
              "f_beta_per_class": np.array([5 / 9, 5 / 7]), "g_beta_per_class": np.array([1 / 3, 1 / 3])}
    assert format_scores(scores) == (
        "AUROC|AUPRC|Accuracy|F-measure|Fbeta-measure|Gbeta-measure\n0.812|0.500|0.667|0.600|0.604|0.456")
    table = [line.split() for line in format_per_class(scores).splitlines()]
    assert table == [["class", "n", "precision", "recall", "F2", "G2"],
                     ["AF", "12", "1.000", "0.500", "0.556", "0.333"],
                     ["I-AVB", "3", "0.333", "1.000", "0.714", "0.333"]]
