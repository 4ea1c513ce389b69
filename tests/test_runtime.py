"""The packaged program's entry: freeze_support first, no console streams, runs itself."""

import ast
import subprocess
import sys
from pathlib import Path

from isegui import runtime

ROOT = Path(__file__).resolve().parents[1]

# a windowed .exe starts with no stdout and no stderr; isegui/__main__.py must cope
WINDOWED = """
import runpy, sys
sys.stdout = sys.stderr = None
sys.argv = ["isegui", "demo", sys.argv[1], "--images", "2", "--size", "128x96"]
runpy.run_module("isegui", run_name="__main__", alter_sys=True)
"""


def test_freeze_support_comes_first_in_the_entry_point():
    tree = ast.parse((ROOT / "isegui" / "__main__.py").read_text(encoding="utf-8"))
    guard = next(node for node in tree.body if isinstance(node, ast.If))
    first = guard.body[0].value
    assert ast.unparse(guard.test) == "__name__ == '__main__'"
    assert ast.unparse(first) == "multiprocessing.freeze_support()"


def test_a_windowed_start_without_stdout_or_stderr_runs_a_command(tmp_path):
    done = subprocess.run([sys.executable, "-c", WINDOWED, str(tmp_path / "demo")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo" / "project.isegui").is_file()
    assert done.stdout == "" and done.stderr == ""  # everything went to the null device


def test_missing_streams_go_to_the_null_device(monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    runtime.ensure_streams()
    sys.stdout.write("lost")
    sys.stderr.write("lost")
    assert sys.stdout.isatty() is False and sys.stdout.name == runtime.os.devnull


def test_the_packaged_program_runs_itself_for_the_command_line(monkeypatch):
    assert runtime.isegui_command() == (sys.executable, ["-m", "isegui"])
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", r"C:\isegui\isegui.exe")
    assert runtime.isegui_command() == (r"C:\isegui\isegui.exe", [])


def test_the_packaged_window_runs_its_console_twin(monkeypatch, tmp_path):
    """The windowed isegui.exe's streams are none: the training process it starts must be
    the console twin, whose progress the pipe receives."""
    for name in ("isegui", "isegui-cli"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "isegui"))
    assert runtime.isegui_command() == (str(tmp_path / "isegui-cli"), [])
