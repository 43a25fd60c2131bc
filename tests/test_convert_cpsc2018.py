"""Converting the original CPSC 2018 release into CinC 2020 records."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from team_code.io.convert_cpsc2018 import main
from team_code.io.records import load_cpsc2018, load_record, record_names

REPO = Path(__file__).resolve().parents[1]

# Labels for the ten sample recordings, as CPSC numbers (1 Normal, 2 AF, 3 I-AVB, 4 LBBB, 5 RBBB, 6 PAC, 7 PVC,
# 8 STD, 9 STE); blank cells like the original file's.
REFERENCE = """Recording,First_label,Second_label,Third_label
A1980,1,,
A1981,2,,
A1982,5,8,
A1983,3,,
A1984,4,,
A1985,6,,
A1986,7,9,2
A1987,8,,
A1988,9,,
A1989,5,,
"""
EXPECTED_LABELS = {
    "A1980": ["Normal"], "A1981": ["AF"], "A1982": ["RBBB", "STD"], "A1983": ["I-AVB"], "A1984": ["LBBB"],
    "A1985": ["PAC"], "A1986": ["AF", "PVC", "STE"], "A1987": ["STD"], "A1988": ["STE"], "A1989": ["RBBB"],
}


@pytest.fixture()
def cpsc_source(real_samples: Path) -> Path:
    return real_samples / "cpsc2018"


def test_converts_real_cpsc2018_files_with_reference(cpsc_source: Path, tmp_path: Path) -> None:
    reference = tmp_path / "REFERENCE.csv"
    reference.write_text(REFERENCE)
    dst = tmp_path / "converted"

    assert main([str(cpsc_source), str(dst), "--reference", str(reference)]) == 0

    assert record_names(dst) == sorted(EXPECTED_LABELS)
    for name, labels in EXPECTED_LABELS.items():
        record = load_record(dst / name)
        signal, age, sex = load_cpsc2018(cpsc_source / f"{name}.mat")
        assert record.labels == labels and sorted(record.dx) == labels
        assert (record.fs, record.age, record.sex) == (500.0, age, sex)
        assert record.signal.shape == signal.shape
        assert np.abs(record.signal - signal).max() <= 0.0005 + 1e-6
    assert "#Dx: PVC,STE,AF\n" in (dst / "A1986.hea").read_text()  # First_label first, as in REFERENCE.csv


def test_reference_in_src_is_found_and_unlisted_records_are_counted(cpsc_source: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("A1980", "A1981"):
        shutil.copy(cpsc_source / f"{name}.mat", src)
    (src / "REFERENCE.csv").write_text("Recording,First_label,Second_label,Third_label\nA1980,2,6,\n")
    dst = tmp_path / "dst"

    assert main([str(src), str(dst)]) == 0

    assert load_record(dst / "A1980").labels == ["AF", "PAC"]
    assert load_record(dst / "A1981").labels == []
    assert "1 records written with an empty #Dx:" in capsys.readouterr().err


def test_without_reference_labels_are_empty_with_a_warning(cpsc_source: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    dst = tmp_path / "dst"
    assert main([str(cpsc_source), str(dst)]) == 0
    assert len(record_names(dst)) == 10
    assert all(load_record(dst / name).dx == () for name in record_names(dst))
    err = capsys.readouterr().err
    assert "converted 10 of 10" in err and "10 records written with an empty #Dx:" in err


def test_unreadable_file_is_named_and_the_rest_converted(cpsc_source: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(cpsc_source / "A1980.mat", src)
    (src / "A0002.mat").write_bytes(b"not a MATLAB file at all")
    (src / "A0003.mat").write_bytes((cpsc_source / "A1981.mat").read_bytes()[:3000])
    dst = tmp_path / "dst"

    assert main([str(src), str(dst)]) == 1

    assert record_names(dst) == ["A1980"]
    err = capsys.readouterr().err
    assert f"{src / 'A0002.mat'}: " in err and f"{src / 'A0003.mat'}: " in err
    assert "Traceback" not in err
    assert "converted 1 of 3" in err and "2 failed" in err


def test_refuses_to_write_into_src(cpsc_source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(cpsc_source / "A1980.mat", src)
    assert main([str(src), str(src / ".." / "src")]) == 2
    assert sorted(p.name for p in src.iterdir()) == ["A1980.mat"]
    assert "SRC" in capsys.readouterr().err


def test_bad_reference_stops_before_writing(cpsc_source: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    reference = tmp_path / "REFERENCE.csv"
    reference.write_text("Recording,First_label\nA1980,12\n")
    dst = tmp_path / "dst"
    assert main([str(cpsc_source), str(dst), "--reference", str(reference)]) == 2
    assert not dst.exists()
    assert "REFERENCE.csv line 2" in capsys.readouterr().err


def test_runs_as_a_module(cpsc_source: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(cpsc_source / "A1985.mat", src)
    (src / "REFERENCE.csv").write_text("Recording,First_label,Second_label,Third_label\nA1985,6,,\n")
    result = subprocess.run([sys.executable, "-m", "team_code.io.convert_cpsc2018", str(src), str(tmp_path / "out")],
                            cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert load_record(tmp_path / "out" / "A1985").labels == ["PAC"]
