"""The module the organisers' 2020 `train_model.py` imports: train the entry with its defaults.

A thin adapter over team_code.train, the code our own train_model.py runs: 10-fold cross-validation, 10 epochs
per fold, thresholds tuned on the out-of-fold predictions, everything written into `output_directory`.
"""
from __future__ import annotations

from team_code import log
from team_code.train import TrainOptions, train


def train_12ECG_classifier(input_directory: str, output_directory: str) -> None:
    """Train on the records in `input_directory` and write the model folder `output_directory` (rerun to resume)."""
    log.configure()  # the organisers' script has no flags: show what train_model.py shows by default
    report = train(input_directory, output_directory, TrainOptions())
    if report is not None:
        print(f"cross-validation on {report.records} records: {report.headline()} "
              f"(details in {output_directory}/cv_report.md)")
