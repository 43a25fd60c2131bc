"""Read and write 12-lead ECG records in the CinC 2020 format (WFDB header NAME.hea + MATLAB NAME.mat holding `val`).

Every failure on bad input is a RecordError whose message is one line naming the file and the reason, so that a
driver can report it and go on with the next record.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io

STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

# Samples are stored as round(mV * 1000): 1 uV resolution, +-32.767 mV range.
WRITE_GAIN = 1000.0
# -32768 marks an invalid sample in WFDB format 16, so written values stop one short of it.
_INT16_LIMIT = 32767

_NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")


class RecordError(ValueError):
    """A record that cannot be read or written; str() is one line naming the file and the reason."""

    def __str__(self) -> str:
        return " ".join(super().__str__().splitlines())


def _error(source: object, reason: str) -> RecordError:
    return RecordError(f"{source}: {reason}")


def check_record_name(name: str, source: str = "") -> str:
    """Return the name if it is safe to use as a file name inside an output directory; RecordError otherwise.

    Names come from data directories we do not control: '../x', '/x' or '.hidden' must never turn into paths
    outside OUTPUT_DIR or into hidden files.
    """
    if not isinstance(name, str) or _NAME_PATTERN.fullmatch(name) is None:
        raise _error(source or repr(name), f"unsafe record name {name!r} (allowed: letters, digits, '_', '-', '.', "
                                           "not starting with '.' or '-', at most 128 characters)")
    return name


def _atomic_write(path: Path, write) -> None:
    """Write via a temporary file in the same directory and rename it, so a killed run never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; records are data meant to be shared
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_record(directory: str | Path, name: str, signal_mv: np.ndarray, fs: float = 500, age: float | None = None,
                 sex: str | None = None, labels: Sequence[str] = ()) -> None:
    """Write NAME.hea + NAME.mat the way the early CinC 2020 files are written (format 16+24, 1000/mV, MATLAB v4).

    signal_mv is (12, n) in mV in STANDARD_LEADS order. Both files are written atomically; the header goes in
    place first so that a visible NAME.mat always has its NAME.hea.
    """
    directory = Path(directory)
    check_record_name(name, str(directory / name))
    target = directory / name
    signal = np.asarray(signal_mv, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[0] != len(STANDARD_LEADS) or signal.shape[1] < 1:
        raise _error(target, f"signal must have shape (12, n) with n >= 1, got {signal.shape}")
    if not np.all(np.isfinite(signal)):
        raise _error(target, "signal contains NaN or Inf")
    if not (np.isfinite(fs) and fs > 0):
        raise _error(target, f"sampling frequency must be positive, got {fs}")
    if sex not in (None, "Male", "Female"):
        raise _error(target, f"sex must be 'Male', 'Female' or None, got {sex!r}")
    for label in labels:
        if not label or any(c in label for c in ",\r\n") or label != label.strip():
            raise _error(target, f"label {label!r} cannot be written in a #Dx: line")
    val = np.clip(np.round(signal * WRITE_GAIN), -_INT16_LIMIT, _INT16_LIMIT).astype(np.int16)

    sums = val.astype(np.int64).sum(axis=1)
    checksums = (sums + 32768) % 65536 - 32768  # WFDB: sum of samples as a 16-bit signed value
    lines = [f"{name} {len(STANDARD_LEADS)} {_format_number(fs)} {val.shape[1]}"]
    for lead, first, checksum in zip(STANDARD_LEADS, val[:, 0], checksums):
        lines.append(f"{name}.mat 16+24 {_format_number(WRITE_GAIN)}/mV 16 0 {int(first)} {int(checksum)} 0 {lead}")
    age_text = "NaN" if age is None or not np.isfinite(age) else str(int(round(age)))
    lines += [f"#Age: {age_text}", f"#Sex: {sex or 'Unknown'}", f"#Dx: {','.join(labels)}",
              "#Rx: Unknown", "#Hx: Unknown", "#Sx: Unknown"]
    header_bytes = ("\n".join(lines) + "\n").encode("utf-8")

    directory.mkdir(parents=True, exist_ok=True)
    _atomic_write(directory / f"{name}.hea", lambda handle: handle.write(header_bytes))
    _atomic_write(directory / f"{name}.mat",
                  lambda handle: scipy.io.savemat(handle, {"val": val}, format="4"))
