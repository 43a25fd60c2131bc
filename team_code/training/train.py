"""Cross-validated training: folds, epochs with early-stopping selection, resume, out-of-fold tuning.

Every finished fold is checkpointed (weights + a JSON with its out-of-fold probabilities, through
team_code.training.model_dir, which owns MODEL_DIR), so rerunning the same command after an interruption continues from
the finished folds. Under torchrun the folds are shared round-robin across ranks and rank 0 gathers the results;
plain `python` is the one-rank case of the same code.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from team_code import class_sets, log
from team_code.data import preprocess
from team_code.data.augment import augment
from team_code.data.cache import CachedRecords, build_cache, cache_file, training_records
from team_code.data.folds import stratified_folds
from team_code.data.workers import cpu_cores
from team_code.inference.ensemble import (
    RecordProbabilities,
    activation,
    length_batches,
    pick_device,
    predict_records,
    record_windows,
    views_for,
    window_lengths,
    window_logits,
)
from team_code.nn import beats
from team_code.nn.networks import ARCHITECTURES, CRNN, build_model, measurement_vector
from team_code.training import cv_report, distributed
from team_code.training import model_dir as model_files
from team_code.training.cv_results import CVReport, FoldResult
from team_code.training.thresholds import tune_thresholds

logger = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on (too little data, bad arguments); the message says why."""


@dataclass
class TrainOptions:
    """Everything that shapes a training run, with its defaults: the one place they are set (train_model.py's
    options read theirs from here). Fields left None take the architecture's defaults (model.ARCHITECTURES),
    filled in by `with_defaults`."""

    folds: int = 10
    epochs: int = 10
    arch: str = "crnn"
    seed: int = 0
    batch_size: int = 32
    learning_rate: float | None = None  # Adam
    augment: bool | None = None         # team_code.data.augment on every training batch
    class_weights: bool | None = None   # weight each record's loss by the rarity of its classes
    lr_schedule: str | None = None      # "onecycle" or "constant"
    patience: int | None = None         # epochs without a better validation loss before a fold stops; 0: never
    threads: int | None = None      # torch intra-op threads per process; default: cores / local processes
    cache_dir: str | None = None    # default: MODEL_DIR/cache
    classes: str = class_sets.DEFAULT  # the class set (team_code.class_sets): "cpsc2018" or "cinc2020"
    loss: str | None = None             # "softmax" or "bce"; default: the class set's
    precision: str = "auto"             # of the training step: "fp32", "bf16", or "auto" (training_precision)


LR_SCHEDULES = ("onecycle", "constant")
PRECISIONS = ("auto", "fp32", "bf16")
# The range of each whole-number option (None: unbounded or, for patience and threads, the default); train_model.py's
# parser and check_options both hold options to it. Seeds seed numpy's generators, which take no negative numbers.
INT_LIMITS: dict[str, tuple[int, int | None]] = {
    "folds": (2, None), "epochs": (1, None), "batch_size": (1, None), "seed": (0, 2**32 - 1), "patience": (0, None),
    "threads": (1, None),
}


def check_options(options: TrainOptions) -> None:
    """TrainingError naming the first option outside what training accepts, so a run that cannot start says so
    before it reads the data or touches MODEL_DIR."""
    for name, (low, high) in INT_LIMITS.items():
        value = getattr(options, name)
        if value is None and name in ("patience", "threads"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            limits = f"at least {low}" if high is None else f"from {low} to {high}"
            raise TrainingError(f"{name} must be a whole number {limits}, got {value!r}")
    rate = options.learning_rate
    if rate is not None and not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise TrainingError(f"learning_rate must be a finite number above 0, got {rate!r}")
    for name, known in (("arch", ARCHITECTURES), ("lr_schedule", LR_SCHEDULES), ("loss", class_sets.LOSSES),
                        ("precision", PRECISIONS)):
        value = getattr(options, name)
        if not (value is None and name != "arch") and value not in known:
            raise TrainingError(f"unknown {name} {value!r} (known: {', '.join(known)})")
    try:
        class_sets.get(options.classes)
    except ValueError as error:
        raise TrainingError(str(error)) from None


def with_defaults(options: TrainOptions) -> TrainOptions:
    """The options with every None training setting replaced by the architecture's default (the loss by the
    class set's; the only place they are resolved; setting them again changes nothing)."""
    arch = ARCHITECTURES[options.arch]
    loss = options.loss or class_sets.get(options.classes).loss
    return replace(options, loss=loss, **{name: getattr(arch, name) for name in
                                          ("learning_rate", "augment", "class_weights", "lr_schedule", "patience")
                                          if getattr(options, name) is None})


def training_precision(requested: str, device: torch.device) -> str:
    """The precision of the training step's forward pass (bf16 autocast or fp32). "auto" takes bf16 where the
    hardware computes it natively, on CUDA and on CPUs with AMX tiles (Intel Xeon, 2 cores: a 5-fold x 2-epoch
    run 84 -> 71 s, scores within the seed spread, docs/benchmark_speed.md), and fp32 elsewhere, where bf16 is
    emulated and slower. The views, validation and inference stay fp32 on CPU."""
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "bf16"
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private in torch 2.13; absent: assume none
    return "bf16" if device.type == "cpu" and amx is not None and amx() else "fp32"


def training_logits(model: torch.nn.Module, x: torch.Tensor, views: beats.Views | None, bf16: bool) -> torch.Tensor:
    """The training step's forward pass: under bf16 autocast when `bf16` (training_precision), the logits
    returned in fp32 for the loss. One definition for train_fold and for the benchmarks that time its step."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = window_logits(model, x, views)
    return logits.float()


def record_weights(labels: np.ndarray) -> np.ndarray:
    """Per-record loss weights that lift rare classes: each class weighs sqrt(N / (classes x its count)) (the
    square root tempers it: full inverse frequency overfits the few STE records), a record the mean of its
    classes' weights, scaled to a mean of 1."""
    counts = labels.sum(axis=0)
    per_class = np.sqrt(len(labels) / (labels.shape[1] * np.maximum(counts, 1)))
    weights = (labels * per_class).sum(axis=1) / np.maximum(labels.sum(axis=1), 1)
    return (weights / weights.mean()).astype(np.float32)


POOL_BATCHES = 16  # length_sorted_order sorts each run of this many batches by length


def length_sorted_order(order: np.ndarray, lengths: np.ndarray, batch_size: int,
                        rng: np.random.Generator) -> np.ndarray:
    """The epoch's shuffled record order regrouped so that each batch holds records of similar length: every run
    of POOL_BATCHES batches is sorted by recorded window length and cut into batches, and the full batches are
    shuffled (the one short batch, if any, stays last so CachedRecords.batches cuts the same batches).

    Why: CRNN crops a batch after its longest window (networks.crop_to_recorded); a random batch of 32 nearly
    always holds one 20-s window, so without grouping a CPSC-like set (most records 10-20 s) pays for padding
    on a third of its samples. Sorting only within a pool of 512 records keeps the batches' labels mixed."""
    window = np.minimum(np.asarray(lengths)[order], preprocess.LENGTH)
    pool = batch_size * POOL_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        part = order[start:start + pool][np.argsort(-window[start:start + pool], kind="stable")]
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    full = [b for b in batches if len(b) == batch_size]
    short = [b for b in batches if len(b) < batch_size]
    return np.concatenate([full[i] for i in rng.permutation(len(full))] + short) if batches else order


def soft_targets(labels: torch.Tensor) -> torch.Tensor:
    """A record with k labels is 1/k of each: the target of categorical cross-entropy (and of the scoring)."""
    return labels / labels.sum(dim=1, keepdim=True).clamp(min=1)


def categorical_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-record categorical cross-entropy against the soft targets."""
    return -(soft_targets(labels) * F.log_softmax(logits.float(), dim=1)).sum(dim=1)


def binary_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-record binary cross-entropy of independent sigmoids, averaged over the classes: each label is its own
    yes/no, so a record with four labels is not a quarter of each (the softmax target's assumption)."""
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none").mean(dim=1)


_CRITERIA = {"softmax": categorical_cross_entropy, "bce": binary_cross_entropy}  # class_sets.LOSSES


def validation_loss(labels: np.ndarray, probabilities: np.ndarray, loss: str) -> float:
    """Mean of the training loss's per-record value on combined record probabilities (fold selection)."""
    if loss == "bce":
        p = np.clip(probabilities, 1e-7, 1 - 1e-7)
        return float(-(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean(axis=1).mean())
    targets = soft_targets(torch.from_numpy(labels)).numpy()
    return float(-(targets * np.log(np.clip(probabilities, 1e-7, None))).sum(axis=1).mean())


def train(train_dir: str | Path, model_dir: str | Path, options: TrainOptions) -> CVReport | None:
    """Train all folds, tune thresholds and write MODEL_DIR; returns the CV report on rank 0 (None elsewhere)."""
    train_dir, model_dir = Path(train_dir).resolve(), Path(model_dir).resolve()
    if model_dir == train_dir or train_dir in model_dir.parents:
        raise TrainingError(f"{model_dir}: MODEL_DIR must be outside TRAIN_DIR (training never writes into the data)")
    if not train_dir.is_dir():
        raise TrainingError(f"{train_dir}: training directory not found")
    for folder in (model_dir, options.cache_dir):
        if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
            raise TrainingError(f"{folder}: exists and is not a folder")
    check_options(options)
    options = with_defaults(options)
    world = distributed.World.start()
    try:
        # Rank 0 speaks for the job; the other ranks would repeat its lines, so they show errors only.
        with contextlib.nullcontext() if world.rank == 0 else log.errors_only():
            return _train(train_dir, model_dir, options, world)
    finally:
        world.stop()


def _train(train_dir: Path, model_dir: Path, options: TrainOptions, world: distributed.World) -> CVReport | None:
    device = pick_device()
    torch.set_num_threads(options.threads or max(1, cpu_cores() // world.local_size))
    logger.debug(f"rank {world.rank} of {world.size}: {device}, {torch.get_num_threads()} threads; {options}")
    cache_dir = Path(options.cache_dir) if options.cache_dir else model_dir / "cache"

    # One process per machine parses the records and checks there are enough; the others wait, then open the same
    # cache. Only then is anything written to MODEL_DIR.
    class_set = class_sets.get(options.classes)
    if world.local_rank == 0:
        cache_path = _usable_cache(train_dir, cache_dir, class_set, options)
    world.barrier()
    if world.local_rank != 0:
        cache_path = build_cache(train_dir, cache_dir, class_set=class_set)
    data = CachedRecords.open(cache_path)
    model_dir.mkdir(parents=True, exist_ok=True)

    folds = stratified_folds(data.labels, options.folds, options.seed)
    # The precision "auto" resolved to joins the fingerprint: a run resumed where it resolves otherwise retrains.
    options = replace(options, precision=training_precision(options.precision, device))
    fingerprint = model_files.fingerprint(cache_path.name, asdict(options))
    if world.rank == 0 and model_files.begin(model_dir, fingerprint):
        logger.info(f"{model_dir} holds a model of another training run: its config.json is removed, and the "
                    "model is incomplete until this run finishes")
    results: dict[int, FoldResult] = {}
    for fold in range(world.rank, options.folds, world.size):
        loaded = model_files.load_fold(model_dir, fold, fingerprint, [data.names[i] for i in folds[fold]])
        if loaded is None:
            logger.debug(f"fold {fold + 1}: no finished checkpoint of this run in {model_dir}; training it")
            results[fold] = train_fold(data, folds, fold=fold, options=options, device=device, model_dir=model_dir,
                                       fingerprint=fingerprint)
        else:
            results[fold] = loaded
            logger.info(f"fold {fold + 1}/{options.folds}: finished earlier, loaded from {model_dir}")
    gathered = world.gather(results)
    if world.rank != 0:
        return None
    merged = {fold: result for part in gathered for fold, result in part.items()}
    return _finish(model_dir, data, folds, merged, options, fingerprint)


def _usable_cache(train_dir: Path, cache_dir: Path, class_set: class_sets.ClassSet, options: TrainOptions) -> Path:
    """The cache of TRAIN_DIR's records in cache_dir, once they are known to be enough to train on (_check_enough).
    A new cache is built in a temporary folder inside cache_dir's nearest existing folder (the same filesystem, so
    the move is a rename) and moved in only then: data that cannot be trained on leave MODEL_DIR as it was."""
    records = training_records(train_dir)
    if not any(base.with_name(f"{base.name}.hea").is_file() and base.with_name(f"{base.name}.mat").is_file()
               for base in records.values()):
        raise TrainingError(f"{train_dir}: no record found: no NAME.hea with its NAME.mat, sub-folders included")
    final = cache_file(train_dir, cache_dir, records, class_set)
    if final.exists():
        _check_enough(CachedRecords.open(build_cache(train_dir, cache_dir, class_set=class_set)), options, train_dir)
        return final
    existing = next(folder for folder in (cache_dir, *cache_dir.parents) if folder.is_dir())
    with tempfile.TemporaryDirectory(prefix=".cache-", dir=existing) as staging:
        _check_enough(CachedRecords.open(build_cache(train_dir, staging, class_set=class_set)), options, train_dir)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(cache_file(train_dir, staging, records, class_set), final)
    return final


def _check_enough(data: CachedRecords, options: TrainOptions, train_dir: Path) -> None:
    n = len(data.names)
    if n < 2 * options.folds:
        raise TrainingError(f"{train_dir}: only {n} usable labelled records; need at least {2 * options.folds} "
                            f"for {options.folds}-fold cross-validation")
    counts = data.labels.sum(axis=0).astype(int)
    for cls, count in zip(data.class_set.classes, counts):
        if count < options.folds:
            logger.warning(f"warning: class {cls} has {count} record(s), fewer than the {options.folds} folds; "
                           "some folds will not validate it")


def train_fold(data: CachedRecords, folds: Sequence[np.ndarray], *, fold: int, options: TrainOptions,
               device: torch.device | None = None, model_dir: Path | None = None,
               fingerprint: str | None = None) -> FoldResult:
    """Train fold `fold` (validated on folds[fold], trained on the others) for up to options.epochs (fewer when
    validation stops improving for options.patience epochs) and return the epoch with the lowest validation
    cross-entropy: history, weights, out-of-fold probabilities (the benchmarks call it too).

    With model_dir (and the run's fingerprint, which a resumed run must match), the fold is checkpointed there
    as fold_K.pt + fold_K.json; without, nothing is written. device defaults to inference.pick_device().
    """
    if (model_dir is None) != (fingerprint is None):
        raise ValueError("train_fold: model_dir and fingerprint go together (a checkpoint belongs to one run)")
    options = with_defaults(options)
    device = device or pick_device()
    bf16 = training_precision(options.precision, device) == "bf16"
    val = folds[fold]
    train_idx = np.sort(np.concatenate([f for k, f in enumerate(folds) if k != fold]))
    torch.manual_seed(options.seed * 1000 + fold)
    rng = np.random.default_rng([options.seed, fold])
    if data.class_set.name != options.classes:
        raise ValueError(f"train_fold: the cache is labelled for {data.class_set.name}, the options ask for "
                         f"{options.classes}")
    model = build_model(options.arch, len(data.class_set.classes)).to(device)
    criterion = _CRITERIA[options.loss]
    optimizer = torch.optim.Adam(model.parameters(), lr=options.learning_rate)
    steps = options.epochs * -(-len(train_idx) // options.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=options.learning_rate, total_steps=steps,
                                                    pct_start=0.2) if options.lr_schedule == "onecycle" else None
    weights = np.ones(len(data.names), dtype=np.float32)
    if options.class_weights:
        weights[train_idx] = record_weights(data.labels[train_idx])
    pin = device.type == "cuda"
    history, best = [], None
    for epoch in range(options.epochs):
        start = time.perf_counter()
        model.train()
        total = torch.zeros((), device=device)
        order = rng.permutation(train_idx)
        if isinstance(model, CRNN):  # it crops each batch after its longest window; the paper's network reads all
            order = length_sorted_order(order, data.lengths, options.batch_size, rng)
        bar = tqdm(total=len(order), desc=f"fold {fold + 1}/{options.folds} epoch {epoch + 1}/{options.epochs}",
                   unit="rec", leave=False, disable=not log.progress_bars(), file=sys.stderr)
        for chunk, x, y in data.batches(order, options.batch_size, pin_memory=pin, rng=rng,
                                        augment=augment if options.augment else None):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.no_grad():  # the views depend on the (augmented) window only, not on the weights
                views = views_for([model], x)
            loss = criterion(training_logits(model, x, views, bf16), y)
            optimizer.zero_grad(set_to_none=True)
            (loss * torch.from_numpy(weights[chunk]).to(device)).mean().backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.detach().sum()
            bar.update(len(y))
        bar.close()
        validation = _validate(model, data, val, options.batch_size, device, loss=options.loss)
        val_loss = validation.loss
        entry = {"epoch": epoch + 1, "train_loss": total.item() / len(order), "val_cross_entropy": val_loss,
                 "learning_rate": optimizer.param_groups[0]["lr"], "seconds": round(time.perf_counter() - start, 2)}
        history.append(entry)
        improved = best is None or _better(val_loss, best["val_cross_entropy"])
        if improved:
            best = {**entry, "state_dict": copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()}),
                    "validation": validation}
        logger.info(f"fold {fold + 1}/{options.folds} epoch {epoch + 1}/{options.epochs}: "
                    f"train loss {entry['train_loss']:.4f}, val cross-entropy {val_loss:.4f}, "
                    f"{entry['seconds']:.1f} s{' (best)' if improved else ''}")
        if options.patience and epoch + 1 - best["epoch"] >= options.patience and epoch + 1 < options.epochs:
            logger.info(f"fold {fold + 1}/{options.folds}: no better validation loss for {options.patience} "
                        f"epochs; stopping early")
            break
    if math.isnan(best["val_cross_entropy"]):
        where = f"{model_dir}: " if model_dir is not None else ""
        raise TrainingError(f"{where}fold {fold + 1}: validation cross-entropy is NaN in every epoch (training "
                            "diverged); try a lower --learning-rate")
    blend, validation = 0.0, best["validation"]
    if isinstance(model, CRNN):
        model.load_state_dict(best["state_dict"])
        blend, validation = _blend_measurements(model, data, train_idx, val, weights[train_idx], validation,
                                                options, device)
        best["state_dict"] = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
        logger.info(f"fold {fold + 1}/{options.folds}: measurement read blended in at {blend:g}, val cross-entropy "
                    f"{best['val_cross_entropy']:.4f} -> {validation.loss:.4f}")
    # The fold's loss is that of the probabilities it saves (the read blended in), not the network's alone.
    result = FoldResult(fold=fold, fingerprint=fingerprint, best_epoch=best["epoch"],
                        best_val_cross_entropy=validation.loss, history=history, measurement_blend=blend,
                        records=[data.names[i] for i in val], probabilities=validation.probabilities.combined,
                        window_means=validation.probabilities.means, state_dict=best["state_dict"])
    return model_files.save_fold(model_dir, result) if model_dir is not None else result


def _better(loss: float, best: float) -> bool:
    """Lower is better and NaN is worst: a NaN first epoch must not be unbeatable (every `<` with NaN is False)."""
    return not math.isnan(loss) and (math.isnan(best) or loss < best)


BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)  # the measurement read's weights tried in the logits


@dataclass
class _Validation:
    """A validation pass: the out-of-fold record probabilities and their loss, and what the measurement read's
    weight is chosen from without another pass (the blend is a sum of logits): every window's network logits
    (without the read) and measurement vector, record k's windows being rows bounds[k]:bounds[k + 1]."""

    probabilities: RecordProbabilities
    loss: float
    network: torch.Tensor | None = None
    measurements: torch.Tensor | None = None
    bounds: np.ndarray | None = None


def _blend_measurements(model: CRNN, data: CachedRecords, train_idx: np.ndarray, val: np.ndarray,
                        weights: np.ndarray, validation: _Validation, options: TrainOptions,
                        device: torch.device) -> tuple[float, _Validation]:
    """Fit the network's measurement read (model.CRNN.fit_measurement_read) on the training records' first
    windows (one pass of the beat views alone, no network) and set its weight in the logits to the one of BLENDS
    with the lowest validation loss, as the epoch is chosen; ties keep the smaller weight. The weights are tried
    on the best epoch's stored validation logits. Returns the weight and the validation with it."""
    measurements, labels = [], []
    with torch.no_grad():
        for _, x, y in data.batches(train_idx, options.batch_size):
            measurements.append(measurement_vector(beats.beat_views(x.to(device))))
            labels.append(y.to(device))
    model.fit_measurement_read(torch.cat(measurements), torch.cat(labels), torch.from_numpy(weights).to(device),
                               _CRITERIA[options.loss])
    with torch.no_grad():
        read = model.read(validation.measurements)
    best = None
    for blend in BLENDS:
        model.blend.fill_(blend)
        probabilities, loss = _score(validation.network + model.blend * read, validation.bounds, data, val,
                                     options.loss)
        if best is None or _better(loss, best[1].loss):
            best = (blend, replace(validation, probabilities=probabilities, loss=loss))
    model.blend.fill_(best[0])
    return best


def _score(logits: torch.Tensor, bounds: np.ndarray, data: CachedRecords, val: np.ndarray,
           loss: str) -> tuple[RecordProbabilities, float]:
    """Record probabilities from every window's logits, combined as the driver combines them, and their loss."""
    probabilities = RecordProbabilities.of_windows(activation(logits, loss).cpu().numpy(), bounds, data.class_set)
    return probabilities, validation_loss(data.labels[val], probabilities.combined, loss)


def _validate(model: torch.nn.Module, data: CachedRecords, val: np.ndarray, batch_size: int,
              device: torch.device, loss: str = "softmax") -> _Validation:
    """Out-of-fold probabilities of whole records, every window scored and combined as the driver does
    (inference.predict_records's windows, views and combination), and their mean loss (validation_loss); for a
    network with a measurement read, also what _blend_measurements needs."""
    if not isinstance(model, CRNN):
        probabilities = predict_records([model], [signal for _, signal in data.signals(val)], device, batch_size,
                                        data.class_set, loss)
        return _Validation(probabilities, validation_loss(data.labels[val], probabilities.combined, loss))
    model.eval()
    signals = [signal for _, signal in data.signals(val)]
    stacked, bounds = record_windows(signals)
    batches, restore = length_batches(window_lengths(signals), batch_size)
    network, measurements = [], []
    with torch.inference_mode():
        for index in batches:
            views = beats.beat_views(torch.from_numpy(stacked[index]).to(device))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                network.append(model.network(views).float())
            measurements.append(measurement_vector(views))
        restore = torch.from_numpy(restore).to(device)
        network, measurements = torch.cat(network)[restore], torch.cat(measurements)[restore]
        probabilities, mean_loss = _score(network + model.blend * model.read(measurements), bounds, data, val, loss)
    return _Validation(probabilities, mean_loss, network, measurements, bounds)


def _finish(model_dir: Path, data: CachedRecords, folds: list[np.ndarray], results: dict[int, FoldResult],
            options: TrainOptions, fingerprint: str) -> CVReport:
    """Tune thresholds on the out-of-fold probabilities and write the remaining artefacts; config.json last."""
    class_set = data.class_set
    oof = np.zeros((len(data.names), len(class_set.classes)))
    oof_means = np.zeros_like(oof)  # the fallback of the at-least-one-label rule, as the driver reads it
    fold_of = np.zeros(len(data.names), dtype=int)
    for fold, val in enumerate(folds):
        oof[val] = results[fold].probabilities
        oof_means[val] = results[fold].window_means
        fold_of[val] = fold
        model_files.ensure_fold(model_dir, results[fold])  # folds trained by other ranks, maybe on other machines
    labels = data.labels.astype(bool)
    thresholds, _ = tune_thresholds(labels, oof, seed=options.seed, objective=class_set.objective,
                                    classes=list(class_set.classes), fallback=oof_means)
    cv_report.write_oof(model_dir / "oof.csv", data.names, fold_of, labels, oof, class_set.classes)
    cv = cv_report.cv_report(labels, oof, thresholds, [results[f].summary() for f in range(len(folds))],
                             class_set.classes, class_set.objective, fallback=oof_means)
    cv_report.write_reports(model_dir, cv)
    model_files.write_model(model_dir, arch=options.arch, folds=len(folds), run_fingerprint=fingerprint,
                            thresholds=thresholds, training=asdict(options),
                            records=len(data.names), class_set=class_set.name, loss=options.loss)
    return cv
