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


# --------------------------------------------------------------------------- links out (issue 26)


def _link(link, target):
    try:
        link.symlink_to(target, target_is_directory=target.is_dir())
    except (OSError, NotImplementedError):
        pytest.skip("this system does not let the tests make symbolic links")


def _outside_runs(tmp_path):
    """A folder outside the project laid out as runs/ is, with a cut-off write in run 1."""
    outside = tmp_path / "elsewhere"
    (outside / "0001").mkdir(parents=True)
    (outside / "0001" / RUN_LOCK).write_bytes(b"")
    (outside / "0001" / ".last.pt.k2j4x.tmp").write_bytes(b"not isegui's to remove")
    for file in (outside / "0001").iterdir():
        os.utime(file, (1_000_000_000, 1_000_000_000))
    return outside


def _tree(folder):
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()} | \
        {p.relative_to(folder).as_posix(): None for p in folder.rglob("*") if p.is_dir()}


def test_settling_leaves_alone_a_runs_folder_that_links_out(tmp_path):
    outside = _outside_runs(tmp_path)
    before = _tree(outside)
    with Project.create(tmp_path / "proj") as project:
        project.store.add_run("abandoned", {})  # recorded as running, its process gone
        _link(project.folder / "runs", outside)
        assert settle_abandoned_runs(project) == []
        assert project.store.run(1).status == RunStatus.RUNNING
    assert _tree(outside) == before


@pytest.mark.parametrize("where", ["runs", "events"])
def test_training_refuses_a_runs_folder_or_a_run_file_that_links_out(tiny_project, tmp_path,
                                                                      monkeypatch, where):
    import torch

    import isegui.ml.train.trainer as train_module
    from isegui.core.errors import UnsafePathError
    from isegui.ml.run_log import EVENTS_FILE
    from isegui.ml.train.spec import TrainSpec

    class Exploding(torch.nn.Module):  # never trains far: the run's folder is the point
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, images, targets=None):
            return {"loss": self.w * float("nan")}

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("precious")
    os.utime(victim, (1_000_000_000, 1_000_000_000))
    if where == "runs":
        _link(tiny_project / "runs", outside)
        named = tiny_project / "runs"
    else:  # a copied project's run folder, ready for the next run, holding a link
        (tiny_project / "runs" / "0001").mkdir(parents=True)
        named = tiny_project / "runs" / "0001" / EVENTS_FILE
        _link(named, victim)
    before = _tree(outside)
    monkeypatch.setattr(train_module, "build_model", lambda *a, **k: Exploding())
    with Project.open(tiny_project) as project:  # no validation: nothing to predict with
        from isegui.core.entities import Split
        project.store.set_split([r.id for r in project.store.images()], Split.TRAIN)
    spec = TrainSpec(project=tiny_project, epochs=1, val_fraction=0, pretrained_search=False,
                     model="fast", size=128, batch=2, device="cpu", workers=0)
    with pytest.raises(UnsafePathError) as caught:
        train_module.fit(spec)
    assert str(named) in str(caught.value) and "\n" not in str(caught.value)
    assert _tree(outside) == before
    with Project.open(tiny_project, read_only=True) as project:
        assert all(r.status != RunStatus.RUNNING for r in project.store.runs())
