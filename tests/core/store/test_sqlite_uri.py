"""The project file's SQLite URI: a project on a Windows share (by UNC path, or by a mapped drive
that Path.resolve() turns into one) opened nowhere, SQLite refusing the server as the URI's
authority (windows audit, finding 1)."""

from __future__ import annotations

import sqlite3
from pathlib import PurePosixPath, PureWindowsPath

import pytest

from isegui.core.project import Project
from isegui.core.store.base import sqlite_uri


@pytest.mark.parametrize("path, uri", [
    (PureWindowsPath(r"\\server\share\line 3\project.isegui"),
     "file:////server/share/line%203/project.isegui"),
    (PureWindowsPath(r"\\?\UNC\server\share\project.isegui"),
     "file:////%3F/UNC/server/share/project.isegui"),
    (PureWindowsPath(r"Z:\line3\project.isegui"), "file:///Z:/line3/project.isegui"),
    (PurePosixPath("/srv/p#1?/project.isegui"), "file:///srv/p%231%3F/project.isegui"),
])
def test_the_uri_has_no_authority(path, uri):
    assert sqlite_uri(path) == uri


def test_sqlite_takes_a_share_s_uri(tmp_path):
    """The URI Path.as_uri() gives for a share is refused by SQLite itself (this machine's
    build is like Windows Python's there); ours is a path SQLite merely cannot find here."""
    share = PureWindowsPath(r"\\server\share\line3\project.isegui")
    with pytest.raises(sqlite3.OperationalError, match="invalid uri authority"):
        sqlite3.connect(f"{share.as_uri()}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as caught:
        sqlite3.connect(f"{sqlite_uri(share)}?mode=ro", uri=True)
    assert "authority" not in str(caught.value)


def test_a_project_in_a_folder_with_uri_characters_opens(tmp_path):
    folder = tmp_path / "line 3 #2 ?ü% x"
    Project.create(folder, classes=["scratch"]).close()
    with Project.open(folder, read_only=True) as project:
        assert [c.name for c in project.store.classes()] == ["scratch"]
    assert not (tmp_path / "line 3 ").exists()  # no file made at a name cut at '#' or '?'


def test_a_project_on_read_only_media_is_read_as_unchanging(tmp_path, monkeypatch):
    """A write-protected stick: SQLite could not make the -shm file a WAL project needs even
    to be read, and every read-only command called a healthy file unreadable."""
    import os

    from isegui.core.store import base
    Project.create(tmp_path / "p", classes=["scratch"]).close()
    opened = []
    real_connect = sqlite3.connect

    def connect(database, *args, **kwargs):
        opened.append(database)
        return real_connect(database, *args, **kwargs)
    monkeypatch.setattr(base.sqlite3, "connect", connect)
    monkeypatch.setattr(base.os, "access", lambda path, mode: mode != os.W_OK)
    with Project.open(tmp_path / "p", read_only=True) as project:
        assert [c.name for c in project.store.classes()] == ["scratch"]
    assert opened[-1].endswith("?mode=ro&immutable=1")
    (tmp_path / "p" / "project.isegui-wal").write_bytes(b"")  # a writer may be at work
    with Project.open(tmp_path / "p", read_only=True):
        assert opened[-1].endswith("?mode=ro")
