"""Read and write 12-lead ECG records in the CinC 2020 format (WFDB header NAME.hea + MATLAB NAME.mat holding `val`).

Every failure on bad input is a RecordError whose message is one line naming the file and the reason, so that a
driver can report it and go on with the next record.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from team_code.io.atomic import atomic_path
from team_code.labels import CPSC_NUMBER_TO_CLASS, to_classes

STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

# Samples are stored as round(mV * 1000): 1 uV resolution, +-32.767 mV range.
WRITE_GAIN = 1000.0
# -32768 marks an invalid sample in WFDB format 16, so written values stop one short of it.
_INT16_LIMIT = 32767

# A 12-lead ECG sampled below 50 Hz or above 20 kHz is not an ECG we can classify; such a header is corrupt.
MIN_FS = 50.0
MAX_FS = 20000.0

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


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_record(directory: str | Path, name: str, signal_mv: np.ndarray, fs: float = 500, age: float | None = None,
                 sex: str | None = None, labels: Sequence[str] = ()) -> None:
    """Write NAME.hea + NAME.mat the way the early CinC 2020 files are written (format 16+24, 1000/mV, MATLAB v4).

    signal_mv is (12, n) in mV in STANDARD_LEADS order. Both files are written atomically; the header goes in
    place first so that a visible new NAME.mat always has its NAME.hea.
    """
    directory = Path(directory)
    check_record_name(name, str(directory / name))
    target = directory / name
    signal = np.asarray(signal_mv, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[0] != len(STANDARD_LEADS) or signal.shape[1] < 1:
        raise _error(target, f"signal must have shape (12, n) with n >= 1, got {signal.shape}")
    if not np.all(np.isfinite(signal)):
        raise _error(target, "signal contains NaN or Inf")
    if not MIN_FS <= fs <= MAX_FS:
        raise _error(target, f"sampling frequency {fs} Hz is outside {MIN_FS:g}..{MAX_FS:g} Hz")
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

    # Both files are complete before either is renamed into place; the inner context renames the header first.
    # Not fsynced (generated and converted records are remade by rerunning the command; 4 fsyncs per record are not).
    with atomic_path(directory / f"{name}.mat", durable=False) as tmp_mat, \
            atomic_path(directory / f"{name}.hea", durable=False) as tmp_hea:
        scipy.io.savemat(tmp_mat, {"val": val}, format="4", appendmat=False)
        tmp_hea.write_bytes(header_bytes)


# ---------------------------------------------------------------------------------------------------------------
# Reading

# Headers are a few hundred bytes; refuse to read a multi-megabyte "header".
MAX_HEADER_BYTES = 1 << 20
# Samples per lead beyond this (over an hour at 500 Hz) would exhaust memory, not describe a 12-lead ECG.
MAX_SAMPLES = 1 << 25
DEFAULT_GAIN = 200.0  # WFDB's gain when the header gives none (or 0)

_LEAD_BY_UPPER = {lead.upper(): lead for lead in STANDARD_LEADS}
_UNITS_BY_UPPER = {"MV": "mV", "UV": "uV", "V": "V"}  # after micro signs become 'u'
_MV_PER_UNIT = {"mV": 1.0, "uV": 1e-3, "V": 1e3}
_GAIN_PATTERN = re.compile(r"(?P<gain>[^(/]*)(?:\((?P<baseline>[^)]*)\))?(?:/(?P<units>.*))?")
_FMT_PATTERN = re.compile(r"\d+(?:x\d+)?(?::\d+)?(?:\+\d+)?")
_INT_PATTERN = re.compile(r"[+-]?\d+")
_SEX = {"male": "Male", "m": "Male", "female": "Female", "f": "Female"}


@dataclass(frozen=True)
class Header:
    """The parts of a WFDB header a classifier needs, with lead names made canonical."""

    name: str
    fs: float
    num_samples: int
    leads: tuple[str, ...]
    gains: tuple[float, ...]
    baselines: tuple[int, ...]
    units: tuple[str, ...]
    age: float | None
    sex: str | None
    dx: tuple[str, ...]

    @property
    def labels(self) -> list[str]:
        """The Dx tokens that are one of the nine classes, in CLASSES order."""
        return to_classes(self.dx)


@dataclass
class Record:
    """A record's signal in mV, leads in STANDARD_LEADS order, at the file's own sampling frequency."""

    name: str
    signal: np.ndarray
    fs: float
    age: float | None
    sex: str | None
    labels: list[str]
    dx: tuple[str, ...]


def _parse_int(token: str, what: str, source: str) -> int:
    try:
        if _INT_PATTERN.fullmatch(token) is None:
            raise ValueError(token)
        return int(token)
    except ValueError:  # also int()'s limit on very long digit strings
        raise _error(source, f"{what} {token[:40]!r} is not an integer") from None


def _parse_float(token: str, what: str, source: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise _error(source, f"{what} {token[:40]!r} is not a number") from None
    if not np.isfinite(value):
        raise _error(source, f"{what} {token[:40]!r} is not finite")
    return value


def _parse_record_line(line: str, source: str) -> tuple[str, int, float, int]:
    tokens = line.split()
    if len(tokens) < 4:
        raise _error(source, f"record line {line[:80]!r} needs name, number of leads, sampling frequency, samples")
    name = tokens[0]
    if "/" in name:
        raise _error(source, f"multi-segment record {name!r} is not supported")
    num_leads = _parse_int(tokens[1], "number of leads", source)
    if not 1 <= num_leads <= 64:
        raise _error(source, f"number of leads {num_leads} is out of range")
    fs = _parse_float(tokens[2].split("/")[0], "sampling frequency", source)
    if not MIN_FS <= fs <= MAX_FS:
        raise _error(source, f"sampling frequency {fs:g} Hz is outside {MIN_FS:g}..{MAX_FS:g} Hz")
    num_samples = _parse_int(tokens[3], "number of samples", source)
    if num_samples < 1:
        raise _error(source, "record has zero samples")
    if num_samples > MAX_SAMPLES:
        raise _error(source, f"{num_samples} samples per lead is more than {MAX_SAMPLES}")
    return name, num_leads, fs, num_samples


def _parse_signal_line(line: str, source: str) -> tuple[str, float, int, str]:
    """One lead: (canonical lead name, gain, baseline, canonical units)."""
    tokens = line.split()
    if len(tokens) < 9:
        raise _error(source, f"lead line {line[:80]!r} has {len(tokens)} fields, expected 9 "
                             "(file fmt gain bits offset first checksum blocksize lead)")
    fmt, gain_spec, adc_zero = tokens[1], tokens[2], tokens[4]
    if _FMT_PATTERN.fullmatch(fmt) is None:
        raise _error(source, f"lead format {fmt!r} is not a WFDB format")
    for token, what in ((tokens[3], "ADC resolution"), (tokens[5], "first value"), (tokens[6], "checksum"),
                        (tokens[7], "block size")):
        _parse_int(token, what, source)
    match = _GAIN_PATTERN.fullmatch(gain_spec)
    if match is None:
        raise _error(source, f"gain {gain_spec!r} is not gain[(baseline)][/units]")
    gain = _parse_float(match["gain"], "gain", source) if match["gain"] else 0.0
    if gain == 0:
        gain = DEFAULT_GAIN
    # WFDB: without an explicit baseline, the baseline is the ADC zero.
    baseline_token = match["baseline"] if match["baseline"] is not None else adc_zero
    baseline = _parse_int(baseline_token, "baseline", source)
    units_token = match["units"] if match["units"] is not None else "mV"
    units = _UNITS_BY_UPPER.get(units_token.replace("µ", "u").replace("μ", "u").upper())
    if units is None:
        raise _error(source, f"units {units_token[:40]!r} are not mV, uV or V")
    description = " ".join(tokens[8:])
    lead = _LEAD_BY_UPPER.get(description.upper())
    if lead is None:
        raise _error(source, f"unknown lead name {description[:40]!r}")
    return lead, gain, baseline, units


def _parse_age(text: str) -> float | None:
    """Age in years, or None when absent, 'NaN', 'Unknown' or not a plausible age: it is metadata, not signal."""
    try:
        age = float(text)
    except ValueError:
        return None
    return age if np.isfinite(age) and 0 <= age <= 150 else None


def parse_header(text: str, source: str = "<header>") -> Header:
    """Parse the text of a CinC 2020 / WFDB header; RecordError naming `source` when it is not a usable header."""
    lines = [line.strip() for line in text.splitlines()]
    record_line: str | None = None
    signal_lines: list[str] = []
    comments: list[str] = []
    for line in lines:
        if not line:
            continue
        if line.startswith("#"):
            comments.append(line[1:])
        elif record_line is None:
            record_line = line
        else:
            signal_lines.append(line)
    if record_line is None:
        raise _error(source, "header is empty")
    name, num_leads, fs, num_samples = _parse_record_line(record_line, source)
    if len(signal_lines) != num_leads:
        raise _error(source, f"header declares {num_leads} leads but has {len(signal_lines)} lead lines")
    parsed = [_parse_signal_line(line, source) for line in signal_lines]
    leads = tuple(p[0] for p in parsed)
    duplicates = sorted({lead for lead in leads if leads.count(lead) > 1})
    if duplicates:
        raise _error(source, f"duplicate lead {', '.join(duplicates)}")
    missing = [lead for lead in STANDARD_LEADS if lead not in leads]
    if missing:
        raise _error(source, f"missing lead {', '.join(missing)}")

    age: float | None = None
    sex: str | None = None
    dx: list[str] = []
    for comment in comments:
        key, colon, value = comment.partition(":")
        if not colon:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "age":
            age = _parse_age(value)
        elif key == "sex":
            sex = _SEX.get(value.lower())
        elif key == "dx":
            dx.extend(t for t in _dx_tokens(value) if t not in dx)
    return Header(name=name, fs=fs, num_samples=num_samples, leads=leads,
                  gains=tuple(p[1] for p in parsed), baselines=tuple(p[2] for p in parsed),
                  units=tuple(p[3] for p in parsed), age=age, sex=sex, dx=tuple(dx))


def _dx_tokens(value: str) -> list[str]:
    """The codes of a `#Dx:` line's value, unique, in order."""
    tokens: list[str] = []
    for token in (t.strip() for t in value.split(",")):
        if token and token not in tokens:
            tokens.append(token)
    return tokens


def _header_text(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_HEADER_BYTES + 1)
    except OSError as exc:
        raise _error(path, f"cannot read header ({exc.strerror or type(exc).__name__})") from None
    if len(data) > MAX_HEADER_BYTES:
        raise _error(path, f"header is larger than {MAX_HEADER_BYTES} bytes")
    return data.decode("utf-8", errors="replace")


def read_header(path: str | Path) -> Header:
    """Read and parse NAME.hea."""
    path = Path(path)
    return parse_header(_header_text(path), str(path))


def read_dx(path: str | Path) -> tuple[str, ...]:
    """Only the `#Dx:` codes of NAME.hea, as the official scorer reads a label file: the rest of the header (how
    many leads, which) is not needed to score, so a 2-lead label header is as good as a 12-lead one."""
    path = Path(path)
    dx: list[str] = []
    for line in (line.strip() for line in _header_text(path).splitlines()):
        key, colon, value = line[1:].partition(":")
        if line.startswith("#") and colon and key.strip().lower() == "dx":
            dx.extend(t for t in _dx_tokens(value) if t not in dx)
    return tuple(dx)


def _record_paths(path: str | Path) -> tuple[str, Path, Path]:
    """(name, NAME.hea, NAME.mat) from NAME.hea, NAME.mat or the base path NAME."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".hea", ".mat") else path
    return base.name, base.parent / f"{base.name}.hea", base.parent / f"{base.name}.mat"


def _load_mat(path: Path, variable: str, what: str) -> dict:
    """scipy.io.loadmat of one variable, with every way a damaged file fails turned into RecordError."""
    if not path.is_file():
        raise _error(path, f"{what} is missing")
    try:
        return scipy.io.loadmat(path, variable_names=[variable])
    except MemoryError:
        raise _error(path, f"{what} claims more data than fits in memory") from None
    except Exception as exc:  # scipy raises many kinds (MatReadError, ValueError, struct.error, ...) on garbage
        raise _error(path, f"not a readable MATLAB file ({type(exc).__name__}: {exc})") from None


def _load_val(path: Path) -> np.ndarray:
    contents = _load_mat(path, "val", "signal file")
    if "val" not in contents:
        raise _error(path, "MATLAB file holds no 'val' variable")
    return contents["val"]


def load_record(path: str | Path) -> Record:
    """Load a record as float32 mV, leads in STANDARD_LEADS order; RecordError naming the file when unusable."""
    name, header_path, mat_path = _record_paths(path)
    if not header_path.is_file():
        raise _error(header_path, "header file is missing")
    return record_from_val(name, read_header(header_path), _load_val(mat_path), mat_path)


def record_from_val(name: str, header: Header, val: object, source: object) -> Record:
    """The Record of a parsed header and its `val` matrix (ADC units, the header's lead order).

    The one conversion shared by load_record and the organisers' harness adapter (run_12ECG_classifier.py), which
    is handed the matrix and the header lines rather than files; RecordError naming `source` when unusable.
    """
    if not isinstance(val, np.ndarray) or val.dtype.kind not in "iuf":
        raise _error(source, f"'val' is not a numeric array (dtype {getattr(val, 'dtype', type(val).__name__)})")
    if val.ndim != 2:
        raise _error(source, f"'val' has {val.ndim} dimensions, expected 2 (leads x samples)")
    if val.shape[1] == 0:
        raise _error(source, "record has zero samples")
    if val.shape != (len(header.leads), header.num_samples):
        raise _error(source, f"'val' has shape {val.shape} but the header declares {len(header.leads)} leads "
                             f"x {header.num_samples} samples")
    gains = np.asarray(header.gains)[:, None]
    baselines = np.asarray(header.baselines, dtype=np.float64)[:, None]
    mv_per_unit = np.asarray([_MV_PER_UNIT[u] for u in header.units])[:, None]
    with np.errstate(all="ignore"):  # overflow shows up as Inf and is reported below
        physical = (val.astype(np.float64) - baselines) / gains * mv_per_unit
        signal = physical[[header.leads.index(lead) for lead in STANDARD_LEADS]].astype(np.float32)
    if not np.all(np.isfinite(signal)):
        raise _error(source, "signal contains NaN or Inf")
    return Record(name=name, signal=signal, fs=header.fs, age=header.age, sex=header.sex,
                  labels=header.labels, dx=header.dx)


def find_records(directory: str | Path) -> dict[str, Path]:
    """name: base path (without suffix) of every record with a .hea or a .mat file in the directory and its
    sub-folders (the released data has a folder per source and sub-folders of a few thousand records), sorted by
    name; hidden files and folders are ignored. Two records of the same name in different folders are a
    RecordError naming both: their outputs and cache entries would collide."""
    directory = Path(directory)
    if not directory.is_dir():
        raise _error(directory, "not a directory")
    found: dict[str, Path] = {}
    for folder, subfolders, files in os.walk(directory):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for file in files:
            stem, suffix = os.path.splitext(file)
            if suffix not in (".hea", ".mat") or file.startswith("."):
                continue
            base = Path(folder) / stem
            if found.setdefault(stem, base) != base:
                first, second = sorted((found[stem], base))
                raise _error(directory, f"two records named {stem}: {first} and {second} (names must be unique "
                                        "across sub-folders)")
    return dict(sorted(found.items()))


def record_names(directory: str | Path) -> list[str]:
    """Sorted names of every NAME.mat in the directory: the set of records a driver must answer for."""
    directory = Path(directory)
    if not directory.is_dir():
        raise _error(directory, "not a directory")
    return sorted(p.name[: -len(".mat")] for p in directory.iterdir() if p.name.endswith(".mat") and p.is_file())


# ---------------------------------------------------------------------------------------------------------------
# The original CPSC 2018 release

def _scalar(value: object) -> object:
    """Unwrap MATLAB's 1x1 cells and arrays to a Python scalar; None when empty, larger arrays as they are."""
    while isinstance(value, np.ndarray):
        if value.size != 1:
            return None if value.size == 0 else value
        value = value.reshape(-1)[0]
    return value.item() if isinstance(value, np.generic) else value


def load_cpsc2018(path: str | Path) -> tuple[np.ndarray, float | None, str | None]:
    """Read an original CPSC 2018 A0001.mat (struct ECG with sex, age, data 12 x n in mV): (signal, age, sex)."""
    path = Path(path)
    contents = _load_mat(path, "ECG", "file")
    ecg = contents.get("ECG")
    fields = getattr(getattr(ecg, "dtype", None), "names", None)
    if ecg is None or not fields or ecg.size != 1 or "data" not in fields:
        raise _error(path, "no struct 'ECG' with a 'data' field")
    ecg = ecg.reshape(-1)[0]
    data = ecg["data"]
    if isinstance(data, np.ndarray) and data.dtype == object and data.size == 1:
        data = data.reshape(-1)[0]
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "iuf":
        raise _error(path, "ECG.data is not a numeric array")
    if data.ndim != 2 or data.shape[0] != len(STANDARD_LEADS) or data.shape[1] == 0:
        raise _error(path, f"ECG.data has shape {data.shape}, expected (12, n) with n >= 1")
    signal = data.astype(np.float32)
    if not np.all(np.isfinite(signal)):
        raise _error(path, "ECG.data contains NaN or Inf")

    age = _scalar(ecg["age"]) if "age" in fields else None
    age = _parse_age(str(age)) if isinstance(age, (int, float, str)) else None
    sex = _scalar(ecg["sex"]) if "sex" in fields else None
    sex = _SEX.get(sex.strip().lower()) if isinstance(sex, str) else None
    return signal, age, sex


def read_cpsc_reference(path: str | Path) -> dict[str, list[str]]:
    """REFERENCE.csv (Recording,First_label,Second_label,Third_label; classes numbered 1-9) -> name: classes."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise _error(path, f"cannot read ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError:
        raise _error(path, "not UTF-8 text") from None
    reference: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        cells = [cell.strip() for cell in line.split(",")]
        if not any(cells) or (number == 1 and cells[0].lower() == "recording"):
            continue
        where = f"{path} line {number}"
        name = check_record_name(cells[0], where)
        if name in reference:
            raise _error(where, f"recording {name} is listed twice")
        classes: list[str] = []
        for cell in cells[1:]:
            if not cell:
                continue
            label = CPSC_NUMBER_TO_CLASS.get(_parse_int(cell, "label", where))
            if label is None:
                raise _error(where, f"label {cell} is not a class number 1-9")
            if label not in classes:
                classes.append(label)
        reference[name] = classes
    return reference
