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


def test_stats_and_evaluate_print_a_hostile_class_name_as_one_line(tmp_path, capsys):
    """A project copied from elsewhere can hold any class name (creating one is refused,
    reading one is not): ESC would act on the terminal, a line break print a line of its
    own."""
    import sqlite3

    from isegui.cli.ml_commands import _per_class_lines
    save_image(tmp_path / "photos" / "a.png", np.zeros((8, 8, 3), np.uint8))
    assert main(["new", str(tmp_path / "p"), "--images", str(tmp_path / "photos"),
                 "--classes", "x"]) == 0
    with sqlite3.connect(tmp_path / "p" / "project.isegui") as db:
        db.execute("update classes set name=?", (HOSTILE,))
    db.close()
    assert main(["stats", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    lines = _per_class_lines({"mask_ap_per_class": {HOSTILE: 0.5},
                              "matched_iou_per_class": {HOSTILE: 0.7}})
    for text in (out, "\n".join(lines)):
        assert "\x1b" not in text and "evil\\x1b[2J\\nerror: forged" in text
        assert not any(line.startswith("error: forged") for line in text.splitlines())


def test_suggest_prints_hostile_image_and_run_names_as_one_line(tmp_path, capsys, monkeypatch):
    """suggest printed each unlabeled image's stored path and the run's name as they were:
    `add` takes a file named with ESC or a line break, and a copied project can name its run
    anything. (evaluate and export-model print run names the same way, now through one_line.)
    The model is stood in for: what is printed is what is tested."""
    from isegui.core.project import Project
    from isegui.ml.infer import suggest
    from isegui.ml.model import torch_predictor
    photos = tmp_path / "photos"
    save_image(photos / f"{HOSTILE}.png", np.zeros((8, 8, 3), np.uint8))
    assert main(["new", str(tmp_path / "p"), "--images", str(photos)]) == 0
    with Project.open(tmp_path / "p") as project:
        run = project.store.add_run(HOSTILE, {"model": "fast", "size": 128})
    (tmp_path / "p" / "runs" / f"{run.id:04d}").mkdir(parents=True)
    (tmp_path / "p" / "runs" / f"{run.id:04d}" / "best.pt").write_bytes(b"stand-in")
    monkeypatch.setattr(torch_predictor.Predictor, "from_checkpoint",
                        classmethod(lambda cls, *a, **k: object()))
    monkeypatch.setattr(suggest, "uncertainty",
                        lambda predictor, image: suggest.Uncertainty(1.0, 1, 2, 0.5))
    capsys.readouterr()
    assert main(["suggest", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and out.count("evil\\x1b[2J\\nerror: forged") == 2
    assert not any(line.startswith("error: forged") for line in out.splitlines())
