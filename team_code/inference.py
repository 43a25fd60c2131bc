"""Loading a trained MODEL_DIR and turning signals into probabilities: one code path for the driver and for
validation inside cross-validation."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from team_code.labels import CLASSES
from team_code.model import build_model
from team_code.thresholds import apply_thresholds

# Bumped when the layout of MODEL_DIR or the meaning of its files changes.
FORMAT_VERSION = 1


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

    def predict(self, signals: np.ndarray) -> np.ndarray:
        """Mean of the fold models' probabilities for a batch of prepared signals (b, 12, 10000)."""
        x = torch.from_numpy(np.ascontiguousarray(signals, dtype=np.float32))
        total = sum(predict_probabilities(m, x, self.device) for m in self.models)
        return (total / len(self.models)).cpu().numpy()

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
