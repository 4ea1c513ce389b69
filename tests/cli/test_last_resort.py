"""Whatever a command raises becomes one line on stderr that names the command and the problem;
the traceback goes to cli.log, never to the screen; the exit code is EXIT_FAILED. A damaged
project (nested JSON in a run's settings) or team file ends the same way."""

from __future__ import annotations

import csv
import logging
import sqlite3

import cv2
import pytest
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
from shapely.errors import GEOSException

from isegui.cli import main, project_commands
from isegui.core.project import PROJECT_FILE, Project
from isegui.exit_codes import EXIT_FAILED

NESTED = "[" * 20_000 + "]" * 20_000  # deeper than Python recurses, 40 KB

UNEXPECTED = [
    MemoryError(),
    RecursionError("maximum recursion depth exceeded while decoding a JSON array"),
    OverflowError("int too large to convert to float"),
    GEOSException("TopologyException: side location conflict at 1 2"),
    cv2.error("OpenCV(5.1.0) resize.cpp:4208: error: (-215:Assertion failed) !ssize.empty()\n"
              "in function 'resize'\n"),
    ort_errors.Fail("[ONNXRuntimeError] : 1 : FAIL : Load model failed"),
    ort_errors.InvalidArgument("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got rank 3"),
    KeyError("scores"),
    TypeError("'NoneType' object is not subscriptable"),
    AttributeError("'NoneType' object has no attribute 'shape'"),
    IndexError("list index out of range"),
    csv.Error("field larger than field limit (131072)"),
    ZeroDivisionError("division by zero"),
]


@pytest.fixture
def logs(tmp_path, monkeypatch):
    monkeypatch.setenv("ISEGUI_LOG_DIR", str(tmp_path / "logs"))
    return tmp_path / "logs" / "cli.log"


def _log_text(path) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text(encoding="utf-8")


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("exc", UNEXPECTED,
                         ids=[f"{type(e).__module__}.{type(e).__name__}" for e in UNEXPECTED])
def test_any_exception_of_a_command_is_one_line_and_a_logged_traceback(
        tmp_path, monkeypatch, capsys, logs, exc):
    def handler(args):
        raise exc

    monkeypatch.setattr(project_commands, "run_stats", handler)
    assert main(["stats", str(tmp_path)]) == EXIT_FAILED
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("error: isegui stats") and type(exc).__name__ in line
    log = _log_text(logs)
    assert "Traceback (most recent call last)" in log and type(exc).__name__ in log
    assert "in handler" in log  # the frame that raised


def test_ctrl_c_keeps_its_own_words(tmp_path, monkeypatch, capsys, logs):
    def handler(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(project_commands, "run_stats", handler)
    assert main(["stats", str(tmp_path)]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_nested_json_in_a_projects_run_is_one_line(tmp_path, capsys, logs):
    folder = tmp_path / "p"
    Project.create(folder).close()
    conn = sqlite3.connect(folder / PROJECT_FILE)
    conn.execute("INSERT INTO runs (name, created, status, config) VALUES "
                 "('deep', '2026-01-01', 'finished', ?)", (NESTED,))
    conn.commit()
    conn.close()
    assert main(["stats", str(folder)]) == EXIT_FAILED
    line = _one_line(capsys.readouterr().err)
    assert "stats" in line and "RecursionError" in line
    assert "RecursionError" in _log_text(logs)


def test_a_team_file_of_nested_json_is_refused_in_one_line(tmp_path, capsys, logs):
    team_file = tmp_path / "line3.isegui-team"
    team_file.write_text(NESTED)
    assert main(["stats", str(team_file)]) == EXIT_FAILED
    line = _one_line(capsys.readouterr().err)
    assert str(team_file) in line and "nested too deep" in line
