"""How well what the model learns from one source carries to others: `python -m team_code.bench --quality`.

Two training budgets on `team_code.synth` records, each scored on sources it never saw in any form:

- small: 400 generated records, fold 0 of 5 (320 trained, 80 to pick the epoch and tune thresholds), 3 epochs,
  over several training seeds (at this size the seed alone moves F2 by ~0.05-0.09);
- large: `train_model.py` on 2,000 generated records, 5 folds x 10 epochs, then `driver.py` as a user runs it.

Test sets: 300 new `synth` records, 300 records of `team_code.altsim` (an independently written simulator, never
tuned to or from `synth`), and the real CinC-2021 sample records in ../shared (when present), where only the
per-class AUROC of the classes they contain is meaningful (50 records: a hint, not a measurement).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from team_code import altsim, synth
from team_code.cache import CachedRecords, build_cache
from team_code.folds import stratified_folds
from team_code.inference import Ensemble, pick_device, predict_signals
from team_code.labels import CLASSES
from team_code.metrics import fbeta_gbeta
from team_code.model import build_model
from team_code.outputs import read_output
from team_code.preprocess import prepare_signal
from team_code.records import load_record, read_header, record_names
from team_code.scoring import evaluate
from team_code.thresholds import apply_thresholds, tune_thresholds
from team_code.train import TrainOptions, train_fold

ROOT = Path(__file__).resolve().parents[1]
REAL_SAMPLES = ROOT.parent / "shared/data/real-samples/cinc2021"


def make_test_sets(work: Path, n: int) -> dict[str, Path]:
    """The held-out test sets: new synth records, altsim records, and the real samples when present."""
    sets = {"synth": work / "test_synth", "altsim": work / "test_altsim"}
    synth.generate_dataset(sets["synth"], n, seed=12, prefix="T")
    altsim.generate_dataset(sets["altsim"], n, seed=13)
    if REAL_SAMPLES.is_dir():
        sets["real"] = REAL_SAMPLES
    return sets


def per_class_auroc(label_dir: Path, output_dir: Path) -> dict[str, tuple[float, int, int]]:
    """{class: (AUROC, positives, negatives)} for the classes that have both, with sklearn's AUROC.

    Every record with an output counts, also those whose labels are none of the nine (they are negatives
    for every class): real records carry many other diagnoses, and a model should not call them PAC either.
    """
    from sklearn.metrics import roc_auc_score

    truth, scores = [], []
    for output in sorted(output_dir.glob("*.csv")):
        name, classes, _, probabilities = read_output(output)
        labels = read_header(label_dir / f"{name}.hea").labels
        truth.append([c in labels for c in CLASSES])
        scores.append([probabilities[classes.index(c)] for c in CLASSES])
    truth, scores = np.array(truth, dtype=bool), np.array(scores)
    result = {}
    for k, cls in enumerate(CLASSES):
        positives = int(truth[:, k].sum())
        if 0 < positives < len(truth):
            result[cls] = (float(roc_auc_score(truth[:, k], scores[:, k])), positives, len(truth) - positives)
    return result


def small_budget(work: Path, sets: dict[str, Path], seeds: int, epochs: int = 3, n: int = 400,
                 options: TrainOptions | None = None) -> list[dict[str, tuple[float, float]]]:
    """Per seed, {test set: (F2, G2)} of one fold-0 model trained on 4/5 of n generated records (with `options`,
    default TrainOptions(), for folds, epochs and seed set here)."""
    synth.generate_dataset(work / "small_train", n, seed=101, max_seconds=30)
    train = CachedRecords.open(build_cache(work / "small_train", work / "cache"))
    tests = {name: CachedRecords.open(build_cache(path, work / "cache"))
             for name, path in sets.items() if name != "real"}
    folds = stratified_folds(train.labels, 5, seed=0)
    device = pick_device()
    runs = []
    for seed in range(seeds):
        options = replace(options or TrainOptions(), folds=5, epochs=epochs, seed=seed)
        start = time.perf_counter()
        result = train_fold(train, folds, fold=0, options=options, device=device)
        seconds = time.perf_counter() - start
        thresholds, _ = tune_thresholds(train.labels[folds[0]].astype(bool), result.probabilities)
        model = build_model(options.arch)
        model.load_state_dict(result.state_dict)
        model.to(device)
        scores = {}
        for name, test in tests.items():
            probabilities = predict_signals([model], [s for _, s in test.signals(np.arange(len(test.names)))],
                                            device)
            scores[name] = fbeta_gbeta(test.labels.astype(bool), apply_thresholds(probabilities, thresholds))
        print(f"small budget, seed {seed}: " + ", ".join(f"{k} F2 {f2:.3f} G2 {g2:.3f}" for k, (f2, g2)
                                                        in scores.items()) + f" ({seconds:.0f} s)", flush=True)
        runs.append(scores)
    return runs


def large_budget(work: Path, sets: dict[str, Path], n: int = 2000, folds: int = 5, epochs: int = 10) -> dict:
    """train_model.py on n generated records, then driver.py and the official scores on every test set."""
    synth.generate_dataset(work / "large_train", n, seed=11)
    model = work / "large_model"
    start = time.perf_counter()
    subprocess.run([sys.executable, "train_model.py", str(work / "large_train"), str(model), "--folds", str(folds),
                    "--epochs", str(epochs), "--quiet"], cwd=ROOT, check=True)
    out: dict = {"train_seconds": time.perf_counter() - start,
                 "cv": json.loads((model / "cv_report.json").read_text())}
    for name, path in sets.items():
        outputs = work / f"out_{name}"
        subprocess.run([sys.executable, "driver.py", str(model), str(path), str(outputs), "--quiet"], cwd=ROOT,
                       check=False)
        out[name] = {"auroc_per_class": per_class_auroc(path, outputs)}
        if name != "real":
            out[name]["scores"] = evaluate(path, outputs)
        if name != "real":
            out[name]["threshold_kinds"] = threshold_kinds(model, path)
        print(f"large budget: {name} done", flush=True)
    return out


def threshold_kinds(model_dir: Path, test_dir: Path) -> dict[str, tuple[float, float]]:
    """(F2, G2) of three ways to apply the thresholds, which were tuned on single-fold out-of-fold probabilities:
    to each fold model alone (what tuning saw; mean over folds), to the folds' mean probability (what the driver
    does), and as a majority vote of the fold models each thresholded alone."""
    ensemble = Ensemble.load(model_dir)
    records = [load_record(test_dir / name) for name in record_names(test_dir)]
    labels = np.array([[c in r.labels for c in CLASSES] for r in records], dtype=bool)
    signals = [prepare_signal(r.signal, r.fs) for r in records]
    per_model = [predict_signals([m], signals, ensemble.device) for m in ensemble.models]
    single = [fbeta_gbeta(labels, apply_thresholds(p, ensemble.thresholds)) for p in per_model]
    mean = fbeta_gbeta(labels, apply_thresholds(np.mean(per_model, axis=0), ensemble.thresholds))
    votes = np.mean([p >= ensemble.thresholds for p in per_model], axis=0) >= 0.5
    # A record no majority labels gets its most probable class, as apply_thresholds does.
    voted = fbeta_gbeta(labels, apply_thresholds(votes + np.mean(per_model, axis=0) * 1e-3, np.full(len(CLASSES), 0.5)))
    return {"single fold": tuple(np.mean(single, axis=0)), "mean of folds": mean, "majority vote": voted}


def to_markdown(small: list[dict], large: dict | None, machine: str, command: str, commit: str | None = None) -> str:
    """The report: small-budget scores per seed, large-budget official scores and per-class tables."""
    lines = [f"Machine: {machine}.", f"Command: `{command}`.", *([f"Commit: {commit}."] if commit else []), ""]
    names = list(small[0]) if small else []
    lines += ["## Small budget: 320 records x 3 epochs, per training seed", "",
              "| seed | " + " | ".join(f"{n} F2 | {n} G2" for n in names) + " |",
              "|---|" + "---|---|" * len(names)]
    for seed, run in enumerate(small):
        lines.append(f"| {seed} | " + " | ".join(f"{run[n][0]:.3f} | {run[n][1]:.3f}" for n in names) + " |")
    lines.append("| mean | " + " | ".join(f"{np.mean([r[n][0] for r in small]):.3f} | "
                                         f"{np.mean([r[n][1] for r in small]):.3f}" for n in names) + " |")
    if large is None:
        return "\n".join(lines) + "\n"
    cv = large["cv"]
    lines += ["", "## Large budget: train_model.py on 2,000 records, 5 folds x 10 epochs", "",
              f"Training took {large['train_seconds'] / 60:.1f} min.", "",
              "| test set | AUROC | AUPRC | Accuracy | F-measure | F2 | G2 |", "|---|---|---|---|---|---|---|",
              f"| cross-validation (out-of-fold) | {cv['auroc']:.3f} | {cv['auprc']:.3f} | {cv['accuracy']:.3f} "
              f"| {cv['f_measure']:.3f} | {cv['f2']:.3f} | {cv['g2']:.3f} |"]
    for name in ("synth", "altsim"):
        s = large[name]["scores"]
        lines.append(f"| {name} | {s['auroc']:.3f} | {s['auprc']:.3f} | {s['accuracy']:.3f} | {s['f_measure']:.3f} "
                     f"| {s['f_beta']:.3f} | {s['g_beta']:.3f} |")
    for name in ("synth", "altsim"):
        s = large[name]["scores"]
        lines += ["", f"Per class on {name}:", "", "| class | n | precision | recall | F2 | G2 | AUROC |",
                  "|---|---|---|---|---|---|---|"]
        for k, cls in enumerate(s["classes"]):
            lines.append(f"| {cls} | {int(s['num_positive'][k])} | {s['precision'][k]:.3f} | {s['recall'][k]:.3f} "
                         f"| {s['f_beta_per_class'][k]:.3f} | {s['g_beta_per_class'][k]:.3f} "
                         f"| {s['auroc_per_class'][k]:.3f} |")
    lines += ["", "The tuned thresholds applied three ways (F2 / G2):", "",
              "| test set | each fold model alone (mean) | mean of the folds' probabilities | majority vote |",
              "|---|---|---|---|"]
    for name in ("synth", "altsim"):
        kinds = large[name]["threshold_kinds"]
        lines.append(f"| {name} | " + " | ".join(f"{kinds[k][0]:.3f} / {kinds[k][1]:.3f}" for k in
                                                 ("single fold", "mean of folds", "majority vote")) + " |")
    if "real" in large:
        lines += ["", "Real CinC-2021 samples (50 records; per-class AUROC, sklearn; a hint only):", "",
                  "| class | positives | negatives | AUROC |", "|---|---|---|---|"]
        for cls, (value, positives, negatives) in large["real"]["auroc_per_class"].items():
            lines.append(f"| {cls} | {positives} | {negatives} | {value:.3f} |")
    return "\n".join(lines) + "\n"
