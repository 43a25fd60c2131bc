"""The Challenge output file: one `NAME.csv` per record holding the class names, binary labels and probabilities."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from team_code.atomic import atomic_path
from team_code.records import check_record_name


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
    probabilities = np.asarray(probabilities, dtype=np.float64)
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
        ",".join(f"{p:.3f}" for p in probabilities),
    ]
    # Atomic but not fsynced: rerunning the driver remakes an output, and two fsyncs would add several ms per record.
    with atomic_path(path, durable=False) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    return path


def _parse_binary(path: Path, tokens: list[str]) -> np.ndarray:
    values = []
    for token in tokens:
        try:
            value = float(token)
        except ValueError:
            raise OutputError(f"{path}: binary label {token!r} is not a number") from None
        if value not in (0.0, 1.0):
            raise OutputError(f"{path}: binary label {token!r} is not 0 or 1")
        values.append(value == 1.0)
    return np.array(values, dtype=bool)


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


def read_output(path: str | Path) -> tuple[str, list[str], np.ndarray, np.ndarray]:
    """Return (record name, class names, binary labels as bool, probabilities) from one output file.

    Tolerates CRLF line ends, spaces around fields and trailing blank lines, since hand-made and
    Windows-made files have them; anything else malformed raises OutputError naming the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise OutputError(f"{path}: not a UTF-8 text file") from None
    except OSError as error:
        raise OutputError(f"{path}: cannot read ({error.strerror})") from None
    lines = [line.strip() for line in text.splitlines()]
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
