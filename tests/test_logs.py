"""The per-user log folder: where it is, what the command line and uncaught exceptions write."""

import logging
import sys
import threading
from pathlib import Path

import pytest

from isegui import logs
from isegui.cli import main


@pytest.fixture
def log_dir(tmp_path, monkeypatch):
    """Logs in a folder of the test's own; the handlers it adds go when it ends."""
    folder = tmp_path / "logs"
    monkeypatch.setenv(logs.LOG_DIR_VARIABLE, str(folder))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    before = list(logging.getLogger().handlers)
    yield folder
    for handler in logging.getLogger().handlers:
        if handler not in before:
            logging.getLogger().removeHandler(handler)
            handler.close()


def _flushed(path: Path) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text(encoding="utf-8")


def test_the_folder_follows_each_platforms_rules(monkeypatch, tmp_path):
    monkeypatch.delenv(logs.LOG_DIR_VARIABLE)
    monkeypatch.setattr(logs.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", r"C:\Users\op\AppData\Local")
    assert logs.log_folder() == Path(r"C:\Users\op\AppData\Local") / "isegui" / "logs"
    monkeypatch.setattr(logs.sys, "platform", "linux")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert logs.log_folder() == tmp_path / "state" / "isegui" / "logs"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert logs.log_folder() == Path.home() / ".local" / "state" / "isegui" / "logs"
    monkeypatch.setenv(logs.LOG_DIR_VARIABLE, str(tmp_path / "support"))
    assert logs.log_folder() == tmp_path / "support"


def test_commands_and_their_failures_are_logged(log_dir, tmp_path, capsys):
    assert main(["demo", str(tmp_path / "demo"), "--images", "2", "--size", "128x96"]) == 0
    assert main(["stats", str(tmp_path / "missing")]) == 1
    text = _flushed(log_dir / "cli.log")
    assert "isegui demo exited with 0" in text
    assert "ERROR isegui.cli: isegui stats failed:" in text and "missing" in text
    assert "isegui stats failed" not in capsys.readouterr().err  # said once, in its own words


def test_a_second_start_adds_no_second_file_handler(log_dir):
    first = logs.start_logging("cli")
    count = len(logging.getLogger().handlers)
    assert logs.start_logging("cli") == first == log_dir / "cli.log"
    assert len(logging.getLogger().handlers) == count


def test_uncaught_exceptions_are_logged_with_their_traceback(log_dir, monkeypatch):
    shown = []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: shown.append(exc[0]))
    monkeypatch.setattr(threading, "excepthook", lambda args: shown.append(args.exc_type))
    path = logs.start_logging("app")
    try:
        raise ValueError("a slot went wrong")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    thread = threading.Thread(target=lambda: 1 / 0, name="worker-x")
    thread.start()
    thread.join()
    text = _flushed(path)
    assert "CRITICAL isegui: uncaught exception" in text and "a slot went wrong" in text
    assert 'raise ValueError("a slot went wrong")' in text  # the traceback
    assert "uncaught exception in thread worker-x" in text and "ZeroDivisionError" in text
    assert shown == [ValueError, ZeroDivisionError]  # then the hooks that were there before
