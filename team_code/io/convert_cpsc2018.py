"""Convert the original CPSC 2018 release (A0001.mat + REFERENCE.csv) into CinC 2020 records (NAME.hea + NAME.mat).

    python -m team_code.io.convert_cpsc2018 SRC DST [--reference SRC/REFERENCE.csv]

An unreadable file gets one line naming it and the conversion goes on; the exit status is 1 if any file failed.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from team_code import log
from team_code.io.records import RecordError, check_record_name, load_cpsc2018, read_cpsc_reference, write_record

CPSC_FS = 500  # every CPSC 2018 recording is sampled at 500 Hz

logger = logging.getLogger(__name__)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m team_code.io.convert_cpsc2018",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="directory holding the CPSC 2018 A*.mat files")
    parser.add_argument("dst", type=Path, help="directory to write NAME.hea + NAME.mat records into")
    parser.add_argument("--reference", type=Path, default=None,
                        help="labels file (default: SRC/REFERENCE.csv when it exists)")
    log.add_arguments(parser, quiet_help="only warnings and errors (each failed file, empty labels), no progress bar")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Convert every SRC/A*.mat; return 0 when all converted, 1 when any failed, 2 on unusable arguments."""
    args = _parse_args(argv)
    log.configure(quiet=args.quiet, verbose=args.verbose)
    src, dst = args.src, args.dst
    if not src.is_dir():
        logger.error(f"error: {src}: not a directory")
        return 2
    if dst.resolve() == src.resolve():
        logger.error(f"error: DST {dst} is SRC; converted records must go to another directory")
        return 2

    reference_path = args.reference
    if reference_path is None and (src / "REFERENCE.csv").is_file():
        reference_path = src / "REFERENCE.csv"
    reference: dict[str, list[str]] | None = None
    if reference_path is not None:
        try:
            reference = read_cpsc_reference(reference_path)
        except RecordError as exc:
            logger.error(f"error: {exc}")
            return 2

    sources = sorted(p for p in src.glob("A*.mat") if p.is_file())
    if not sources:
        logger.error(f"error: {src}: no A*.mat files to convert")
        return 2
    failed = unlabeled = 0
    for path in tqdm(sources, desc="converting", unit="record", disable=not log.progress_bars()):
        name = path.name[: -len(".mat")]
        try:
            check_record_name(name, str(path))
            signal, age, sex = load_cpsc2018(path)
            labels = reference.get(name, []) if reference is not None else []
            write_record(dst, name, signal, CPSC_FS, age, sex, labels)
        except RecordError as exc:
            failed += 1
            logger.error(str(exc))
            continue
        except OSError as exc:
            failed += 1
            logger.error(f"{path}: cannot write the record to {dst} ({exc.strerror or exc})")
            continue
        unlabeled += not labels

    converted = len(sources) - failed
    logger.info(f"converted {converted} of {len(sources)} records from {src} to {dst}; {failed} failed")
    if unlabeled:
        why = f"no labels in {reference_path}" if reference is not None else "no REFERENCE.csv found"
        logger.warning(f"warning: {unlabeled} records written with an empty #Dx: ({why})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
