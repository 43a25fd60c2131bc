"""The two networks: the authors' published CNN+LSTM (`paper`) and our cheaper default (`crnn`).

Both take (batch, 12, 10000) float32 mV and return (batch, 9) logits; probabilities are their softmax,
trained with categorical cross-entropy as in the paper.
"""
from __future__ import annotations

import torch
from torch import nn

ARCHITECTURES = ("crnn", "paper")


class PaperNet(nn.Module):
    """Singstad & Tronstad's entry: 7 x [Conv1D 512, k5, ReLU -> MaxPool(5, s3; last 3, s1) -> BatchNorm] -> LSTM 512 -> Dense 512 softsign -> Dense 9."""

    def __init__(self, num_leads: int = 12, num_classes: int = 9, width: int = 512) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = num_leads
        for i in range(7):
            pool = nn.MaxPool1d(3, stride=1) if i == 6 else nn.MaxPool1d(5, stride=3)
            layers += [nn.Conv1d(channels, width, 5, padding=2), nn.ReLU(), pool, nn.BatchNorm1d(width)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.lstm = nn.LSTM(width, width, batch_first=True)
        self.dense = nn.Sequential(nn.Linear(width, width), nn.Softsign(), nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x).transpose(1, 2)
        _, (last, _) = self.lstm(h)
        return self.dense(last[-1])


def _conv_block(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm1d(c_out),
        nn.ReLU(inplace=True),
    )


class CRNN(nn.Module):
    """Default: a narrow CNN that downsamples early (ECG energy is below ~40 Hz), one LSTM, two dense layers.

    Downsampling is done by strided convolutions after the first block: on a CPU that is about 2.5x faster to
    train than convolving at full rate and max-pooling, for the same receptive field. The LSTM reads ~8 steps per
    second of ECG. The head sees the mean and max over time of both the LSTM outputs and the CNN features, and the
    LSTM's last state as in the paper: the max lets a single premature beat anywhere in 20 s (PAC/PVC) decide, and
    the CNN's direct path lets the network learn in few epochs, where the LSTM alone learns slowly.
    """

    def __init__(self, num_leads: int = 12, num_classes: int = 9, hidden: int = 128) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _conv_block(num_leads, 32, 7, 2), nn.MaxPool1d(2),  # 10000 -> 2500 samples (125 Hz)
            _conv_block(32, 64, 5, 2),                           # -> 1250
            _conv_block(64, 96, 5, 2),                           # -> 625
            _conv_block(96, 128, 5, 2),                          # -> 313
            _conv_block(128, 128, 3, 2),                         # -> 157
        )
        self.lstm = nn.LSTM(128, hidden, batch_first=True)
        self.dense = nn.Sequential(nn.Linear(3 * hidden + 2 * 128, 64), nn.ReLU(inplace=True), nn.Dropout(0.2),
                                   nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        h, (last, _) = self.lstm(features.transpose(1, 2))
        pooled = torch.cat([h.mean(dim=1), h.amax(dim=1), last[-1], features.mean(dim=2), features.amax(dim=2)], dim=1)
        return self.dense(pooled)


# Adam learning rates: the paper's entry used Keras' default; our smaller network trains best at a higher rate.
DEFAULT_LEARNING_RATE = {"crnn": 3e-3, "paper": 1e-3}


def build_model(arch: str, num_classes: int = 9) -> nn.Module:
    """Construct an untrained network by name ('crnn' or 'paper')."""
    if arch == "crnn":
        return CRNN(num_classes=num_classes)
    if arch == "paper":
        return PaperNet(num_classes=num_classes)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
