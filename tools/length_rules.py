"""Why a 60-s record and 10 s of the same heart get different labels: `python -m tools.length_rules`.

Issue 21 asks that a 10-s and a 60-s record of the same heart get the same labels. This measures where the
differences come from, on the small budget of tools.transfer (fold 0 of 400 generated `synth` records, 3 epochs,
several training seeds) and the same hearts of the `synth` and `altsim` test sets generated at 10 s and at 60 s:

- each candidate rule for combining a record's 20-s windows, with thresholds tuned under that rule on the
  validation fold: F2 / G2 and how many hearts changed labels from 10 s to 60 s;
- the 10-s record against the first 20-s window of the 60-s record alone: the changes that the number of
  windows cannot explain, because there is only one.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from team_code.data.cache import CachedRecords, build_cache
from team_code.data.folds import stratified_folds
from team_code.data.preprocess import prepare_signal
from team_code.inference.ensemble import combine_windows, predict_probabilities, record_windows
from team_code.io.records import load_record, record_names
from team_code.labels import CLASSES
from team_code.scoring.f2g2 import fbeta_gbeta
from team_code.training.thresholds import apply_thresholds, tune_thresholds
from team_code.training.train import TrainOptions
from tools import transfer

NORMAL = CLASSES.index("Normal")
EPISODIC = [CLASSES.index("PAC"), CLASSES.index("PVC")]  # a single ectopic beat anywhere is the finding


def _episodic_max(windows: np.ndarray) -> np.ndarray:
    combined = windows.mean(axis=0)
    combined[EPISODIC] = windows[:, EPISODIC].max(axis=0)
    combined[NORMAL] = windows[:, NORMAL].min()
    return combined


# name -> (windows, classes) of one record -> its combined probabilities
RULES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "max per class, min for Normal (the driver's)": combine_windows,
    "mean of the windows": lambda windows: windows.mean(axis=0),
    "max for PAC and PVC, min for Normal, mean for the rest": _episodic_max,
}

# (truth, per-window probabilities, bounds) of one set of records
Windows = tuple[np.ndarray, np.ndarray, np.ndarray]


def _per_window(model: torch.nn.Module, device: torch.device, truth: np.ndarray, signals: list[np.ndarray]
                ) -> Windows:
    stacked, bounds = record_windows(signals)
    probabilities = np.concatenate([predict_probabilities([model], torch.from_numpy(stacked[i:i + 32]), device)
                                    .cpu().numpy() for i in range(0, len(stacked), 32)])
    return truth, probabilities, bounds


def _combine(windows: Windows, rule: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(combined, means) per record: what the thresholds read and the at-least-one-label fallback."""
    _, probabilities, bounds = windows
    pieces = [probabilities[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return np.stack([rule(p) for p in pieces]), np.stack([p.mean(axis=0) for p in pieces])


def _labels(windows: Windows, rule: Callable[[np.ndarray], np.ndarray], thresholds: np.ndarray) -> np.ndarray:
    combined, means = _combine(windows, rule)
    return apply_thresholds(combined, thresholds, means)


def _folder(folder: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    records = [load_record(folder / name) for name in record_names(folder)]
    return (np.array([[c in r.labels for c in CLASSES] for r in records], dtype=bool),
            [prepare_signal(r.signal, r.fs) for r in records])


def measure(work: Path, seeds: int, records: int) -> list[str]:
    """The Markdown lines of both tables (module docstring)."""
    sets = {}
    for generator in transfer.GENERATORS:
        for seconds in (10, 60):
            folder = work / f"{generator}_{seconds}"
            if not folder.is_dir():
                transfer._regenerate_test(generator, records, folder, float(seconds))
            sets[f"{generator}_{seconds}"] = _folder(folder)
    train = CachedRecords.open(build_cache(transfer.training_folder(work, "synth/clean", 400), work / "cache"))
    validation = stratified_folds(train.labels, 5, seed=0)[0]
    scores: dict[str, dict[str, list]] = {rule: {} for rule in RULES}
    first_window: dict[str, int] = {}
    for seed in range(seeds):
        small = transfer.train_small(train, TrainOptions(), seed, 3)
        run = {name: _per_window(small.model, small.device, *data) for name, data in sets.items()}
        val = _per_window(small.model, small.device, train.labels[validation].astype(bool),
                          [signal for _, signal in train.signals(validation)])
        for rule_name, rule in RULES.items():
            combined, means = _combine(val, rule)
            thresholds, _ = tune_thresholds(val[0], combined, fallback=means)
            labels = {name: _labels(windows, rule, thresholds) for name, windows in run.items()}
            for name, windows in run.items():
                scores[rule_name].setdefault(name, []).append(fbeta_gbeta(windows[0], labels[name]))
            for generator in transfer.GENERATORS:
                changed = int((labels[f"{generator}_10"] != labels[f"{generator}_60"]).any(axis=1).sum())
                scores[rule_name].setdefault(f"changed {generator}", []).append(changed)
                if rule is combine_windows:
                    _, probabilities, bounds = run[f"{generator}_60"]
                    first = probabilities[bounds[:-1]]
                    alone = apply_thresholds(first, thresholds, first)
                    first_window[generator] = first_window.get(generator, 0) + int(
                        (labels[f"{generator}_10"] != alone).any(axis=1).sum())
        print(f"length rules: seed {seed} done", flush=True)
    names = list(sets)
    lines = [f"Small budget, training seeds 0-{seeds - 1}; {records} hearts per test set at 10 s and at 60 s. "
             "F2 / G2, the mean over the seeds; changed: hearts whose labels differ from 10 s to 60 s, summed over "
             f"the seeds (of {records * seeds}).", "",
             "| rule | " + " | ".join(names) + " | changed synth | changed altsim |",
             "|---|" + "---|" * (len(names) + 2)]
    for rule_name in RULES:
        cells = [f"{np.mean([s[0] for s in scores[rule_name][n]]):.3f} / "
                 f"{np.mean([s[1] for s in scores[rule_name][n]]):.3f}" for n in names]
        cells += [str(sum(scores[rule_name][f"changed {g}"])) for g in transfer.GENERATORS]
        lines.append(f"| {rule_name} | " + " | ".join(cells) + " |")
    lines += ["", "The 10-s record against the first 20-s window of the 60-s record alone (one window, the driver's "
              "thresholds): " + ", ".join(f"{first_window[g]} {g}" for g in transfer.GENERATORS) + " hearts changed."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Where 10-s and 60-s records of the same heart differ in labels.")
    parser.add_argument("--work", type=Path, required=True, help="folder for generated records (reused if there)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds (default 3)")
    parser.add_argument("--records", type=int, default=200, help="hearts per test set (default 200)")
    args = parser.parse_args(argv)
    print("\n".join(measure(args.work, args.seeds, args.records)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
