"""train_model.py on awkward training folders and runs: skipped records named, too little data explained, data
untouched, a damaged cache or a diverged fold one line, the best epoch kept whatever the loss curve."""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import team_code.training.train as train_module
import train_model
from team_code.data.cache import build_cache
from team_code.io.records import write_record

ROOT = Path(__file__).resolve().parents[1]


def train(data: Path, model: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train_model.py", str(data), str(model), "--quiet", "--threads", "1",
                           *extra], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
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


@pytest.mark.slow
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
    assert not (tmp_path / "model").exists()  # nothing is written before the data are known to be enough
    finished = finished_model(tmp_path / "finished")
    assert train(data, finished).returncode == 1
    assert contents(finished) == {"config.json": "{}", "fold_0.pt": "weights"}  # no cache/, no staging folder left


def finished_model(model: Path) -> Path:
    """A stand-in for a finished MODEL_DIR: a new run's begin() would remove its config.json."""
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "fold_0.pt").write_text("weights")
    return model


def contents(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() if p.is_file() else "/" for p in sorted(folder.rglob("*"))}


@pytest.mark.slow
def test_a_folder_without_records_says_so_and_creates_nothing(tmp_path):
    data = tmp_path / "empty"
    data.mkdir()
    (data / "notes.txt").write_text("no records here")
    (data / "A0001.hea").write_text("A0001 12 500 5000\n")  # a header alone is no record
    result = train(data, tmp_path / "model")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: {data}: no record found: no NAME.hea with its NAME.mat, sub-folders " \
                                    "included"
    assert not (tmp_path / "model").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


@pytest.mark.parametrize("option, value, reason", [
    ("--learning-rate", "-1", "must be a finite number above 0, got '-1'"),
    ("--learning-rate", "nan", "must be a finite number above 0, got 'nan'"),
    ("--learning-rate", "inf", "must be a finite number above 0, got 'inf'"),
    ("--learning-rate", "fast", "must be a number, got 'fast'"),
    ("--threads", "-1", "must be at least 1, got '-1'"),
    ("--threads", "0", "must be at least 1, got '0'"),
    ("--batch-size", "0", "must be at least 1, got '0'"),
    ("--folds", "1", "must be at least 2, got '1'"),
    ("--epochs", "0", "must be at least 1, got '0'"),
    ("--patience", "-1", "must be at least 0, got '-1'"),
    ("--seed", "-1", "must be from 0 to 4294967295, got '-1'"),
    ("--folds", "2.5", "must be a whole number, got '2.5'"),
])
def test_a_bad_option_is_a_usage_error_before_the_model_is_touched(synth_train_dir, tmp_path, capsys, option, value,
                                                                   reason):
    model = finished_model(tmp_path / "model")
    with pytest.raises(SystemExit) as stopped:
        train_model.parse_args([str(synth_train_dir), str(model), option, value, "--quiet"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f": error: argument {option}: {reason}")
    assert contents(model) == {"config.json": "{}", "fold_0.pt": "weights"}


@pytest.mark.parametrize("change, reason", [
    ({"learning_rate": -1.0}, "learning_rate must be a finite number above 0, got -1.0"),
    ({"threads": 0}, "threads must be a whole number at least 1, got 0"),
    ({"seed": -1}, "seed must be a whole number from 0 to 4294967295, got -1"),
    ({"folds": 1}, "folds must be a whole number at least 2, got 1"),
    ({"lr_schedule": "cosine"}, "unknown lr_schedule 'cosine' (known: onecycle, constant)"),
    ({"arch": "resnet"}, "unknown arch 'resnet' (known: crnn, paper)"),
    ({"precision": "fp16"}, "unknown precision 'fp16' (known: auto, fp32, bf16)"),
])
def test_train_refuses_bad_options_before_reading_or_writing(synth_train_dir, tmp_path, change, reason):
    model = finished_model(tmp_path / "model")
    with pytest.raises(train_module.TrainingError, match=f"^{re.escape(reason)}$"):
        train_module.train(synth_train_dir, model, train_module.TrainOptions(**change))
    assert contents(model) == {"config.json": "{}", "fold_0.pt": "weights"}


def test_a_model_dir_or_cache_dir_that_is_a_file_is_a_usage_error(synth_train_dir, tmp_path, capsys):
    (tmp_path / "file").write_text("a file")
    for args in ([str(tmp_path / "file")], [str(tmp_path / "model"), "--cache-dir", str(tmp_path / "file")]):
        with pytest.raises(SystemExit) as stopped:
            train_model.parse_args([str(synth_train_dir), *args])
        assert stopped.value.code == 2 and "exists and is not a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.slow
def test_rare_class_is_reported_not_a_crash(synth_train_dir, tmp_path):
    result = train(synth_train_dir, tmp_path / "model", "--folds", "5", "--epochs", "1")
    assert result.returncode == 0, result.stderr
    assert "fewer than the 5 folds" in result.stderr


@pytest.mark.slow
def test_model_dir_inside_train_dir_is_refused(synth_train_dir, tmp_path):
    data = tmp_path / "train"
    shutil.copytree(synth_train_dir, data)
    result = train(data, data / "model")
    assert result.returncode == 1 and "MODEL_DIR must be outside TRAIN_DIR" in result.stderr
    assert not (data / "model").exists()


@pytest.mark.slow
def test_missing_train_dir(tmp_path):
    result = train(tmp_path / "nowhere", tmp_path / "model")
    assert result.returncode == 1 and "training directory not found" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_cache_is_one_line_naming_it(synth_train_dir, tmp_path, damage):
    cache = build_cache(synth_train_dir, tmp_path / "cache")
    data = cache.read_bytes()
    cache.write_bytes(os.urandom(4096) if damage == "garbage" else data[: len(data) // 2])
    result = train(synth_train_dir, tmp_path / "model", "--folds", "2", "--epochs", "1", "--cache-dir",
                   str(tmp_path / "cache"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {cache}: cannot read the training cache"), lines


def _train_with_validation_losses(synth_train_dir: Path, model: Path, monkeypatch, losses: list[float]) -> list:
    """Train 2 folds x 3 epochs in this process with the validation losses replaced by `losses` (per fold; the
    measurement read's only weight is 0, so it stays off); return each validation's (weights, probabilities) as
    the real _validate saw them."""
    seen = []
    real = train_module._validate
    replaced = iter(losses * 2)

    def validate(net, data, val, batch_size, device, loss="softmax"):
        validation = real(net, data, val, batch_size, device, loss=loss)
        seen.append(({k: v.detach().clone() for k, v in net.state_dict().items()}, validation.probabilities.combined))
        return replace(validation, loss=next(replaced))

    monkeypatch.setattr(train_module, "_validate", validate)
    monkeypatch.setattr(train_module, "BLENDS", (0.0,))
    threads = torch.get_num_threads()
    try:
        train_module.train(synth_train_dir, model, train_module.TrainOptions(folds=2, epochs=3, threads=1))
    finally:
        torch.set_num_threads(threads)
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("losses,best", [([3.0, 1.0, 2.0], 2), ([math.nan, 2.0, 1.0], 3), ([math.nan, 1.0, 2.0], 2)])
def test_best_epoch_is_kept_even_when_not_the_last_and_after_a_nan(synth_train_dir, tmp_path, monkeypatch, losses,
                                                                    best):
    model = tmp_path / "model"
    seen = _train_with_validation_losses(synth_train_dir, model, monkeypatch, losses)
    per_fold = 3  # the read's weight is chosen from stored logits: no further validation pass
    assert len(seen) == 2 * per_fold
    oof = {row.split(",")[0]: row.split(",") for row in (model / "oof.csv").read_text().splitlines()[1:]}
    for fold in range(2):
        state, probabilities = seen[per_fold * fold + best - 1]
        saved = torch.load(model / f"fold_{fold}.pt", weights_only=True)
        network = [k for k in state if not k.startswith("measurement")]  # the read is fitted after the epochs
        assert all(torch.equal(saved[k], state[k]) for k in network), f"fold {fold}: not epoch {best}'s weights"
        assert float(saved["blend"]) == 0.0
        summary = json.loads((model / f"fold_{fold}.json").read_text())
        assert summary["best_epoch"] == best and summary["measurement_blend"] == 0.0
        assert np.array_equal(np.asarray(summary["probabilities"]), probabilities.astype(np.float64))
        for name, row in zip(summary["records"], probabilities):
            assert [float(v) for v in oof[name][-9:]] == [round(float(p), 6) for p in row]


@pytest.mark.slow
def test_nan_in_every_epoch_is_one_line(synth_train_dir, tmp_path, monkeypatch, capsys):
    real = train_module._validate
    monkeypatch.setattr(train_module, "_validate",
                        lambda *args, **kwargs: replace(real(*args, **kwargs), loss=math.nan))
    threads = torch.get_num_threads()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # main() is torch's @record, which enables the fault handler on sys.stderr; capsys's has no file
            # descriptor, so torch warns on every run. Only here: a fault handler that fails elsewhere is news.
            warnings.filterwarnings("ignore", message="Unable to enable fault handler", category=UserWarning)
            code = train_model.main([str(synth_train_dir), str(tmp_path / "model"), "--folds", "2", "--epochs", "2",
                                     "--threads", "1", "--quiet"])
    finally:
        torch.set_num_threads(threads)
    assert [str(w.message) for w in caught] == []
    assert code == 1
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "fold 1: validation cross-entropy is NaN in every epoch" in lines[0], stderr
    assert lines[0].startswith(f"error: {tmp_path / 'model'}: ")
    assert not (tmp_path / "model" / "config.json").exists()
