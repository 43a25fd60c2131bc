"""The module the organisers' 2020 `train_model.py` imports: train the entry with its defaults.

A thin adapter over team_code.training.train, the code our own train_model.py runs: 10-fold cross-validation, 10 epochs
per fold, thresholds tuned on the out-of-fold predictions, everything written into `output_directory`. The
organisers' script takes no options, so the class set comes from the data: cinc2020 (the 27 scored classes of the
final phase) when the training labels are SNOMED CT codes, cpsc2018 (the nine classes) when they are the nine
abbreviations; the environment variable ECG_CLASSES=cpsc2018|cinc2020 overrides either way.
"""
from __future__ import annotations

import os

from team_code import class_sets, log
from team_code.io.records import RecordError, find_records, read_dx
from team_code.training.train import TrainingError, TrainOptions, train

ENVIRONMENT = "ECG_CLASSES"


def _training_labels(input_directory: str) -> list[tuple[str, ...]]:
    """The `#Dx` labels of every readable training header; none where the folder cannot be read (training then
    says why)."""
    try:
        records = find_records(input_directory)
    except (RecordError, OSError):
        return []
    labels = []
    for base in records.values():
        try:
            labels.append(read_dx(base.with_name(f"{base.name}.hea")))
        except (RecordError, OSError):  # training skips it, naming it
            continue
    return labels


def choose_class_set(input_directory: str) -> tuple[str, str]:
    """(class set, why): $ECG_CLASSES when set, else the one the training labels call for (class_sets.for_labels)."""
    chosen = os.environ.get(ENVIRONMENT, "").strip()
    if chosen:
        try:
            return class_sets.get(chosen).name, f"{ENVIRONMENT}={chosen}"
        except ValueError as error:
            raise TrainingError(f"{ENVIRONMENT}: {error}") from None
    name = class_sets.for_labels(_training_labels(input_directory))
    kind = "SNOMED CT codes" if name == "cinc2020" else "not SNOMED CT codes"
    return name, f"the training labels are {kind}; {ENVIRONMENT}=cpsc2018|cinc2020 chooses"


def train_12ECG_classifier(input_directory: str, output_directory: str) -> None:
    """Train on the records in `input_directory` and write the model folder `output_directory` (rerun to resume)."""
    log.configure()  # the organisers' script has no flags: show what train_model.py shows by default
    classes, why = choose_class_set(input_directory)
    print(f"class set {classes} ({why})")
    report = train(input_directory, output_directory, TrainOptions(classes=classes))
    if report is not None:
        print(f"cross-validation on {report.records} records: {report.headline()} "
              f"(details in {output_directory}/cv_report.md)")
