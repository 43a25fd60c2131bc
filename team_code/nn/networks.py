"""The networks and their training defaults: the authors' published CNN+LSTM (`paper`) and our default (`crnn`).

Both take (batch, 12, 10000) float32 mV windows, zero-padded at the end, and return (batch, classes) logits;
probabilities are their softmax, trained with categorical cross-entropy as in the paper. `ARCHITECTURES` is the
one registry: the CLI's choices, each network's training defaults and its construction come from it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from team_code.nn import beats


class PaperNet(nn.Module):
    """Singstad & Tronstad's entry: 7 x [Conv1D 512, k5, ReLU -> MaxPool(5, s3; last 3, s1) -> BatchNorm]
    -> LSTM 512 -> Dense 512 softsign -> Dense 9."""

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


def _masked_pool(h: torch.Tensor, steps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and max over the first `steps` time steps of (batch, time, channels)."""
    valid = torch.arange(h.shape[1], device=h.device)[None, :] < steps[:, None]
    mean = (h * valid[..., None]).sum(dim=1) / steps[:, None].to(h.dtype)
    top = h.masked_fill(~valid[..., None], float("-inf")).amax(dim=1)
    return mean, top


class CRNN(nn.Module):
    """Default: a narrow CNN that downsamples early (ECG energy is below ~40 Hz), one LSTM, two dense layers.

    The input is standardised per record (`beats.standardise`) and everything after the convolutions sees only the
    recorded part: pooling and the LSTM's last state stop where the zero padding starts, so a 10-s record is not
    read as 10 s of asystole. Downsampling is done by strided convolutions after the first block: on a CPU that is
    about 2.5x faster to train than convolving at full rate and max-pooling. The LSTM reads ~8 steps per second of
    ECG. The head sees the mean and max over time of both the LSTM outputs and the CNN features, and the LSTM's
    last state as in the paper: the max lets a single premature beat anywhere in 20 s (PAC/PVC) decide, and the
    CNN's direct path lets the network learn in few epochs, where the LSTM alone learns slowly.

    Beside the raw window the head reads the beat-synchronous views of team_code.nn.beats, what an
    electrocardiograph's measurement program reads: the median, farthest and most premature beats aligned on
    the QRS (a small CNN whose output is flattened, not pooled, because where a wave lies in an aligned beat is
    the measurement: a P wave 250 ms before the QRS is first-degree AV block) and eight RR measurements
    (prematurity, pauses, irregularity). Trained on 800 generated records for 10 epochs, they took the AUROC of
    I-AVB on new generated records from 0.86 to 0.99 and of Normal from 0.91 to 0.99 (README, Results).

    After training, a measurement read (a logistic regression on the RR measurements and the median beat, fitted
    to the training records by L-BFGS) is added to the logits with the weight the validation loss picks
    (fit_measurement_read): it carries small budgets, where the network has taken too few steps to learn what
    the measurements say, and fades to a small weight when the network has learned more.
    """

    def __init__(self, num_leads: int = 12, num_classes: int = 9, hidden: int = 128) -> None:
        super().__init__()
        # The measurement read (see fit_measurement_read): off (blend 0) while the network trains.
        size = measurement_size(num_leads)
        self.register_buffer("measurement_mean", torch.zeros(size))
        self.register_buffer("measurement_scale", torch.ones(size))
        self.measurement_read = nn.Linear(size, num_classes)
        self.register_buffer("blend", torch.zeros(()))
        self.beat = nn.Sequential(_conv_block(3 * num_leads, 32, 7, 2), _conv_block(32, 64, 5, 2),  # 475 -> 119
                                  _conv_block(64, 64, 5, 2), _conv_block(64, 32, 5, 2),  # -> 30 steps of 16 ms
                                  nn.Flatten(), nn.Linear(32 * 30, 96), nn.ReLU(inplace=True))
        self.rhythm = nn.Sequential(nn.Linear(beats.RR_FEATURES, 32), nn.ReLU(inplace=True))
        self.features = nn.Sequential(
            _conv_block(num_leads, 32, 7, 2), nn.MaxPool1d(2),  # 10000 -> 2500 samples (125 Hz)
            _conv_block(32, 64, 5, 2),                           # -> 1250
            _conv_block(64, 96, 5, 2),                           # -> 625
            _conv_block(96, 128, 5, 2),                          # -> 313
            _conv_block(128, 128, 3, 2),                         # -> 157
        )
        self.lstm = nn.LSTM(128, hidden, batch_first=True)
        self.dense = nn.Sequential(nn.Linear(3 * hidden + 2 * 128 + 96 + 32, 64), nn.ReLU(inplace=True),
                                   nn.Dropout(0.2), nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor, views: beats.Views | None = None) -> torch.Tensor:
        """Logits of raw (batch, leads, samples) windows, from their beat views (beats.beat_views(x) when not
        given: an ensemble computes them once for all its fold models)."""
        views = beats.beat_views(x) if views is None else views
        # The read is always added, times the blend (0 while training: exact zeros in the logits and the
        # gradients), so that no forward pass waits on the device to read the blend back.
        return self.network(views) + self.blend * self.read(measurement_vector(views))

    def network(self, views: beats.Views) -> torch.Tensor:
        """The trained network's logits, without the measurement read.

        The convolutions and the LSTM only run over the recorded part of the batch's longest window and up to
        FEATURE_STRIDE samples of padding after it (crop_to_recorded): what lies further right never reaches the
        time steps the head reads, so a batch of 10-s records costs half a batch of 20-s ones. Outside training
        the logits are those of the whole window up to float rounding; in training the batch norms take their
        statistics over the cropped batch, so train.length_sorted_order groups records of similar length."""
        x, length = views.x, views.length
        full_steps = feature_steps(x.shape[-1])
        steps = torch.ceil(length * (full_steps / x.shape[-1])).long().clamp(1, full_steps)
        x = crop_to_recorded(x, steps)
        features = self.features(x).transpose(1, 2)
        h, _ = self.lstm(features)
        last = h[torch.arange(h.shape[0], device=h.device), steps - 1]
        parts = [*_masked_pool(h, steps), last, *_masked_pool(features, steps), self.beat(views.templates),
                 self.rhythm(views.rr)]
        return self.dense(torch.cat(parts, dim=1))

    def read(self, measurements: torch.Tensor) -> torch.Tensor:
        """The measurement read's logits (unweighted by the blend) of measurement vectors (measurement_vector)."""
        standardised = (measurements - self.measurement_mean) / self.measurement_scale
        return self.measurement_read(torch.nan_to_num(standardised, nan=0.0))  # an unrecorded lead: the mean

    @torch.no_grad()
    def fit_measurement_read(self, measurements: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
                             criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        """Fit the measurement read to the training records: a ridge-penalised logistic regression (the training
        loss, record weights included) on the standardised measurements (NaN, an unrecorded lead, left out of
        the mean and scale and read as the mean), solved to convergence by L-BFGS.

        Why: on a few hundred records and a few epochs the network has taken only tens of gradient steps, too
        few to learn even what a logistic regression on the eight RR measurements knows (AUROC of AF 0.99 and
        PAC 0.93 on new records where the network reaches 0.75 and 0.66); solved to convergence it is there
        from the start. train.train_fold blends it into the logits with the weight the validation loss picks,
        so a network that has learned more keeps the decision (blend 0).
        """
        mean = measurements.nanmean(dim=0)
        self.measurement_mean.copy_(mean.nan_to_num(nan=0.0))
        self.measurement_scale.copy_((measurements - mean).square().nanmean(dim=0).sqrt().nan_to_num(nan=1.0)
                                     .clamp(min=1e-6))
        read = self.measurement_read
        nn.init.zeros_(read.weight)
        nn.init.zeros_(read.bias)
        solver = torch.optim.LBFGS(read.parameters(), max_iter=200, line_search_fn="strong_wolfe")

        def objective() -> torch.Tensor:
            solver.zero_grad()
            loss = (criterion(self.read(measurements), labels) * weights).mean() + RIDGE * read.weight.square().sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            solver.step(objective)


RIDGE = 3e-2  # the measurement read's L2 penalty; of 1e-3, 1e-2, 3e-2 and 0.1 the best on 400 generated records
MEDIAN_BIN = 10  # samples averaged per value of the median beat in the measurement read: 20 ms


# The features stack's total downsampling (five stride-2 convolutions and a max-pool) and how far right of
# FEATURE_STRIDE x j its time step j reads the input: 64 j + 93 samples, through its 7-, 2-, 5-, 5-, 5- and
# 3-wide kernels (tests/test_networks.py checks the crop against the whole window).
FEATURE_STRIDE = 64
CROP_GRAIN = 16 * FEATURE_STRIDE  # crop widths are multiples of 1,024 samples: ten widths up to a 20-s window


def feature_steps(samples: int) -> int:
    """Time steps of CRNN.features for an input of `samples` (its convolutions' and the max-pool's arithmetic)."""
    for kernel, stride in ((7, 2), (2, 2), (5, 2), (5, 2), (5, 2), (3, 2)):
        pad = 0 if kernel == 2 else kernel // 2  # the max-pool pads nothing
        samples = (samples + 2 * pad - kernel) // stride + 1
    return samples


def crop_to_recorded(x: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """The (batch, leads, samples) windows cut after the input the first `steps.max()` feature steps read
    (a multiple of CROP_GRAIN, so the strides stay aligned); the whole window when that is all of it.

    Why the coarse grain: every new input width is a new set of buffer sizes, and a training run that saw
    dozens of widths held twice the memory of one that saw one (docs/benchmark_speed.md)."""
    needed = FEATURE_STRIDE * (int(steps.max()) + 1)  # step s - 1 reads up to 64 s + 29
    width = CROP_GRAIN * -(-needed // CROP_GRAIN)
    return x[..., :width] if width < x.shape[-1] else x


def measurement_size(num_leads: int = 12) -> int:
    """The length of the measurement vector: the RR measurements and each lead's median beat in 20-ms bins."""
    return beats.RR_FEATURES + num_leads * ((beats.BEFORE + beats.AFTER) // MEDIAN_BIN)


def measurement_vector(views: beats.Views) -> torch.Tensor:
    """The RR measurements and the median beat (the first rows of the templates, one per lead) in 20-ms bins:
    the QRS width, the PR interval and the ST level are where the median beat's energy lies in time.

    A lead that was not recorded (flat: Views.leads) has NaN bins, not zeros: zero mV
    in V1 would be a measurement far from any recorded V1, and a six-lead record would be read as a strange
    12-lead one. The read takes a NaN as the training mean (CRNN.read).
    """
    leads = views.x.shape[1]
    median = F.avg_pool1d(views.templates[:, :leads], MEDIAN_BIN)
    median = torch.where(views.leads[:, :, None], median, torch.full_like(median, float("nan")))
    return torch.cat([views.rr, median.flatten(1)], dim=1)


@dataclass(frozen=True)
class Architecture:
    """A network and the training defaults it was measured with (TrainOptions fields left None take these)."""

    build: Callable[[int], nn.Module]
    learning_rate: float       # Adam
    augment: bool              # random gain, noise, wander, shift, stretch, lead dropout (team_code.data.augment)
    class_weights: bool        # weight each record's loss by its classes' rarity
    lr_schedule: str           # "onecycle" (warm-up then cosine decay) or "constant"
    patience: int              # stop a fold after this many epochs without a better validation loss; 0: never


# The paper's entry: Keras' Adam defaults, no augmentation or weighting, every epoch run. Ours: see the README.
ARCHITECTURES: dict[str, Architecture] = {
    "crnn": Architecture(lambda classes: CRNN(num_classes=classes), learning_rate=3e-3, augment=True,
                         class_weights=True, lr_schedule="onecycle", patience=3),
    "paper": Architecture(lambda classes: PaperNet(num_classes=classes), learning_rate=1e-3, augment=False,
                          class_weights=False, lr_schedule="constant", patience=0),
}


def for_inference(model: nn.Module) -> nn.Module:
    """The model in eval mode with each convolution's batch norm folded into its weights (torch's
    fuse_conv_bn_eval), in place: the same function up to float rounding (logits within ~1e-6), one pass over
    the data fewer per block: a 10-fold driver.py run took 8 % less wall time (docs/benchmark_speed.md). Only
    conv -> batch norm pairs are folded (crnn's blocks); the paper network's norm follows a max-pool and stays."""
    model.eval()
    for block in model.modules():
        if isinstance(block, nn.Sequential):
            for i in range(len(block) - 1):
                if isinstance(block[i], nn.Conv1d) and isinstance(block[i + 1], nn.BatchNorm1d):
                    block[i], block[i + 1] = fuse_conv_bn_eval(block[i], block[i + 1]), nn.Identity()
    return model


def build_model(arch: str, num_classes: int = 9) -> nn.Module:
    """Construct an untrained network by name (a key of ARCHITECTURES)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch].build(num_classes)
