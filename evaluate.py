#!/usr/bin/env python
"""Score Challenge outputs against labelled headers, as the official PhysioNet/CinC 2020 scripts do.

    python evaluate.py LABEL_DIR OUTPUT_DIR [SCORES_FILE] [--metric f2g2|challenge2020] [--per-class] [--strict]
                       [--report FILE.html]

f2g2: the nine CPSC 2018 classes, F2/G2 and the six scores of the Feb phase. challenge2020: the 24 scored classes
and the seven scores (Challenge metric last) of the final phase. Chosen from the data unless --metric says.
"""
from __future__ import annotations

import argparse
import sys

from team_code import log
from team_code.io.atomic import write_text
from team_code.scoring import challenge2020, f2g2, score_folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label_dir", help="directory of NAME.hea files whose #Dx lines hold the labels")
    parser.add_argument("output_dir", help="directory of NAME.csv output files, one per labelled record")
    parser.add_argument("scores_file", nargs="?", help="also write the two score lines to this file")
    parser.add_argument("--metric", choices=score_folders.METRICS,
                        help="f2g2 (CPSC 2018 classes, Feb phase) or challenge2020 (27 SNOMED CT codes, final phase); "
                             "default: challenge2020 when the labels and the output columns are SNOMED CT codes "
                             "including scored ones, f2g2 otherwise")
    parser.add_argument("--per-class", action="store_true",
                        help="add a table per class: precision, recall, F2, G2 (f2g2) or AUROC, AUPRC, F-measure "
                             "(challenge2020)")
    parser.add_argument("--strict", action="store_true",
                        help="a labelled record without an output file is an error, as in the official script "
                             "(default: scored as all-negative with probability 0 and named on stderr), and so is "
                             "an output file not in the format driver.py writes (default: read as the official "
                             "script reads it and named on stderr)")
    parser.add_argument("--report", metavar="FILE.html",
                        help="also write an HTML report: scores with bootstrap intervals, curves, miss heat map")
    log.add_arguments(parser)
    args = parser.parse_args(argv)
    log.configure(quiet=args.quiet, verbose=args.verbose)
    try:
        metric = args.metric or score_folders.choose_metric(args.label_dir, args.output_dir)
        if metric == "challenge2020":
            scores = score_folders.evaluate_challenge2020(args.label_dir, args.output_dir, strict=args.strict)
            text, table = challenge2020.format_scores(scores), challenge2020.format_per_class
        else:
            scores = score_folders.evaluate(args.label_dir, args.output_dir, strict=args.strict)
            text, table = f2g2.format_scores(scores), f2g2.format_per_class
        if args.scores_file:
            write_text(args.scores_file, text + "\n")
    except (ValueError, OSError) as error:  # RecordError, OutputError: one line naming the file
        print(f"evaluate.py: error: {error}", file=sys.stderr)
        return 1
    missing, names = scores["missing"], scores["names"]
    if 2 * len(missing) > len(names):  # a wrong or unfinished OUTPUT_DIR: the scores say little about the model
        print(f"warning: {len(missing)} of {len(names)} labelled records have no output file in {args.output_dir}; "
              "the scores below count them as all-negative")
    print(text)
    if args.per_class:
        print(table(scores))
    if args.report:
        from team_code.reporting import html_report  # matplotlib and scikit-learn load only when asked for

        try:
            html_report.write(args.report, html_report.from_scores(scores, f"Test report: {args.output_dir}"))
        except OSError as error:
            print(f"evaluate.py: error: {args.report}: cannot write the report ({error.strerror or error})",
                  file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
