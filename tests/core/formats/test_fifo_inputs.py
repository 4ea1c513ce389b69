"""A FIFO named like a label file (the attacker's fourth try): an import that reads it would
wait for ever for a writer. Each is refused at once, naming the file."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from isegui.core.errors import IseguiError
from isegui.core.fileio import read_json, read_regular_text

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no FIFOs")


def _refused_at_once(read, path) -> str:
    outcome: list = []

    def run():
        try:
            read(path)
            outcome.append("read")
        except (IseguiError, OSError) as exc:
            outcome.append(str(exc))
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), f"{read.__name__} waits on the FIFO {path}"
    assert outcome != ["read"]
    return outcome[0]


@pytest.mark.parametrize("name", ["ann.json", "zz.json"])
def test_a_fifo_json_is_refused(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    assert name in _refused_at_once(read_json, fifo)


def test_a_fifo_text_file_and_a_device_are_refused(tmp_path):
    fifo = tmp_path / "train.txt"
    os.mkfifo(fifo)
    assert "FIFO" in _refused_at_once(read_regular_text, fifo)
    _refused_at_once(read_regular_text, "/dev/zero")


def test_an_import_of_a_fifo_coco_file_stops_in_one_line(tmp_path, capsys):
    from isegui.cli import main
    from isegui.core.project import Project
    Project.create(tmp_path / "p").close()
    fifo = tmp_path / "ann.json"
    os.mkfifo(fifo)
    code: list = []
    thread = threading.Thread(target=lambda: code.append(main(
        ["import", str(tmp_path / "p"), "--format", "coco", str(fifo)])), daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive() and code[0] != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "ann.json" in err
