"""Projects on network shares: detected, kept off SQLite's write-ahead log, and never written
by two PCs at once; exports readable by colleagues (the umask, not mkdtemp's 0700)."""

import os
import socket
import subprocess
import sys

import pytest
from shapely.geometry import box

from isegui.core.errors import ProjectLockedError
from isegui.core.formats.exporter import export_dataset
from isegui.core.project import Project
from isegui.core.store.shares import is_network_path
from tests.core.helpers import add_labeled_image

MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
fileserver:/export/qa /mnt/qa nfs4 rw,relatime,vers=4.2 0 0
//nas/line3 /mnt/line\\0403 cifs rw,vers=3.0 0 0
/dev/sdb1 /mnt/qa/local-disk ext4 rw 0 0
"""


@pytest.mark.parametrize("path, network", [
    ("/home/inspector/project", False),
    ("/mnt/qa/project", True),
    ("/mnt/qa", True),
    ("/mnt/qa-backup/project", False),  # a prefix of the name is not the mount
    ("/mnt/line 3/parts", True),  # /proc/mounts writes the space as \\040
    ("/mnt/qa/local-disk/p", False),  # the innermost mount decides
])
def test_network_mounts_are_found_in_the_mount_table(path, network):
    assert is_network_path(path, mounts=MOUNTS, platform="linux") is network


@pytest.mark.parametrize("path, network", [
    ("\\\\fileserver\\qa\\project", True),
    ("\\\\?\\UNC\\fileserver\\qa\\project", True),
    ("\\\\?\\C:\\projects\\p", False),
    ("C:\\projects\\p", False),  # a local drive (a mapped one is asked of Windows)
])
def test_unc_paths_are_network_paths(path, network):
    assert is_network_path(path, platform="win32") is network


def test_a_project_on_a_share_uses_a_rollback_journal(tmp_path, monkeypatch):
    import isegui.core.project as project_module
    monkeypatch.setattr(project_module, "is_network_path", lambda folder: True)
    with Project.create(tmp_path / "p") as project:
        mode = project.store.engine.conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "delete" and project.store.on_share
    assert not (tmp_path / "p" / "project.isegui-wal").exists()
    monkeypatch.setattr(project_module, "is_network_path", lambda folder: False)
    with Project.open(tmp_path / "p") as project:  # back on a local disk: WAL again
        assert project.store.engine.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


HOLD = """
import fcntl, json, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
note = json.dumps({"pid": os.getpid(), "host": sys.argv[2]}).encode()
os.lseek(fd, 1, 0); os.write(fd, note); os.ftruncate(fd, 1 + len(note))
print("held", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
@pytest.mark.parametrize("host", ["line-pc-7", "this"])
def test_background_writers_refuse_a_project_another_pc_is_editing(tmp_path, host):
    Project.create(tmp_path / "p").close()
    host = socket.gethostname() if host == "this" else host
    holder = subprocess.Popen([sys.executable, "-c", HOLD,
                               str(tmp_path / "p" / "project.isegui.lock"), host],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        if host == socket.gethostname():  # the editor on this PC: its training may record
            with Project.open(tmp_path / "p", lock=False) as project:
                project.store.add_class("written beside the editor")
        else:
            with pytest.raises(ProjectLockedError, match="another PC.*line-pc-7"):
                Project.open(tmp_path / "p", lock=False)
        with Project.open(tmp_path / "p", read_only=True) as project:  # reading is fine
            assert project.store.images() == []
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_exports_get_the_users_permissions_not_private_ones(project, tmp_path):
    add_labeled_image(project, shapes=[("pill", box(10, 10, 30, 20), False)])
    old = os.umask(0o002)  # a team's umask: group may write
    try:
        export_dataset(project, "coco", tmp_path / "out", copy_images=False)
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o775
    written = tmp_path / "out" / "annotations" / "instances_train.json"
    assert written.stat().st_mode & 0o777 == 0o664


def test_importing_onto_a_share_says_which_images_stay_outside_the_project(tmp_path,
                                                                           monkeypatch):
    import json

    import numpy as np

    import isegui.core.project as project_module
    from isegui.core.images import save_image
    from isegui.core.formats.importer import ImportOptions, import_dataset
    monkeypatch.setattr(project_module, "is_network_path", lambda folder: True)
    data = tmp_path / "photos"
    save_image(data / "a.png", np.zeros((20, 30, 3), np.uint8))
    (data / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20}],
        "categories": [{"id": 1, "name": "part"}], "annotations": []}))
    with Project.create(tmp_path / "p") as project:
        report = import_dataset(project, ImportOptions("coco", data / "annotations.json"))
        assert any("network share" in w and "--copy" in w for w in report.warnings)
    with Project.create(tmp_path / "q") as project:
        report = import_dataset(project, ImportOptions("coco", data / "annotations.json",
                                                       copy=True))
        assert not any("network share" in w for w in report.warnings)
