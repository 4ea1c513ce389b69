"""The line folder's programs (build.spec's isegui-line): isegui-watch and isegui-station are
`isegui watch` and `isegui station` under their own names, and check themselves without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from isegui.line_main import line_command


@pytest.mark.parametrize("program, argv, command", [
    ("/opt/isegui-line/isegui-watch", ["in", "--model", "m.onnx"],
     ["watch", "in", "--model", "m.onnx"]),
    (r"C:\isegui-line\isegui-station.exe", ["in"], ["station", "in"]),
    (r"C:\isegui-line\ISEGUI-WATCH.EXE", ["--help"], ["watch", "--help"]),
    ("isegui-watch", ["self-test"], ["self-test", "--line"]),
    ("isegui-station", ["--version"], ["--version"]),
])
def test_a_line_program_is_its_command(program, argv, command):
    assert line_command(program, argv) == command


@pytest.mark.slow
def test_the_line_self_test_runs_without_torch(tmp_path):
    """The line checks in a process that cannot import torch (as in the line folder), with
    the model the build would bundle."""
    from pathlib import Path

    from isegui.selftest import export_self_test_model
    model = tmp_path / "bundle" / "self-test" / "model.onnx"
    export_self_test_model(model)
    script = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'torchvision'):\n"
        "            raise ImportError('no torch on the line PC')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        f"sys._MEIPASS = {str(Path(tmp_path / 'bundle'))!r}\n"
        "from isegui.cli import main\n"
        "sys.exit(main(['self-test', '--line']))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ,
                                            "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "self-test passed: 3 checks" in done.stdout
