"""Shared fixtures: the real sample records kept beside the repository (never copied into it)."""
from __future__ import annotations

from pathlib import Path

import pytest

REAL_SAMPLES = Path(__file__).resolve().parents[2] / "shared/data/real-samples"


@pytest.fixture(scope="session")
def real_samples() -> Path:
    """The real-samples folder (cinc2021/, cpsc2018/); skip when this checkout has no ../shared beside it."""
    if not REAL_SAMPLES.is_dir():
        pytest.skip(f"real sample files not found at {REAL_SAMPLES}")
    return REAL_SAMPLES
