"""The attacker's sixth try, at the command line: an output named like the project, a demo into
a folder of the user's own files, numbers the store cannot read back, a budget of 0 epochs, a
log file that cannot be written, and operating-system errors given in words."""

from __future__ import annotations

import errno
import json
import sqlite3

import pytest

from isegui.cli import _shown, main
from isegui.core.project import PROJECT_FILE, Project
from tests.cli.test_round_five import _one_line


@pytest.mark.parametrize("name", [PROJECT_FILE, "model.pt", "part.png", "results.csv"])
def test_export_model_writes_only_an_onnx_file(tmp_path, capsys, name):
    """`export-model p p/project.isegui` replaced the project's database by the model."""
    Project.create(tmp_path / "p").close()
    target = tmp_path / "p" / name
    if name == PROJECT_FILE:
        before = target.read_bytes()
    assert main(["export-model", str(tmp_path / "p"), str(target)]) != 0
    assert "FILE.onnx" in _one_line(capsys.readouterr().err)
    if name == PROJECT_FILE:
        assert target.read_bytes() == before
        sqlite3.connect(target).execute("SELECT * FROM meta").fetchall()
    else:
        assert not target.exists()


def test_the_demo_never_writes_over_a_users_file_or_through_a_link(tmp_path, capsys):
    folder = tmp_path / "a"
    (folder / "images").mkdir(parents=True)
    mine = folder / "images" / "scene_000.jpg"
    mine.write_bytes(b"precious")
    assert main(["demo", str(folder), "--images", "2", "--size", "128x96"]) != 0
    assert "already exists" in _one_line(capsys.readouterr().err)
    assert mine.read_bytes() == b"precious" and not (folder / PROJECT_FILE).exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    linked = tmp_path / "b"
    linked.mkdir()
    (linked / "images").symlink_to(elsewhere)
    assert main(["demo", str(linked), "--images", "2", "--size", "128x96"]) != 0
    assert "link" in _one_line(capsys.readouterr().err)
    assert list(elsewhere.iterdir()) == []


def test_zero_epochs_and_endless_augmentation_are_refused_before_a_run(tmp_path, capsys):
    from isegui.core.demo import create_demo_project
    create_demo_project(tmp_path / "d", n_images=4, width=96, height=96).close()
    assert main(["train", str(tmp_path / "d"), "--epochs", "0"]) != 0
    assert "--epochs" in capsys.readouterr().err
    for augment in ("rotate=1e309", "rotate=nan", "color=inf", "scale=1:inf"):
        assert main(["train", str(tmp_path / "d"), "--augment", augment]) != 0
        assert "--augment" in _one_line(capsys.readouterr().err)
    with Project.open(tmp_path / "d", read_only=True) as project:
        assert project.store.runs() == []  # refused before any run was recorded


def test_a_log_file_that_cannot_be_written_is_said_once(tmp_path, capsys, monkeypatch):
    (tmp_path / "logs" / "cli.log").mkdir(parents=True)  # a folder where the file goes
    monkeypatch.setenv("ISEGUI_LOG_DIR", str(tmp_path / "logs"))
    import logging
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        assert main(["stats", str(tmp_path / "none")]) != 0
        err = capsys.readouterr().err
    finally:
        for handler in set(root.handlers) - set(before):
            root.removeHandler(handler)
    assert "Logging error" not in err and "Traceback" not in err
    assert err.count("cannot write the log file") == 1


def test_operating_system_errors_name_the_file_in_words():
    full = OSError(errno.ENOSPC, "No space left on device", "/data/export/a.png")
    assert _shown(full) == "/data/export/a.png: no space left on the disk"
    renamed = OSError(errno.EISDIR, "Is a directory", "/p/.d.csv.x1.tmp", None, "/p/d.csv")
    assert _shown(renamed) == "/p/d.csv: a folder is in the way"


def test_track_ids_the_store_cannot_read_back_are_left_out_with_a_word(tmp_path, capsys):
    """A track id of -5 or 2**63-1 imported with rc 0, then read back as a damaged row: the
    label was gone from training, export and stats; 2**70 stopped the import unexplained."""
    import numpy as np

    from isegui.core.images import save_image
    src = tmp_path / "coco"
    (src / "images").mkdir(parents=True)
    save_image(src / "images" / "a.png", np.zeros((40, 40, 3), np.uint8))
    annotations = [{"id": k + 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                    "segmentation": [[2 + 10 * k, 2, 9 + 10 * k, 2, 9 + 10 * k, 9]],
                    "bbox": [2 + 10 * k, 2, 7, 7], "area": 24.5,
                    "attributes": {"track_id": track}}
                   for k, track in enumerate([-5, 2**63 - 1, 2**70, 7])]
    (src / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "images/a.png", "width": 40, "height": 40}],
        "categories": [{"id": 1, "name": "part"}], "annotations": annotations}))
    assert main(["import", str(tmp_path / "p"), str(src / "annotations.json"), "--format",
                 "coco", "--images", str(src)]) == 0
    err = capsys.readouterr().err
    assert err.count("outside 0..2147483647; left out") == 3
    with Project.open(tmp_path / "p", read_only=True) as project:
        (image,) = project.store.images()
        tracks = sorted((i.track_id is None, i.track_id)
                        for i in project.store.instances(image.id))
        assert len(tracks) == 4 and tracks[0] == (False, 7)  # every label kept
        assert project.store.damaged_rows == []
