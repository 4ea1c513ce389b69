"""Atomic writes: whole or nothing, and files with the usual permissions."""

import os
import stat

import pytest

from isegui.core.fileio import atomic_open, atomic_write_json, atomic_write_text, current_umask

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_written_files_get_0666_less_the_umask(tmp_path, umask, mask):
    umask(mask)
    assert current_umask() == mask
    atomic_write_text(tmp_path / "a.csv", "x\n")
    atomic_write_json(tmp_path / "b.json", {"a": 1})
    with atomic_open(tmp_path / "c.csv", text=True) as f:
        f.write("y\n")
    for name in ("a.csv", "b.json", "c.csv"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~mask, name


def test_a_replaced_file_gets_them_too_and_a_failure_keeps_the_old_one(tmp_path, umask):
    path = tmp_path / "m.csv"
    path.write_text("old")
    os.chmod(path, 0o600)  # as the earlier versions wrote it
    atomic_write_text(path, "new")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644 and path.read_text() == "new"
    with pytest.raises(RuntimeError):
        with atomic_open(path, text=True) as f:
            f.write("half")
            raise RuntimeError("disk full")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["m.csv"]
