"""The module the organisers' 2020 `driver.py` imports: load the model once, then label one record per call.

A thin adapter over the code driver.py runs (records.parse_header / record_from_val, preprocess.prepare_signal,
predict.label_signals on the inference.Ensemble), so both write the same labels and probabilities. The official
driver stops at the first exception; our driver.py is the one that reports an unreadable record and goes on.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from team_code.data.preprocess import prepare_signal
from team_code.data.workers import cpu_cores
from team_code.inference.ensemble import Ensemble
from team_code.inference.label_folder import label_signals
from team_code.io.records import parse_header, record_from_val


def load_12ECG_model(input_directory: str) -> Ensemble:
    """The trained MODEL_DIR (written by train_model.py or train_12ECG_classifier), checked and loaded once."""
    torch.set_num_threads(cpu_cores())  # as driver.py: the cores granted to the process, not the host's
    return Ensemble.load(input_directory)


def run_12ECG_classifier(data: np.ndarray, header_data: Sequence[str],
                         model: Ensemble) -> tuple[list[int], list[float], list[str]]:
    """(labels 0/1, probabilities, classes) for one record, as plain ints, floats and strings, aligned (the
    classes are the output columns: the nine names, or the 27 SNOMED CT codes of a cinc2020 model).

    `data` is the record's `val` matrix (ADC units, the header's lead order); `header_data` its header lines as
    readlines() gives them. RecordError naming the record when the two do not make a usable record.
    """
    text = "".join(header_data)
    source = f"record {_record_name(text)}"
    header = parse_header(text, source)
    record = record_from_val(header.name, header, np.asarray(data), source)
    binary, probabilities = label_signals(model, [prepare_signal(record.signal, record.fs)])
    # str() of a numpy float is the shortest decimal that reads back in its own (float32) precision: the float of
    # that decimal prints as those digits, not as float64 noise around them.
    return [int(b) for b in binary[0]], [float(str(p)) for p in probabilities[0]], model.columns


def _record_name(header_text: str) -> str:
    """The name on the header's record line, for error messages even when the header is otherwise unusable."""
    for line in header_text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.split()[0][:80]
    return "<empty header>"
