"""team_code.log: what reaches stderr at each level, bare wording by default, progress bars tied to INFO."""
from __future__ import annotations

import logging

import pytest

from team_code import log

# tests/conftest.py puts team_code's logger back to its import-time state (WARNING) around every test.

def test_without_configure_warnings_reach_stderr_verbatim_and_info_does_not(capsys) -> None:
    logger = logging.getLogger("team_code.data.cache")
    logger.info("epoch line")
    logger.warning("skipped /data/A1.mat: truncated")
    err = capsys.readouterr().err
    assert err == "skipped /data/A1.mat: truncated\n"
    assert not log.progress_bars()


def test_warnings_do_not_reach_the_root_logger_twice(capsys) -> None:
    root_lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            root_lines.append(record.getMessage())

    handler = Collect()
    logging.getLogger().addHandler(handler)
    try:
        logging.getLogger("team_code.training.train").warning("warning: class PVC has 1 record(s)")
    finally:
        logging.getLogger().removeHandler(handler)
    assert capsys.readouterr().err.count("class PVC") == 1 and root_lines == []


@pytest.mark.parametrize(("quiet", "verbose", "shown"), [
    (False, False, {"info", "warning", "error"}),
    (True, False, {"warning", "error"}),
    (False, True, {"debug", "info", "warning", "error"}),
])
def test_configure_sets_what_is_shown(capsys, quiet: bool, verbose: bool, shown: set[str]) -> None:
    log.configure(quiet=quiet, verbose=verbose)
    logger = logging.getLogger("team_code.inference.label_folder")
    for level in ("debug", "info", "warning", "error"):
        getattr(logger, level)(f"message at {level}")
    lines = capsys.readouterr().err.splitlines()
    assert {line.rsplit(" ", 1)[-1] for line in lines} == shown
    if verbose:
        assert "ERROR team_code.inference.label_folder: message at error" in lines
    else:
        assert "message at error" in lines
    assert log.progress_bars() == (not quiet)


def test_errors_only_silences_warnings_then_restores_the_level(capsys) -> None:
    log.configure()
    logger = logging.getLogger("team_code.data.cache")
    with log.errors_only():
        logger.warning("skipped on another rank")
        logger.error("error: a real failure")
        assert not log.progress_bars()
    logger.info("back on rank 0")
    assert capsys.readouterr().err.splitlines() == ["error: a real failure", "back on rank 0"]


def test_quiet_and_verbose_are_exclusive() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    log.add_arguments(parser)
    assert parser.parse_args([]).quiet is False
    with pytest.raises(SystemExit):
        parser.parse_args(["--quiet", "--verbose"])


@pytest.mark.parametrize("quiet", [False, True])
def test_a_command_with_quiet_keeps_each_failure_and_drops_the_summary(tmp_path, capsys, quiet: bool) -> None:
    from team_code.io import convert_cpsc2018

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "A0001.mat").write_bytes(b"not a MATLAB file")
    argv = [str(tmp_path / "src"), str(tmp_path / "dst")] + (["--quiet"] if quiet else [])
    assert convert_cpsc2018.main(argv) == 1
    lines = capsys.readouterr().err.splitlines()
    assert sum("A0001.mat" in line for line in lines) == 1
    assert any(line.startswith("converted 0 of 1 records") for line in lines) == (not quiet)
