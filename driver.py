#!/usr/bin/env python
"""Label test records: python driver.py MODEL_DIR TEST_DIR OUTPUT_DIR

Writes OUTPUT_DIR/NAME.csv (the Challenge's 4-line format) for every NAME.mat in TEST_DIR. Exits 1 if any
record could not be read (each named on stderr), 0 otherwise.
"""
from __future__ import annotations

import argparse
import sys

from team_code import cli, log
from team_code.inference.ensemble import Ensemble
from team_code.inference.label_folder import label_directory
from team_code.io.output_csv import OutputError
from team_code.io.records import RecordError
from team_code.training.model_dir import ModelError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Label 12-lead ECG records with a trained model.")
    parser.add_argument("model_dir", help="folder written by train_model.py")
    parser.add_argument("test_dir", help="folder of NAME.mat + NAME.hea records")
    parser.add_argument("output_dir", help="folder for the NAME.csv outputs (created)")
    parser.add_argument("--batch-size", type=cli.int_in_range(1), default=64,
                        help="records classified together (default 64); their windows go through the "
                             "network in batches of similar length")
    log.add_arguments(parser, quiet_help="no progress bar")
    args = parser.parse_args(argv)
    log.configure(quiet=args.quiet, verbose=args.verbose)
    try:
        ensemble = Ensemble.load(args.model_dir)
        done, failures = label_directory(ensemble, args.test_dir, args.output_dir, args.batch_size)
    except (ModelError, RecordError, OutputError) as error:  # one line naming the file and the reason
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"labelled {done} record(s); {len(failures)} could not be read", file=sys.stderr)
    for name, reason in failures:
        print(f"  failed: {name}: {reason}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
