"""The demo's progress line and ETA (a fake clock), its steps with the work faked, and --quick against the README."""
from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest

from tools import demo

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _progress(tty: bool = False) -> tuple[demo.Progress, Clock, dict[str, int], io.StringIO, io.StringIO]:
    """A Progress over two steps: 10 records expected at 1 s each, then a 30-s step nothing counts."""
    clock, done = Clock(), {"records": 0}
    out, err = io.StringIO(), io.StringIO()
    progress = demo.Progress(out, err, tty=tty, clock=clock, wall=lambda: 0.0)
    progress.plan([demo.Step("make", lambda: None, units=10, per_unit=1.0, unit_name="records",
                             count=lambda: done["records"]),
                   demo.Step("finish", lambda: None, last=30.0)])
    return progress, clock, done, out, err


def test_the_first_estimate_is_the_expected_cost_and_slow_progress_raises_it():
    progress, clock, done, _, _ = _progress()
    progress.begin(0)
    assert progress.remaining() == pytest.approx(40.0)
    clock.now, done["records"] = 10.0, 5  # half the records in 10 s where 5 s were expected
    progress.show()
    assert "12%" in progress.line() and "5/10 records" in progress.line()
    assert progress.remaining() > 35.0  # slower than expected: more than the expected 35 s left


def test_fast_progress_lowers_the_estimate():
    progress, clock, done, _, _ = _progress()
    progress.begin(0)
    clock.now, done["records"] = 2.0, 8
    progress.show()
    assert progress.remaining() < 32.0


def test_between_measurements_the_eta_counts_down_then_grows_while_a_unit_overruns():
    progress, clock, done, _, _ = _progress()
    progress.begin(0)
    clock.now, done["records"] = 5.0, 5
    progress.show()
    measured = progress.remaining()
    clock.now += 0.5
    assert progress.remaining() == pytest.approx(measured - 0.5)
    clock.now += 0.5  # the unit in progress took its expected 1 s (at the measured speed): the lowest point
    lowest = progress.remaining()
    assert lowest == pytest.approx(measured - 1.0)
    clock.now += 0.01
    assert lowest < progress.remaining() < lowest + 0.1  # no jump at the turn
    clock.now += 20.0
    assert progress.remaining() > measured  # 20 s on one record that should take 1 s: slower than measured


def test_a_finished_step_counts_whole_and_the_last_step_ends_at_zero():
    progress, clock, done, _, _ = _progress()
    progress.begin(0)
    clock.now, done["records"] = 10.0, 10
    progress.end(0)
    progress.begin(1)
    assert progress.fraction() == pytest.approx(0.25)
    clock.now = 40.0
    progress.end(1)
    assert progress.fraction() == 1.0 and progress.remaining() == 0.0
    assert progress.durations == [10.0, 30.0]


def test_without_a_terminal_the_line_is_printed_once_a_period(monkeypatch):
    monkeypatch.setattr(demo, "PERIODIC_SECONDS", 30.0)  # 100 s: 3 lines
    progress, clock, done, _, err = _progress(tty=False)
    progress.begin(0)
    for second in range(1, 101):
        clock.now, done["records"] = float(second), min(10, second // 10)
        progress.show()
    lines = err.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in err.getvalue()
    assert all(re.match(r"demo +\d+% ETA \d+:\d\d \(\d+:\d\d elapsed\) \| step 1/2 make: \d+/10 records$", line)
               for line in lines)


def test_on_a_terminal_one_line_is_redrawn_and_cleared_before_other_output():
    progress, clock, done, out, err = _progress(tty=True)
    progress.width = 30  # a line longer than the terminal would wrap, and only its last row be redrawn
    progress.begin(0)
    for second in range(1, 6):
        clock.now, done["records"] = float(second), second
        progress.show()
    assert "\n" not in err.getvalue() and err.getvalue().count("\r\x1b[K") == 5
    assert all(0 < len(line) < 30 for line in err.getvalue().split("\r\x1b[K")[1:])
    progress.say("a command's output")
    assert err.getvalue().endswith("\r\x1b[K") and out.getvalue().endswith("a command's output\n")
    progress.say("more")
    assert err.getvalue().count("\r\x1b[K") == 6  # nothing redrawn in between: nothing to clear


def test_counting_ignores_files_an_earlier_run_left(tmp_path):
    (tmp_path / "old.csv").write_text("")
    os.utime(tmp_path / "old.csv", (1_000, 1_000))
    (tmp_path / "new.csv").write_text("")
    assert demo.count_new(tmp_path, "*.csv", since=2_000)() == 1


@pytest.mark.parametrize("user_setting", [None, "ACTIVE"])
def test_commands_get_passive_thread_waits_unless_the_user_chose(monkeypatch, user_setting):
    if user_setting is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", user_setting)
    out, err = io.StringIO(), io.StringIO()
    progress = demo.Progress(out, err, tty=False)
    demo._run_command(progress, ["-c", "import os; print('child sees', os.environ['OMP_WAIT_POLICY'])"], relay=True)
    command, seen = out.getvalue().splitlines()
    assert seen == f"child sees {user_setting or 'PASSIVE'}"
    assert command.startswith("$ OMP_WAIT_POLICY=PASSIVE python -c " if user_setting is None else "$ python -c ")


def test_a_failing_command_stops_the_demo():
    progress = demo.Progress(io.StringIO(), io.StringIO(), tty=False)
    with pytest.raises(SystemExit, match="failed with exit code 3"):
        demo._run_command(progress, ["-c", "import sys; sys.exit(3)"], relay=True)


def _fake_work(monkeypatch) -> list[list[str]]:
    """Replace generation and the commands by writers of the files the real ones write; return the commands."""
    commands: list[list[str]] = []

    def generate(out_dir, n, seed, prefix="S", **_):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (Path(out_dir) / f"{prefix}{i:05d}.mat").write_text("")

    def run_command(progress, args, relay):
        commands.append(args)
        if args[0] == "train_model.py":
            model, folds = Path(args[2]), int(args[args.index("--folds") + 1])
            model.mkdir(parents=True)
            for fold in range(folds):
                (model / f"fold_{fold}.json").write_text("{}")
            (model / "cv_report.json").write_text(json.dumps({"f2": 0.5, "g2": 0.25}))
        elif args[0] == "driver.py":
            Path(args[3]).mkdir(parents=True)
        else:
            f2 = "0.600" if "synth" in args[1] else "0.700"
            Path(args[3]).write_text(f"AUROC|AUPRC|Accuracy|F-measure|Fbeta-measure|Gbeta-measure\n"
                                     f"0.9|0.8|0.7|0.6|{f2}|0.300\n")
        progress.say(f"{args[0]} ran")

    monkeypatch.setattr(demo.synth, "generate_dataset", generate)
    monkeypatch.setattr(demo.altsim, "generate_dataset", generate)
    monkeypatch.setattr(demo, "_run_command", run_command)
    return commands


def test_quick_runs_each_step_after_a_timestamp_and_ends_with_its_table_row(tmp_path, monkeypatch, capsys):
    commands = _fake_work(monkeypatch)
    assert demo.main(["--quick", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    starts = re.findall(r"^\[\d\d:\d\d:\d\d\] step (\d)/8: (.+) \((\d+:\d\d) elapsed, ETA (\d+:\d\d)\)$", out, re.M)
    assert [int(s[0]) for s in starts] == list(range(1, 9))
    assert starts[3][1] == f"train {demo.QUICK.folds} folds x {demo.QUICK.epochs} epochs"
    assert starts[6][1] == "label test_altsim"
    assert len(list((tmp_path / "train").glob("*.mat"))) == demo.QUICK.train
    train = commands[0]
    assert train[train.index("--folds") + 1] == str(demo.QUICK.folds)
    assert train[train.index("--epochs") + 1] == str(demo.QUICK.epochs)
    assert all("--quiet" in command for command in commands)
    assert "demo: done in " in out
    row = out.strip().splitlines()[-1]
    assert row.startswith(f"| `python -m tools.demo --quick` {demo.QUICK.cells()} ")
    assert row.endswith("| 0.500 / 0.250 | 0.600 / 0.300 | 0.700 / 0.300 |")


def _readme_demo_rows() -> dict[str, str]:
    """The rows of the README's demo table, by command."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("<!-- demo-numbers: begin"):text.index("<!-- demo-numbers: end")]
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `(python -m tools\.demo[^`]*)` .*$", block, re.M)}


def test_the_readme_states_the_settings_each_command_runs():
    rows = _readme_demo_rows()
    assert set(rows) == {"python -m tools.demo", "python -m tools.demo --quick"}
    assert rows["python -m tools.demo"].startswith(f"| `python -m tools.demo` {demo.DEFAULT.cells()} ")
    assert rows["python -m tools.demo --quick"].startswith(
        f"| `python -m tools.demo --quick` {demo.QUICK.cells()} ")
