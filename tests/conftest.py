"""Shared fixtures: the real sample records kept beside the repository (never copied into it)."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

REAL_SAMPLES = Path(__file__).resolve().parents[2] / "shared/data/real-samples"


@pytest.fixture(autouse=True)
def library_log_level():
    """Every test starts and ends with team_code logging as importing it leaves it (warnings and errors only), so a
    command's main() run in-process does not turn on progress bars and INFO lines for the tests after it."""
    from team_code import log

    log.configure(quiet=True)
    yield
    log.configure(quiet=True)
    assert logging.getLogger("team_code").level == logging.WARNING


@pytest.fixture(scope="session")
def real_samples() -> Path:
    """The real-samples folder (cinc2021/, cpsc2018/); skip when this checkout has no ../shared beside it."""
    if not REAL_SAMPLES.is_dir():
        pytest.skip(f"real sample files not found at {REAL_SAMPLES}")
    return REAL_SAMPLES


@pytest.fixture(scope="session")
def synth_train_dir(tmp_path_factory) -> Path:
    """A small generated training set (30 records of 8-10 s), shared by the tests that need a trained model."""
    from simulators.synth import generate_dataset

    directory = tmp_path_factory.mktemp("synth") / "train"
    generate_dataset(directory, n=30, seed=3, min_seconds=8, max_seconds=10)
    return directory


@pytest.fixture(scope="session")
def tiny_model(synth_train_dir, tmp_path_factory) -> Path:
    """A model trained as a user trains one (train_model.py), as small as possible: 2 folds, 1 epoch."""
    import subprocess
    import sys

    model = tmp_path_factory.mktemp("tiny") / "model"
    subprocess.run([sys.executable, "train_model.py", str(synth_train_dir), str(model), "--folds", "2",
                    "--epochs", "1", "--threads", "1", "--quiet"],
                   cwd=Path(__file__).resolve().parents[1], check=True, capture_output=True, timeout=600)
    return model
