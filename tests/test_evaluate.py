"""evaluate.py as a user runs it: a subprocess on a label directory and an output directory."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import evaluate
from team_code.outputs import write_output

ROOT = Path(__file__).resolve().parents[1]
HEADER_LINE = "AUROC|AUPRC|Accuracy|F-measure|Fbeta-measure|Gbeta-measure"
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

# Record: (Dx line, binary outputs, probabilities) with outputs over (AF, Normal, RBBB).
# Worked by hand. Weighted tables (tp, fp, fn, tn): AF (1.5, 0, 0, 1.5), Normal (.5, .5, 1, 1), RBBB (.5, 1, .5, 1).
# Accuracy (1 + .5 + .5)/3; F-measure (1 + .4 + .4)/3; F2 (1 + 5/14 + 5/11)/3; G2 (1 + 1/6 + 1/5)/3.
# AUROC: AF 1, Normal .5, RBBB .5; AUPRC: AF 1, Normal and RBBB .25 + .5 * 2/3.
RECORDS = {
    "A0001": ("#Dx: AF,RBBB", [1, 1, 0], [0.9, 0.6, 0.3]),
    "A0002": ("# Dx: 164889003", [1, 0, 0], [0.8, 0.1, 0.2]),  # AF as SNOMED
    "A0003": ("#Dx: 426783006", [0, 0, 1], [0.1, 0.4, 0.7]),   # Normal as SNOMED
    "A0004": ("#Dx: Normal,59118001", [0, 1, 1], [0.2, 0.5, 0.6]),
}
EXPECTED = f"{HEADER_LINE}\n0.667|0.722|0.667|0.600|0.604|0.456"
EXPECTED_TABLE = [
    ["class", "n", "precision", "recall", "F2", "G2"],
    ["AF", "2", "1.000", "1.000", "1.000", "1.000"],
    ["Normal", "2", "0.500", "0.333", "0.357", "0.167"],
    ["RBBB", "2", "0.333", "0.500", "0.455", "0.200"],
]


def write_header(directory: Path, name: str, dx_line: str, leads: tuple[str, ...] = LEADS) -> None:
    lines = [f"{name} {len(leads)} 500 5000"] + [f"{name}.mat 16+24 1000/mV 16 0 0 0 0 {lead}" for lead in leads]
    lines += ["#Age: 60", "#Sex: Female", dx_line]
    (directory / f"{name}.hea").write_text("\n".join(lines) + "\n")


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    labels, outputs = tmp_path / "labels", tmp_path / "outputs"
    labels.mkdir()
    for name, (dx_line, _, _) in RECORDS.items():
        write_header(labels, name, dx_line)
    write_header(labels, "A0005", "#Dx: 251146004")  # none of the nine: left out, needs no output file
    # Outputs written in reverse order, over all nine classes in reverse column order, plus an output for a
    # record that has no labels: only names (of records and of classes) can line them up.
    columns = ["STE", "STD", "RBBB", "PVC", "PAC", "Normal", "LBBB", "I-AVB", "AF"]
    for name, (_, binary, probabilities) in reversed(RECORDS.items()):
        full_binary, full_probabilities = np.zeros(9, dtype=int), np.zeros(9)
        for cls, b, p in zip(("AF", "Normal", "RBBB"), binary, probabilities):
            full_binary[columns.index(cls)], full_probabilities[columns.index(cls)] = b, p
        write_output(outputs, name, columns, full_binary, full_probabilities)
    write_output(outputs, "A0000", columns, np.ones(9, dtype=int), np.ones(9))
    return labels, outputs


def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "evaluate.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_prints_exactly_the_two_official_lines_and_writes_the_scores_file(dirs, tmp_path: Path) -> None:
    labels, outputs = dirs
    scores_file = tmp_path / "scores" / "scores.psv"
    result = run(labels, outputs, scores_file)
    assert result.returncode == 0, result.stderr
    assert result.stdout == EXPECTED + "\n"
    assert scores_file.read_text() == EXPECTED + "\n"
    # The record with only an unknown SNOMED code is reported, by name, and left out of every score.
    assert "A0005" in result.stderr and "left out 1 record" in result.stderr


def test_per_class_table_follows_the_two_lines(dirs) -> None:
    result = run(*dirs, "--per-class")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "\n".join(lines[:2]) == EXPECTED
    assert [line.split() for line in lines[2:]] == EXPECTED_TABLE


def test_main_returns_zero_and_prints_the_scores(dirs, capsys) -> None:
    assert evaluate.main([str(d) for d in dirs]) == 0
    assert capsys.readouterr().out == EXPECTED + "\n"


def assert_fails_naming(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(error_lines) == 1 and all(word in error_lines[0] for word in words), result.stderr


def test_labels_are_read_from_the_dx_line_alone(dirs, tmp_path: Path) -> None:
    """The official scorer reads only #Dx: 2-lead label headers of the same records score exactly as 12-lead ones."""
    labels, outputs = dirs
    two_lead = tmp_path / "two_lead"
    two_lead.mkdir()
    for name, (dx_line, _, _) in RECORDS.items():
        write_header(two_lead, name, dx_line, leads=("II", "V5"))
    write_header(two_lead, "A0005", "#Dx: 251146004")
    twelve, two = run(labels, outputs, "--per-class"), run(two_lead, outputs, "--per-class")
    assert twelve.returncode == two.returncode == 0, two.stderr
    assert two.stdout == twelve.stdout


def test_missing_output_is_scored_all_negative_and_named(dirs, tmp_path: Path) -> None:
    labels, outputs = dirs
    (outputs / "A0003.csv").unlink()
    (outputs / "A0001.csv").unlink()
    result = run(labels, outputs, "--per-class")
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "no output file" in line]
    assert len(notes) == 1 and "for 2 of 4 labelled record(s)" in notes[0]
    assert "A0001" in notes[0] and "A0003" in notes[0] and "A0002" not in notes[0]
    # Scored exactly as an output that says no to every class with probability 0.
    for name in ("A0001", "A0003"):
        write_output(outputs, name, ["AF", "Normal", "RBBB"], np.zeros(3, dtype=int), np.zeros(3))
    explicit = run(labels, outputs, "--per-class")
    assert explicit.returncode == 0 and result.stdout == explicit.stdout
    assert result.stdout.splitlines()[:2] != EXPECTED.splitlines()


def test_strict_stops_at_a_missing_output_naming_it(dirs) -> None:
    labels, outputs = dirs
    (outputs / "A0003.csv").unlink()
    assert_fails_naming(run(labels, outputs, "--strict"), "A0003.csv", "not found")


def test_malformed_output_file_is_an_error_naming_it(dirs) -> None:
    labels, outputs = dirs
    (outputs / "A0002.csv").write_text("#A0002\nAF,Normal,RBBB\n1,0,0\n0.8,0.1\n")
    assert_fails_naming(run(labels, outputs), "A0002.csv")


def test_output_without_a_labelled_class_is_an_error_naming_the_file(dirs) -> None:
    labels, outputs = dirs
    write_output(outputs, "A0004", ["AF", "RBBB"], np.array([0, 1]), np.array([0.2, 0.6]))
    assert_fails_naming(run(labels, outputs), "A0004.csv", "Normal")


def test_unreadable_header_and_missing_directories_are_errors(dirs, tmp_path: Path) -> None:
    labels, outputs = dirs
    assert_fails_naming(run(tmp_path / "absent", outputs), "absent")
    assert_fails_naming(run(labels, tmp_path / "absent"), "absent")
    (labels / "A0009.hea").write_text("A0009 12 500\n" + "#" * (2 << 20))
    assert_fails_naming(run(labels, outputs), "A0009.hea", "larger than")


def test_a_label_header_without_dx_is_left_out_by_name(dirs) -> None:
    labels, outputs = dirs
    (labels / "A0009.hea").write_text("A0009 12 500\n")
    result = run(labels, outputs)
    assert result.returncode == 0 and result.stdout == EXPECTED + "\n"
    assert "left out 2 record(s)" in result.stderr and "A0009" in result.stderr
