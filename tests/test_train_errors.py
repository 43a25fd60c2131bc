"""train_model.py on awkward training folders: skipped records named, too little data explained, data untouched."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from team_code.records import write_record

ROOT = Path(__file__).resolve().parents[1]


def train(data: Path, model: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train_model.py", str(data), str(model), "--quiet", "--threads", "1", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_unreadable_and_unlabelled_records_are_skipped_by_name(synth_train_dir, tmp_path):
    data = tmp_path / "train"
    shutil.copytree(synth_train_dir, data)
    (data / "broken.hea").write_text("this is not a header\n")
    (data / "broken.mat").write_bytes(b"garbage")
    shutil.copy(sorted(data.glob("*.mat"))[0], data / "orphan.mat")
    write_record(data, "nolabel", np.zeros((12, 5000)), labels=())
    write_record(data, "otherlabel", np.zeros((12, 5000)), labels=["999999"])
    before = sorted((p.name, p.stat().st_mtime_ns) for p in data.iterdir())
    result = train(data, tmp_path / "model", "--folds", "2", "--epochs", "1")
    assert result.returncode == 0, result.stderr
    for name in ("broken", "orphan", "nolabel", "otherlabel"):
        assert sum(f"{name}" in line and line.startswith("skipped ") for line in result.stderr.splitlines()) == 1, name
    assert "skipped 4 of 34 records" in result.stderr
    assert "cross-validation on 30 records" in result.stdout
    assert sorted((p.name, p.stat().st_mtime_ns) for p in data.iterdir()) == before


def test_too_little_data_is_a_clear_error(synth_train_dir, tmp_path):
    data = tmp_path / "few"
    data.mkdir()
    for name in sorted(p.stem for p in synth_train_dir.glob("*.hea"))[:5]:
        for suffix in (".hea", ".mat"):
            shutil.copy(synth_train_dir / f"{name}{suffix}", data / f"{name}{suffix}")
    result = train(data, tmp_path / "model")
    assert result.returncode == 1
    assert "only 5 usable labelled records; need at least 20 for 10-fold cross-validation" in result.stderr
    assert "Traceback" not in result.stderr


def test_rare_class_is_reported_not_a_crash(synth_train_dir, tmp_path):
    result = train(synth_train_dir, tmp_path / "model", "--folds", "5", "--epochs", "1")
    assert result.returncode == 0, result.stderr
    assert "fewer than the 5 folds" in result.stderr


def test_model_dir_inside_train_dir_is_refused(synth_train_dir, tmp_path):
    data = tmp_path / "train"
    shutil.copytree(synth_train_dir, data)
    result = train(data, data / "model")
    assert result.returncode == 1 and "MODEL_DIR must be outside TRAIN_DIR" in result.stderr
    assert not (data / "model").exists()


def test_missing_train_dir(tmp_path):
    result = train(tmp_path / "nowhere", tmp_path / "model")
    assert result.returncode == 1 and "training directory not found" in result.stderr
