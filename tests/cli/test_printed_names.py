"""Names a command prints (a project folder, an image, a login) can hold a terminal's escape
codes or a line break: printed, they would clear the screen or forge an "error:" line. Each is
printed as one line, escaped (the attacker's fourth try)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from isegui.cli import main
from isegui.core.images import save_image

HOSTILE = "evil\x1b[2J\nerror: forged"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="names Windows cannot hold")


def test_new_and_stats_print_a_hostile_folder_name_as_one_line(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    save_image(photos / f"{HOSTILE}.png", np.zeros((8, 8, 3), np.uint8))
    folder = tmp_path / HOSTILE
    assert main(["new", str(folder), "--images", str(photos)]) == 0
    assert main(["stats", str(folder)]) == 0
    assert main(["validate", str(folder)]) in (0, 1)
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert not any(line.startswith("error: forged") for line in out.splitlines())
