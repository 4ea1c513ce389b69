"""Whatever a command raises becomes one line on stderr that names the command and the problem;
the traceback goes to cli.log, never to the screen; the exit code is EXIT_FAILED. A damaged
project (nested JSON in a run's settings) or team file ends the same way."""

from __future__ import annotations

import csv
import json
import logging
import sqlite3

import cv2
import pytest
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
from shapely.errors import GEOSException

from isegui.cli import main, project_commands
from isegui.core.errors import ImportFailed, InputFileError
from isegui.core.one_line import MAX_CHARS
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


def test_nested_json_in_a_projects_run_is_left_out_and_named(tmp_path, capsys, caplog):
    """A run row another program filled with JSON nested 100,000 deep: stats goes on without
    it and names it once (a warning, on stderr outside the tests)."""
    folder = tmp_path / "p"
    Project.create(folder).close()
    conn = sqlite3.connect(folder / PROJECT_FILE)
    conn.execute("INSERT INTO runs (name, created, status, config) VALUES "
                 "('deep', '2026-01-01', 'finished', ?)", (NESTED,))
    conn.commit()
    conn.close()
    assert main(["stats", str(folder)]) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and "run 1 cannot be read" in warned[0]
    assert str(folder / PROJECT_FILE) in warned[0] and "\n" not in warned[0]
    assert "Traceback" not in capsys.readouterr().err


def test_the_last_resort_names_the_project_it_worked_on(tmp_path, monkeypatch, capsys, logs):
    def handler(args):
        raise TypeError("'<' not supported")

    monkeypatch.setattr(project_commands, "run_stats", handler)
    assert main(["stats", str(tmp_path / "line3")]) == EXIT_FAILED
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"error: isegui stats on {tmp_path / 'line3'} stopped: ")


def test_a_team_file_of_nested_json_is_refused_in_one_line(tmp_path, capsys, logs):
    team_file = tmp_path / "line3.isegui-team"
    team_file.write_text(NESTED)
    assert main(["stats", str(team_file)]) == EXIT_FAILED
    line = _one_line(capsys.readouterr().err)
    assert str(team_file) in line and "nested too deep" in line


# --- what a message quotes (a name, a value) cannot break its line or act on the terminal


def _raising(monkeypatch, exc):
    def handler(args):
        raise exc
    monkeypatch.setattr(project_commands, "run_stats", handler)


@pytest.mark.parametrize("exc", [
    InputFileError("x\nerror: nothing wrong, all fine.jpg", "\x1b]0;PWNED\x07\x1b[2J"),
    ValueError("class 'pi\x00ll\u2028' unknown"),
    RuntimeError("\x1b[2Jfirst line\nsecond line"),  # the last resort's kind
])
def test_control_characters_in_a_message_are_shown_escaped(tmp_path, monkeypatch, capsys,
                                                            logs, exc):
    _raising(monkeypatch, exc)
    assert main(["stats", str(tmp_path)]) == EXIT_FAILED
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("error: ") and line.isprintable(), repr(line)
    assert "\\x1b" in line or "\\x00" in line
    assert "second line" not in line  # an unexpected error shows its first line only


def test_a_huge_value_in_a_rules_file_is_a_short_line(tmp_path, capsys, logs):
    from tests.ml.infer.test_line_watch import tiny_model
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"isegui_rules": 1, "units": "m" * 10_000_000,
                                 "classes": {"pill": {"count": {"min": 1}}}}))
    model = tiny_model(tmp_path / "m.onnx")
    assert main(["watch", str(tmp_path), "--model", str(model), "--rules", str(rules),
                 "--once"]) == EXIT_FAILED
    line = _one_line(capsys.readouterr().err)
    assert len(line) <= len("error: ") + MAX_CHARS and line.endswith("...")
    assert "units" in line


def test_an_imports_problems_keep_a_line_each_and_cannot_add_one(tmp_path, monkeypatch,
                                                                  capsys, logs):
    _raising(monkeypatch, ImportFailed(["a.json: fine", "b\nerror: all fine.json: bad\x00"]))
    assert main(["stats", str(tmp_path)]) == EXIT_FAILED
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["error: import stopped, the project was not changed:",
                     "  a.json: fine", "  b\\nerror: all fine.json: bad\\x00"]


def test_a_password_is_hidden_before_a_long_message_is_cut(tmp_path, monkeypatch, capsys,
                                                             logs):
    url = "postgresql://line:" + "s3cret" * 100 + "@db/isegui"
    _raising(monkeypatch, ValueError(f"cannot reach {url}"))
    assert main(["stats", str(tmp_path)]) == EXIT_FAILED
    assert "s3cret" not in capsys.readouterr().err
