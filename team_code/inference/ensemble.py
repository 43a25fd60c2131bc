"""Turning signals into probabilities: one code path for the driver and for validation inside cross-validation.
(MODEL_DIR itself, writing, checking and loading it, is team_code.training.model_dir's.)"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from team_code import class_sets
from team_code.class_sets import ClassSet
from team_code.data import preprocess
from team_code.nn import beats
from team_code.nn.networks import CRNN, for_inference
from team_code.training import model_dir as model_files
from team_code.training.thresholds import apply_thresholds

CPSC2018 = class_sets.get("cpsc2018")
# length_batches: a batch's windows are at least this share of its longest, so at most a quarter is padding.
MIN_SHARE = 0.75


def pick_device() -> torch.device:
    """CUDA when present (the local rank's GPU under torchrun), else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    return torch.device("cpu")


def activation(logits: torch.Tensor, loss: str = "softmax") -> torch.Tensor:
    """Class probabilities from the network's logits as the loss trained them: one softmax over the classes
    (they compete) or an independent sigmoid per class (bce)."""
    return torch.sigmoid(logits.float()) if loss == "bce" else torch.softmax(logits.float(), dim=1)


def window_logits(model: torch.nn.Module, x: torch.Tensor, views: beats.Views | None) -> torch.Tensor:
    """A network's logits for a batch of raw windows, handing it the batch's beat views when it reads them."""
    return model(x, views) if isinstance(model, CRNN) else model(x)


def views_for(models: Sequence[torch.nn.Module], x: torch.Tensor) -> beats.Views | None:
    """The beat views of a batch, computed once for all the models that read them (None when none does)."""
    return beats.beat_views(x) if any(isinstance(m, CRNN) for m in models) else None


def predict_probabilities(models: Sequence[torch.nn.Module], x: torch.Tensor, device: torch.device,
                          loss: str = "softmax") -> torch.Tensor:
    """The models' mean class probabilities for a batch of raw windows (on `device`); bf16 autocast on GPU."""
    for model in models:
        model.eval()
    with torch.inference_mode():
        x = x.to(device, non_blocking=True)
        views = views_for(models, x)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            return sum(activation(window_logits(m, x, views), loss) for m in models) / len(models)


def combine_windows(probabilities: np.ndarray, class_set: ClassSet = CPSC2018) -> np.ndarray:
    """A record's probabilities from its windows' (windows, classes): max per class (one abnormal window is
    enough), min for the class set's normal class (the record is normal only if every window is)."""
    combined = probabilities.max(axis=0)
    combined[class_set.normal_index] = probabilities[:, class_set.normal_index].min()
    return combined


def record_windows(signals: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every 20-s window of every prepared record, stacked (windows, 12, LENGTH), and the bounds: record k's
    windows are rows bounds[k]:bounds[k + 1]."""
    windows = [preprocess.windows(s) for s in signals]
    return np.concatenate(windows), np.cumsum([0] + [len(w) for w in windows])


def window_lengths(signals: Sequence[np.ndarray]) -> np.ndarray:
    """The recorded samples of each window record_windows stacks (LENGTH but for a record shorter than that)."""
    return np.concatenate([np.full(len(preprocess.window_starts(s.shape[1])), min(s.shape[1], preprocess.LENGTH))
                           for s in signals])


def length_batches(lengths: np.ndarray, batch_size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Window indices in batches of similar recorded length, longest first, and the permutation that puts the
    batches' concatenated outputs back in window order.

    Why: outside training the network runs only over the recorded part of a batch's longest window
    (networks.crop_to_recorded), so a batch that mixes a 6-s record with a 20-s one costs two 20-s windows.
    A batch is closed when it is full or when the next window is shorter than MIN_SHARE of its longest."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches: list[list[int]] = []
    for index in order:
        if not batches or len(batches[-1]) == batch_size or lengths[index] < MIN_SHARE * lengths[batches[-1][0]]:
            batches.append([])
        batches[-1].append(int(index))
    as_arrays = [np.array(b) for b in batches]
    return as_arrays, np.argsort(np.concatenate(as_arrays)) if as_arrays else np.zeros(0, dtype=int)


def combine_records(per_window: np.ndarray, bounds: np.ndarray, class_set: ClassSet = CPSC2018) -> np.ndarray:
    """(records, classes) from (windows, classes) probabilities (combine_windows over each record's rows)."""
    return np.stack([combine_windows(per_window[a:b], class_set) for a, b in zip(bounds[:-1], bounds[1:])])


def mean_records(per_window: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(records, classes): the mean over each record's windows, where the at-least-one-label rule reads a
    record's most probable class (apply_thresholds' fallback). The combined vector mixes windows (a max per
    class, a min for Normal), so its argmax can name a class no single window leans to: a minute whose windows
    each say Normal can be labelled STD (tests/test_length_rules.py)."""
    return np.stack([per_window[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])


@dataclass
class RecordProbabilities:
    """Per record (records, classes): the combined probabilities the thresholds read (combine_windows) and the
    mean of its windows, the fallback of the at-least-one-label rule (mean_records). For a record of one window
    (up to 20 s) the two are the same."""

    combined: np.ndarray
    means: np.ndarray

    @classmethod
    def of_windows(cls, per_window: np.ndarray, bounds: np.ndarray, class_set: ClassSet = CPSC2018
                   ) -> RecordProbabilities:
        return cls(combine_records(per_window, bounds, class_set), mean_records(per_window, bounds))

    def labels(self, thresholds: np.ndarray) -> np.ndarray:
        """Binary labels (records, classes): the thresholds on the combined probabilities; a record no class
        reaches gets the most probable class of its windows' mean (apply_thresholds' fallback)."""
        return apply_thresholds(self.combined, thresholds, self.means)


def predict_records(models: Sequence[torch.nn.Module], signals: Sequence[np.ndarray], device: torch.device,
                    batch_size: int = 32, class_set: ClassSet = CPSC2018, loss: str = "softmax"
                    ) -> RecordProbabilities:
    """The probabilities of prepared whole records (preprocess.prepare_signal): every 20-s window of every record
    in batches of similar length (length_batches) through every model (the beat views computed once per batch),
    the models' probabilities averaged, then the windows combined, and averaged for the fallback."""
    if len(signals) == 0:
        empty = np.zeros((0, len(class_set.classes)))
        return RecordProbabilities(empty, empty.copy())
    stacked, bounds = record_windows(signals)
    batches, restore = length_batches(window_lengths(signals), batch_size)
    per_window = np.concatenate([predict_probabilities(models, torch.from_numpy(stacked[index]), device,
                                                       loss).cpu().numpy() for index in batches])[restore]
    return RecordProbabilities.of_windows(per_window, bounds, class_set)


def predict_signals(models: Sequence[torch.nn.Module], signals: Sequence[np.ndarray], device: torch.device,
                    batch_size: int = 32, class_set: ClassSet = CPSC2018, loss: str = "softmax") -> np.ndarray:
    """(records, classes) combined probabilities of prepared whole records (predict_records' `combined`)."""
    return predict_records(models, signals, device, batch_size, class_set, loss).combined


@dataclass
class Ensemble:
    """The fold models of one MODEL_DIR, averaged, with the tuned thresholds (one per class)."""

    models: list[torch.nn.Module]
    thresholds: np.ndarray
    classes: list[str]            # the network's outputs, in order
    config: dict
    device: torch.device
    class_set: ClassSet = CPSC2018
    loss: str = "softmax"

    @classmethod
    def load(cls, model_dir: str | Path, device: torch.device | None = None) -> Ensemble:
        """Check MODEL_DIR completely (model_dir.load; ModelError) before any record is processed, load every fold
        ready for inference (networks.for_inference)."""
        device = device or pick_device()
        models, thresholds, config = model_files.load(model_dir)
        class_set = model_files.class_set_of(config)
        return cls([for_inference(m).to(device) for m in models], thresholds, list(class_set.classes), config, device,
                   class_set, model_files.loss_of(config))

    @property
    def columns(self) -> list[str]:
        """The output file's class row (class_set.to_columns maps per-class values onto it)."""
        return list(self.class_set.columns)

    def predict(self, signals: Sequence[np.ndarray]) -> RecordProbabilities:
        """The probabilities of prepared whole records of any length (predict_records)."""
        return predict_records(self.models, signals, self.device, class_set=self.class_set, loss=self.loss)

    def classify(self, probabilities: RecordProbabilities) -> np.ndarray:
        """Binary labels (records, classes) with the tuned thresholds (RecordProbabilities.labels)."""
        return probabilities.labels(self.thresholds)

