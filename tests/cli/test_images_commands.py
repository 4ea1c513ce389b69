import json

import numpy as np
import pytest

from isegui.cli import main
from isegui.core.entities import ImageStatus
from isegui.core.images import save_image
from isegui.core.project import Project


def _image(path, seed=0):
    rng = np.random.default_rng(seed)
    save_image(path, rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    return path


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "photos"
    _image(root / "a.jpg")
    _image(root / "sub" / "b.png", seed=1)
    return root


def _stats(folder, capsys):
    capsys.readouterr()
    assert main(["stats", str(folder), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_new_makes_an_unlabeled_project_with_classes(tmp_path, photos, capsys):
    target = tmp_path / "proj"
    assert main(["new", str(target), "--images", str(photos), "--classes", "pill, washer,chip",
                 "--name", "Line 3"]) == 0
    out = capsys.readouterr().out
    assert "project Line 3 made" in out and "2 images added, unlabeled (by reference)" in out
    with Project.open(target, read_only=True) as project:
        assert [c.name for c in project.store.classes()] == ["pill", "washer", "chip"]
        records = project.store.images()
        assert {r.path for r in records} == {"../photos/a.jpg", "../photos/sub/b.png"}
        assert {r.status for r in records} == {ImageStatus.UNLABELED}
    assert main(["new", str(target), "--images", str(photos)]) == 1
    assert "already holds a project" in capsys.readouterr().err


def test_new_with_copy_filter_and_no_subfolders(tmp_path, photos, capsys):
    target = tmp_path / "proj"
    assert main(["new", str(target), "--images", str(photos), "--copy", "--ext", "JPG,png",
                 "--no-subfolders"]) == 0
    assert (target / "images" / "a.jpg").is_file() and not (target / "images" / "sub").exists()
    assert _stats(target, capsys)["images"] == 1


def test_unreadable_files_are_named_the_rest_added_exit_1(tmp_path, photos, capsys):
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    target = tmp_path / "proj"
    assert main(["new", str(target), "--images", str(photos)]) == 1
    captured = capsys.readouterr()
    assert "left out: " + str((photos / "broken.png").resolve()) in captured.err
    assert "1 unreadable file left out" in captured.out
    assert _stats(target, capsys)["images"] == 2


def test_no_readable_image_makes_no_project(tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.jpg").write_text("text, not a JPEG")
    target = tmp_path / "proj"
    assert main(["new", str(target), "--images", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "x.jpg" in err and "no project was made" in err
    assert not target.exists()
    (bad / "x.jpg").unlink()
    assert main(["new", str(target), "--images", str(bad)]) == 1
    assert "no image files there" in capsys.readouterr().err and not target.exists()


def test_add_folder_and_files_to_a_split_skipping_what_is_there(tmp_path, photos, capsys):
    target = tmp_path / "proj"
    assert main(["new", str(target), "--images", str(photos / "sub")]) == 0
    more = _image(tmp_path / "more.tif", seed=5)
    capsys.readouterr()
    assert main(["add", str(target), str(photos), str(more), "--split", "val"]) == 0
    assert "2 images added, unlabeled (by reference), 1 already in the project" in \
        capsys.readouterr().out
    stats = _stats(target, capsys)
    assert stats["images"] == 3 and stats["splits"]["val"] == 2


def test_a_plain_folder_names_isegui_new(tmp_path, capsys):
    assert main(["stats", str(tmp_path)]) == 1
    assert "isegui new DIR --images FOLDER" in capsys.readouterr().err


def test_files_holding_several_pictures_are_added_and_said_to_show_their_first(tmp_path,
                                                                                capsys):
    """A TIFF stack of three pages and an animated WebP of two frames: each is added (its
    first picture is what isegui shows and labels) and named with its count; a TIFF whose
    second page is its thumbnail is not (the picture comes first)."""
    from PIL import Image
    root = tmp_path / "photos"
    root.mkdir()
    pages = [Image.fromarray(np.full((30, 40, 3), v, np.uint8)) for v in (10, 90, 170)]
    pages[0].save(root / "stack.tif", save_all=True, append_images=pages[1:])
    pages[0].save(root / "burst.webp", save_all=True, append_images=pages[1:2], lossless=True)
    pages[0].save(root / "thumb.tif", save_all=True, append_images=[pages[1].resize((8, 6))])
    assert main(["new", str(tmp_path / "p"), "--images", str(root), "--classes", "dent"]) == 0
    printed = capsys.readouterr()
    said = " ".join((printed.out + printed.err).split())
    assert "3 images added" in said
    assert "warning: 2 file(s) hold several pictures of the same size" in said
    assert "stack.tif (3)" in said and "burst.webp (2)" in said and "thumb.tif" not in said
    with Project.open(tmp_path / "p", read_only=True) as project:
        assert {(r.width, r.height) for r in project.store.images()} == {(40, 30)}


def test_a_refused_class_name_makes_no_project_and_the_retry_works(tmp_path, photos, capsys):
    target = tmp_path / "proj"
    assert main(["new", str(target), "--images", str(photos), "--classes", "ok,\x1b[31mred"]) \
        == 1
    assert "a class name holds no control characters" in capsys.readouterr().err
    assert not target.exists()
    assert main(["new", str(target), "--images", str(photos), "--classes", "ok,red"]) == 0


def test_a_folder_named_like_the_project_file_is_named_so(tmp_path, photos, capsys):
    """new and add used to send the user to each other ("already holds a project", "not an
    isegui project"); neither said that project.isegui was a folder."""
    target = tmp_path / "proj"
    (target / "project.isegui").mkdir(parents=True)
    for args in (["new", str(target), "--images", str(photos)], ["add", str(target), str(photos)],
                 ["stats", str(target)], ["demo", str(target)]):
        assert main(args) == 1, args
        err = capsys.readouterr().err
        assert "project.isegui: a folder, not a project file" in err, (args, err)
    assert list(target.iterdir()) == [target / "project.isegui"]  # nothing made beside it
    assert not any((target / "project.isegui").iterdir())
