"""Smoke runs of the benchmark and the demo at tiny sizes (their numbers are not checked: benchmarks measure)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # every test here runs the benchmark or the demo, which train


def test_bench_quick_writes_a_table(tmp_path):
    table = tmp_path / "bench.md"
    result = subprocess.run([sys.executable, "-m", "tools.bench", "--quick", "--output", str(table)],
                            cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    text = table.read_text()
    assert text.startswith("Machine: ")
    for row in ("| parameters |", "| forward FLOPs per record |", "| training, records/s |",
                "| inference, ms/record |", "| F2 after 1 epoch(s)", "| G2 after 1 epoch(s)",
                "F2 / G2 per seed: crnn ", "| 1x | 10 |", "| 8x | 80 |",
                "driver.py with a 10-fold ensemble"):
        assert row in text, row


def test_demo_runs_end_to_end(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tools.demo", "--workdir", str(tmp_path / "demo"),
                             "--train", "40", "--test", "12", "--folds", "2", "--epochs", "1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("AUROC|AUPRC|Accuracy|F-measure|Fbeta-measure|Gbeta-measure") == 2
    assert " python train_model.py " in result.stdout and "demo: done" in result.stdout
    assert result.stdout.count("] step ") == 8  # each step's timestamped start
    assert result.stdout.splitlines()[-1].startswith(
        "| `python -m tools.demo --train 40 --test 12 --folds 2 --epochs 1` | 40 / 2 × 12 | 2 × 1 | ")
    for test in ("test_synth", "test_altsim"):
        assert len(list((tmp_path / "demo" / f"out_{test}").glob("*.csv"))) == 12


def test_bench_profile_names_every_stage_and_the_machine(tmp_path):
    out = tmp_path / "profile.md"
    result = subprocess.run([sys.executable, "-m", "tools.bench", "--profile", "--quick", "--output", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert text.startswith("Machine: ") and "\nCommit: " in text
    for stage in ("| beat views |", "| network forward |", "| backward |", "| read and preprocess |",
                  "fold networks |"):
        assert stage in text, stage
    assert text.count("| operator | own CPU ms | share | calls |") == 2
