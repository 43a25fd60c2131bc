"""team_code.training.cv_results: fold_K.json and cv_report.json keep their layout through the dataclasses."""
from __future__ import annotations

import json

import numpy as np
import torch

from team_code.labels import CLASSES
from team_code.training.cv_report import cv_report, to_markdown
from team_code.training.cv_results import CVReport, FoldResult

FOLD_JSON = {"fold": 1, "fingerprint": "abc", "best_epoch": 2, "best_val_cross_entropy": 0.5,
             "history": [{"epoch": 1, "train_loss": 1.0, "val_cross_entropy": 0.7, "seconds": 1.5},
                         {"epoch": 2, "train_loss": 0.8, "val_cross_entropy": 0.5, "seconds": 1.25}],
             "measurement_blend": 0.5,
             "records": ["A1", "A7"], "probabilities": [[0.1] * 9, [0.25] * 9],
             "window_means": [[0.1] * 9, [0.125] * 9], "weights_sha256": "00ff"}


def test_fold_result_round_trips_fold_json_with_its_key_order_and_without_the_weights() -> None:
    weights = {"w": torch.ones(2)}
    fold = FoldResult.from_json(json.loads(json.dumps(FOLD_JSON)), state_dict=weights)
    assert fold.state_dict is weights and fold.probabilities.shape == (2, 9)
    assert json.dumps(fold.to_json()) == json.dumps(FOLD_JSON)
    assert list(fold.summary()) == ["fold", "fingerprint", "best_epoch", "best_val_cross_entropy", "history",
                                    "measurement_blend", "weights_sha256"]


def test_a_fold_written_before_window_means_falls_back_on_its_probabilities() -> None:
    """fold_K.json of earlier code has no window_means: the at-least-one-label rule then reads the probabilities,
    as that code did."""
    older = {k: v for k, v in FOLD_JSON.items() if k != "window_means"}
    fold = FoldResult.from_json(older)
    np.testing.assert_array_equal(fold.window_means, fold.probabilities)
    assert fold.window_means is not fold.probabilities
    assert fold.to_json()["window_means"] == FOLD_JSON["probabilities"]


def test_float32_probabilities_are_written_as_the_same_numbers() -> None:
    values = np.random.default_rng(0).random((3, 9)).astype(np.float32)
    fold = FoldResult(0, "f", 1, 0.1, [], ["a", "b", "c"], values)
    assert fold.to_json()["probabilities"] == values.tolist()
    assert "weights_sha256" not in fold.to_json()


def test_cv_report_round_trips_and_its_markdown_reads_the_typed_rows() -> None:
    rng = np.random.default_rng(1)
    labels = np.eye(9, dtype=bool)[rng.integers(0, 9, 40)]
    probabilities = rng.random((40, 9))
    fold = FoldResult.from_json(FOLD_JSON)
    report = cv_report(labels, probabilities, np.full(9, 0.5), [fold.summary()])
    data = json.loads(json.dumps(report.to_json()))
    assert list(data) == ["records", "f2", "g2", "accuracy", "f_measure", "auroc", "auprc", "thresholds",
                          "per_class", "folds"]
    assert list(data["per_class"]) == list(CLASSES)
    assert list(data["per_class"]["AF"]) == ["n", "precision", "recall", "f2", "g2"]
    assert CVReport.from_json(data) == report
    page = to_markdown(report)
    assert f"| AF | {int(labels[:, 0].sum())} |" in page and "| 2 | 2 | 0.5000 | 0.8000 | 0.5 | 2.8 |" in page
