"""Benchmarks: python -m tools.bench [--quick] [--output docs/benchmark.md]

In one process: the default `crnn` against the published `paper` network (training records/s, inference
ms/record, parameters, FLOPs, and F2/G2 after the same epochs on the same generated data); peak memory and time
of train_model.py on 1x and 8x the records; driver.py speed with a 10-fold ensemble, file reading included.
It writes a Markdown table stating the machine. `--quick` is the smoke version CI runs (tiny sizes; its numbers
mean nothing).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from simulators import synth
from team_code import log
from team_code.data import preprocess
from team_code.data.cache import CachedRecords, build_cache
from team_code.data.folds import stratified_folds
from team_code.inference.ensemble import pick_device, predict_probabilities, predict_records
from team_code.io.atomic import write_text
from team_code.io.records import write_record
from team_code.labels import CLASS_TO_SNOMED, CLASSES
from team_code.nn.networks import ARCHITECTURES, build_model, for_inference
from team_code.scoring.f2g2 import fbeta_gbeta
from team_code.training.thresholds import tune_thresholds
from team_code.training.train import (
    TrainOptions,
    categorical_cross_entropy,
    train_fold,
    training_logits,
    training_precision,
)

ROOT = Path(__file__).resolve().parents[1]


def count_flops(model: nn.Module) -> int:
    """Forward FLOPs for one record: torch's counter for convolutions and dense layers, plus the LSTM's
    matrix products (2 x 4 gates x hidden x (input + hidden) per step), which the counter does not see."""
    steps: list[int] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: steps.append(
        2 * 4 * mod.hidden_size * (mod.input_size + mod.hidden_size) * inp[0].shape[1]))
        for m in model.modules() if isinstance(m, nn.LSTM)]
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model.eval()(torch.zeros(1, 12, preprocess.LENGTH))
    for hook in hooks:
        hook.remove()
    return int(counter.get_total_flops() + sum(steps))


def speed(arch: str, batch: int, steps: int, device: torch.device, precision: str = "auto") -> tuple[float, float]:
    """(training records/s, inference ms/record) on random input, after one warm-up step; the training step in the
    precision train_model.py would take (training_precision), inference as the driver runs it
    (networks.for_inference, the beat views included, fp32 on CPU)."""
    bf16 = training_precision(precision, device) == "bf16"
    model = build_model(arch).to(device)
    optimizer = torch.optim.Adam(model.parameters())
    x = torch.randn(batch, 12, preprocess.LENGTH, device=device)
    y = torch.nn.functional.one_hot(torch.arange(batch, device=device) % len(CLASSES), len(CLASSES)).float()
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        model.train()
        loss = categorical_cross_entropy(training_logits(model, x, None, bf16), y).mean()  # crnn: views inside
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        _sync(device)
        times.append(time.perf_counter() - start)
    train_rate = batch * steps / sum(times[1:])
    model = for_inference(model)  # as Ensemble.load hands it to the driver
    predict_probabilities([model], x[:batch], device)
    start = time.perf_counter()
    for _ in range(steps):
        predict_probabilities([model], x, device)
    _sync(device)
    return train_rate, 1000 * (time.perf_counter() - start) / (batch * steps)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def scores_after_same_epochs(work: Path, train_n: int, test_n: int, epochs: int,
                             seeds: int) -> dict[str, list[tuple[float, float, float]]]:
    """Per architecture and seed, (F2, G2, training seconds): each network trained on the same 4/5 of a generated
    set for the same epochs (selected by validation cross-entropy, thresholds tuned on the held-out fifth), then
    scored on a separate generated test set. At benchmark sizes one run's score moves by ~0.05 with the seed
    alone, so the comparison is made over several seeds."""
    synth.generate_dataset(work / "train", train_n, seed=101, max_seconds=30)
    synth.generate_dataset(work / "test", test_n, seed=202, max_seconds=30)
    train = CachedRecords.open(build_cache(work / "train", work / "cache"))
    test = CachedRecords.open(build_cache(work / "test", work / "cache"))
    folds = stratified_folds(train.labels, 5, seed=0)
    device = pick_device()
    out: dict[str, list[tuple[float, float, float]]] = {arch: [] for arch in ARCHITECTURES}
    for seed in range(seeds):
        for arch in ARCHITECTURES:
            options = TrainOptions(folds=5, epochs=epochs, arch=arch, seed=seed)
            start = time.perf_counter()
            result = train_fold(train, folds, fold=0, options=options, device=device)
            seconds = time.perf_counter() - start
            thresholds, _ = tune_thresholds(train.labels[folds[0]].astype(bool), result.probabilities,
                                            fallback=result.window_means)
            model = build_model(arch)
            model.load_state_dict(result.state_dict)
            model.to(device)
            probs = predict_records([model], [s for _, s in test.signals(np.arange(len(test.names)))], device)
            f2, g2 = fbeta_gbeta(test.labels.astype(bool), probs.labels(thresholds))
            out[arch].append((f2, g2, seconds))
            print(f"scores: {arch} seed {seed}: F2 {f2:.3f}, G2 {g2:.3f}, {seconds:.0f} s", flush=True)
    return out


def _runs(seeds: int) -> str:
    return f"mean ± sd of {seeds} seeds" if seeds > 1 else "1 seed"


def _mean_sd(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def train_scaling(work: Path, n: int, factor: int) -> list[tuple[int, float, float]]:
    """(records, peak RSS MiB, seconds) of `train_model.py --folds 2 --epochs 1` on n and factor*n records."""
    synth.generate_dataset(work / "scale", n * factor, seed=303, max_seconds=30)
    rows = []
    for size in (n, n * factor):
        data = work / f"scale_{size}"
        data.mkdir()
        for name in sorted(p.stem for p in (work / "scale").glob("*.hea"))[:size]:
            for suffix in (".hea", ".mat"):
                os.link(work / "scale" / f"{name}{suffix}", data / f"{name}{suffix}")
        rss, seconds = _measure([sys.executable, "train_model.py", str(data), str(work / f"model_{size}"),
                                 "--folds", "2", "--epochs", "1", "--quiet"])
        rows.append((size, rss, seconds))
    return rows


def driver_speed(work: Path, train_n: int, test_n: int) -> tuple[float, float, float]:
    """(ms/record for the whole driver run, reading included; model load seconds; peak RSS MiB) with 10 folds."""
    synth.generate_dataset(work / "ens_train", train_n, seed=404, max_seconds=20)
    synth.generate_dataset(work / "ens_test", test_n, seed=505)
    model = work / "ensemble"
    subprocess.run([sys.executable, "train_model.py", str(work / "ens_train"), str(model), "--folds", "10",
                    "--epochs", "1", "--quiet"], cwd=ROOT, check=True, capture_output=True)
    start = time.perf_counter()
    load = "import sys; from team_code.inference.ensemble import Ensemble; Ensemble.load(sys.argv[1])"
    subprocess.run([sys.executable, "-c", load, str(model)], cwd=ROOT, check=True)
    load_seconds = time.perf_counter() - start
    rss, seconds = _measure([sys.executable, "driver.py", str(model), str(work / "ens_test"), str(work / "ens_out"),
                             "--quiet"])
    return 1000 * seconds / test_n, load_seconds, rss


def cpsc_sized(work: Path, epochs: int) -> str:
    """A CPSC 2018-sized run: 6,877 generated records (6-60 s), train_model.py with 10 folds x `epochs`."""
    start = time.perf_counter()
    synth.generate_dataset(work / "cpsc", 6877, seed=2018)
    generated = time.perf_counter() - start
    model = work / "cpsc_model"
    rss, seconds = _measure([sys.executable, "train_model.py", str(work / "cpsc"), str(model), "--folds", "10",
                             "--epochs", str(epochs), "--quiet"])
    report = json.loads((model / "cv_report.json").read_text())
    epoch_seconds = [h["seconds"] for fold in report["folds"] for h in fold["history"]]
    rest = seconds - sum(epoch_seconds)
    return (f"CPSC-sized run (6,877 generated records of 6-60 s, generated in {generated:.0f} s): "
            f"`train_model.py --folds 10 --epochs {epochs}` took {seconds / 60:.1f} min with peak RSS {rss:.0f} MiB; "
            f"an epoch (6,190 records trained, 687 validated) took {np.mean(epoch_seconds):.1f} s on average, "
            f"and everything else (start-up, caching, threshold tuning, reports) {rest:.0f} s."
            + ("" if epochs == 10 else f" At that rate 10 folds x 10 epochs take "
               f"{(rest + 100 * np.mean(epoch_seconds)) / 60:.0f} min (an extrapolation from the "
               f"{len(epoch_seconds)} measured epochs)."))


def _measure(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of a child process.

    The peak is the child's own VmHWM, polled from /proc: rusage's ru_maxrss would report this (large) benchmark
    process's peak instead, because Linux carries ru_maxrss across fork and exec."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr.append(process.stderr.read()), daemon=True)
    reader.start()
    peak_kib = 0
    while process.poll() is None:
        try:
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kib = max(peak_kib, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    reader.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{b''.join(stderr).decode()}")
    return peak_kib / 1024, seconds


def _top_operators(prof: torch.profiler.profile, rows: int) -> list[str]:
    """torch.profiler's top operators by own CPU time, as Markdown rows."""
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1
    return ["| operator | own CPU ms | share | calls |", "|---|---|---|---|"] + [
        f"| `{e.key}` | {e.self_cpu_time_total / 1000:.1f} | {100 * e.self_cpu_time_total / total:.1f} % | {e.count} |"
        for e in events[:rows]]


def _stage_times(prof: torch.profiler.profile, stages: list[str]) -> list[str]:
    """The wall time of each labelled stage (torch.profiler.record_function), as Markdown rows."""
    by_name = {e.key: e for e in prof.key_averages()}
    return [f"| {stage} | {by_name[stage].cpu_time_total / 1000 / by_name[stage].count:.1f} ms |"
            for stage in stages if stage in by_name]


def profile(work: Path, quick: bool) -> str:
    """Where a training step and a 10-fold driver record spend their time (torch.profiler), on generated
    records: a training step of 32 augmented 20-s windows, and the driver's work for records of 10-60 s
    (reading, preprocessing, beat views once, ten fold networks)."""
    from torch.profiler import ProfilerActivity, record_function

    from team_code.data.augment import augment
    from team_code.inference.ensemble import (
        activation,
        combine_records,
        length_batches,
        record_windows,
        window_lengths,
        window_logits,
    )
    from team_code.inference.label_folder import _prepare
    from team_code.io.records import record_names
    from team_code.nn.beats import beat_views

    batch, records, folds = (4, 4, 2) if quick else (32, 40, 10)
    synth.generate_dataset(work / "train", batch, seed=606, max_seconds=20)
    synth.generate_dataset(work / "test", records, seed=707, min_seconds=10, max_seconds=60)
    train_names = record_names(work / "train")
    signals = [_prepare(work / "train", name) for name in train_names]
    x = np.stack([preprocess.window(s) for s in signals])
    lengths = np.array([min(s.shape[1], preprocess.LENGTH) for s in signals])
    y = torch.nn.functional.one_hot(torch.arange(batch) % len(CLASSES), len(CLASSES)).float()
    model = build_model("crnn")
    optimizer = torch.optim.Adam(model.parameters())
    rng = np.random.default_rng(0)
    bf16 = training_precision("auto", torch.device("cpu")) == "bf16"  # as train_model.py would take it here

    def train_step() -> None:
        with record_function("augment (numpy, reader thread)"):
            window = x.copy()
            augment(window, lengths, rng)
            window = torch.from_numpy(window)
        with record_function("beat views"), torch.no_grad():
            views = beat_views(window)
        with record_function("network forward"):
            logits = training_logits(model, window, views, bf16)
        loss = categorical_cross_entropy(logits, y).mean()
        with record_function("backward"):
            optimizer.zero_grad()
            loss.backward()
        with record_function("optimizer step"):
            optimizer.step()

    model.train()
    train_step()
    steps = 1 if quick else 5
    with torch.profiler.profile(activities=[ProfilerActivity.CPU]) as train_prof:
        for _ in range(steps):
            train_step()
    ensemble = [for_inference(build_model("crnn")) for _ in range(folds)]  # as Ensemble.load prepares them
    names = record_names(work / "test")

    def label_all() -> None:
        with record_function("read and preprocess"):
            prepared = [_prepare(work / "test", name) for name in names]
        stacked, bounds = record_windows(prepared)
        batches, restore = length_batches(window_lengths(prepared), 32)  # as predict_records batches them
        parts = []
        with torch.inference_mode():
            for index in batches:
                window = torch.from_numpy(stacked[index])
                with record_function("beat views"):
                    views = beat_views(window)
                with record_function(f"{folds} fold networks"):
                    parts.append(sum(activation(window_logits(m, window, views)) for m in ensemble) / folds)
        combine_records(torch.cat(parts).numpy()[restore], bounds)

    label_all()
    start = time.perf_counter()
    with torch.profiler.profile(activities=[ProfilerActivity.CPU]) as driver_prof:
        label_all()
    seconds = time.perf_counter() - start
    windows = len(record_windows([_prepare(work / "test", name) for name in names])[0])
    stages = ["augment (numpy, reader thread)", "beat views", "network forward", "backward", "optimizer step"]
    return "\n".join([
        f"## A training step: {batch} augmented 20-s windows, crnn (mean of {steps} steps)", "",
        "| stage | wall per step |", "|---|---|", *_stage_times(train_prof, stages), "",
        *_top_operators(train_prof, 12), "",
        f"## The driver: {records} generated records of 10-60 s ({windows} windows), a {folds}-fold crnn ensemble",
        "", f"{1000 * seconds / records:.1f} ms per record under the profiler (reading and preprocessing included, "
        "start-up and writing outputs not).", "",
        "| stage | wall per call |", "|---|---|",
        *_stage_times(driver_prof, ["read and preprocess", "beat views", f"{folds} fold networks"]), "",
        *_top_operators(driver_prof, 12), ""])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return (f"{cpu}, {os.cpu_count()} cores{gpu}; Python {platform.python_version()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads")


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10)
    return result.stdout.strip()


def commit() -> str:
    """The checkout's commit, so a benchmark file says which code it measured (marked when tracked files differ)."""
    try:
        head, changed = _git("rev-parse", "--short", "HEAD"), _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes" if changed else "")


# The sources of the PhysioNet/CinC 2020 training release (Perez Alday et al. 2020, Table 1): records, sampling
# rate, and the durations drawn for generated stand-ins (CPSC's 6-60 s as synth.sample_seconds draws them; PTB's
# 38-120 s uniform; INCART 30 min; PTB-XL and Georgia 10 s), with how many stand-ins the measurement generates.
RELEASE_SOURCES: dict[str, tuple[int, int, tuple[float, float] | None, int]] = {
    "CPSC": (6877 + 3453, 500, None, 40),  # CPSC 2018 and its extra set
    "INCART": (74, 257, (1800.0, 1800.0), 3),
    "PTB": (516, 1000, (38.0, 120.0), 6),
    "PTBXL": (21837, 500, (10.0, 10.0), 40),
    "Georgia": (10344, 500, (10.0, 10.0), 40),
}


def _release_sample(directory: Path, source: str, count: int, seed: int) -> None:
    """`count` generated records of one source, SNOMED-labelled as the release is, in directory/source/."""
    _, fs, seconds, _ = RELEASE_SOURCES[source]
    out = directory / source
    out.mkdir(parents=True)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        labels = synth.sample_labels(rng)
        length = synth.sample_seconds(rng) if seconds is None else float(rng.uniform(*seconds))
        signal, meta = synth.generate_record(rng, labels, length, fs=fs)
        write_record(out, f"{out.name}{i:04d}", signal, fs=fs, age=meta["age"], sex=meta["sex"],
                     labels=[CLASS_TO_SNOMED[c] for c in labels])


def release_cost(work: Path, quick: bool) -> str:
    """Caching cost of the release's mix: each source's stand-ins cached alone by one worker (seconds and bytes
    per record), weighted by the source's share of the 43,101 records; then the whole sample, in one folder per
    source, by train_model.py's default workers in a child process (its wall time and peak RSS)."""
    total = sum(r[0] for r in RELEASE_SOURCES.values())
    rows, cost, size, windows = [], 0.0, 0.0, 0.0
    for k, (source, (records, fs, _, count)) in enumerate(RELEASE_SOURCES.items()):
        count = min(count, 2) if quick else count
        _release_sample(work / "sample", source, count, seed=k)
        start = time.perf_counter()
        path = build_cache(work / "sample" / source, work / "cache", workers=1)
        seconds = (time.perf_counter() - start) / count
        data = CachedRecords.open(path)
        bytes_per_record = path.stat().st_size / count
        per_record_windows = np.mean([len(preprocess.window_starts(n)) for n in data.lengths])
        share = records / total
        cost, size, windows = cost + share * seconds, size + share * bytes_per_record, windows + share * \
            per_record_windows
        rows.append(f"| {source} | {records:,} | {fs} Hz | {np.mean(data.lengths) / preprocess.FS:.0f} s "
                    f"| {count} | {1 / seconds:.1f} | {bytes_per_record / 2**20:.2f} MiB | {per_record_windows:.1f} |")
    rss, wall = _measure([sys.executable, "-c", "import sys; from team_code.data.cache import build_cache; "
                          "build_cache(sys.argv[1], sys.argv[2])", str(work / "sample"), str(work / "whole")])
    sampled = sum(min(r[3], 2) if quick else r[3] for r in RELEASE_SOURCES.values())
    return "\n".join([
        "| source | records in the release | rate | mean length | generated | records/s (1 worker) "
        "| cache per record | 20-s windows per record |", "|---|---|---|---|---|---|---|---|", *rows,
        f"| **per 10,000 records of the release's mix** | | | | | **{1 / cost:.1f}** "
        f"| **{10000 * size / 2**30:.1f} GiB** | **{10000 * windows:,.0f}** windows |", "",
        f"All {sampled} generated records (a folder per source; INCART over-represented) cached by train_model.py's "
        f"default workers (min(4, cores)) in a child process: {wall:.1f} s including starting Python and importing "
        f"torch, peak RSS {rss:.0f} MiB."])


def _quality(args: argparse.Namespace, candidates: dict | None = None) -> int:
    """Run tools.transfer's budgets, or its held-out mixture under `candidates` ({name: TrainOptions}), and
    write its report."""
    from tools import transfer

    seeds = args.seeds or (1 if args.quick else 3)
    command = "python -m tools.bench --quality" + ("" if args.quality == "both" else f" {args.quality}") + \
        (" --quick" if args.quick else "") + (f" --seeds {args.seeds}" if args.seeds else "") + \
        (f" --test-records {args.test_records}" if args.test_records else "") + \
        (f" --large-seed {args.large_seed}" if args.large_seed else "") + \
        "".join(f" --train {s}" for s in args.train or ()) + "".join(f" --set '{c}'" for c in args.set or ())
    print(f"Machine: {machine()}.", flush=True)
    test_n, train_n, epochs = (10, 40, 1) if args.quick else (args.test_records or 300, 400, 3)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.quality == "mixture":
            tests = transfer.mixture_test_sets(work, test_n)
            runs = transfer.mixture(work, tests, args.train or transfer.DEFAULT_TRAIN_SOURCES, candidates, seeds,
                                    epochs, train_n)
            table = f"Machine: {machine()}.\nCommand: `{command}`.\n\n" + \
                f"Commit: {commit()}.\n\n" + transfer.mixture_markdown(runs, train_n, epochs, test_n)
        else:
            sets = transfer.make_test_sets(work, test_n)
            perturbed = transfer.perturbed_test_sets(work, sets, test_n)
            small, models = transfer.small_budget(work, sets, seeds, epochs, train_n) \
                if args.quality in ("small", "both") else ([], [])
            small_robustness = transfer.robustness(perturbed, [m.classify for m in models]) if models else None
            large = transfer.large_budget(work, sets, *((40, 2, 1) if args.quick else (2000, 5, 10)), perturbed,
                                          args.large_seed) \
                if args.quality in ("large", "both") else None
            table = transfer.to_markdown(small, large, machine(), command, small_robustness, commit())
    print(table)
    if args.output:
        write_text(args.output, table)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure speed, memory and scores of the two architectures.")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (CI); numbers are not meaningful")
    parser.add_argument("--output", default=None, help="write the Markdown table here (default: print only)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs for the score comparison (default 3)")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds per network in the score comparison "
                        "(default 3; each paper run took ~6 min on 2 CPU cores)")
    parser.add_argument("--cpsc-epochs", type=int, default=None, metavar="E",
                        help="only run a CPSC-sized training (6,877 records, 10 folds x E epochs) and report it")
    parser.add_argument("--quality", choices=("small", "large", "both", "mixture"), nargs="?", const="both",
                        default=None,
                        help="only measure how scores carry to unseen sources (synth, altsim, real samples): "
                        "320 records x 3 epochs over --seeds seeds, and/or train_model.py on 2,000 records, "
                        "5 folds x 10 epochs (default both), each with its robustness table on perturbed copies of "
                        "the test sets; or `mixture`: the small budget trained on each --train source under each "
                        "--set candidate, scored on every held-out source (the worst flagged)")
    parser.add_argument("--test-records", type=int, default=None, metavar="N",
                        help="with --quality: records per generated test set (default 300); each perturbed copy and "
                        "mixture source has as many")
    parser.add_argument("--large-seed", type=int, default=0, metavar="S",
                        help="with --quality large or both: train_model.py's --seed for the large budget (default 0); "
                        "another seed trains on the same records, for the spread between training runs")
    parser.add_argument("--train", action="append", metavar="SOURCE",
                        help="with --quality mixture: a training source GENERATOR/SETTING, e.g. synth/clean or "
                        "altsim/fs_250 (repeatable; default synth/clean and synth/bandpass_0.5_40)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE[,KEY=VALUE]",
                        help="with --quality mixture: one candidate's TrainOptions overrides, e.g. augment=false "
                        "(repeatable, one candidate each; 'defaults' for the defaults; default: the defaults only)")
    parser.add_argument("--release", action="store_true",
                        help="only measure the cache's cost (records/s, disk) on generated records of the CinC 2020 "
                        "release's rate and length mix")
    parser.add_argument("--profile", action="store_true",
                        help="only print where a training step and a 10-fold driver record spend their time "
                        "(torch.profiler's top operators)")
    parser.add_argument("--verbose", action="store_true",
                        help="also the progress bars, per-epoch lines and debugging messages of the runs it times")
    args = parser.parse_args(argv)
    log.configure(quiet=not args.verbose, verbose=args.verbose)  # its own lines (stdout) are the progress
    if (args.train or args.set) and args.quality != "mixture":
        parser.error("--train and --set go with --quality mixture")
    if args.test_records is not None and (not args.quality or args.test_records < 1):
        parser.error("--test-records goes with --quality and must be at least 1")
    if args.large_seed and args.quality not in ("large", "both"):
        parser.error("--large-seed goes with --quality large or both")
    if args.quality == "mixture":
        from tools import transfer

        try:
            for source in args.train or ():
                transfer.split_source(source)
            candidates = {text or "defaults": transfer.parse_options(text) for text in args.set or [""]}
        except ValueError as error:
            parser.error(str(error))
        return _quality(args, candidates)
    if args.quality:
        return _quality(args)
    for flag, measure in (("release", release_cost), ("profile", profile)):
        if getattr(args, flag):
            if flag == "release":
                print(f"Machine: {machine()}.", flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                table = measure(Path(tmp), args.quick)
            command = f"python -m tools.bench --{flag}{' --quick' if args.quick else ''}"
            text = f"Machine: {machine()}.\nCommand: `{command}`.\nCommit: {commit()}.\n\n{table.rstrip()}\n"
            print(text)
            if args.output:
                write_text(args.output, text)
            return 0
    if args.cpsc_epochs:
        print(f"Machine: {machine()}.", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            line = cpsc_sized(Path(tmp), args.cpsc_epochs)
        print(line)
        if args.output:
            command = f"python -m tools.bench --cpsc-epochs {args.cpsc_epochs}"
            write_text(args.output, f"Machine: {machine()}.\nCommand: `{command}`.\nCommit: {commit()}.\n\n{line}\n")
        return 0
    quick = args.quick
    epochs = args.epochs or (1 if quick else 3)
    seeds = args.seeds or (1 if quick else 3)
    device = pick_device()
    lines = [f"Machine: {machine()}.", f"Command: `python -m tools.bench{' --quick' if quick else ''}"
             f"{f' --epochs {args.epochs}' if args.epochs else ''}"
             f"{f' --seeds {args.seeds}' if args.seeds else ''}`.", f"Commit: {commit()}.", ""]
    print(lines[0], flush=True)

    rows = {}
    for arch in ARCHITECTURES:
        model = build_model(arch)
        rate, ms = speed(arch, batch=4 if quick else 32, steps=1 if quick else (3 if arch == "paper" else 10),
                         device=device)
        rows[arch] = (sum(p.numel() for p in model.parameters()), count_flops(model), rate, ms)
        print(f"{arch}: {rate:.1f} train rec/s, {ms:.2f} ms/rec inference", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scores = scores_after_same_epochs(work / "scores", *((24, 10) if quick else (400, 300)), epochs, seeds)
        scaling = train_scaling(work / "scaling", 10 if quick else 100, 8)
        print(f"scaling: {scaling}", flush=True)
        ms_driver, load_seconds, driver_rss = driver_speed(work / "driver", *((30, 10) if quick else (100, 200)))

    crnn, paper = rows["crnn"], rows["paper"]
    lines += ["| | crnn (default) | paper | paper / crnn |", "|---|---|---|---|",
              f"| parameters | {crnn[0]:,} | {paper[0]:,} | {paper[0] / crnn[0]:.0f}x |",
              f"| forward FLOPs per record | {crnn[1] / 1e6:,.0f} M | {paper[1] / 1e6:,.0f} M "
              f"| {paper[1] / crnn[1]:.0f}x |",
              f"| training, records/s | {crnn[2]:.1f} | {paper[2]:.2f} | {crnn[2] / paper[2]:.0f}x faster |",
              f"| inference, ms/record | {crnn[3]:.2f} | {paper[3]:.1f} | {paper[3] / crnn[3]:.0f}x faster |",
              f"| F2 after {epochs} epoch(s), held-out test, {_runs(seeds)} "
              f"| {_mean_sd([r[0] for r in scores['crnn']])} "
              f"| {_mean_sd([r[0] for r in scores['paper']])} | |",
              f"| G2 after {epochs} epoch(s), held-out test, {_runs(seeds)} "
              f"| {_mean_sd([r[1] for r in scores['crnn']])} "
              f"| {_mean_sd([r[1] for r in scores['paper']])} | |",
              f"| seconds for that training (mean) | {np.mean([r[2] for r in scores['crnn']]):.0f} "
              f"| {np.mean([r[2] for r in scores['paper']]):.0f} | |", "",
              "F2 / G2 per seed: " + "; ".join(f"{arch} " + ", ".join(f"{f2:.3f} / {g2:.3f}"
                                                                      for f2, g2, _ in scores[arch])
                                               for arch in ARCHITECTURES) + ".", "",
              "| train_model.py --folds 2 --epochs 1 | records | peak RSS | wall time |", "|---|---|---|---|"]
    lines += [f"| {'1x' if i == 0 else '8x'} | {n} | {rss:.0f} MiB | {sec:.1f} s |"
              for i, (n, rss, sec) in enumerate(scaling)]
    lines += [f"| ratio 8x / 1x | | {scaling[1][1] / scaling[0][1]:.2f} | {scaling[1][2] / scaling[0][2]:.2f} |", "",
              f"driver.py with a 10-fold ensemble: {ms_driver:.1f} ms/record over the whole run (start-up, model "
              f"loading, reading and preprocessing files, writing outputs included); starting Python and loading "
              f"the 10 models alone takes {load_seconds:.1f} s; peak RSS {driver_rss:.0f} MiB."]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output:
        write_text(args.output, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
