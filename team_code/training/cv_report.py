"""What cross-validation leaves for people: oof.csv and cv_report.md / cv_report.json."""
from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from team_code.io.atomic import write_text
from team_code.labels import CLASSES  # the default: cpsc2018
from team_code.scoring import challenge2020, f2g2
from team_code.training.cv_results import ClassScores, CVReport
from team_code.training.thresholds import apply_thresholds


def write_oof(path: Path, names: list[str], fold_of: np.ndarray, labels: np.ndarray, probabilities: np.ndarray,
              classes: Sequence[str] = CLASSES) -> None:
    """One row per training record: its fold, true labels (0/1) and out-of-fold probabilities, per class."""
    out = io.StringIO()
    out.write(",".join(["record", "fold", *(f"label_{c}" for c in classes), *(f"prob_{c}" for c in classes)]) + "\n")
    for name, fold, label, prob in zip(names, fold_of, labels, probabilities):
        out.write(",".join([name, str(int(fold)), *(str(int(v)) for v in label), *(f"{p:.6f}" for p in prob)]) + "\n")
    write_text(path, out.getvalue())


def cv_report(labels: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray, folds: list[dict],
              classes: Sequence[str] = CLASSES, objective: str = "f2g2", fallback: np.ndarray | None = None
              ) -> CVReport:
    """Scores of the out-of-fold predictions with the tuned thresholds, exactly as evaluate.py scores; `folds` is
    each fold's FoldResult.summary(); `fallback` is the at-least-one-label rule's (the window means, as the driver
    applies it). For the challenge2020 objective (`classes` being SNOMED CT codes) the Challenge metric is added."""
    labels = np.asarray(labels, dtype=bool)
    binary = apply_thresholds(probabilities, thresholds, fallback)
    challenge = None
    if objective == "challenge2020":
        challenge = challenge2020.challenge_metric(challenge2020.merge_columns(classes, labels)[0],
                                                   challenge2020.merge_columns(classes, binary)[0])
    measures = f2g2.beta_measures(labels, binary)
    auroc, auprc = f2g2.auc(labels, probabilities)
    return CVReport(
        records=int(len(labels)),
        f2=float(measures["f_beta"]), g2=float(measures["g_beta"]),
        accuracy=float(measures["accuracy"]), f_measure=float(measures["f_measure"]),
        auroc=float(auroc), auprc=float(auprc),
        thresholds={c: float(t) for c, t in zip(classes, thresholds)},
        per_class={c: ClassScores(n=int(labels[:, k].sum()), precision=float(measures["precision"][k]),
                                  recall=float(measures["recall"][k]), f2=float(measures["f_beta_per_class"][k]),
                                  g2=float(measures["g_beta_per_class"][k])) for k, c in enumerate(classes)},
        folds=folds, challenge_metric=challenge,
    )


def to_markdown(report: CVReport) -> str:
    """The report as a page: overall scores, the per-class table laid out like the paper's, and the folds."""
    lines = ["# Cross-validation report", "",
             f"{report.records} records, {len(report.folds)} folds; out-of-fold predictions with the tuned thresholds.",
             "", "| F2 | G2 | mean(F2, G2) | AUROC | AUPRC | Accuracy | F-measure |", "|---|---|---|---|---|---|---|",
             f"| {report.f2:.3f} | {report.g2:.3f} | {(report.f2 + report.g2) / 2:.3f} | {report.auroc:.3f} "
             f"| {report.auprc:.3f} | {report.accuracy:.3f} | {report.f_measure:.3f} |", "",
             *([f"Challenge metric (CinC 2020 final phase): {report.challenge_metric:.3f}", ""]
               if report.challenge_metric is not None else []),
             "| Class | n | Precision | Recall | F2 | G2 | Threshold |", "|---|---|---|---|---|---|---|"]
    for c, row in report.per_class.items():
        lines.append(f"| {c} | {row.n} | {row.precision:.3f} | {row.recall:.3f} | {row.f2:.3f} "
                     f"| {row.g2:.3f} | {report.thresholds[c]:.3f} |")
    lines += ["", "| Fold | Best epoch | Val cross-entropy | Train loss at best | Measurement read weight "
              "| Seconds (all epochs) |", "|---|---|---|---|---|---|"]
    for fold in report.folds:
        best = fold["history"][fold["best_epoch"] - 1]
        lines.append(f"| {fold['fold'] + 1} | {fold['best_epoch']} | {fold['best_val_cross_entropy']:.4f} "
                     f"| {best['train_loss']:.4f} | {fold.get('measurement_blend', 0.0):g} "
                     f"| {sum(h['seconds'] for h in fold['history']):.1f} |")
    return "\n".join(lines) + "\n"


def write_reports(model_dir: Path, report: CVReport) -> None:
    write_text(model_dir / "cv_report.json", json.dumps(report.to_json(), indent=2))
    write_text(model_dir / "cv_report.md", to_markdown(report))
