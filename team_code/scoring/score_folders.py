"""What evaluate.py scores: labels from the `#Dx` lines of LABEL_DIR, outputs from OUTPUT_DIR matched by record
name, then the official measures: the nine CPSC 2018 classes and F2/G2 of the 2020 Feb phase (team_code.scoring.f2g2
does the math), or the 24 scored classes and the Challenge metric of the 2020 final phase
(team_code.scoring.challenge2020).

Labels are read as the official scorer reads them, from the `#Dx` line alone, and outputs as the final-phase official
scorer reads them (outputs.read_output_as_official: `1.0` is a negative label, a probability that is not a number is
0), with every file it reads otherwise than driver.py writes named on stderr. A labelled record without an output
file is scored as all-negative with probability 0 (what it contributes can only lower the score) and named on
stderr; with no output file at all it is an error. With strict=True a missing output file is an error, as in the
official script, and so is any file not in the format driver.py writes (outputs.read_output).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from team_code.io.output_csv import OutputError, read_output, read_output_as_official
from team_code.io.records import RecordError, read_dx
from team_code.labels import CINC2020_SCORED, to_class, to_classes
from team_code.scoring import challenge2020, f2g2

logger = logging.getLogger(__name__)


def _header_files(label_dir: Path) -> list[Path]:
    # The official script lists every visible *.hea and sorts the paths; keeping that order keeps the sums identical.
    if not label_dir.is_dir():
        raise RecordError(f"{label_dir}: label directory not found")
    return sorted(p for p in label_dir.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(".hea"))


def load_labels(label_dir: str | Path) -> tuple[list[str], list[str], np.ndarray]:
    """Return (record names, classes, labels as bool records x classes) from the headers in LABEL_DIR.

    Classes are the sorted union of the records' labels among the nine. Records with none of the nine (only
    other SNOMED codes, or no `#Dx` line) cannot be scored: they are left out and listed on stderr.
    """
    label_dir = Path(label_dir)
    names, record_classes, left_out = [], [], []
    for path in _header_files(label_dir):
        # The file name, not the header's first token, is the record name: the driver names outputs after files.
        name = path.name[: -len(".hea")]
        labels = to_classes(read_dx(path))
        if labels:
            names.append(name)
            record_classes.append(labels)
        else:
            left_out.append(name)
    if left_out:
        shown = ", ".join(left_out[:20]) + (f" and {len(left_out) - 20} more" if len(left_out) > 20 else "")
        logger.warning(f"{label_dir}: left out {len(left_out)} record(s) with no label among the nine classes: {shown}")
    if not names:
        raise RecordError(f"{label_dir}: no record with a label among the nine classes")
    classes = sorted(set().union(*record_classes))
    labels = np.array([[c in found for c in classes] for found in record_classes], dtype=bool)
    return names, classes, labels


def _column_of_class(path: Path, file_classes: list[str]) -> dict[str, int]:
    # Column names are read like Dx labels, so 'normal' or a SNOMED code names the same class as 'Normal'.
    columns: dict[str, int] = {}
    for index, name in enumerate(file_classes):
        cls = to_class(name) or name
        if cls in columns:
            raise OutputError(f"{path}: columns {file_classes[columns[cls]]!r} and {name!r} both name class {cls}")
        columns[cls] = index
    return columns


def _outputs(output_dir: Path, names: list[str], strict: bool, missing: list[str], notes: list[str]
             ) -> Iterator[tuple[int, str, Path, list[str], np.ndarray, np.ndarray]]:
    """(row, name, path, columns, binary, probabilities) for each record's OUTPUT_DIR/NAME.csv, read as the official
    scorer reads it; a record without one is added to `missing`, a file read otherwise than it was likely meant to
    `notes`, and one with formatting errors yields nothing (an all-negative row, as in the official scorer). With
    strict=True each of these is an OutputError, and a file must be as driver.py writes it, naming its record.
    Both scorers walk the outputs this way; yielding keeps each file's errors in record order."""
    for row, name in enumerate(names):
        path = output_dir / f"{name}.csv"
        if not path.is_file():
            if strict:
                raise OutputError(f"{path}: output file for record {name} not found")
            missing.append(name)
            continue
        if strict:
            file_name, columns, file_binary, file_probabilities = read_output(path)
            if file_name != name:
                raise OutputError(f"{path}: first line names record {file_name!r}, expected {name!r}")
            yield row, name, path, columns, file_binary, file_probabilities
            continue
        output = read_output_as_official(path)
        file_notes = list(output.notes)
        if output.name is not None and output.name != name:
            file_notes.append(f"first line names record {output.name!r}")
        if file_notes:
            notes.append(f"{path.name}: {', '.join(file_notes)}")
        if output.classes:
            yield row, name, path, output.classes, output.binary, output.probabilities


def _shown(items: list[str], limit: int = 20, separator: str = ", ") -> str:
    return separator.join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _report_outputs(output_dir: Path, names: list[str], missing: list[str], notes: list[str]) -> None:
    """Name the records without an output file (an OutputError when none has one) and the files read otherwise
    than driver.py writes them."""
    if missing and len(missing) == len(names):
        raise OutputError(f"{output_dir}: no output file for any of the {len(names)} labelled record(s) (expected "
                          f"NAME.csv, e.g. {names[0]}.csv): is this the driver's output for these labels?")
    if missing:
        logger.warning(f"{output_dir}: no output file for {len(missing)} of {len(names)} labelled record(s), scored "
                       f"as all-negative with probability 0: {_shown(missing)}")
    if notes:
        logger.warning(f"{output_dir}: {len(notes)} output file(s) not as driver.py writes them, scored as the "
                       f"official script reads them (--strict: an error): {_shown(notes, 5, '; ')}")


def load_outputs(output_dir: str | Path, names: list[str], classes: list[str], strict: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(binary outputs, probabilities, names of records without an output file), records x classes, read from
    OUTPUT_DIR/NAME.csv for each record name as the official scorer reads them (_outputs; a NaN probability is 0).
    A missing file leaves its row all-negative with probability 0, or with strict=True raises OutputError naming
    it; a file without a column for one of the classes raises OutputError naming it."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise OutputError(f"{output_dir}: output directory not found")
    binary = np.zeros((len(names), len(classes)), dtype=bool)
    probabilities = np.zeros((len(names), len(classes)))
    missing: list[str] = []
    notes: list[str] = []
    for row, name, path, file_classes, file_binary, file_probabilities in _outputs(output_dir, names, strict, missing,
                                                                                   notes):
        columns = _column_of_class(path, file_classes)
        absent = [c for c in classes if c not in columns]
        if absent:
            raise OutputError(f"{path}: no column for class(es) {', '.join(absent)} of record {name}")
        index = [columns[c] for c in classes]
        binary[row], probabilities[row] = file_binary[index], file_probabilities[index]
    probabilities[np.isnan(probabilities)] = 0  # as the official scorer does
    _report_outputs(output_dir, names, missing, notes)
    return binary, probabilities, missing


def evaluate(label_dir: str | Path, output_dir: str | Path, strict: bool = False) -> dict:
    """All official scores (macro) plus per-class tables for the records of LABEL_DIR and their outputs; records
    without an output file are named on stderr (and listed under "missing") and scored as all-negative."""
    names, classes, labels = load_labels(label_dir)
    binary, probabilities, missing = load_outputs(output_dir, names, classes, strict)
    measures = f2g2.beta_measures(labels, binary)
    auroc, auprc = f2g2.auc_per_class(labels, probabilities)
    return {
        "names": names,
        "classes": classes,
        "missing": missing,
        "num_positive": labels.sum(axis=0),
        "auroc": f2g2.macro(auroc),
        "auprc": f2g2.macro(auprc),
        "auroc_per_class": auroc,
        "auprc_per_class": auprc,
        "labels": labels, "binary": binary, "probabilities": probabilities,  # for evaluate.py --report
        **measures,
    }


METRICS = ("f2g2", "challenge2020")


def _is_snomed(token: str) -> bool:
    return token.isdigit()


def choose_metric(label_dir: str | Path, output_dir: str | Path) -> str:
    """challenge2020 when the labels are SNOMED CT codes and the outputs' columns are SNOMED CT codes that include
    scored ones of the final phase (the first labelled record with a readable output file decides); f2g2 otherwise."""
    label_dir, output_dir = Path(label_dir), Path(output_dir)
    paths = _header_files(label_dir)
    if not output_dir.is_dir() or any(not _is_snomed(t) for path in paths for t in read_dx(path)):
        return "f2g2"
    for path in paths:
        output = output_dir / f"{path.name[: -len('.hea')]}.csv"
        columns = read_output_as_official(output).classes if output.is_file() else []
        if columns:  # a file with formatting errors names no columns: the next one decides
            scored = all(_is_snomed(c) for c in columns) and any(c in CINC2020_SCORED for c in columns)
            return "challenge2020" if scored else "f2g2"
    return "f2g2"


def evaluate_challenge2020(label_dir: str | Path, output_dir: str | Path, strict: bool = False) -> dict:
    """The seven final-phase scores (challenge2020.measures) for the records of LABEL_DIR and their outputs.

    As the final official script: every header with a `#Dx` line is a record, a record whose codes are all unscored
    an all-negative row; output columns are matched to the 24 classes by code. A header without `#Dx` is left out
    and named; output files are read as the official script reads them (_outputs); a record without an output
    file is scored as all-negative with probability 0 and named (an error with strict=True, as in the official
    script).
    """
    label_dir, output_dir = Path(label_dir), Path(output_dir)
    names, dx_lists, left_out = [], [], []
    for path in _header_files(label_dir):
        dx = read_dx(path)
        (left_out if not dx else names).append(path.name[: -len(".hea")])
        if dx:
            dx_lists.append(dx)
    if left_out:
        logger.warning(f"{label_dir}: left out {len(left_out)} record(s) without a #Dx line: {', '.join(left_out)}")
    if not names:
        raise RecordError(f"{label_dir}: no header with a #Dx line")
    labels = challenge2020.label_matrix(dx_lists)
    unscored = [n for n, row in zip(names, labels) if not row.any()]
    if unscored:
        logger.info(f"{label_dir}: {len(unscored)} record(s) have no scored code and count as all-negative rows, "
                    "as in the official scorer")
    if not output_dir.is_dir():
        raise OutputError(f"{output_dir}: output directory not found")
    binary = np.zeros(labels.shape, dtype=bool)
    probabilities = np.zeros(labels.shape)
    missing: list[str] = []
    notes: list[str] = []
    unmatched = []
    for row, name, _, columns, file_binary, file_probabilities in _outputs(output_dir, names, strict, missing, notes):
        if (challenge2020.column_map(columns) < 0).all():
            unmatched.append(name)
        merged_binary, merged = challenge2020.merge_columns(columns, file_binary[None], file_probabilities[None])
        binary[row], probabilities[row] = merged_binary[0], merged[0]
    _report_outputs(output_dir, names, missing, notes)
    if unmatched:
        logger.warning(f"{output_dir}: {len(unmatched)} output file(s) name no scored SNOMED CT code (all-negative, as "
                       f"in the official scorer): {', '.join(unmatched[:20])}")
    return {
        "names": names, "classes": list(challenge2020.CLASSES), "missing": missing,
        "num_positive": labels.sum(axis=0),
        "labels": labels, "binary": binary, "probabilities": probabilities,  # for evaluate.py --report
        **challenge2020.measures(labels, binary, probabilities),
    }
