"""evaluate.py as a user runs it: a subprocess on a label directory and an output directory."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import evaluate
from team_code.io.output_csv import write_output

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


def test_malformed_output_file_is_all_negative_as_in_the_official_script_and_an_error_with_strict(dirs) -> None:
    labels, outputs = dirs
    (outputs / "A0002.csv").write_text("#A0002\nAF,Normal,RBBB\n1,0,0\n0.8,0.1\n")
    result = run(labels, outputs)
    assert result.returncode == 0, result.stderr
    assert "A0002.csv: formatting errors (3/3/2 fields)" in result.stderr
    write_output(outputs, "A0002", ["AF", "Normal", "RBBB"], np.zeros(3, dtype=int), np.zeros(3))
    assert result.stdout == run(labels, outputs).stdout  # "all outputs are assumed to be negative"
    (outputs / "A0002.csv").write_text("#A0002\nAF,Normal,RBBB\n1,0,0\n0.8,0.1\n")
    assert_fails_naming(run(labels, outputs, "--strict"), "A0002.csv", "the counts must match")


def test_an_empty_output_directory_is_an_error(dirs, tmp_path: Path) -> None:
    labels, _ = dirs
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_fails_naming(run(labels, empty), "empty", "no output file for any of the 4 labelled record(s)")
    assert_fails_naming(run(labels, empty, "--metric", "challenge2020"), "no output file for any of the 5")


def test_most_outputs_missing_is_the_first_line(dirs) -> None:
    labels, outputs = dirs
    for name in ("A0001", "A0002", "A0004"):
        (outputs / f"{name}.csv").unlink()
    result = run(labels, outputs)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"warning: 3 of 4 labelled records have no output file in {outputs}; the scores below count " \
                       "them as all-negative"
    assert lines[1] == HEADER_LINE and len(lines) == 3
    write_output(outputs, "A0001", ["AF", "Normal", "RBBB"], np.zeros(3, dtype=int), np.zeros(3))  # half: not most
    assert run(labels, outputs).stdout.startswith(HEADER_LINE)


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


# --- Final phase: SNOMED CT labels and outputs are scored with the Challenge metric unless --metric says otherwise.
# Records over AF 164889003, IAVB 270492004, normal 426783006 and RBBB 713427006 (label 59118001 is its equivalent);
# outputs name 24 codes (one per scored class), so the nine-class f2g2 scoring can read them too.
FINAL_HEADER = "AUROC,AUPRC,Accuracy,F-measure,Fbeta-measure,Gbeta-measure,Challenge metric"
FINAL_RECORDS = {
    "B0001": ("164889003", {"164889003": (1, 0.9)}),
    "B0002": ("270492004,59118001", {"270492004": (1, 0.7), "164889003": (1, 0.6)}),
    "B0003": ("426783006", {"426783006": (1, 0.8)}),
    "B0004": ("59118001", {"426783006": (1, 0.4), "713427006": (0, 0.3)}),
}


@pytest.fixture
def final_dirs(tmp_path: Path) -> tuple[Path, Path]:
    from team_code.scoring.challenge2020 import CLASSES

    labels, outputs = tmp_path / "labels", tmp_path / "outputs"
    labels.mkdir()
    outputs.mkdir()
    for name, (dx, answers) in FINAL_RECORDS.items():
        write_header(labels, name, f"#Dx: {dx}")
        binary = [answers.get(c, (0, 0.0))[0] for c in CLASSES]
        write_output(outputs, name, list(CLASSES), np.array(binary), np.array([answers.get(c, (0, 0.05))[1]
                                                                              for c in CLASSES]))
    return labels, outputs


def test_snomed_data_prints_exactly_the_two_final_phase_lines(final_dirs, tmp_path: Path) -> None:
    from tests.test_challenge2020 import official_evaluate

    labels, outputs = final_dirs
    expected, scores = official_evaluate(labels, outputs)
    # By hand: weights AF-IAVB 0.3, AF-RBBB 0.4, normal-RBBB 0.35, IAVB-RBBB 0.4, AF-normal 0.25, IAVB-normal 0.45;
    # each record's pairs count 1/|labels or outputs|. B0002 outputs {IAVB, AF} for {IAVB, RBBB}: (1 + .3 + .4 + .4)/3.
    observed = 1 + 2.1 / 3 + 1 + 0.35 / 2
    correct = 1 + (1 + 0.4 + 0.4 + 1) / 2 + 1 + 1
    inactive = 0.25 / 2 + (0.45 + 0.35) / 3 + 1 + 0.35 / 2
    assert scores[-1] == pytest.approx((observed - inactive) / (correct - inactive), abs=1e-12)
    result = run(labels, outputs, tmp_path / "scores.csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected + "\n" and expected.startswith(FINAL_HEADER + "\n")
    assert (tmp_path / "scores.csv").read_text() == expected + "\n"
    assert run(labels, outputs, "--metric", "challenge2020").stdout == result.stdout


def test_metric_f2g2_overrides_the_automatic_choice(final_dirs) -> None:
    labels, outputs = final_dirs
    result = run(labels, outputs, "--metric", "f2g2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(HEADER_LINE + "\n") and len(result.stdout.splitlines()) == 2
    # The nine-class scoring of the same files is what the default chooses for nine-class outputs (the fixture above).
    from team_code.scoring.f2g2 import format_scores
    from team_code.scoring.score_folders import evaluate as evaluate_nine

    assert result.stdout == format_scores(evaluate_nine(labels, outputs)) + "\n"


def test_final_phase_per_class_table_and_missing_outputs(final_dirs) -> None:
    labels, outputs = final_dirs
    result = run(labels, outputs, "--per-class")
    assert result.returncode == 0, result.stderr
    table = [line.split() for line in result.stdout.splitlines()[2:]]
    assert table[0] == ["class", "n", "AUROC", "AUPRC", "F"] and len(table) == 25
    assert dict((row[0], row[1]) for row in table[1:])["713427006"] == "2"  # 59118001 counted as its pair
    (outputs / "B0003.csv").unlink()
    missing = run(labels, outputs)
    assert missing.returncode == 0 and "B0003" in missing.stderr and "no output file" in missing.stderr
    from team_code.scoring.challenge2020 import CLASSES

    write_output(outputs, "B0003", list(CLASSES), np.zeros(len(CLASSES), dtype=int), np.zeros(len(CLASSES)))
    assert run(labels, outputs).stdout == missing.stdout
    (outputs / "B0003.csv").unlink()
    assert_fails_naming(run(labels, outputs, "--strict"), "B0003.csv", "not found")


def test_nine_class_outputs_on_snomed_labels_stay_f2g2(dirs) -> None:
    labels, _ = dirs
    for path in labels.glob("*.hea"):  # every label a SNOMED code: the outputs' class names still decide
        path.write_text(path.read_text().replace("AF,RBBB", "164889003,59118001").replace("Normal,", "426783006,"))
    result = run(*dirs)
    assert result.returncode == 0, result.stderr
    assert result.stdout == EXPECTED + "\n"


# --- Output files the driver would never write, read as the final-phase official script reads them (issue 23).
def _odd(text: str, style: str) -> str:
    name, classes, binary, probabilities = text.splitlines()
    if style == "1.0":
        binary = binary.replace("1", "1.0").replace("0", "0.0")
    elif style == "True":
        binary = binary.replace("1", "True").replace("0", "False")
    elif style == "percent":
        probabilities = ",".join(f"{100 * float(p):g}" for p in probabilities.split(","))
    elif style == "percent sign":
        probabilities = ",".join(f"{100 * float(p):g}%" for p in probabilities.split(","))
    elif style == "comment":
        return "\n".join([name, "# written by hand", classes, binary, probabilities, "# end"]) + "\n"
    elif style == "nan":
        probabilities = "nan," + probabilities.split(",", 1)[1]
    elif style == "formatting":
        probabilities = probabilities.rsplit(",", 1)[0]
    return "\n".join([name, classes, binary, probabilities]) + "\n"


@pytest.mark.parametrize("style", ["1.0", "True", "percent", "percent sign", "comment", "nan", "formatting"])
def test_odd_output_files_score_as_the_final_phase_official_script_scores_them(final_dirs, style, capsys) -> None:
    from tests.test_challenge2020 import official_evaluate

    labels, outputs = final_dirs
    for path in sorted(outputs.glob("*.csv"))[:2]:  # two of the four files: the others stay as the driver wrote them
        path.write_text(_odd(path.read_text(), style))
    expected, _ = official_evaluate(labels, outputs)
    assert evaluate.main([str(labels), str(outputs)]) == 0
    captured = capsys.readouterr()
    assert captured.out == expected + "\n"
    notes = [line for line in captured.err.splitlines() if "not as driver.py writes them" in line]
    assert (notes[0].count("B000") == 2 and "B0001.csv" in notes[0]) if style != "comment" else notes == []
    assert evaluate.main([str(labels), str(outputs), "--strict"]) == 1
    assert "B0001.csv" in capsys.readouterr().err


def test_binary_labels_written_as_1_0_are_negative_as_the_official_script_reads_them(final_dirs) -> None:
    """The issue's case: outputs whose positive labels are written 1.0 score as all-negative rows would."""
    from team_code.scoring.challenge2020 import CLASSES

    labels, outputs = final_dirs
    for path in outputs.glob("*.csv"):
        path.write_text(_odd(path.read_text(), "1.0"))
    odd = run(labels, outputs)
    for path in outputs.glob("*.csv"):
        probabilities = np.array(path.read_text().splitlines()[3].split(","), dtype=float)
        write_output(outputs, path.stem, list(CLASSES), np.zeros(len(CLASSES), dtype=int), probabilities)
    negative = run(labels, outputs)
    assert odd.returncode == negative.returncode == 0
    assert odd.stdout == negative.stdout and odd.stdout.splitlines()[1].split(",")[2] == "0.000"  # accuracy
