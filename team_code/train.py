"""Cross-validated training: folds, epochs with early-stopping selection, resume, out-of-fold tuning.

Every finished fold is checkpointed (weights + a JSON with its out-of-fold probabilities, through
team_code.model_dir, which owns MODEL_DIR), so rerunning the same command after an interruption continues from
the finished folds. Under torchrun the folds are shared round-robin across ranks and rank 0 gathers the results;
plain `python` is the one-rank case of the same code.
"""
from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from team_code import distributed, report
from team_code import model_dir as model_files
from team_code.cache import CachedRecords, build_cache
from team_code.folds import stratified_folds
from team_code.inference import pick_device, predict_probabilities
from team_code.labels import CLASSES
from team_code.model import DEFAULT_LEARNING_RATE, build_model
from team_code.thresholds import tune_thresholds
from team_code.workers import cpu_cores


class TrainingError(RuntimeError):
    """Training cannot go on (too little data, bad arguments); the message says why."""


@dataclass
class TrainOptions:
    folds: int = 10
    epochs: int = 10
    arch: str = "crnn"
    seed: int = 0
    batch_size: int = 32
    learning_rate: float | None = None  # default: the architecture's (model.DEFAULT_LEARNING_RATE)
    threads: int | None = None      # torch intra-op threads per process; default: cores / local processes
    cache_dir: str | None = None    # default: MODEL_DIR/cache
    progress: bool = True


def soft_targets(labels: torch.Tensor) -> torch.Tensor:
    """A record with k labels is 1/k of each: the target of categorical cross-entropy (and of the scoring)."""
    return labels / labels.sum(dim=1, keepdim=True).clamp(min=1)


def categorical_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-record categorical cross-entropy against the soft targets."""
    return -(soft_targets(labels) * F.log_softmax(logits.float(), dim=1)).sum(dim=1)


def train(train_dir: str | Path, model_dir: str | Path, options: TrainOptions) -> dict | None:
    """Train all folds, tune thresholds and write MODEL_DIR; returns the CV report on rank 0 (None elsewhere)."""
    train_dir, model_dir = Path(train_dir).resolve(), Path(model_dir).resolve()
    if model_dir == train_dir or train_dir in model_dir.parents:
        raise TrainingError(f"{model_dir}: MODEL_DIR must be outside TRAIN_DIR (training never writes into the data)")
    if not train_dir.is_dir():
        raise TrainingError(f"{train_dir}: training directory not found")
    options = replace(options, learning_rate=options.learning_rate or DEFAULT_LEARNING_RATE[options.arch])
    world = distributed.World.start()
    try:
        return _train(train_dir, model_dir, options, world)
    finally:
        world.stop()


def _train(train_dir: Path, model_dir: Path, options: TrainOptions, world: "distributed.World") -> dict | None:
    device = pick_device()
    torch.set_num_threads(options.threads or max(1, cpu_cores() // world.local_size))
    model_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(options.cache_dir) if options.cache_dir else model_dir / "cache"
    progress = options.progress and world.rank == 0

    # One process per machine parses the records; the others wait, then open the same cache.
    if world.local_rank == 0:
        cache_path = build_cache(train_dir, cache_dir, progress=progress)
    world.barrier()
    if world.local_rank != 0:
        cache_path = build_cache(train_dir, cache_dir, progress=False, report=False)
    data = CachedRecords.open(cache_path)
    _check_enough(data, options, train_dir)

    folds = stratified_folds(data.labels, options.folds, options.seed)
    fingerprint = model_files.fingerprint(cache_path.name, asdict(options))
    if world.rank == 0 and model_files.begin(model_dir, fingerprint) and progress:
        tqdm.write(f"{model_dir} holds a model of another training run: its config.json is removed, and the "
                   "model is incomplete until this run finishes", file=sys.stderr)
    results = {}
    for fold in range(world.rank, options.folds, world.size):
        results[fold] = model_files.load_fold(model_dir, fold, fingerprint, [data.names[i] for i in folds[fold]])
        if results[fold] is None:
            results[fold] = train_fold(data, folds, fold, options, device, model_dir, fingerprint, progress)
        elif progress:
            tqdm.write(f"fold {fold + 1}/{options.folds}: finished earlier, loaded from {model_dir}", file=sys.stderr)
    gathered = world.gather(results)
    if world.rank != 0:
        return None
    merged = {fold: result for part in gathered for fold, result in part.items()}
    return _finish(model_dir, data, folds, merged, options, fingerprint)


def _check_enough(data: CachedRecords, options: TrainOptions, train_dir: Path) -> None:
    n = len(data.names)
    if n < 2 * options.folds:
        raise TrainingError(f"{train_dir}: only {n} usable labelled records; need at least {2 * options.folds} "
                            f"for {options.folds}-fold cross-validation")
    counts = data.labels.sum(axis=0).astype(int)
    for cls, count in zip(CLASSES, counts):
        if count < options.folds:
            print(f"warning: class {cls} has {count} record(s), fewer than the {options.folds} folds; "
                  "some folds will not validate it", file=sys.stderr)


def train_fold(data: CachedRecords, folds: list[np.ndarray], fold: int, options: TrainOptions,
               device: torch.device, model_dir: Path, fingerprint: str, progress: bool) -> dict:
    """Train one fold for options.epochs, keep the epoch with the lowest validation cross-entropy, checkpoint it
    in model_dir, and return its history, weights and out-of-fold probabilities (the benchmark calls it too)."""
    val = folds[fold]
    train_idx = np.sort(np.concatenate([f for k, f in enumerate(folds) if k != fold]))
    torch.manual_seed(options.seed * 1000 + fold)
    rng = np.random.default_rng([options.seed, fold])
    model = build_model(options.arch, len(CLASSES)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.learning_rate or DEFAULT_LEARNING_RATE[options.arch])
    pin = device.type == "cuda"
    history, best = [], None
    for epoch in range(options.epochs):
        start = time.perf_counter()
        model.train()
        total = torch.zeros((), device=device)
        order = rng.permutation(train_idx)
        bar = tqdm(total=len(order), desc=f"fold {fold + 1}/{options.folds} epoch {epoch + 1}/{options.epochs}",
                   unit="rec", leave=False, disable=not progress, file=sys.stderr)
        for _, x, y in data.batches(order, options.batch_size, pin_memory=pin):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logits = model(x)
            loss = categorical_cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.mean().backward()
            optimizer.step()
            total += loss.detach().sum()
            bar.update(len(y))
        bar.close()
        val_probs, val_loss = _validate(model, data, val, options.batch_size, device)
        entry = {"epoch": epoch + 1, "train_loss": total.item() / len(order), "val_cross_entropy": val_loss,
                 "seconds": round(time.perf_counter() - start, 2)}
        history.append(entry)
        improved = best is None or _better(val_loss, best["val_cross_entropy"])
        if improved:
            best = {**entry, "state_dict": copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()}),
                    "probabilities": val_probs}
        if progress:
            tqdm.write(f"fold {fold + 1}/{options.folds} epoch {epoch + 1}/{options.epochs}: "
                       f"train loss {entry['train_loss']:.4f}, val cross-entropy {val_loss:.4f}, "
                       f"{entry['seconds']:.1f} s{' (best)' if improved else ''}", file=sys.stderr)
    if math.isnan(best["val_cross_entropy"]):
        raise TrainingError(f"{model_dir}: fold {fold + 1}: validation cross-entropy is NaN in every epoch (training "
                            "diverged); try a lower --learning-rate")
    summary = {"fold": fold, "fingerprint": fingerprint, "best_epoch": best["epoch"],
               "best_val_cross_entropy": best["val_cross_entropy"], "history": history,
               "records": [data.names[i] for i in val], "probabilities": best["probabilities"].tolist()}
    return {**model_files.save_fold(model_dir, fold, summary, best["state_dict"]), "state_dict": best["state_dict"]}


def _better(loss: float, best: float) -> bool:
    """Lower is better and NaN is worst: a NaN first epoch must not be unbeatable (every `<` with NaN is False)."""
    return not math.isnan(loss) and (math.isnan(best) or loss < best)


def _validate(model: torch.nn.Module, data: CachedRecords, val: np.ndarray, batch_size: int,
              device: torch.device) -> tuple[np.ndarray, float]:
    """Out-of-fold probabilities (same inference path as the driver) and mean categorical cross-entropy."""
    probs, losses = [], []
    for _, x, y in data.batches(val, batch_size, pin_memory=device.type == "cuda"):
        p = predict_probabilities(model, x, device)
        probs.append(p)
        losses.append(-(soft_targets(y.to(device)) * torch.log(p.clamp(min=1e-7))).sum(dim=1))
    return torch.cat(probs).cpu().numpy(), torch.cat(losses).mean().item()


def _finish(model_dir: Path, data: CachedRecords, folds: list[np.ndarray], results: dict, options: TrainOptions,
            fingerprint: str) -> dict:
    """Tune thresholds on the out-of-fold probabilities and write the remaining artefacts; config.json last."""
    oof = np.zeros((len(data.names), len(CLASSES)))
    fold_of = np.zeros(len(data.names), dtype=int)
    for fold, val in enumerate(folds):
        oof[val] = np.asarray(results[fold]["probabilities"])
        fold_of[val] = fold
        model_files.ensure_fold(model_dir, results[fold])  # folds trained by other ranks, maybe on other machines
    labels = data.labels.astype(bool)
    thresholds, _ = tune_thresholds(labels, oof, seed=options.seed)
    report.write_oof(model_dir / "oof.csv", data.names, fold_of, labels, oof)
    cv = report.cv_report(labels, oof, thresholds, [{k: v for k, v in results[f].items()
                                                      if k not in ("state_dict", "probabilities", "records")}
                                                     for f in range(len(folds))])
    report.write_reports(model_dir, cv)
    model_files.write_model(model_dir, arch=options.arch, folds=len(folds), run_fingerprint=fingerprint,
                            thresholds=thresholds, training={k: v for k, v in asdict(options).items() if k != "progress"},
                            records=len(data.names))
    return cv
