"""MODEL_DIR's owner on its own: the fingerprint, fold checkpoints, and durable atomic writes."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from team_code.io import atomic
from team_code.labels import to_class
from team_code.training import model_dir
from team_code.training.cv_results import FoldResult
from team_code.training.train import TrainOptions


def test_fingerprint_holds_every_option_but_the_listed_ones():
    options = asdict(TrainOptions())
    base = model_dir.fingerprint("records-abc.h5", options)
    for field in fields(TrainOptions):
        changed = model_dir.fingerprint("records-abc.h5", {**options, field.name: "other"})
        assert (changed == base) == (field.name in model_dir.NOT_IN_FINGERPRINT), field.name
    assert model_dir.fingerprint("records-xyz.h5", options) != base
    assert model_dir.fingerprint("records-abc.h5", {**options, "threads": 2}) != base

    @dataclass
    class Later(TrainOptions):  # an option added after this test was written joins the fingerprint by itself
        warmup: int = 0

    later = asdict(Later())
    assert model_dir.fingerprint("k", later) != model_dir.fingerprint("k", {**later, "warmup": 1})


def _state(value: float) -> dict:
    return {"weight": torch.full((3,), value)}


def _fold(fingerprint: str, value: float) -> FoldResult:
    return FoldResult(fold=0, fingerprint=fingerprint, best_epoch=1, best_val_cross_entropy=0.5, history=[],
                      records=["A", "B"], probabilities=np.array([[0.5], [0.5]]), state_dict=_state(value))


def test_a_fold_is_reused_only_when_run_records_and_weights_all_match(tmp_path: Path):
    written = model_dir.save_fold(tmp_path, _fold("run1", 1.0))
    loaded = model_dir.load_fold(tmp_path, 0, "run1", ["A", "B"])
    assert loaded.weights_sha256 == written.weights_sha256 is not None
    assert loaded.to_json() == written.to_json()  # everything fold_0.json holds
    assert torch.equal(loaded.state_dict["weight"], torch.full((3,), 1.0))
    assert model_dir.load_fold(tmp_path, 0, "run2", ["A", "B"]) is None
    assert model_dir.load_fold(tmp_path, 0, "run1", ["A", "C"]) is None
    assert model_dir.load_fold(tmp_path, 1, "run1", ["A", "B"]) is None
    torch.save(_state(2.0), tmp_path / "fold_0.pt")  # weights of another run beside this run's summary
    assert model_dir.load_fold(tmp_path, 0, "run1", ["A", "B"]) is None


def test_gathered_fold_replaces_a_stale_one_and_keeps_a_current_one(tmp_path: Path):
    """Rank 0 without a shared filesystem: an older run's fold_K must not survive beside the new thresholds."""
    model_dir.save_fold(tmp_path, _fold("old", 1.0))
    trained_elsewhere = model_dir.save_fold(tmp_path / "elsewhere", _fold("new", 2.0))
    model_dir.ensure_fold(tmp_path, trained_elsewhere)
    loaded = model_dir.load_fold(tmp_path, 0, "new", ["A", "B"])
    assert loaded is not None and torch.equal(loaded.state_dict["weight"], torch.full((3,), 2.0))
    mtime = (tmp_path / "fold_0.pt").stat().st_mtime_ns
    model_dir.ensure_fold(tmp_path, trained_elsewhere)
    assert (tmp_path / "fold_0.pt").stat().st_mtime_ns == mtime


def test_begin_removes_only_another_runs_config(tmp_path: Path):
    config = tmp_path / "config.json"
    assert model_dir.begin(tmp_path, "run1") is False
    config.write_text(json.dumps({"fingerprint": "run1"}))
    assert model_dir.begin(tmp_path, "run1") is False and config.exists()
    assert model_dir.begin(tmp_path, "run2") is True and not config.exists()
    config.write_text("{damaged")
    assert model_dir.begin(tmp_path, "run1") is True and not config.exists()


def test_written_model_loads_and_every_file_is_fsynced(tmp_path: Path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    from team_code.nn.networks import build_model
    state = build_model("crnn").state_dict()
    for fold in range(2):
        model_dir.save_fold(tmp_path, replace(_fold("run", 0.0), fold=fold, state_dict=state))
    model_dir.write_model(tmp_path, arch="crnn", folds=2, run_fingerprint="run", thresholds=np.full(9, 0.25),
                          training={}, records=2)
    for name in ("fold_0.pt", "fold_0.json", "fold_1.pt", "fold_1.json", "thresholds.json", "config.json"):
        # The data went to disk under its temporary name, then the directory entry of the rename.
        assert any(Path(p).name.startswith(f".{name}.") for p in synced), name
    assert synced[-1] == str(tmp_path.resolve())
    models, thresholds, config = model_dir.load(tmp_path)
    assert len(models) == 2 and thresholds.tolist() == [0.25] * 9 and config["fingerprint"] == "run"


def test_ventricular_premature_beats_are_pvc():
    assert to_class("17338001") == "PVC"


@pytest.mark.parametrize("bad", [0, -1, "2", True, None])
def test_config_fold_count_must_be_a_positive_integer(tmp_path: Path, bad):
    model_dir.write_model(tmp_path, arch="crnn", folds=1, run_fingerprint="run", thresholds=np.full(9, 0.5),
                          training={}, records=1)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "folds": bad}))
    with pytest.raises(model_dir.ModelError, match="config.json: 'folds' must be a positive integer"):
        model_dir.load(tmp_path)
