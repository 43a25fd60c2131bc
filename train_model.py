#!/usr/bin/env python
"""Train the entry: python train_model.py TRAIN_DIR MODEL_DIR [--folds 10] [--epochs 10] [--arch crnn|paper] [--seed 0]
                   [--classes cpsc2018|cinc2020] [--loss softmax|bce]

Also runs under torchrun (folds shared across processes): torchrun --nproc_per_node N train_model.py ...
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from torch.distributed.elastic.multiprocessing.errors import record

from team_code import class_sets, cli, log
from team_code.data.cache import CacheError
from team_code.io.records import RecordError
from team_code.nn.networks import ARCHITECTURES
from team_code.training.train import INT_LIMITS, LR_SCHEDULES, PRECISIONS, TrainingError, TrainOptions, train

DEFAULTS = TrainOptions()  # the one place the defaults are set; the help texts show them


def whole(name: str):
    """The argparse type of a whole-number option: its range is train.INT_LIMITS's."""
    return cli.int_in_range(*INT_LIMITS[name])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the 12-lead ECG classifier with K-fold cross-validation.")
    parser.add_argument("train_dir", help="folder of NAME.hea + NAME.mat training records, sub-folders included "
                        "(never written to)")
    parser.add_argument("model_dir", help="folder to write the model into (created; rerun to resume)")
    parser.add_argument("--folds", type=whole("folds"), default=DEFAULTS.folds,
                        help=f"cross-validation folds (default {DEFAULTS.folds})")
    parser.add_argument("--epochs", type=whole("epochs"), default=DEFAULTS.epochs,
                        help=f"epochs per fold (default {DEFAULTS.epochs})")
    parser.add_argument("--arch", choices=list(ARCHITECTURES), default=DEFAULTS.arch,
                        help=f"network (default {DEFAULTS.arch})")
    parser.add_argument("--classes", choices=list(class_sets.CLASS_SETS), default=DEFAULTS.classes,
                        help="class set: the nine CPSC 2018 classes, or the 27 scored SNOMED CT classes of the "
                        f"CinC 2020 final phase (default {DEFAULTS.classes})")
    parser.add_argument("--loss", choices=list(class_sets.LOSSES), default=None,
                        help="softmax cross-entropy or independent sigmoids (bce) (default: "
                        + " / ".join(f"{s.loss} for {name}" for name, s in class_sets.CLASS_SETS.items()) + ")")
    parser.add_argument("--seed", type=whole("seed"), default=DEFAULTS.seed,
                        help=f"random seed, 0 to {INT_LIMITS['seed'][1]} (default {DEFAULTS.seed})")
    parser.add_argument("--batch-size", type=whole("batch_size"), default=DEFAULTS.batch_size,
                        help=f"records per training step (default {DEFAULTS.batch_size})")
    defaults = {name: " / ".join(f"{getattr(a, name)} for {arch}" for arch, a in ARCHITECTURES.items())
                for name in ("learning_rate", "augment", "class_weights", "lr_schedule", "patience")}
    parser.add_argument("--learning-rate", type=cli.positive_number, default=None,
                        help=f"Adam learning rate (default {defaults['learning_rate']})")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help=f"random gain, noise, baseline wander, shift, stretch, lead dropout while training "
                        f"(default {defaults['augment']})")
    parser.add_argument("--class-weights", action=argparse.BooleanOptionalAction, default=None,
                        help=f"weight each record's loss by its classes' rarity (default {defaults['class_weights']})")
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=None,
                        help=f"learning-rate schedule over a fold (default {defaults['lr_schedule']})")
    parser.add_argument("--patience", type=whole("patience"), default=None,
                        help=f"stop a fold after this many epochs without a better validation loss, 0 = never "
                        f"(default {defaults['patience']})")
    parser.add_argument("--threads", type=whole("threads"), default=DEFAULTS.threads,
                        help="torch threads per process (default: cores / processes)")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULTS.precision,
                        help="the training step's arithmetic: auto takes bf16 on CUDA and on CPUs with AMX, fp32 "
                        f"elsewhere (default {DEFAULTS.precision})")
    parser.add_argument("--cache-dir", default=DEFAULTS.cache_dir,
                        help="where to keep the preprocessed HDF5 cache (default MODEL_DIR/cache)")
    log.add_arguments(parser, quiet_help="no progress bars or per-epoch lines (skipped records, warnings still show)")
    parser.add_argument("--no-report", action="store_true",
                        help="skip cv_report.html (figures and bootstrap intervals)")
    args = parser.parse_args(argv)
    for folder, option in ((args.model_dir, "model_dir"), (args.cache_dir, "--cache-dir")):
        if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
            parser.error(f"{option} {folder}: exists and is not a folder")
    return args


@record
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log.configure(quiet=args.quiet, verbose=args.verbose)
    options = TrainOptions(folds=args.folds, epochs=args.epochs, arch=args.arch, seed=args.seed,
                           batch_size=args.batch_size, learning_rate=args.learning_rate, augment=args.augment,
                           class_weights=args.class_weights, lr_schedule=args.lr_schedule, patience=args.patience,
                           threads=args.threads, cache_dir=args.cache_dir, classes=args.classes, loss=args.loss,
                           precision=args.precision)
    try:
        report = train(args.train_dir, args.model_dir, options)
    except (TrainingError, CacheError, RecordError, OSError) as error:  # one line naming the file and the reason
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished folds are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    if report is not None:
        print(f"cross-validation on {report.records} records: {report.headline()} "
              f"(details in {args.model_dir}/cv_report.md)")
        if not args.no_report:
            # matplotlib, scikit-learn: only here
            from team_code.reporting.html_report import ReportError, write_cv_report

            try:
                print(f"figures: {write_cv_report(args.model_dir)}")
            except (ReportError, OSError) as error:
                print(f"error: {error} (the model is complete; rebuild the report with "
                      f"python -m team_code.reporting.html_report {args.model_dir})", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
