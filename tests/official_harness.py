"""The organisers' 2020 driver.py and train_model.py call sequences, in our own words, for testing the harness modules.

python official_harness.py MODEL_DIR INPUT_DIR OUTPUT_DIR, with the project root on PYTHONPATH: lists the *.mat
files, calls load_12ECG_model once, then for each record loadmat(...)['val'] as float64 + the header's
readlines() + run_12ECG_classifier, and writes the 4-line CSV by joining str() of the returned values with ','.
Like the official script it has no per-record isolation: the first exception stops it. `train` is their
train_model.py: it creates the output folder and calls train_12ECG_classifier, with no options.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from scipy.io import loadmat

from run_12ECG_classifier import load_12ECG_model, run_12ECG_classifier
from train_12ECG_classifier import train_12ECG_classifier


def train(input_directory: str, output_directory: str) -> None:
    if not os.path.isdir(output_directory):
        os.mkdir(output_directory)
    train_12ECG_classifier(input_directory, output_directory)


def run(model_dir: str, input_dir: str, output_dir: str) -> None:
    files = [f for f in os.listdir(input_dir) if os.path.isfile(os.path.join(input_dir, f))
             and not f.lower().startswith(".") and f.lower().endswith("mat")]
    os.makedirs(output_dir, exist_ok=True)
    model = load_12ECG_model(model_dir)
    for file in files:
        path = os.path.join(input_dir, file)
        data = np.asarray(loadmat(path)["val"], dtype=np.float64)
        with open(path.replace(".mat", ".hea")) as header:
            header_data = header.readlines()
        labels, scores, classes = run_12ECG_classifier(data, header_data, model)
        with open(os.path.join(output_dir, file.replace(".mat", ".csv")), "w") as output:
            output.write("#" + os.path.splitext(file)[0] + "\n" + ",".join(classes) + "\n"
                         + ",".join(str(i) for i in labels) + "\n" + ",".join(str(i) for i in scores) + "\n")


if __name__ == "__main__":
    run(*sys.argv[1:4])
