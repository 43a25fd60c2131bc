"""torchrun with 2 gloo processes gives the same model as one process (same folds, weights, thresholds)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # every test here trains under torchrun
ARGS = ["--folds", "4", "--epochs", "1", "--seed", "2", "--threads", "1", "--quiet"]


def test_two_ranks_equal_one_process(synth_train_dir, tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    subprocess.run([sys.executable, "train_model.py", str(synth_train_dir), str(single), *ARGS],
                   cwd=ROOT, check=True, capture_output=True, timeout=600)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "train_model.py", str(synth_train_dir), str(multi), *ARGS],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("cross-validation on 30 records") == 1  # only rank 0 reports
    assert json.loads((multi / "thresholds.json").read_text()) == json.loads((single / "thresholds.json").read_text())
    assert (multi / "oof.csv").read_text() == (single / "oof.csv").read_text()
    for k in range(4):
        a = torch.load(single / f"fold_{k}.pt", weights_only=True)
        b = torch.load(multi / f"fold_{k}.pt", weights_only=True)
        assert all(torch.equal(a[key], b[key]) for key in a), f"fold {k} differs"
    outputs = []
    for model in (single, multi):
        out = tmp_path / f"out_{model.name}"
        subprocess.run([sys.executable, "driver.py", str(model), str(synth_train_dir), str(out), "--quiet"],
                       cwd=ROOT, check=True, capture_output=True, timeout=600)
        outputs.append({p.name: p.read_text() for p in out.glob("*.csv")})
    assert outputs[0] == outputs[1] and len(outputs[0]) == 30
    assert len(list((multi / "cache").glob("*.h5"))) == 1


def test_a_failing_rank_fails_the_job_with_its_error(synth_train_dir, tmp_path):
    """Rank 1 raises in its first fold; rank 0 must not wait for it forever, and its error must be shown."""
    wrapper = tmp_path / "fail_rank1.py"
    wrapper.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import team_code.training.train as t\n"
        "real = t.train_fold\n"
        "def failing(*args, **kwargs):\n"
        "    if os.environ['RANK'] == '1':\n"
        "        raise RuntimeError('planted failure on rank 1')\n"
        "    return real(*args, **kwargs)\n"
        "t.train_fold = failing\n"
        "import train_model\n"
        "sys.exit(train_model.main())\n")
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             str(wrapper), str(synth_train_dir), str(tmp_path / "model"), *ARGS],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "planted failure on rank 1" in result.stderr
    assert not (tmp_path / "model" / "config.json").exists()
