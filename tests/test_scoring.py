"""Reading what evaluate.py scores: labels from the #Dx lines only, outputs matched by record and class name."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from team_code.io.output_csv import OutputError, write_output
from team_code.io.records import RecordError, write_record
from team_code.labels import SNOMED_TO_CLASS
from team_code.scoring.score_folders import evaluate, load_labels, load_outputs

HEADER = "{name} 12 500 10\n" + "".join(
    f"{{name}}.mat 16+24 1000/mV 16 0 0 0 0 {lead}\n"
    for lead in ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
) + "#Age: 50\n#Sex: Male\n{dx_line}\n"


def write_header(directory: Path, name: str, dx_line: str, crlf: bool = False) -> None:
    text = HEADER.format(name=name, dx_line=dx_line)
    (directory / f"{name}.hea").write_bytes(text.replace("\n", "\r\n" if crlf else "\n").encode())


def test_load_labels_maps_snomed_codes_sorts_by_file_and_leaves_out_unknown_codes(tmp_path: Path, capsys) -> None:
    write_header(tmp_path, "B2", "# Dx: 59118001,429622005", crlf=True)  # RBBB, STD
    write_header(tmp_path, "A1", "#Dx: AF")
    write_header(tmp_path, "C3", "#Dx: 251146004,164889003")  # unknown code + AF
    write_header(tmp_path, "D4", "#Dx: 251146004")             # none of the nine
    (tmp_path / ".E5.hea").write_text("hidden files are not records")
    names, classes, labels = load_labels(tmp_path)
    assert names == ["A1", "B2", "C3"]
    assert classes == ["AF", "RBBB", "STD"]
    assert labels.tolist() == [[True, False, False], [False, True, True], [True, False, False]]
    stderr = capsys.readouterr().err
    assert "D4" in stderr and "left out 1 record" in stderr


def test_load_labels_fails_on_a_directory_without_usable_records(tmp_path: Path) -> None:
    write_header(tmp_path, "D4", "#Dx: 251146004")
    with pytest.raises(RecordError, match="no record"):
        load_labels(tmp_path)
    with pytest.raises(RecordError, match="not found"):
        load_labels(tmp_path / "absent")


def test_load_labels_reads_records_written_by_write_record(tmp_path: Path) -> None:
    write_record(tmp_path, "R1", np.zeros((12, 5)), labels=["PVC", "STE"])
    write_record(tmp_path, "R2", np.zeros((12, 5)), labels=["I-AVB"])
    names, classes, labels = load_labels(tmp_path)
    assert (names, classes) == (["R1", "R2"], ["I-AVB", "PVC", "STE"])
    assert labels.tolist() == [[False, True, True], [True, False, False]]


def test_load_outputs_matches_files_by_record_name_and_columns_by_class_name(tmp_path: Path) -> None:
    # Columns in another order, extra classes, a SNOMED-coded column: all matched by what they name.
    write_output(tmp_path, "R2", ["STE", "59118001", "AF"], np.array([0, 1, 1]), np.array([0.1, 0.2, 0.3]))
    write_output(tmp_path, "R1", ["AF", "RBBB", "STE"], np.array([1, 0, 0]), np.array([0.7, 0.8, 0.9]))
    write_output(tmp_path, "R0", ["AF", "RBBB"], np.array([1, 1]), np.array([1.0, 1.0]))  # not labelled: ignored
    binary, probabilities, missing = load_outputs(tmp_path, ["R1", "R2"], ["AF", "RBBB"])
    assert binary.tolist() == [[True, False], [True, True]]
    assert probabilities.tolist() == [[0.7, 0.8], [0.3, 0.2]]
    assert missing == []


def test_a_missing_output_is_all_negative_with_probability_zero_unless_strict(tmp_path: Path) -> None:
    write_output(tmp_path, "R2", ["AF", "RBBB"], np.array([1, 1]), np.array([0.9, 0.8]))
    binary, probabilities, missing = load_outputs(tmp_path, ["R1", "R2", "R3"], ["AF", "RBBB"])
    assert missing == ["R1", "R3"]
    assert binary.tolist() == [[False, False], [True, True], [False, False]]
    assert probabilities.tolist() == [[0.0, 0.0], [0.9, 0.8], [0.0, 0.0]]
    with pytest.raises(OutputError, match=r"R1\.csv: output file for record R1 not found"):
        load_outputs(tmp_path, ["R1", "R2"], ["AF", "RBBB"], strict=True)


def test_load_outputs_errors_name_the_record_or_file(tmp_path: Path) -> None:
    write_output(tmp_path, "R1", ["RBBB", "STE"], np.array([1, 0]), np.array([0.5, 0.5]))
    with pytest.raises(OutputError, match=r"R1\.csv: no column for class\(es\) AF"):
        load_outputs(tmp_path, ["R1"], ["AF", "RBBB"])
    (tmp_path / "R2.csv").write_text("#R9\nAF\n1\n0.5\n")
    with pytest.raises(OutputError, match=r"R2\.csv: first line names record 'R9'"):
        load_outputs(tmp_path, ["R2"], ["AF"], strict=True)
    (tmp_path / "R3.csv").write_text("#R3\nNormal,normal\n1,1\n0.5,0.5\n")
    with pytest.raises(OutputError, match=r"R3\.csv: columns 'Normal' and 'normal' both name class Normal"):
        load_outputs(tmp_path, ["R3"], ["Normal"])
    with pytest.raises(OutputError, match="output directory not found"):
        load_outputs(tmp_path / "absent", ["R1"], ["AF"])


def test_perfect_outputs_for_the_real_snomed_coded_samples_score_one(real_samples: Path, tmp_path: Path,
                                                                     capsys) -> None:
    label_dir = real_samples / "cinc2021"
    names, classes, labels = load_labels(label_dir)
    # Independent reading of the '# Dx:' lines: a record is kept when one of its codes is one of the nine.
    expected = {}
    for header in sorted(label_dir.glob("*.hea")):
        dx_line = next(line for line in header.read_text().splitlines() if line.lstrip("# ").startswith("Dx"))
        codes = [code.strip() for code in dx_line.split(":", 1)[1].split(",")]
        found = sorted({SNOMED_TO_CLASS[code] for code in codes if code in SNOMED_TO_CLASS})
        if found:
            expected[header.stem] = found
    assert names == list(expected)
    assert classes == sorted(set().union(*expected.values()))
    assert [[c for c, on in zip(classes, row) if on] for row in labels] == list(expected.values())
    assert "E07500" in capsys.readouterr().err  # its codes (67741000119109, 426177001) are none of the nine

    for name, row in zip(names, labels):
        write_output(tmp_path, name, classes, row, np.where(row, 0.9, 0.1))
    scores = evaluate(label_dir, tmp_path)
    assert [scores[key] for key in ("auroc", "auprc", "accuracy", "f_measure", "f_beta", "g_beta")] == [1.0] * 6


def test_outputs_are_read_as_the_official_scorer_reads_them_and_named_unless_strict(tmp_path: Path, capsys) -> None:
    """The official scorer skips the '#' lines (record name included), reads 1.0 as a negative label, a probability
    that is not a number as 0 and NaN as 0; a file with formatting errors is an all-negative row."""
    (tmp_path / "R1.csv").write_text("#R9\nAF,RBBB\n1.0,True\n90,nan\n")
    (tmp_path / "R2.csv").write_text("#R2\n# by hand\nAF,RBBB\n1,0\n0.5%,0.25\n")
    (tmp_path / "R3.csv").write_text("#R3\nAF,RBBB\n1,1\n0.5\n")
    write_output(tmp_path, "R4", ["AF", "RBBB"], np.array([0, 1]), np.array([0.125, 0.75]))
    binary, probabilities, missing = load_outputs(tmp_path, ["R1", "R2", "R3", "R4"], ["AF", "RBBB"])
    assert binary.tolist() == [[False, True], [True, False], [False, False], [False, True]]
    assert probabilities.tolist() == [[90.0, 0.0], [0.0, 0.25], [0.0, 0.0], [0.125, 0.75]]
    assert missing == []
    [note] = [line for line in capsys.readouterr().err.splitlines() if "not as driver.py writes them" in line]
    assert "3 output file(s)" in note and "R4" not in note
    assert "R1.csv: binary label '1.0' read as 0, probability '90' read as 90, first line names record 'R9'; R2" in note
    assert "R3.csv: formatting errors" in note
    for name, reason in (("R1", "binary label '1.0' is not 0 or 1"), ("R2", "expected 4 lines"),
                         ("R3", "2 classes, 2 labels and 1 probabilities")):
        with pytest.raises(OutputError, match=f"{name}\\.csv: {reason}"):
            load_outputs(tmp_path, [name, "R4"], ["AF", "RBBB"], strict=True)


def test_no_output_file_for_any_labelled_record_is_an_error(tmp_path: Path) -> None:
    write_output(tmp_path, "R0", ["AF"], np.array([1]), np.array([0.5]))  # not a labelled record
    with pytest.raises(OutputError, match=r"no output file for any of the 2 labelled record\(s\) \(expected NAME"
                                          r"\.csv, e\.g\. R1\.csv\)"):
        load_outputs(tmp_path, ["R1", "R2"], ["AF"])
