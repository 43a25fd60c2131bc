"""A 10-s and a 60-s record of the same heart should get the same labels from the pipeline's record rules:
inference.combine_windows (max over windows per class, min for Normal) then thresholds.apply_thresholds (every
record gets at least one label, its most probable class read from the mean of its windows). The network is
replaced by one whose output depends only on what a window shows, so what is checked is the rules, not a
network's consistency.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from team_code.data import preprocess
from team_code.inference.ensemble import Ensemble, combine_windows, predict_records
from team_code.inference.label_folder import label_signals
from team_code.labels import CLASSES
from team_code.training.thresholds import apply_thresholds

PIECE = 10 * preprocess.FS  # a heart is written as 10-s pieces, each showing one state
NORMAL = CLASSES.index("Normal")


def state(**probabilities: float) -> np.ndarray:
    """A probability vector over CLASSES (keys with '_' for '-'), the rest shared equally."""
    p = np.zeros(len(CLASSES))
    for name, value in probabilities.items():
        p[CLASSES.index(name.replace("_", "-"))] = value
    rest = [k for k in range(len(CLASSES)) if p[k] == 0]
    p[rest] = (1 - p.sum()) / len(rest)
    return p


class ShownStateModel(nn.Module):
    """Per window, the mean of the state vectors its recorded 10-s pieces show (state k is a k-mV level on every
    lead; zero padding shows nothing), as log-probabilities: what it outputs depends only on the window's content."""

    def __init__(self, states: dict[int, np.ndarray]):
        super().__init__()
        self.table = torch.tensor(np.stack([states.get(k, np.full(len(CLASSES), 1 / len(CLASSES)))
                                            for k in range(max(states) + 1)]), dtype=torch.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = x[:, 0].reshape(len(x), -1, PIECE).mean(dim=2).round().long()  # (batch, pieces)
        shown = (levels > 0).float()
        vectors = self.table[levels.clamp(max=len(self.table) - 1)] * shown[..., None]
        return torch.log(vectors.sum(dim=1) / shown.sum(dim=1, keepdim=True))


def heart(states: list[int]) -> np.ndarray:
    """A prepared record (12, 10 s per state) showing the states in turn."""
    return np.concatenate([np.full((12, PIECE), float(k), dtype=np.float32) for k in states], axis=1)


def labels_of(model: nn.Module, signals: list[np.ndarray], thresholds: np.ndarray) -> list[list[str]]:
    """The driver's labels (label_folder.label_signals): every window, combine_windows, the thresholds, and the
    at-least-one-label rule reading the mean of the windows."""
    ensemble = Ensemble([model], thresholds, list(CLASSES), {}, torch.device("cpu"))
    binary, _ = label_signals(ensemble, signals)
    return [[c for c, on in zip(CLASSES, row) if on] for row in binary]


# Two looks of one normal heart, each labelled Normal alone: 1 clearly, 2 only by the at-least-one-label rule,
# with PAC next; 3 a heart whose PACs pass their threshold.
STATES = {1: state(Normal=0.45, STD=0.42), 2: state(Normal=0.40, PAC=0.38), 3: state(Normal=0.2, PAC=0.7)}
THRESHOLDS = np.full(len(CLASSES), 0.5)


@pytest.mark.parametrize("shown", [1, 2, 3])
def test_a_steady_heart_gets_the_same_labels_at_every_length(shown):
    model = ShownStateModel(STATES)
    records = [heart([shown] * pieces) for pieces in (1, 2, 3, 4, 6)]  # 10, 20, 30, 40 and 60 s
    labels = labels_of(model, records, THRESHOLDS)
    assert labels == [labels[0]] * len(records)
    assert labels[0] == (["PAC"] if shown == 3 else ["Normal"])


def test_one_abnormal_window_labels_the_long_record():
    """The max rule: PACs seen in the last 20 s of a minute count, and the record is no longer Normal."""
    model = ShownStateModel(STATES)
    assert labels_of(model, [heart([1, 1, 1, 1, 3, 3]), heart([3])], THRESHOLDS) == [["PAC"], ["PAC"]]


def test_every_10_s_of_the_heart_is_normal_alone():
    """The premise of the next test: each look of the heart, and each 20-s window of its minute, is Normal."""
    model = ShownStateModel(STATES)
    assert labels_of(model, [heart([1]), heart([2]), heart([1, 1]), heart([2, 2])], THRESHOLDS) == [["Normal"]] * 4


def test_a_minute_of_normal_windows_is_normal():
    """Windows 1 and 3 say Normal over STD, window 2 Normal over PAC: the combined vector's argmax is STD (a max
    from window 1 against Normal's min from window 2), the mean's is Normal."""
    model = ShownStateModel(STATES)
    ten_seconds, minute = labels_of(model, [heart([1]), heart([1, 1, 2, 2, 1, 1])], THRESHOLDS)
    assert minute == ten_seconds == ["Normal"]


def test_the_combined_vector_is_where_the_windows_disagree():
    """Why the fallback reads the mean: Normal 0.40 (window 2's) against PAC 0.38 (also window 2's) would still
    be Normal, but STD 0.42 comes from window 1: the combined vector's argmax compares values from different
    windows."""
    model = ShownStateModel(STATES)
    windows = preprocess.windows(heart([1, 1, 2, 2, 1, 1]))
    with torch.inference_mode():
        per_window = torch.softmax(model(torch.from_numpy(windows)), dim=1).numpy()
    combined = combine_windows(per_window)
    assert per_window.argmax(axis=1).tolist() == [NORMAL] * 3
    assert combined[NORMAL] == pytest.approx(0.40) and combined[CLASSES.index("STD")] == pytest.approx(0.42)
    assert per_window.mean(axis=0).argmax() == NORMAL  # the fallback the windows agree with


@pytest.mark.parametrize("pieces, expected", [
    ([1], ["Normal"]), ([1, 1, 2, 2, 1, 1], ["Normal"]), ([2, 2, 1, 1, 2, 2], ["Normal"]),  # the windows agree
    ([3], ["PAC"]), ([1, 1, 1, 1, 3, 3], ["PAC"]), ([3, 3, 3, 3, 3, 3], ["PAC"]),  # a threshold reached anywhere
])
def test_every_length_of_a_heart_agrees(pieces, expected):
    assert labels_of(ShownStateModel(STATES), [heart(pieces)], THRESHOLDS) == [expected]


def test_without_the_fallback_the_minute_would_be_std():
    """The rule the fallback replaced (apply_thresholds reading the combined vector itself) labels the minute STD:
    what the tests above would catch if inference stopped handing the means along."""
    model = ShownStateModel(STATES)
    probabilities = predict_records([model], [heart([1, 1, 2, 2, 1, 1])], torch.device("cpu"))
    assert apply_thresholds(probabilities.combined, THRESHOLDS)[0].tolist() == [c == "STD" for c in CLASSES]
    assert apply_thresholds(probabilities.combined, THRESHOLDS, probabilities.means)[0].tolist() == \
        [c == "Normal" for c in CLASSES]
