"""Links in a project folder, round two (issue 26, item 1): an import writes nothing through a
linked `images/` folder, and a file with other hard links (the same file under another name,
perhaps outside the project) is never written in place: not the lock, not SQLite's files, not
a run's events. Each refusal is one line naming the file; the file outside keeps its content
and its time, and the project is not changed."""

import base64
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from isegui.cli import main
from isegui.core.errors import UnsafePathError
from isegui.core.fileio import open_no_follow, writable_inside
from isegui.core.project import PROJECT_FILE, Project
from isegui.core.store.lock import ProjectLock
from isegui.ml.run_log import EVENTS_FILE, RunLog
from tests.core.helpers import (add_labeled_image, file_state, one_line_naming, outside_file,
                                symlink, tree_state)

EXIT_FAILED = 1


def _png_bytes(seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _hard_link(link: Path, target: Path) -> Path:
    try:
        os.link(target, link)
    except (OSError, NotImplementedError):
        pytest.skip("this file system does not let the tests make hard links")
    return link


def _coco(folder: Path, names: tuple[str, ...]) -> Path:
    """A COCO file beside its images, one square per image."""
    images, anns = [], []
    for k, name in enumerate(names, start=1):
        (folder / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "images" / name).write_bytes(_png_bytes(k))
        images.append({"id": k, "file_name": name, "width": 30, "height": 20})
        anns.append({"id": k, "image_id": k, "category_id": 1,
                     "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]})
    (folder / "ann.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "part"}]}))
    return folder / "ann.json"


def _image_count(folder: Path) -> int:
    with Project.open(folder, read_only=True) as project:
        return len(project.store.images())


@pytest.fixture
def empty_project(tmp_path):
    Project.create(tmp_path / "proj").close()
    return tmp_path / "proj"


# --------------------------------------------------------------------------- imports


def test_import_copy_refuses_an_images_folder_that_links_out(empty_project, tmp_path, capsys):
    ann = _coco(tmp_path / "coco", ("a.png",))
    outside = tmp_path / "outside"
    outside_file(outside / "keep.txt")
    before = tree_state(outside)
    images = symlink(empty_project / "images", outside)
    assert main(["import", str(empty_project), str(ann), "--format", "coco",
                 "--images", str(tmp_path / "coco" / "images"), "--copy"]) == EXIT_FAILED
    line = one_line_naming(capsys.readouterr().err, images / "a.png")
    assert "leads out of" in line
    assert tree_state(outside) == before
    assert _image_count(empty_project) == 0


def test_import_copy_refuses_a_linked_sub_folder_before_it_writes_anything(
        empty_project, tmp_path, capsys):
    ann = _coco(tmp_path / "coco", ("a.png", "sub/b.png"))
    outside = tmp_path / "outside"
    outside_file(outside / "keep.txt")
    before = tree_state(outside)
    (empty_project / "images").mkdir()
    sub = symlink(empty_project / "images" / "sub", outside)
    assert main(["import", str(empty_project), str(ann), "--format", "coco",
                 "--images", str(tmp_path / "coco" / "images"), "--copy"]) == EXIT_FAILED
    one_line_naming(capsys.readouterr().err, sub / "b.png")
    assert tree_state(outside) == before
    assert not (empty_project / "images" / "a.png").exists()  # all or nothing
    assert _image_count(empty_project) == 0


def test_an_embedded_labelme_image_is_not_written_through_a_link(empty_project, tmp_path,
                                                                 capsys):
    src = tmp_path / "labelme"
    src.mkdir()
    shapes = [{"label": "x", "points": [[1, 1], [9, 1], [9, 9]], "shape_type": "polygon"}]
    (src / "only.json").write_text(json.dumps({
        "version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": "gone.png",
        "imageData": base64.b64encode(_png_bytes()).decode(),
        "imageHeight": 20, "imageWidth": 30}))
    outside = tmp_path / "outside"
    outside_file(outside / "keep.txt")
    before = tree_state(outside)
    images = symlink(empty_project / "images", outside)
    assert main(["import", str(empty_project), str(src), "--format", "labelme"]) == EXIT_FAILED
    one_line_naming(capsys.readouterr().err, images / "gone.png")
    assert tree_state(outside) == before
    assert _image_count(empty_project) == 0


def test_an_import_into_a_plain_images_folder_still_copies(empty_project, tmp_path, capsys):
    ann = _coco(tmp_path / "coco", ("a.png", "sub/b.png"))
    assert main(["import", str(empty_project), str(ann), "--format", "coco",
                 "--images", str(tmp_path / "coco" / "images"), "--copy"]) == 0
    assert (empty_project / "images" / "sub" / "b.png").is_file()
    assert _image_count(empty_project) == 2


# --------------------------------------------------------------------------- hard links


def test_a_hard_linked_lock_file_is_refused_and_its_other_name_kept(tmp_path, capsys):
    with Project.create(tmp_path / "proj") as project:
        add_labeled_image(project, "a.png")
    lock = tmp_path / "proj" / f"{PROJECT_FILE}.lock"
    lock.unlink()
    victim = outside_file(tmp_path / "outside" / "victim.txt")
    before = file_state(victim)
    _hard_link(lock, victim)
    assert main(["split", str(tmp_path / "proj")]) == EXIT_FAILED
    line = one_line_naming(capsys.readouterr().err, lock)
    assert "hard link" in line
    assert file_state(victim) == before
    with pytest.raises(UnsafePathError, match="hard link"):
        ProjectLock(lock).try_acquire()
    assert file_state(victim) == before


@pytest.mark.parametrize("name", [PROJECT_FILE, f"{PROJECT_FILE}-wal", f"{PROJECT_FILE}-shm"])
def test_a_hard_linked_project_file_or_journal_is_refused_and_its_other_name_kept(tmp_path,
                                                                                   name):
    """SQLite would write into the file in place, and so into its other name."""
    with Project.create(tmp_path / "proj") as project:
        add_labeled_image(project, "a.png")
    store = tmp_path / "proj" / PROJECT_FILE
    if name == PROJECT_FILE:
        victim = outside_file(tmp_path / "outside" / "victim.db", store.read_bytes())
        store.unlink()
    else:
        victim = outside_file(tmp_path / "outside" / "victim.bin", bytes(32768))
    before = file_state(victim)
    _hard_link(tmp_path / "proj" / name, victim)
    with pytest.raises(UnsafePathError, match="hard link") as caught:
        Project.open(tmp_path / "proj")
    assert "\n" not in str(caught.value) and name in str(caught.value)
    assert file_state(victim) == before


def test_a_run_log_with_a_hard_linked_events_file_is_refused(tmp_path):
    run = tmp_path / "proj" / "runs" / "0001"
    run.mkdir(parents=True)
    victim = outside_file(tmp_path / "outside" / "victim.txt")
    before = file_state(victim)
    _hard_link(run / EVENTS_FILE, victim)
    log = RunLog(run)
    with pytest.raises(UnsafePathError, match="hard link"):
        log.append("step", {"step": 1, "losses": {"loss": 0.5}})
    log.close()
    assert file_state(victim) == before


def test_the_rule_refuses_hard_links_for_writing_only(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    victim = outside_file(tmp_path / "outside" / "victim.txt")
    before = file_state(victim)
    linked = _hard_link(root / "f.txt", victim)
    with pytest.raises(UnsafePathError, match="hard link"):
        writable_inside(root, linked)
    for flags in (os.O_WRONLY, os.O_RDWR | os.O_CREAT, os.O_WRONLY | os.O_APPEND,
                  os.O_WRONLY | os.O_TRUNC):
        with pytest.raises(UnsafePathError, match="hard link"):
            open_no_follow(linked, flags)
    assert file_state(victim) == before  # O_TRUNC included: refused before the file was opened
    os.close(open_no_follow(linked, os.O_RDONLY))  # reading through one changes nothing
    (root / "own.txt").write_text("mine")
    assert writable_inside(root, root / "own.txt") == root / "own.txt"
    os.close(open_no_follow(root / "own.txt", os.O_RDWR))


def test_a_run_folder_holding_a_hard_link_is_refused_before_training_touches_it(tmp_path):
    """Any entry of a run folder with other hard links (a checkpoint, the lock, a cut-off
    .tmp) makes the folder refused as a whole, as a symlink in it does."""
    from isegui.ml.runs import checked_run_folder
    run = tmp_path / "proj" / "runs" / "0001"
    run.mkdir(parents=True)
    victim = outside_file(tmp_path / "outside" / "victim.pt", bytes(64))
    before = file_state(victim)
    _hard_link(run / ".last.pt.tmp", victim)
    with pytest.raises(UnsafePathError, match="hard link"):
        checked_run_folder(tmp_path / "proj", 1)
    assert file_state(victim) == before
