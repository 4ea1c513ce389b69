"""`isegui self-test` from source, as support and the packaged build run it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from isegui import selftest
from isegui.cli import main
from isegui.ml.model.registry import model_names

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_self_test_passes_every_check_in_a_process_of_its_own(tmp_path):
    env = {**os.environ, "ISEGUI_LOG_DIR": str(tmp_path / "logs")}
    done = subprocess.run([sys.executable, "-m", "isegui", "self-test"], capture_output=True,
                          text=True, timeout=300, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    expected = ["imports", "torchvision ops", *[f"model {name}" for name in model_names()],
                "onnx", "line watch", "team driver", "training process", "main window"]
    for name in expected:
        assert any(line.split()[0] == "ok" and f" {name} " in line for line in lines), name
    assert lines[-1].startswith(f"self-test passed: {len(expected)} checks")
    log = (tmp_path / "logs" / "cli.log").read_text(encoding="utf-8")
    assert "isegui train" in log and "self-test: main window ok" in log  # both processes


def test_a_failed_check_is_named_and_the_exit_code_says_so(monkeypatch, capsys):
    def broken(space):
        raise RuntimeError("no ops library")
    seen = []
    monkeypatch.setattr(selftest, "checks", lambda: [
        ("fine", lambda space: seen.append(space.folder) or "all good"), ("broken", broken)])
    assert main(["self-test"]) == 1
    out, err = capsys.readouterr()
    assert "ok     fine" in out and "all good" in out
    assert "FAILED broken" in out and "RuntimeError: no ops library" in out
    assert "self-test FAILED (broken)" in err
    assert not seen[0].exists()  # the temporary folder is gone
