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


def test_a_failed_write_names_the_file_meant_not_the_hidden_one(tmp_path, monkeypatch):
    """mkstemp's OSError named '.a.csv.k3j9x2.tmp', a file the user never named (the CLI
    said '/ro/.a.csv.k3j9x2.tmp: read-only file system'); a full disk named no file at all."""
    import errno
    import tempfile

    def read_only(dir, suffix, prefix):  # what a read-only mount says (tests may run as root)
        raise OSError(errno.EROFS, "Read-only file system", f"{dir}/{prefix}k3j9x2{suffix}")
    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkstemp", read_only)
        with pytest.raises(OSError) as err:
            atomic_write_text(tmp_path / "a.csv", "x\n")
    assert err.value.errno == errno.EROFS and err.value.filename == str(tmp_path / "a.csv")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    with monkeypatch.context() as m:
        m.setattr(os, "fsync", full)
        with pytest.raises(OSError) as err:
            atomic_write_text(tmp_path / "a.csv", "x\n")
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / "a.csv")
    assert os.listdir(tmp_path) == []
