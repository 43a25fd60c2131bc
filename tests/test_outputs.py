"""The Challenge output file: exact layout when written, tolerant but strict parsing when read as driver.py writes
it, and the final-phase official scorer's reading of anything else."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from team_code.io.output_csv import OutputError, read_output, read_output_as_official, write_output
from team_code.io.records import RecordError
from team_code.labels import CLASSES

EXAMPLE = """#A0001
AF,I-AVB,LBBB,Normal,PAC,PVC,RBBB,STD,STE
0,0,0,0,0,0,1,1,0
0.0123,0.034,0.001,0.101,0.02,0.008,0.97251,0.655,0.004
"""


def test_write_output_matches_the_official_layout(tmp_path: Path) -> None:
    binary = np.array([0, 0, 0, 0, 0, 0, 1, 1, 0], dtype=bool)
    probabilities = np.array([0.0123, 0.034, 0.001, 0.101, 0.02, 0.008, 0.97251, 0.655, 0.004])
    path = write_output(tmp_path / "out", "A0001", CLASSES, binary, probabilities)
    assert path == tmp_path / "out" / "A0001.csv"
    assert path.read_bytes() == EXAMPLE.encode()
    assert [p.name for p in path.parent.iterdir()] == ["A0001.csv"]  # no temporary file left behind


def test_write_then_read_round_trips_to_three_decimals(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.random(len(CLASSES))
    binary = probabilities > 0.5
    path = write_output(tmp_path, "E07500", CLASSES, binary, probabilities)
    name, classes, read_binary, read_probabilities = read_output(path)
    assert (name, classes) == ("E07500", list(CLASSES))
    assert read_binary.dtype == bool and np.array_equal(read_binary, binary)
    assert np.array_equal(read_probabilities, probabilities)  # full precision: reads back to the same float


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_probabilities_round_trip_exactly_without_exponents(tmp_path: Path, dtype) -> None:
    probabilities = np.array([1e-9, 0.1, 2.5e-5, 0.0, 1.0, 1 / 3, 0.97312, 7e-3, 0.5], dtype=dtype)
    path = write_output(tmp_path, "R1", CLASSES, probabilities > 0.4, probabilities)
    text = path.read_text().splitlines()[3]
    assert "e" not in text.lower()
    assert np.array_equal(np.array(text.split(","), dtype=np.float64).astype(dtype), probabilities)
    assert text.split(",")[1] == "0.1" and text.split(",")[4] == "1"  # shortest, not padded


def test_write_output_replaces_an_existing_file(tmp_path: Path) -> None:
    write_output(tmp_path, "A1", ["AF", "STE"], np.array([1, 0]), np.array([0.9, 0.1]))
    write_output(tmp_path, "A1", ["AF", "STE"], np.array([0, 1]), np.array([0.2, 0.8]))
    assert (tmp_path / "A1.csv").read_text() == "#A1\nAF,STE\n0,1\n0.2,0.8\n"
    assert len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("name", ["../evil", "/abs", ".hidden", "a/b", ""])
def test_write_output_refuses_unsafe_record_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(RecordError):
        write_output(tmp_path / "out", name, ["AF"], np.array([1]), np.array([0.5]))
    assert not (tmp_path / "evil.csv").exists()


@pytest.mark.parametrize(
    ("binary", "probabilities"),
    [
        ([1, 0], [0.5]),          # length mismatch
        ([1], [1.5]),             # probability above 1
        ([1], [-0.1]),            # probability below 0
        ([1], [float("nan")]),    # not a number
        ([2], [0.5]),             # label not 0/1
    ],
)
def test_write_output_refuses_what_read_output_would_reject(tmp_path: Path, binary, probabilities) -> None:
    with pytest.raises(OutputError, match="A1.csv"):
        write_output(tmp_path, "A1", ["AF"], np.array(binary), np.array(probabilities))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("classes", [["AF", "AF"], ["AF", ""], ["AF,STE", "PAC"], [" AF", "PAC"]])
def test_write_output_refuses_class_names_the_file_cannot_hold(tmp_path: Path, classes: list[str]) -> None:
    with pytest.raises(OutputError, match="class names"):
        write_output(tmp_path, "A1", classes, np.array([1, 0]), np.array([0.5, 0.5]))


def test_read_output_parses_the_official_example(tmp_path: Path) -> None:
    path = tmp_path / "A0001.csv"
    path.write_text(EXAMPLE)
    name, classes, binary, probabilities = read_output(path)
    assert name == "A0001"
    assert classes == list(CLASSES)
    assert binary.tolist() == [False] * 6 + [True, True, False]
    assert probabilities.tolist() == [0.0123, 0.034, 0.001, 0.101, 0.02, 0.008, 0.97251, 0.655, 0.004]


def test_read_output_tolerates_crlf_spaces_and_trailing_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "A0001.csv"
    path.write_bytes(b"# A0001 \r\n AF , RBBB\r\n1, 0\r\n0.9 ,0.25\r\n\r\n\r\n")
    name, classes, binary, probabilities = read_output(path)
    assert (name, classes) == ("A0001", ["AF", "RBBB"])
    assert binary.tolist() == [True, False]
    assert probabilities.tolist() == [0.9, 0.25]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("#A1\nAF,STE\n1,0\n", "expected 4 lines"),
        ("#A1\nAF,STE\n1,0\n0.5,0.5\n0.5,0.5\n", "expected 4 lines"),
        ("#A1\nAF,STE\n\n1,0\n0.5,0.5\n", "expected 4 lines"),
        ("", "expected 4 lines"),
        ("A1\nAF,STE\n1,0\n0.5,0.5\n", "first line"),
        ("#\nAF,STE\n1,0\n0.5,0.5\n", "first line"),
        ("#A1\nAF,STE\n1,0,1\n0.5,0.5\n", "counts must match"),
        ("#A1\nAF,STE\n1,0\n0.5\n", "counts must match"),
        ("#A1\nAF,STE\n1,0\n0.5,high\n", "not a number"),
        ("#A1\nAF,STE\n1,0\n0.5,nan\n", "not in \\[0, 1\\]"),
        ("#A1\nAF,STE\n1,0\n0.5,inf\n", "not in \\[0, 1\\]"),
        ("#A1\nAF,STE\n1,0\n0.5,1.2\n", "not in \\[0, 1\\]"),
        ("#A1\nAF,STE\n1,0\n-0.5,0.2\n", "not in \\[0, 1\\]"),
        ("#A1\nAF,STE\n1,2\n0.5,0.2\n", "not 0 or 1"),
        ("#A1\nAF,STE\n1,yes\n0.5,0.2\n", "not 0 or 1"),
        ("#A1\nAF,STE\n1.0,0\n0.5,0.2\n", "'1.0' is not 0 or 1"),  # the official scorer reads it as 0
        ("#A1\nAF,STE\nTrue,0\n0.5,0.2\n", "not 0 or 1"),
        ("#A1\nAF,\n1,0\n0.5,0.2\n", "empty class name"),
        ("#A1\nAF,AF\n1,0\n0.5,0.2\n", "repeated class name"),
    ],
)
def test_read_output_rejects_malformed_files_naming_them(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "A1.csv"
    path.write_text(text)
    with pytest.raises(OutputError, match=reason) as caught:
        read_output(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_read_output_reports_unreadable_files_as_output_errors(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="missing.csv"):
        read_output(tmp_path / "missing.csv")
    binary_file = tmp_path / "binary.csv"
    binary_file.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(OutputError, match="binary.csv"):
        read_output(binary_file)


def official_reading(path: Path) -> tuple[list[str], list[int], list[float]]:
    """The final-phase evaluate_12ECG_score.py's load_outputs for one file, in its own words (is_number included)."""
    def is_number(x):
        try:
            float(x)
            return True
        except ValueError:
            return False

    with open(path) as f:
        lines = [line for line in f if line.strip() and not line.strip().startswith("#")]
    lengths = [len(line.split(",")) for line in lines]
    if not (len(lines) >= 3 and len(set(lengths)) == 1):
        return [], [], []
    fields = [[a.strip() for a in line.split(",")] for line in lines[:3]]
    return (fields[0], [1 if a in ("1", "True", "true", "T", "t") else 0 for a in fields[1]],
            [float(a) if is_number(a) else 0 for a in fields[2]])


@pytest.mark.parametrize(("text", "note"), [
    (EXAMPLE, None),
    ("#A1\nAF,STE\n1.0,0.0\n0.5,0.2\n", "binary label '1.0' read as 0"),
    ("#A1\nAF,STE\nTrue,False\n0.5,0.2\n", "binary label 'True' read as 1"),
    ("#A1\nAF,STE\nt,T\n0.5,0.2\n", "binary label 't' read as 1"),
    ("#A1\nAF,STE\n1,0\n87.5,2\n", "probability '87.5' read as 87.5"),
    ("#A1\nAF,STE\n1,0\n87.5%,2%\n", "probability '87.5%' read as 0"),
    ("#A1\nAF,STE\n1,0\n0.5,nan\n", "probability 'nan' read as nan (0 once scored)"),
    ("#A1\nAF,STE\n1,0\n0.5,\n", "probability '' read as 0"),
    ("#A1\nAF,STE\n1,0\n-inf,1e-3\n", "probability '-inf' read as -inf"),
    ("#A1\n# made by hand\n\nAF,STE\n  # checked\n1,0\n0.5,0.2\n#end\n", None),
    ("#A1\r\nAF , STE\r\n1 ,0\r\n0.5, 0.2\r\n", None),
    ("#A1\rAF,STE\r1,0\r0.5,0.2\r", None),  # old Mac line ends: Python's text mode splits them too
    ("#A1\nAF,STE\n1,0\n0.5,0.2\n0.1,0.1\n", "1 line(s) after the probabilities ignored"),
    ("#A1\nAF,STE\n1,0\n0.5\n", "formatting errors (2/2/1 fields)"),
    ("#A1\nAF,STE\n1,0\n0.5,0.2\n0.1\n", "formatting errors (2/2/2/1 fields)"),
    ("#A1\nAF,STE\n1,0\n", "formatting errors (2 line(s) of data)"),
    ("", "formatting errors (0 line(s) of data)"),
])
def test_read_output_as_official_reads_every_file_as_the_final_phase_scorer(tmp_path: Path, text: str,
                                                                            note: str | None) -> None:
    path = tmp_path / "A1.csv"
    path.write_bytes(text.encode())
    output = read_output_as_official(path)
    classes, binary, scalar = official_reading(path)
    assert output.classes == classes
    assert output.binary.dtype == bool and output.binary.tolist() == [bool(b) for b in binary]
    assert np.array_equal(output.probabilities, np.array(scalar, dtype=np.float64), equal_nan=True)
    assert output.notes == (() if note is None else (note + ", so the official scorer scores it as all-negative"
                                                     if note.startswith("formatting") else note,))
    assert output.name == ("A0001" if text == EXAMPLE else None if not text else "A1")
