"""A training process killed mid-run (power cut, task manager) does not leave its run
"running" for ever, nor its half-written checkpoint files; a live run is left alone."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from isegui.core.entities import RunStatus
from isegui.core.fileio import replace_file
from isegui.core.project import Project
from isegui.ml.runs import RUN_LOCK, run_folder, settle_abandoned_runs


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.slow
def test_a_killed_training_run_is_settled_as_failed_and_its_temp_files_removed(tiny_project):
    cmd = [sys.executable, "-m", "isegui", "train", str(tiny_project), "--size", "128",
           "--batch", "1", "--epochs", "50", "--device", "cpu", "--workers", "0",
           "--progress", "jsonl", "--name", "doomed"]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        for line in process.stdout:  # wait until it trains: steps are being reported
            if line.startswith("{") and json.loads(line)["event"] == "step":
                break
        folder = run_folder(tiny_project, 1)
        assert (folder / RUN_LOCK).is_file()
        with Project.open(tiny_project, lock=False) as project:
            assert settle_abandoned_runs(project) == []  # alive: left alone
            assert project.store.run(1).status == RunStatus.RUNNING
        (folder / ".last.pt.k2j4x.tmp").write_bytes(b"half a checkpoint")  # a cut-off write
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
    with Project.open(tiny_project, lock=False) as project:
        assert project.store.run(1).status == RunStatus.RUNNING  # what the killed process left
        assert settle_abandoned_runs(project) == [1]
        assert project.store.run(1).status == RunStatus.FAILED
        assert settle_abandoned_runs(project) == []
    assert not list(folder.glob(".*.tmp"))


def test_replace_waits_for_a_file_another_program_holds_open(tmp_path, monkeypatch):
    source, target = tmp_path / "new", tmp_path / "best.pt"
    source.write_bytes(b"new")
    target.write_bytes(b"old")
    real, refusals = os.replace, []

    def busy_twice(a, b):  # as Windows answers while a reader has the target open
        if len(refusals) < 2:
            refusals.append(time.monotonic())
            raise PermissionError(13, "The process cannot access the file")
        real(a, b)
    monkeypatch.setattr(os, "replace", busy_twice)
    replace_file(source, target, waits=(0.01, 0.01, 0.01))
    assert target.read_bytes() == b"new" and len(refusals) == 2
    source.write_bytes(b"newer")
    refusals.clear()
    with pytest.raises(PermissionError):  # held for good: the error comes through
        replace_file(source, target, waits=(0.01,))
    assert target.read_bytes() == b"new"
