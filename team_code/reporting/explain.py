"""Explain one record: the 12-lead ECG as clinicians read it, with the predicted labels and, under the rhythm
strip, which seconds of the record drove each predicted class.

    python -m team_code.reporting.explain MODEL_DIR RECORD [--out FILE.png] [--class NAME]

Attributions are captum's integrated gradients of the ensemble's probability for the class (the mean of the fold
models' probabilities, exactly what the driver thresholds), summed over the 12 leads and smoothed over 80 ms.
The crnn network standardises its input (beats.standardise) and finds the QRS complexes in it before anything
else, so p(class | a·x) hardly depends on a (the standardisation divides it out), and integrated gradients along
the path from a flat line to the raw record described the few points of it near a = 0 where leads fall below the
flat-lead threshold, not the record. They are taken instead with respect to the standardised record, from a flat
standardised record, with the standardisation and the detected beat positions (hence the RR measurements) held
at the record's: the attributed function is the network and its measurement read reading the standardised
samples, and completeness holds (the attributions add up to p(class | record) - p(class | flat record with the
record's beats); tests/test_explain.py checks it). What the RR measurements alone say is therefore in the
baseline, not in the attributions. The paper's network, which reads the raw window, is attributed from a flat
zero-mV record. Integrated gradients work at the sampling rate; Grad-CAM
on the last convolution would be cheaper but only resolves ~8 steps per second and ignores the head's direct
max-pool paths.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from captum.attr import IntegratedGradients
from torch import nn

from team_code import log
from team_code.data.preprocess import FS, LENGTH, prepare_signal, window
from team_code.inference.ensemble import Ensemble, activation, window_logits
from team_code.io.atomic import atomic_path
from team_code.io.records import STANDARD_LEADS, RecordError, load_record
from team_code.labels import CLASSES
from team_code.nn import beats
from team_code.nn.networks import CRNN
from team_code.training.model_dir import ModelError

logger = logging.getLogger(__name__)

SMOOTH_SECONDS = 0.08
STEPS = 32
# The printout: 3 rows of 4 leads, 2.5 s each, then lead II as a rhythm strip.
LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
GRID_MINOR, GRID_MAJOR = "#fbd9d9", "#f09a9a"


class _HeldBeats(NamedTuple):
    """What integrated gradients hold at the record's values: the recorded length and the QRS positions found in
    the standardised record, the RR measurements made of them (a detector's positions have no gradient), and
    which leads were recorded (the flat baseline would otherwise read as a record of no leads)."""

    length: torch.Tensor
    positions: torch.Tensor
    valid: torch.Tensor
    rr: torch.Tensor
    leads: torch.Tensor


def _attributed_input(models: list[nn.Module], x: torch.Tensor) -> tuple[torch.Tensor, _HeldBeats | None]:
    """(what is attributed, what is held) for raw windows x: the standardised windows and their beats for networks
    that read beat views (CRNN), the raw windows and nothing for the others."""
    if not any(isinstance(m, CRNN) for m in models):
        return x, None
    length = beats.recorded_length(x)
    z = beats.standardise(x, length)
    positions, valid = beats.locate_beats(z, length)
    return z, _HeldBeats(length, positions, valid, beats.rr_features(positions, valid),
                         beats.recorded_leads(z))


class _MeanProbability(nn.Module):
    """The ensemble's probabilities as a differentiable function of the attributed input (_attributed_input): mean
    over folds of the outputs' probabilities (softmax or sigmoids, as the model was trained: inference.activation).
    With held beats, the beat views of a standardised input are made at the record's beat positions."""

    def __init__(self, models: list[nn.Module], loss: str = "softmax", held: _HeldBeats | None = None) -> None:
        super().__init__()
        self.models = nn.ModuleList(models)
        self.loss = loss
        self.held = held

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        views = None
        if self.held is not None:
            n = len(z)  # captum evaluates several points of the path at once
            length, positions, valid = (t.expand(n, *t.shape[1:]) for t in self.held[:3])
            views = beats.Views(z, length, beats.beat_templates(z, positions, valid, length),
                                self.held.rr.expand(n, -1), self.held.leads.expand(n, -1))
        return torch.stack([activation(window_logits(m, z, views), self.loss) for m in self.models]).mean(dim=0)


def integrated_gradients(ensemble: Ensemble, prepared: np.ndarray, cls: str, steps: int = STEPS
                         ) -> tuple[np.ndarray, float, float]:
    """(attributions (leads, samples), p(cls | record), p(cls | baseline)) for one prepared window: integrated
    gradients of the ensemble's probability of `cls` over the attributed input (see the module doc), from the flat
    baseline; the attributions add up to the difference of the two probabilities, up to the path integral's error."""
    x = torch.from_numpy(np.ascontiguousarray(prepared[None], dtype=np.float32)).to(ensemble.device)
    z, held = _attributed_input(ensemble.models, x)
    model = _MeanProbability(ensemble.models, ensemble.loss, held).eval()
    target = ensemble.classes.index(cls)
    baseline = torch.zeros_like(z)
    with torch.backends.cudnn.flags(enabled=False):  # cuDNN's LSTM has no backward pass in eval mode
        values = IntegratedGradients(model).attribute(z, baselines=baseline, target=target, n_steps=steps,
                                                      internal_batch_size=8)
        with torch.no_grad():
            ends = model(torch.cat([z, baseline]))[:, target].tolist()
    return values[0].detach().cpu().numpy(), ends[0], ends[1]


@dataclass
class Explanation:
    """One record's prepared input, its probabilities and labels, and per explained class a time course."""

    name: str
    signal: np.ndarray            # (12, samples) at 500 Hz: the network's input
    seconds: float                # how much of the input is the record (the rest is zero padding)
    probabilities: np.ndarray
    labelled: np.ndarray          # binary outputs, as the driver writes them
    thresholds: np.ndarray
    attributions: dict[str, np.ndarray]  # class -> (samples,) summed over leads, smoothed
    classes: list[str]            # the model's classes, in the order of `probabilities`


def attribute(ensemble: Ensemble, prepared: np.ndarray, classes: list[str], steps: int = STEPS
              ) -> dict[str, np.ndarray]:
    """Integrated gradients of each class's ensemble probability, summed over leads and smoothed (see module doc)."""
    width = max(1, int(round(SMOOTH_SECONDS * FS)))
    kernel = np.ones(width) / width
    return {cls: np.convolve(integrated_gradients(ensemble, prepared, cls, steps)[0].sum(axis=0), kernel, mode="same")
            for cls in classes}


def explain(ensemble: Ensemble, record_path: str | Path, classes: list[str] | None = None,
            steps: int = STEPS) -> Explanation:
    """Read, prepare and classify a record as the driver does, then attribute the predicted classes (or `classes`)."""
    record = load_record(record_path)
    prepared = prepare_signal(record.signal, record.fs)
    predicted = ensemble.predict([prepared])
    # The attribution reads the record as the network reads a window: up to 20 s zero-padded to the window, a
    # longer record in one pass over its whole length (the network masks the padding and accepts any length).
    if prepared.shape[1] <= LENGTH:
        prepared = window(prepared)
    probabilities, labelled = predicted.combined[0], ensemble.classify(predicted)[0]
    chosen = classes or [c for c, on in zip(ensemble.classes, labelled) if on]
    seconds = min(record.signal.shape[1] / record.fs, prepared.shape[1] / FS)
    return Explanation(record.name, prepared, seconds, probabilities, labelled, ensemble.thresholds,
                       attribute(ensemble, prepared, chosen, steps), list(ensemble.classes))


def _grid(ax, x0: float, x1: float, y0: float, y1: float) -> None:
    """Millimetre paper at 25 mm/s and 10 mm/mV: 0.04 s x 0.1 mV minor, 0.2 s x 0.5 mV major lines."""
    for step, color, lw in ((0.04, GRID_MINOR, 0.3), (0.2, GRID_MAJOR, 0.6)):
        for x in np.arange(x0, x1 + 1e-9, step):
            ax.axvline(x, color=color, lw=lw, zorder=0)
    for step, color, lw in ((0.1, GRID_MINOR, 0.3), (0.5, GRID_MAJOR, 0.6)):
        for y in np.arange(math.floor(y0 / step) * step, y1 + 1e-9, step):
            ax.axhline(y, color=color, lw=lw, zorder=0)


def _pulse(ax, x: float, y: float) -> None:
    """The 1 mV, 0.2 s calibration pulse at the start of a row."""
    ax.plot([x, x + 0.04, x + 0.04, x + 0.24, x + 0.24, x + 0.28], [y, y, y + 1, y + 1, y, y], color="k", lw=0.9)


def _paper_axes(ax, x0: float, x1: float, y0: float, y1: float) -> None:
    _grid(ax, x0, x1, y0, y1)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(0.4)  # 25 mm/s and 10 mm/mV: 1 mV is as tall as 0.4 s is wide
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def draw(explanation: Explanation, path: str | Path) -> None:
    """Write the explained record as a PNG: 3 x 4 leads (2.5 s each) and a lead II rhythm strip per 10 s of the
    input, each strip followed by one attribution band per explained class, aligned in time."""
    from team_code.reporting.plots import plt

    e = explanation
    gap, page = 3.0, 10.0
    segments = max(1, math.ceil(e.seconds / page - 1e-9))
    classes = list(e.attributions)
    t = np.arange(e.signal.shape[1]) / FS
    lead = {name: e.signal[i] for i, name in enumerate(STANDARD_LEADS)}
    clip = gap / 2 + 0.2
    # Heights in inches, so that every paper row keeps 25 mm/s : 10 mm/mV inside its own grid cell.
    width_in, left, right = 16.0, 0.07, 0.99
    inch_per_mv = 0.4 * width_in * (right - left) / (page + 0.4)
    band_in, title_in, bottom_in = 0.38, 0.9, 0.3
    heights = []
    for s in range(segments):
        heights += [(4 if s == 0 else 1) * gap * inch_per_mv] + [band_in] * len(classes)
    height_in = sum(heights) * 1.08 + title_in + bottom_in
    fig = plt.figure(figsize=(width_in, height_in))
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights, hspace=0.08, left=left, right=right,
                            top=1 - title_in / height_in, bottom=bottom_in / height_in)
    scale = {c: max(float(e.attributions[c][: int(e.seconds * FS)].max()), 1e-12) for c in classes}
    row = 0
    for s in range(segments):
        start = s * page
        ax = fig.add_subplot(grid[row])
        row += 1
        rows = [*LAYOUT, ("II",)] if s == 0 else [("II",)]
        _paper_axes(ax, start - 0.4, start + page, -(len(rows) - 1) * gap - gap / 2, gap / 2)
        for r, leads in enumerate(rows):
            y0 = -r * gap
            _pulse(ax, start - 0.35, y0)
            width = page / len(leads)
            for k, name in enumerate(leads):
                sel = (t >= start + k * width) & (t < min(start + (k + 1) * width, e.seconds))
                ax.plot(t[sel], y0 + np.clip(lead[name][sel], -clip, clip), color="k", lw=0.6)
                ax.text(start + k * width + 0.05, y0 + 0.9, name, fontsize=9, fontweight="bold")
                if k:
                    ax.plot([start + k * width] * 2, [y0 - 0.3, y0 + 0.3], color="k", lw=0.9)
        ax.set_xticks(np.arange(start, start + page + 1e-9, 1.0))
        ax.set_xticklabels([f"{v:g} s" for v in np.arange(start, start + page + 1e-9, 1.0)], fontsize=7)
        for cls in classes:
            band = fig.add_subplot(grid[row], sharex=ax)
            row += 1
            a = np.clip(e.attributions[cls], 0, None) / scale[cls]
            sel = (t >= start) & (t < min(start + page, e.seconds))
            band.imshow(a[sel][None, :], aspect="auto", cmap="Reds", vmin=0, vmax=1,
                        extent=(t[sel][0], t[sel][-1], 0, 1), interpolation="nearest")
            k = e.classes.index(cls)
            band.set_ylabel(f"{cls}\n{e.probabilities[k]:.2f}", rotation=0, ha="right", va="center", fontsize=9)
            band.set_yticks([])
            band.set_xlim(start - 0.4, start + page)
            band.tick_params(labelbottom=False)
    on = [f"{c} {p:.2f} (thr {th:.2f})"
          for c, p, th, b in zip(e.classes, e.probabilities, e.thresholds, e.labelled) if b]
    fig.suptitle(f"{e.name}: labelled {', '.join(on)}\n25 mm/s, 10 mm/mV, calibration 1 mV; red bands: where the "
                 f"record raised each class's probability (integrated gradients, summed over leads)",
                 fontsize=11, x=0.07, ha="left")
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def _model_class(ensemble: Ensemble, name: str) -> str:
    """The model's class that `name` (a class name in any case, or a code of it) names; ModelError otherwise."""
    cls = ensemble.class_set.token_class.get(name.strip().upper())
    if cls is None:
        raise ModelError(f"--class {name}: not one of the model's classes ({', '.join(ensemble.classes)})")
    return cls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m team_code.reporting.explain", description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", help="folder written by train_model.py")
    parser.add_argument("record", help="NAME.hea or NAME.mat of the record")
    parser.add_argument("--out", help="PNG to write (default NAME_explained.png in the working directory)")
    parser.add_argument("--class", dest="classes", action="append", metavar="NAME",
                        help="explain this class instead of the predicted ones (repeatable; one of the model's "
                             f"classes: {', '.join(CLASSES)}, or a SNOMED CT code of a cinc2020 model)")
    log.add_arguments(parser)
    args = parser.parse_args(argv)
    log.configure(quiet=args.quiet, verbose=args.verbose)
    try:
        ensemble = Ensemble.load(args.model_dir)
        classes = [_model_class(ensemble, name) for name in args.classes] if args.classes else None
        explanation = explain(ensemble, args.record, classes)
    except (ModelError, RecordError) as error:
        logger.error(f"error: {error}")
        return 1
    out = Path(args.out or f"{explanation.name}_explained.png")
    with atomic_path(out) as tmp:
        draw(explanation, tmp)
    print(out.resolve())  # noqa: T201 - the command's result: where the picture is
    return 0


if __name__ == "__main__":
    sys.exit(main())
