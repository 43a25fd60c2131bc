"""The driver's work: label every record of a folder with the trained ensemble, one output file per record.

A record that cannot be read, or whose probabilities are not numbers (a diverged model), is reported on one line
and skipped; the others are still labelled. An output that cannot be written (OUTPUT_DIR is a file, the disk is
full) stops the run with one OutputError naming the file: the next writes would fail the same way. Records are
read and preprocessed by worker threads a little ahead of the network, which works on batches.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from team_code import log
from team_code.data.preprocess import prepare_signal
from team_code.data.workers import cpu_cores, read_ahead
from team_code.inference.ensemble import Ensemble
from team_code.io.output_csv import OutputError, write_output
from team_code.io.records import RecordError, check_record_name, load_record, record_names

logger = logging.getLogger(__name__)


def _prepare(directory: Path, name: str) -> np.ndarray:
    check_record_name(name, directory)
    record = load_record(directory / name)
    return prepare_signal(record.signal, record.fs)


def label_signals(ensemble: Ensemble, signals: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(binary labels as int, probabilities in [0, 1] in the ensemble's precision) per prepared signal, in the
    columns of the output file (ensemble.columns): what every output holds, whether driver.py or the organisers'
    harness (run_12ECG_classifier.py) writes it."""
    probabilities = ensemble.predict(signals)
    binary = ensemble.classify(probabilities).astype(int)
    to_columns = ensemble.class_set.to_columns
    return to_columns(binary), to_columns(np.clip(probabilities.combined, 0.0, 1.0))


def label_directory(ensemble: Ensemble, test_dir: str | Path, output_dir: str | Path, batch_size: int = 64
                    ) -> tuple[int, list[tuple[str, str]]]:
    """Write OUTPUT_DIR/NAME.csv for every NAME.mat in TEST_DIR; return (records labelled, [(name, reason)]).
    Each record that gets no output is also logged as an error when it happens."""
    test_dir, output_dir = Path(test_dir), Path(output_dir)
    names = record_names(test_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{output_dir}: cannot create the output directory ({error.strerror})") from None
    torch.set_num_threads(cpu_cores())
    failures: list[tuple[str, str]] = []
    done = 0
    batch_names: list[str] = []
    batch: list[np.ndarray] = []

    def flush() -> None:
        nonlocal done
        if not batch:
            return
        binaries, probabilities = label_signals(ensemble, batch)
        for name, binary, prob in zip(batch_names, binaries, probabilities):
            try:
                write_output(output_dir, name, ensemble.columns, binary, prob)
            except OutputError as error:  # NaN probabilities: this record has no answer, the others may
                failures.append((name, str(error)))
                logger.error(f"error: record {name}: {error}")
                continue
            except OSError as error:
                raise OutputError(f"{output_dir / name}.csv: cannot write ({error.strerror or error})") from None
            done += 1
        batch.clear()
        batch_names.clear()

    with ThreadPoolExecutor(max_workers=min(4, cpu_cores())) as pool, \
            tqdm(total=len(names), desc="labelling records", unit="rec", disable=not log.progress_bars(),
                 file=sys.stderr) as bar:
        for name, future in read_ahead(pool, partial(_prepare, test_dir), names, window=2 * batch_size):
            try:
                batch.append(future.result())
                batch_names.append(name)
            except RecordError as error:
                failures.append((name, str(error)))
                logger.error(f"error: record {name}: {error}")
            bar.update(1)
            if len(batch) == batch_size:
                flush()
        flush()
    return done, failures

