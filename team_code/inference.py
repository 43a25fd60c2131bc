"""Loading a trained MODEL_DIR and turning signals into probabilities: one code path for the driver and for
validation inside cross-validation."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from team_code import preprocess
from team_code.labels import CLASSES
from team_code.model import build_model
from team_code.thresholds import apply_thresholds

# Bumped when the layout of MODEL_DIR or the meaning of its files changes.
FORMAT_VERSION = 2
# The class whose probability is the smallest over a record's windows (the record is normal only if every
# window is); every other class takes its largest (one abnormal window is enough).
NORMAL = "Normal"


class ModelError(RuntimeError):
    """MODEL_DIR is missing, incomplete or from an incompatible version; the message says which and why."""


def pick_device() -> torch.device:
    """CUDA when present (the local rank's GPU under torchrun), else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    return torch.device("cpu")


def predict_probabilities(model: torch.nn.Module, signals: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Softmax class probabilities for a batch (on `device`); bf16 autocast on GPU."""
    model.eval()
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = model(signals.to(device, non_blocking=True))
    return torch.softmax(logits.float(), dim=1)


def combine_windows(probabilities: np.ndarray, classes: Sequence[str] = CLASSES) -> np.ndarray:
    """A record's probabilities from its windows' (windows, classes): max per class, min for the normal class."""
    combined = probabilities.max(axis=0)
    if NORMAL in classes:
        combined[list(classes).index(NORMAL)] = probabilities[:, list(classes).index(NORMAL)].min()
    return combined


def predict_signals(models: Sequence[torch.nn.Module], signals: Sequence[np.ndarray], device: torch.device,
                    batch_size: int = 32) -> np.ndarray:
    """(records, classes) probabilities for prepared whole records (preprocess.prepare_signal): every 20-s window
    of every record through every model, the models' probabilities averaged, then the windows combined."""
    if not signals:
        return np.zeros((0, len(CLASSES)))
    windows = [preprocess.windows(s) for s in signals]
    stacked = np.concatenate(windows)
    parts = []
    for start in range(0, len(stacked), batch_size):
        x = torch.from_numpy(stacked[start:start + batch_size])
        parts.append((sum(predict_probabilities(m, x, device) for m in models) / len(models)).cpu().numpy())
    per_window = np.concatenate(parts)
    bounds = np.cumsum([0] + [len(w) for w in windows])
    return np.stack([combine_windows(per_window[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])


@dataclass
class Ensemble:
    """The fold models of one MODEL_DIR, averaged, with the tuned thresholds."""

    models: list[torch.nn.Module]
    thresholds: np.ndarray
    classes: list[str]
    config: dict
    device: torch.device

    @classmethod
    def load(cls, model_dir: str | Path, device: torch.device | None = None) -> "Ensemble":
        """Check MODEL_DIR completely before any record is processed, then load every fold's weights."""
        model_dir = Path(model_dir)
        device = device or pick_device()
        config = _read_json(model_dir / "config.json", model_dir)
        if config.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"{model_dir}: model format version {config.get('format_version')!r} is not the "
                             f"supported version {FORMAT_VERSION}; retrain with this code")
        if config.get("preprocess_version") != preprocess.VERSION:
            raise ModelError(f"{model_dir}/config.json: preprocessing version {config.get('preprocess_version')!r} is "
                             f"not this code's {preprocess.VERSION}; retrain with this code")
        if list(config.get("classes", [])) != list(CLASSES):
            raise ModelError(f"{model_dir}/config.json: classes {config.get('classes')} differ from {list(CLASSES)}")
        thresholds = _read_json(model_dir / "thresholds.json", model_dir)
        values = np.array([thresholds.get(c, np.nan) for c in CLASSES], dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ModelError(f"{model_dir}/thresholds.json: needs a finite threshold for each of {list(CLASSES)}")
        models = []
        for name in config.get("weights", []):
            path = model_dir / name
            if not path.is_file():
                raise ModelError(f"{path}: fold weights missing (incomplete model directory)")
            model = build_model(config["arch"], len(CLASSES))
            try:
                model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            except Exception as error:  # corrupt file, foreign pickle, wrong shapes
                raise ModelError(f"{path}: cannot load weights ({type(error).__name__}: {error})".splitlines()[0]) from None
            models.append(model.to(device).eval())
        if not models:
            raise ModelError(f"{model_dir}/config.json: lists no fold weights")
        return cls(models, values, list(CLASSES), config, device)

    def predict(self, signals: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities (records, classes) for prepared whole records of any length (predict_signals)."""
        return predict_signals(self.models, signals, self.device)

    def classify(self, probabilities: np.ndarray) -> np.ndarray:
        return apply_thresholds(probabilities, self.thresholds)


def _read_json(path: Path, model_dir: Path) -> dict:
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: model directory not found")
    if not path.is_file():
        raise ModelError(f"{path}: missing (incomplete model directory; did training finish?)")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return value
