"""The typed results of training, and their JSON layouts: one fold (fold_K.json) and the CV report (cv_report.json).

The layouts are the files' contract with earlier model directories and with the people who read them, so
`to_json` writes exactly the keys, in the order, that those files have always had, and `from_json` reads them
back; anything held only in memory (a fold's weights) is never part of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass(eq=False)  # holds arrays; compare to_json() instead
class FoldResult:
    """One trained fold: its best epoch, training history and out-of-fold probabilities, plus its weights in memory.

    `history` holds one dict per epoch run (epoch, train_loss, val_cross_entropy, seconds, ...), as written.
    """

    fold: int
    fingerprint: str | None                # of the run that trained it (a checkpoint is reused only by the same
                                           # run); None when the fold was trained without a checkpoint
    best_epoch: int                        # 1-based
    best_val_cross_entropy: float
    history: list[dict[str, Any]]
    records: list[str]                     # the validation records, in the order of `probabilities`' rows
    probabilities: np.ndarray              # (records, classes) float64, the best epoch's out-of-fold probabilities
    window_means: np.ndarray | None = None  # (records, classes): the mean of each record's windows, the fallback
                                           # of the at-least-one-label rule; None: `probabilities` (one window each,
                                           # or a fold written before the key existed)
    measurement_blend: float = 0.0         # the measurement read's weight in the logits (train._blend_measurements)
    weights_sha256: str | None = None      # of fold_K.pt as written; None until the fold is saved
    state_dict: dict[str, torch.Tensor] | None = field(default=None, repr=False)  # not in the JSON

    def __post_init__(self) -> None:
        self.probabilities = np.asarray(self.probabilities, dtype=np.float64)
        self.window_means = (self.probabilities.copy() if self.window_means is None
                             else np.asarray(self.window_means, dtype=np.float64))

    def summary(self) -> dict[str, Any]:
        """What the CV report lists per fold: everything but the validation records and their probabilities."""
        out = {"fold": self.fold, "fingerprint": self.fingerprint, "best_epoch": self.best_epoch,
               "best_val_cross_entropy": self.best_val_cross_entropy, "history": self.history,
               "measurement_blend": self.measurement_blend}
        if self.weights_sha256 is not None:
            out["weights_sha256"] = self.weights_sha256
        return out

    def to_json(self) -> dict[str, Any]:
        """fold_K.json's object (the weights go to fold_K.pt, never here)."""
        out = {"fold": self.fold, "fingerprint": self.fingerprint, "best_epoch": self.best_epoch,
               "best_val_cross_entropy": self.best_val_cross_entropy, "history": self.history,
               "measurement_blend": self.measurement_blend, "records": self.records,
               "probabilities": self.probabilities.tolist(), "window_means": self.window_means.tolist()}
        if self.weights_sha256 is not None:
            out["weights_sha256"] = self.weights_sha256
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], state_dict: dict[str, torch.Tensor] | None = None) -> FoldResult:
        """A fold from fold_K.json's object (KeyError or ValueError when it is not one), with its weights if given."""
        return cls(fold=int(data["fold"]), fingerprint=data["fingerprint"], best_epoch=int(data["best_epoch"]),
                   best_val_cross_entropy=float(data["best_val_cross_entropy"]), history=list(data["history"]),
                   measurement_blend=float(data.get("measurement_blend", 0.0)), records=list(data["records"]),
                   probabilities=np.asarray(data["probabilities"], dtype=np.float64),
                   window_means=data.get("window_means"),
                   weights_sha256=data.get("weights_sha256"), state_dict=state_dict)


@dataclass
class ClassScores:
    """One class's row of the CV report."""

    n: int
    precision: float
    recall: float
    f2: float
    g2: float


@dataclass
class CVReport:
    """The scores of the out-of-fold predictions with the tuned thresholds (cv_report.json, cv_report.md)."""

    records: int
    f2: float
    g2: float
    accuracy: float
    f_measure: float
    auroc: float
    auprc: float
    thresholds: dict[str, float]
    per_class: dict[str, ClassScores]
    folds: list[dict[str, Any]]            # FoldResult.summary() of each fold, in fold order
    challenge_metric: float | None = None  # cinc2020 models only (absent from the JSON otherwise)

    def headline(self) -> str:
        """The scores a finished training prints: F2 and G2, and the Challenge metric for a cinc2020 model."""
        text = f"F2 {self.f2:.3f}, G2 {self.g2:.3f}"
        return text if self.challenge_metric is None else f"{text}, Challenge metric {self.challenge_metric:.3f}"

    def to_json(self) -> dict[str, Any]:
        out = {"records": self.records, "f2": self.f2, "g2": self.g2, "accuracy": self.accuracy,
               "f_measure": self.f_measure, "auroc": self.auroc, "auprc": self.auprc,
               "thresholds": dict(self.thresholds),
               "per_class": {c: {"n": s.n, "precision": s.precision, "recall": s.recall, "f2": s.f2, "g2": s.g2}
                             for c, s in self.per_class.items()},
               "folds": self.folds}
        if self.challenge_metric is not None:
            out["challenge_metric"] = self.challenge_metric
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CVReport:
        """The report from cv_report.json's object (KeyError or TypeError when it is not one)."""
        return cls(records=int(data["records"]), f2=data["f2"], g2=data["g2"], accuracy=data["accuracy"],
                   f_measure=data["f_measure"], auroc=data["auroc"], auprc=data["auprc"],
                   thresholds=dict(data["thresholds"]),
                   per_class={c: ClassScores(**row) for c, row in data["per_class"].items()},
                   folds=list(data["folds"]), challenge_metric=data.get("challenge_metric"))
