"""Turning signals into probabilities: one code path for the driver and for validation inside cross-validation.
(MODEL_DIR itself, writing, checking and loading it, is team_code.model_dir's.)"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from team_code import model_dir as model_files
from team_code.labels import CLASSES
from team_code.thresholds import apply_thresholds


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
        """Check MODEL_DIR completely (model_dir.load; ModelError) before any record is processed, load every fold."""
        device = device or pick_device()
        models, thresholds, config = model_files.load(model_dir)
        return cls([m.to(device) for m in models], thresholds, list(CLASSES), config, device)

    def predict(self, signals: np.ndarray) -> np.ndarray:
        """Mean of the fold models' probabilities for a batch of prepared signals (b, 12, 10000)."""
        x = torch.from_numpy(np.ascontiguousarray(signals, dtype=np.float32))
        total = sum(predict_probabilities(m, x, self.device) for m in self.models)
        return (total / len(self.models)).cpu().numpy()

    def classify(self, probabilities: np.ndarray) -> np.ndarray:
        return apply_thresholds(probabilities, self.thresholds)

