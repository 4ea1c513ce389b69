"""Decoded frames as Windows treats them (windows audit, findings 3 and 5): loader workers
started by spawn, a mapped file that cannot be replaced or removed, runs that never clean up."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from isegui.core.images import save_image
from isegui.core.store.lock import ProjectLock
from isegui.ml.train import tile_data
from isegui.ml.train.data import Sample
from isegui.ml.train.tile_data import OWNER_LOCK, FrameStore, publish_once, remove_abandoned_frames


def _windows_rename(source, target):
    """os.rename as Windows does it: never over an existing file."""
    if os.path.exists(target):
        raise FileExistsError(17, "Cannot create a file when that file already exists", target)
    os.replace(source, target)


@pytest.fixture
def frames(tmp_path, monkeypatch):
    monkeypatch.setattr(tile_data.tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    samples = []
    for k in range(3):
        path = tmp_path / f"f{k}.png"
        save_image(path, np.full((40, 60, 3), 10 * k, np.uint8))
        samples.append(Sample(k, path, 60, 40, (), ()))
    store = FrameStore(samples, 1.0)
    yield store
    store.close()


def test_a_frame_another_worker_published_first_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(tile_data.os, "rename", _windows_rename)
    (tmp_path / "0.npy").write_bytes(b"theirs, mapped")
    (tmp_path / "0.7.partial.npy").write_bytes(b"mine")
    publish_once(tmp_path / "0.7.partial.npy", tmp_path / "0.npy")
    assert (tmp_path / "0.npy").read_bytes() == b"theirs, mapped"
    assert not (tmp_path / "0.7.partial.npy").exists()


def test_a_spawned_worker_only_reads_frames(frames, monkeypatch):
    worker = pickle.loads(pickle.dumps(frames))  # what spawn does with the dataset
    assert sorted(p.name for p in frames.folder.glob("*.npy")) == ["0.npy", "1.npy", "2.npy"]

    def no_writing(k, path):
        raise AssertionError("a worker decoded a frame")
    monkeypatch.setattr(worker, "_decode", no_writing)
    assert int(worker[2][0, 0, 0]) == 20
    worker.close()  # a worker's close leaves the folder to its owner
    assert frames.folder.is_dir()


def test_closing_removes_the_frames_even_while_mapped(frames):
    assert int(frames[1][0, 0, 0]) == 10  # mapped now
    folder = frames.folder
    frames.close()
    assert not folder.exists()


def test_frames_of_a_run_that_is_gone_are_removed(tmp_path):
    temp = tmp_path / "temp"
    old, young, live = (temp / f"isegui-frames-{name}" for name in ("old", "young", "live"))
    for folder in (old, young, live):
        folder.mkdir(parents=True)
        (folder / "0.npy").write_bytes(b"frame")
        (folder / OWNER_LOCK).write_bytes(b"")
    held = ProjectLock(live / OWNER_LOCK)
    assert held.try_acquire()  # its run goes on
    (temp / "isegui-frames-link").symlink_to(tmp_path / "victim", target_is_directory=True)
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / OWNER_LOCK).write_bytes(b"")
    an_hour_ago = time.time() - 3600
    for folder in (old, live, tmp_path / "victim"):
        os.utime(folder, (an_hour_ago, an_hour_ago))
    try:
        assert remove_abandoned_frames(temp) == [old]
    finally:
        held.release()
    assert young.is_dir() and live.is_dir() and (tmp_path / "victim" / OWNER_LOCK).exists()


@pytest.mark.slow
def test_a_tiled_run_with_two_spawned_workers(tmp_path):
    """Training as on Windows: processes started by spawn, two loader workers on tiles."""
    from isegui.core.demo_defects import create_defects_project
    create_defects_project(tmp_path / "d", n_images=4, width=640, height=512).close()
    script = textwrap.dedent("""
        import multiprocessing, sys
        if __name__ == "__main__":
            multiprocessing.set_start_method("spawn", force=True)
            from isegui.cli import main
            sys.exit(main(sys.argv[1:]))
    """)
    (tmp_path / "spawned.py").write_text(script)
    (tmp_path / "temp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / "temp")}
    done = subprocess.run([sys.executable, str(tmp_path / "spawned.py"), "train",
                           str(tmp_path / "d"), "--tile", "256", "--epochs", "2", "--workers",
                           "2"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "finished after 2 epochs" in done.stdout + done.stderr
    assert not list((tmp_path / "temp").glob("isegui-frames-*"))  # cleaned up
