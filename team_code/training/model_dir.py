"""MODEL_DIR, the contract between training and the driver: what it holds, writing it, checking it, loading it.

    fold_K.pt        fold K's best weights (a state_dict; loaded with weights_only=True)
    fold_K.json      fold K's history, validation records and probabilities, the run's fingerprint and the
                     SHA-256 of fold_K.pt (written after it: its presence marks the fold finished)
    thresholds.json  the tuned threshold of each class (the network's classes: for cinc2020, a pair's first code)
    config.json      architecture, preprocessing, class set and its classes, loss, fold count, fingerprint,
                     thresholds (written last); a config without "class_set" and "loss" (written before they
                     existed) is a cpsc2018 softmax model

Every write is atomic and fsynced. A run whose fingerprint differs from the config.json it finds deletes that
config.json first, so until it finishes the directory is incomplete rather than a mix of two runs. Loading checks
that every file belongs to the same run and to this code's preprocessing before any record is labelled; anything
else is one ModelError naming the file and the mismatch.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import math
import platform
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from team_code import class_sets
from team_code.class_sets import ClassSet
from team_code.data import preprocess
from team_code.io.atomic import atomic_path, remove, write_text
from team_code.nn.networks import ARCHITECTURES, build_model
from team_code.training.cv_results import FoldResult

# Bumped when the layout of MODEL_DIR or the meaning of its files changes.
FORMAT_VERSION = 5  # 5: beat views without the padding's false QRS, flat leads out of the scale, 9-beat median
# 4: the crnn network's measurement read (fit after training, blended by validation loss)
# 3: the crnn network reads beat-synchronous views (team_code.nn.beats); its weights changed shape

CONFIG = "config.json"
THRESHOLDS = "thresholds.json"

# Training options that cannot change the result; every other option (present or added later) is in the fingerprint.
NOT_IN_FINGERPRINT = ("cache_dir",)


class ModelError(RuntimeError):
    """MODEL_DIR is missing, incomplete, mixed from several runs or from incompatible code; the message says which
    file and why."""


def code_settings(class_set: ClassSet | None = None) -> dict:
    """What a model must have been trained with for this code to feed it the same inputs and read its outputs."""
    class_set = class_set or class_sets.get(class_sets.DEFAULT)
    return {"format_version": FORMAT_VERSION, "sampling_rate": preprocess.FS, "length": preprocess.LENGTH,
            "preprocess_version": preprocess.VERSION, "classes": list(class_set.classes)}


def class_set_of(config: dict) -> ClassSet:
    """The class set a (checked) config was trained for."""
    return class_sets.get(config.get("class_set", class_sets.DEFAULT))


def loss_of(config: dict) -> str:
    """The loss a (checked) config was trained with, which decides how its logits become probabilities."""
    return config.get("loss", "softmax")


def fingerprint(data_key: str, options: dict) -> str:
    """What a fold checkpoint must match to be reused or loaded with the others: the data (the cache's key) and
    every training option except NOT_IN_FINGERPRINT, so options added later join it without anyone remembering to."""
    kept = {k: v for k, v in options.items() if k not in NOT_IN_FINGERPRINT}
    text = json.dumps([data_key, kept, FORMAT_VERSION, preprocess.VERSION], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def fold_paths(model_dir: Path, fold: int) -> tuple[Path, Path]:
    """(fold_K.pt, fold_K.json)."""
    return Path(model_dir) / f"fold_{fold}.pt", Path(model_dir) / f"fold_{fold}.json"


def begin(model_dir: Path, run_fingerprint: str) -> bool:
    """Called before training: if MODEL_DIR holds a finished model of another run, delete its config.json, so that
    the directory reads as incomplete (never as a mix of old and new folds) until this run writes its own.
    Returns True when it did."""
    config = Path(model_dir) / CONFIG
    if not config.exists():
        return False
    try:
        if json.loads(config.read_text(encoding="utf-8")).get("fingerprint") == run_fingerprint:
            return False
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        pass  # unreadable: not this run's either
    remove(config)
    return True


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_fold(model_dir: Path, result: FoldResult) -> FoldResult:
    """Write fold_K.pt (result.state_dict), then fold_K.json (result.to_json() with the weights' SHA-256); return
    the result as written.

    fold_K.json is deleted first, so a run killed between the two files leaves no summary vouching for new weights.
    """
    weights, summary_path = fold_paths(model_dir, result.fold)
    remove(summary_path)
    buffer = io.BytesIO()
    torch.save(result.state_dict, buffer)
    with atomic_path(weights) as tmp:
        tmp.write_bytes(buffer.getvalue())
    written = replace(result, weights_sha256=_sha256(buffer.getvalue()))
    write_text(summary_path, json.dumps(written.to_json()))
    return written


def load_fold(model_dir: Path, fold: int, run_fingerprint: str, records: list[str]) -> FoldResult | None:
    """A finished fold of this same run (fingerprint and validation records equal, weights intact) with its weights;
    None when there is none, it is damaged or from another run (it is then retrained)."""
    weights, summary_path = fold_paths(model_dir, fold)
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        data = weights.read_bytes()
        if (summary.get("fingerprint") != run_fingerprint or summary.get("records") != records
                or summary.get("weights_sha256") != _sha256(data)):
            return None
        return FoldResult.from_json(summary, state_dict=torch.load(io.BytesIO(data), map_location="cpu",
                                                                    weights_only=True))
    except Exception:  # missing or damaged: simply retrained
        return None


def ensure_fold(model_dir: Path, result: FoldResult) -> None:
    """Make fold_K on disk exactly `result` (with its weights), trained by another process: on a shared filesystem
    it is already there; without one, rank 0's disk holds nothing or an older run's fold, which must not survive."""
    on_disk = load_fold(model_dir, result.fold, result.fingerprint, result.records)
    if on_disk is None or on_disk.weights_sha256 != result.weights_sha256:
        save_fold(model_dir, result)


def write_model(model_dir: Path, *, arch: str, folds: int, run_fingerprint: str, thresholds: np.ndarray,
                training: dict, records: int, class_set: str = class_sets.DEFAULT, loss: str = "softmax") -> None:
    """thresholds.json, then config.json: the last file written, whose presence says the model is complete."""
    chosen = class_sets.get(class_set)
    values = {c: float(t) for c, t in zip(chosen.classes, thresholds)}
    write_text(Path(model_dir) / THRESHOLDS, json.dumps(values, indent=2))
    config = {
        **code_settings(chosen), "class_set": class_set, "loss": loss, "arch": arch, "folds": folds,
        "fingerprint": run_fingerprint, "thresholds": values,
        "training": training, "records": records,
        "versions": {"python": platform.python_version(),
                     **{p: _version(p) for p in ("torch", "numpy", "scipy", "h5py")}},
    }
    write_text(Path(model_dir) / CONFIG, json.dumps(config, indent=2))


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise ModelError(f"{path}: missing (incomplete model directory; did training finish?)")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: not valid JSON ({error})") from None
    except OSError as error:
        raise ModelError(f"{path}: cannot read ({error.strerror})") from None
    if not isinstance(value, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return value


def _check_config(path: Path, config: dict) -> None:
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{path}: model format version {config.get('format_version')!r} is not the supported "
                         f"version {FORMAT_VERSION}; retrain with this code")
    name = config.get("class_set", class_sets.DEFAULT)
    if not isinstance(name, str) or name not in class_sets.CLASS_SETS:
        raise ModelError(f"{path}: class set {name!r} is not one this code knows ({', '.join(class_sets.CLASS_SETS)}); "
                         "retrain with this code")
    if loss_of(config) not in class_sets.LOSSES:
        raise ModelError(f"{path}: loss {loss_of(config)!r} is not one of {', '.join(class_sets.LOSSES)}")
    for key, expected in code_settings(class_sets.get(name)).items():
        if config.get(key) != expected:
            raise ModelError(f"{path}: {key} is {config.get(key)!r} but this code uses {expected!r}; "
                             "retrain with this code")
    if config.get("arch") not in ARCHITECTURES:
        raise ModelError(f"{path}: unknown architecture {config.get('arch')!r}")
    if not isinstance(config.get("fingerprint"), str):
        raise ModelError(f"{path}: no run fingerprint")
    folds = config.get("folds")
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 1:
        raise ModelError(f"{path}: 'folds' must be a positive integer, got {folds!r}")


def _read_thresholds(path: Path, config: dict) -> np.ndarray:
    thresholds = _read_json(path)
    classes = class_set_of(config).classes
    values = [thresholds.get(c) for c in classes]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        raise ModelError(f"{path}: needs a finite threshold for each of {list(classes)}")
    if {c: float(v) for c, v in zip(classes, values)} != config.get("thresholds"):
        raise ModelError(f"{path}: differs from the thresholds in {CONFIG} (files from different training runs)")
    return np.array(values, dtype=np.float64)


def _load_weights(model_dir: Path, fold: int, config: dict) -> torch.nn.Module:
    weights, summary_path = fold_paths(model_dir, fold)
    summary = _read_json(summary_path)
    if summary.get("fingerprint") != config["fingerprint"]:
        raise ModelError(f"{summary_path}: from another training run (fingerprint {summary.get('fingerprint')!r}, "
                         f"{CONFIG} has {config['fingerprint']!r}); retrain or rerun the training to finish it")
    if not weights.is_file():
        raise ModelError(f"{weights}: fold weights missing (incomplete model directory)")
    data = weights.read_bytes()
    if _sha256(data) != summary.get("weights_sha256"):
        raise ModelError(f"{weights}: not the weights {summary_path.name} was written with (damaged, or from "
                         "another run)")
    model = build_model(config["arch"], len(class_set_of(config).classes))
    try:
        model.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))
    except Exception as error:  # foreign pickle, wrong shapes
        raise ModelError(f"{weights}: cannot load weights ({type(error).__name__}: {error})".splitlines()[0]) from None
    return model.eval()


def load(model_dir: str | Path) -> tuple[list[torch.nn.Module], np.ndarray, dict]:
    """(fold models on the CPU, thresholds in the class set's order, config) of a complete, consistent MODEL_DIR
    made for this code; ModelError naming the file and the problem otherwise. Reads everything before returning."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: model directory not found")
    config_path = model_dir / CONFIG
    config = _read_json(config_path)
    _check_config(config_path, config)
    thresholds = _read_thresholds(model_dir / THRESHOLDS, config)
    models = [_load_weights(model_dir, fold, config) for fold in range(config["folds"])]
    return models, thresholds, config
