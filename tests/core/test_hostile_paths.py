"""Links and paths that lead out of a project folder (issue 26, item 1): a folder copied from
elsewhere may hold a link to anywhere. isegui writes, truncates and copies nothing through
them, and says which file in one line; the file outside keeps its content and its time."""

import os

import numpy as np
import pytest

from isegui.cli import main
from isegui.core.errors import IseguiError, UnsafePathError
from isegui.core.formats.exporter import export_dataset
from isegui.core.images import save_image
from isegui.core.project import PROJECT_FILE, Project
from isegui.core.store.lock import ProjectLock
from tests.core.helpers import (add_labeled_image, file_state, one_line_naming, outside_file,
                                symlink, tree_state)

EXIT_FAILED = 1


def _image(path, seed=0):
    rng = np.random.default_rng(seed)
    save_image(path, rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    return path


@pytest.fixture
def project_with_images(tmp_path, capsys):
    photos = tmp_path / "photos"
    _image(photos / "a.png")
    _image(tmp_path / "more" / "b.png", seed=1)
    assert main(["new", str(tmp_path / "proj"), "--images", str(photos)]) == 0
    capsys.readouterr()
    return tmp_path / "proj"


# --------------------------------------------------------------------------- the lock


def test_add_refuses_a_lock_file_that_links_out_and_leaves_its_target_alone(
        project_with_images, tmp_path, capsys):
    lock = project_with_images / f"{PROJECT_FILE}.lock"
    lock.unlink()
    victim = outside_file(tmp_path / "elsewhere" / "victim.txt")
    before = file_state(victim)
    symlink(lock, victim)
    assert main(["add", str(project_with_images), str(tmp_path / "more")]) == EXIT_FAILED
    line = one_line_naming(capsys.readouterr().err, lock)
    assert "link" in line
    assert file_state(victim) == before
    with Project.open(project_with_images, read_only=True) as project:
        assert len(project.store.images()) == 1  # nothing added either


def test_a_lock_file_that_links_to_the_project_file_never_truncates_the_store(
        project_with_images):
    lock = project_with_images / f"{PROJECT_FILE}.lock"
    lock.unlink()
    store = project_with_images / PROJECT_FILE
    before = file_state(store)
    symlink(lock, store)  # inside the project, and the one file that must never be truncated
    with pytest.raises(UnsafePathError, match="link"):
        Project.open(project_with_images)
    with pytest.raises(UnsafePathError):
        ProjectLock(lock).try_acquire()
    assert file_state(store) == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_lock_file_that_is_a_fifo_is_refused_without_waiting(project_with_images):
    lock = project_with_images / f"{PROJECT_FILE}.lock"
    lock.unlink()
    os.mkfifo(lock)
    with pytest.raises(UnsafePathError, match="not a regular file"):
        ProjectLock(lock).try_acquire()


# --------------------------------------------------------------------------- copies in


def test_add_copy_refuses_an_images_folder_that_links_out(project_with_images, tmp_path,
                                                          capsys):
    outside = tmp_path / "elsewhere"
    outside_file(outside / "keep.txt")
    before = tree_state(outside)
    images = symlink(project_with_images / "images", outside)
    assert main(["add", str(project_with_images), str(tmp_path / "more"), "--copy"]) \
        == EXIT_FAILED
    one_line_naming(capsys.readouterr().err, images / "b.png")
    assert tree_state(outside) == before
    with Project.open(project_with_images, read_only=True) as project:
        assert len(project.store.images()) == 1


# --------------------------------------------------------------------------- exports


def test_an_export_to_a_link_or_into_the_projects_own_folders_is_refused(tmp_path, capsys):
    with Project.create(tmp_path / "proj") as project:
        add_labeled_image(project, "a.png")
    before = tree_state(tmp_path / "proj" / "images")
    dangling = symlink(tmp_path / "out", tmp_path / "elsewhere" / "dataset")
    for dest in (dangling, tmp_path / "proj" / "images" / "sub", tmp_path / "proj" / "runs"):
        assert main(["export", str(tmp_path / "proj"), "--format", "coco", str(dest)]) \
            == EXIT_FAILED
        err = capsys.readouterr().err
        one_line_naming(err, dest)
        assert "a link" in err or "the project's own" in err
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "proj" / "runs").exists()
    assert tree_state(tmp_path / "proj" / "images") == before


def test_an_export_refuses_an_image_that_links_out_of_the_project(tmp_path, capsys):
    secret = _image(tmp_path / "private" / "secret.png", seed=7)
    before = file_state(secret)
    with Project.create(tmp_path / "proj") as project:
        add_labeled_image(project, "a.png")
        link = project.folder / "images" / "a.png"
        link.unlink()
        symlink(link, secret)
        with pytest.raises(IseguiError) as caught:
            export_dataset(project, "coco", tmp_path / "out")
        message = str(caught.value)
        assert "\n" not in message and str(link) in message
        assert "leads out of" in message
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    assert main(["export", str(tmp_path / "proj"), "--format", "coco",
                 str(tmp_path / "out")]) == EXIT_FAILED
    one_line_naming(capsys.readouterr().err, link)
    assert file_state(secret) == before
    assert main(["export", str(tmp_path / "proj"), "--format", "coco", str(tmp_path / "out"),
                 "--no-images"]) == 0  # the labels alone copy nothing


def test_an_export_names_the_images_it_copies_from_outside_the_project(tmp_path):
    with Project.create(tmp_path / "proj") as project:
        add_labeled_image(project, "a.png")
        outside = _image(tmp_path / "photos" / "b.png", seed=1)
        project.store.add_image("../photos/b.png", 30, 20)  # by reference, as `add` records
        absolute = _image(tmp_path / "drive" / "c.png", seed=2)
        project.store.add_image(absolute.resolve().as_posix(), 30, 20)
        report = export_dataset(project, "coco", tmp_path / "out")
    notes = [loss for loss in report.losses if "outside the project folder" in loss]
    assert len(notes) == 1 and "2 image(s)" in notes[0] and str(outside.resolve()) in notes[0]


# --------------------------------------------------------------------------- the rule itself


def test_a_path_is_inside_only_where_every_link_and_dotdot_leaves_it_inside(tmp_path):
    from isegui.core.fileio import inside_folder, writable_inside
    root = tmp_path / "proj"
    (root / "runs").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    assert inside_folder(root, root / "runs" / "0001") == root / "runs" / "0001"
    with pytest.raises(UnsafePathError, match="leads out of"):
        inside_folder(root, root / "runs" / ".." / ".." / "out" / "x")
    symlink(root / "away", tmp_path / "out")
    with pytest.raises(UnsafePathError, match="leads out of"):
        writable_inside(root, root / "away" / "x.png")
    symlink(root / "here", root / "runs")  # a link that stays inside is only a way round
    assert inside_folder(root, root / "here" / "x") == root / "here" / "x"
    symlink(root / "runs" / "f.txt", root / PROJECT_FILE)
    with pytest.raises(UnsafePathError, match="link"):
        writable_inside(root, root / "runs" / "f.txt")  # but a file is never written through one


@pytest.mark.parametrize("name", [PROJECT_FILE, f"{PROJECT_FILE}-wal"])
def test_a_project_file_or_journal_that_links_out_is_refused_and_its_target_kept(tmp_path, name):
    """SQLite would write through the link: the store is never opened on one."""
    with Project.create(tmp_path / "made") as made:
        add_labeled_image(made, "a.png")
    victim = tmp_path / "elsewhere" / "target.db"
    victim.parent.mkdir()
    victim.write_bytes((tmp_path / "made" / PROJECT_FILE).read_bytes())
    os.utime(victim, (1_000_000_000, 1_000_000_000))
    copied = tmp_path / "copied"
    copied.mkdir()
    if name != PROJECT_FILE:
        (copied / PROJECT_FILE).write_bytes((tmp_path / "made" / PROJECT_FILE).read_bytes())
    symlink(copied / name, victim)
    before = victim.read_bytes()
    with pytest.raises(UnsafePathError, match=name):
        Project.open(copied)
    assert victim.read_bytes() == before and victim.stat().st_mtime == 1_000_000_000
