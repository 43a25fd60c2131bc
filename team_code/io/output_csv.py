"""The Challenge output file: one `NAME.csv` per record holding the class names, binary labels and probabilities."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from team_code.io.atomic import atomic_path
from team_code.io.records import check_record_name


class OutputError(ValueError):
    """A Challenge output file that cannot be scored; the message names the file."""


def write_output(
    output_dir: str | Path,
    name: str,
    classes: Sequence[str],
    binary: np.ndarray,
    probabilities: np.ndarray,
) -> Path:
    """Write OUTPUT_DIR/NAME.csv atomically, so a killed driver never leaves a half-written file to be scored."""
    path = Path(output_dir) / f"{check_record_name(name, output_dir)}.csv"
    binary = np.asarray(binary)
    probabilities = np.asarray(probabilities)
    if probabilities.dtype.kind != "f":
        probabilities = probabilities.astype(np.float64)
    if not (binary.shape == probabilities.shape == (len(classes),)):
        raise OutputError(
            f"{path}: {len(classes)} classes but binary shape {binary.shape} and probabilities shape "
            f"{probabilities.shape}"
        )
    if len(set(classes)) != len(classes) or any(not c or c != c.strip() or "," in c or "\n" in c for c in classes):
        raise OutputError(f"{path}: class names must be distinct, non-empty and free of commas, got {list(classes)}")
    if not np.isin(binary, (0, 1)).all():
        raise OutputError(f"{path}: binary labels must be 0 or 1, got {binary.tolist()}")
    if not (np.isfinite(probabilities).all() and (probabilities >= 0).all() and (probabilities <= 1).all()):
        raise OutputError(f"{path}: probabilities must lie in [0, 1], got {probabilities.tolist()}")
    lines = [
        f"#{name}",
        ",".join(classes),
        ",".join(str(int(b)) for b in binary),
        ",".join(format_probability(p) for p in probabilities),
    ]
    # Atomic but not fsynced: rerunning the driver remakes an output, and two fsyncs would add several ms per record.
    with atomic_path(path, durable=False) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    return path


def format_probability(value: np.floating) -> str:
    """The shortest decimal that reads back as exactly this float (of its own precision), never in exponent form:
    rounding to a few decimals would turn small probabilities into ties at 0, which the official AUROC/AUPRC walk
    drops."""
    return np.format_float_positional(value, unique=True, trim="-")


def _parse_binary(path: Path, tokens: list[str]) -> np.ndarray:
    # Only 0 and 1: the official scorer reads 1, True, true, T and t as positive and anything else (1.0 too) as 0.
    for token in tokens:
        if token not in ("0", "1"):
            raise OutputError(f"{path}: binary label {token!r} is not 0 or 1")
    return np.array([token == "1" for token in tokens], dtype=bool)


def _parse_probabilities(path: Path, tokens: list[str]) -> np.ndarray:
    values = []
    for token in tokens:
        try:
            value = float(token)
        except ValueError:
            raise OutputError(f"{path}: probability {token!r} is not a number") from None
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise OutputError(f"{path}: probability {token!r} is not in [0, 1]")
        values.append(value)
    return np.array(values, dtype=np.float64)


def _read_lines(path: Path) -> list[str]:
    """The file's lines as Python's text mode iterates them (universal newlines, line ends kept)."""
    try:
        with path.open(encoding="utf-8") as f:
            return list(f)
    except UnicodeDecodeError:
        raise OutputError(f"{path}: not a UTF-8 text file") from None
    except OSError as error:
        raise OutputError(f"{path}: cannot read ({error.strerror})") from None


def read_output(path: str | Path) -> tuple[str, list[str], np.ndarray, np.ndarray]:
    """Return (record name, class names, binary labels as bool, probabilities) from one output file in the format
    driver.py writes (evaluate.py --strict reads outputs this way).

    Tolerates CRLF line ends, spaces around fields and trailing blank lines, since hand-made and
    Windows-made files have them; anything else malformed raises OutputError naming the file.
    """
    path = Path(path)
    lines = [line.strip() for line in _read_lines(path)]
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) != 4:
        raise OutputError(f"{path}: expected 4 lines (#name, classes, labels, probabilities), found {len(lines)}")
    if not lines[0].startswith("#") or not lines[0][1:].strip():
        raise OutputError(f"{path}: first line must be '#' followed by the record name, got {lines[0]!r}")
    name = lines[0][1:].strip()
    classes, binary_tokens, probability_tokens = ([t.strip() for t in line.split(",")] for line in lines[1:])
    if any(not c for c in classes):
        raise OutputError(f"{path}: empty class name in {lines[1]!r}")
    if len(set(classes)) != len(classes):
        raise OutputError(f"{path}: repeated class name in {lines[1]!r}")
    if not (len(classes) == len(binary_tokens) == len(probability_tokens)):
        raise OutputError(
            f"{path}: {len(classes)} classes, {len(binary_tokens)} labels and "
            f"{len(probability_tokens)} probabilities; the counts must match"
        )
    return name, classes, _parse_binary(path, binary_tokens), _parse_probabilities(path, probability_tokens)


# The final-phase official scorer's reading of an output file (load_outputs and is_number of evaluate_12ECG_score.py,
# physionetchallenges/evaluation-2020), transcribed rule for rule rather than done with a CSV library: the scores
# must be the official script's to the last bit, whatever the file holds.
OFFICIAL_POSITIVE = ("1", "True", "true", "T", "t")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class OfficialOutput:
    """One output file as the official final-phase scorer reads it. `classes` is empty where it finds formatting
    errors (it then scores the record as all-negative); `notes` says where its reading may differ from what the
    file meant (none for a file as driver.py writes it)."""

    name: str | None            # from the first '#' line, which the official scorer skips; None without one
    classes: list[str]
    binary: np.ndarray          # bool
    probabilities: np.ndarray   # any float the file holds: percentages stay as they are, NaN too
    notes: tuple[str, ...]


def read_output_as_official(path: str | Path) -> OfficialOutput:
    """Read one output file exactly as the official final-phase scorer does: blank lines and lines starting with
    '#' are skipped; the first three others are the classes, the labels and the probabilities, and must have one
    count of comma-separated fields (like any further lines, which are ignored), or the file has formatting errors;
    a label is positive when it is 1, True, true, T or t; a probability that is not a number (float() refuses it)
    is 0. Only an unreadable file raises OutputError."""
    path = Path(path)
    lines = _read_lines(path)
    comments = [line.strip() for line in lines if line.strip().startswith("#")]
    name = comments[0][1:].strip() if comments else None
    lines = [line for line in lines if line.strip() and not line.strip().startswith("#")]
    counts = [len(line.split(",")) for line in lines]
    if len(lines) < 3 or len(set(counts)) != 1:
        found = f"{len(lines)} line(s) of data" if len(lines) < 3 else f"{'/'.join(map(str, counts))} fields"
        empty = np.zeros(0)
        return OfficialOutput(name, [], empty.astype(bool), empty,
                              (f"formatting errors ({found}), so the official scorer scores it as all-negative",))
    classes, binary_tokens, probability_tokens = ([t.strip() for t in line.split(",")] for line in lines[:3])
    binary = np.array([t in OFFICIAL_POSITIVE for t in binary_tokens], dtype=bool)
    probabilities = np.array([float(t) if _is_number(t) else 0.0 for t in probability_tokens], dtype=np.float64)
    notes = []
    if len(lines) > 3:
        notes.append(f"{len(lines) - 3} line(s) after the probabilities ignored")
    odd = [t for t in binary_tokens if t not in ("0", "1")]
    if odd:
        notes.append(f"binary label {odd[0]!r} read as {int(odd[0] in OFFICIAL_POSITIVE)}")
    for token, value in zip(probability_tokens, probabilities):
        if not (_is_number(token) and 0.0 <= value <= 1.0):
            notes.append(f"probability {token!r} read as {value:g}" + (" (0 once scored)" if math.isnan(value) else ""))
            break
    return OfficialOutput(name, classes, binary, probabilities, tuple(notes))
